#!/usr/bin/env bash
# Bounded fuzz run: every target of fuzz/ for FUZZ_SECONDS (default 20) from
# its checked-in seed corpus (fuzz/corpus/<target>/seed-*); any crash, leak,
# timeout or broken model check fails the run. Prints the executions per
# target. Needs nightly; installs cargo-fuzz only if it is missing.
# Run from the repository root: .ci/fuzz.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
ALL_TARGETS=(tlsf buddy slab_buddy slab_tlsf slab_malloc bitmap_pages bitmap_ids)
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# One build of every target (`cargo fuzz build` with no target builds all).
cargo +nightly fuzz build

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
summary=()
for target in "${TARGETS[@]}"; do
  # New inputs go to a scratch directory; the seeds are read, never changed.
  scratch="$logs/corpus-$target"
  mkdir -p "$scratch"
  echo "=== fuzz $target for ${FUZZ_SECONDS}s"
  if ! cargo +nightly fuzz run "$target" "$scratch" "fuzz/corpus/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$logs/$target.log" 2>&1; then
    tail -n 60 "$logs/$target.log"
    echo "fuzz target $target FAILED (reproduce: cargo +nightly fuzz run $target fuzz/artifacts/$target/<crash file>)"
    exit 1
  fi
  # libFuzzer names the count number_of_executed_runs or _units, by version.
  runs="$(grep -Eo 'stat::number_of_executed_(runs|units): *[0-9]+' "$logs/$target.log" | grep -Eo '[0-9]+$' | tail -n 1 || true)"
  cov="$(grep -Eo 'cov: [0-9]+' "$logs/$target.log" | grep -Eo '[0-9]+$' | tail -n 1 || true)"
  summary+=("$(printf '%-14s %10s executions in %ss, coverage %s edges, 0 crashes' "$target" "${runs:-?}" "$FUZZ_SECONDS" "${cov:-?}")")
done
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
