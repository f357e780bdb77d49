#!/usr/bin/env bash
# Miri over the engines' unit tests and their conformance suites (which shrink
# to ByteConfig/PageConfig/IdConfig::tiny() under cfg(miri)), and the
# allocator-api2 bridge. Needs nightly with the miri component (.ci/run adds
# it). Run from the repository root: .ci/miri.sh [extra cargo test args]
#
# Flags (see /work/notes/reliability.md, "Miri"):
# - permissive provenance, not -Zmiri-strict-provenance: the traits take
#   regions as `usize` addresses, so every engine turns the address given to
#   init/add_memory into a pointer once, with exposed provenance
#   (allocator_traits::region::addr_to_ptr); strict provenance rejects that
#   by design. Saying so explicitly also silences the int-to-ptr warning.
# - Tree Borrows (MIRI_BORROWS=stacked for Stacked Borrows): Stacked Borrows
#   forbids any read of an in-band block header through the pointer a
#   Box<T, A> hands back to `deallocate` (rust-lang/miri#2104,
#   rust-lang/unsafe-code-guidelines#402), which no in-band allocator can
#   avoid without re-deriving the pointer; Tree Borrows checks the finer
#   rule that still matters (no read through that pointer after a foreign
#   write to the header), and runs the suites several times faster.
# - allocator-rc runs separately with -Zmiri-ignore-leaks: AllocatorRc::new
#   takes a `&'static mut [u8]` pool, which its tests leak on purpose. The
#   engines keep Miri's leak check.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${MIRI_BORROWS:-tree}" in
  tree) borrows=-Zmiri-tree-borrows ;;
  stacked) borrows= ;;
  *) echo "MIRI_BORROWS is tree or stacked" >&2; exit 2 ;;
esac
flags="${MIRIFLAGS:-} -Zmiri-permissive-provenance ${borrows}"

# What runs: every engine's unit tests (their debug-checks tests included),
# the differential tests and the bridge's collection tests over every engine.
# MIRI_CONFORMANCE=1 adds every integration test, the testkit conformance
# suites in their tiny configurations among them: about 30 more minutes on
# two cores, too much for the 90-minute CI budget next to everything else,
# so CI runs them in that mode only when asked.
if [ "${MIRI_CONFORMANCE:-0}" = 1 ]; then
  engine_targets=(--lib --tests)
  slab_targets=(--lib --tests)
else
  engine_targets=(--lib --test differential)
  slab_targets=(--lib)
fi

# Two halves in parallel (Miri runs one test at a time; the machine has two
# cores), each with its own target directory so neither waits on the other's
# build lock. Each half's output is printed when it ends.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
run_half() {
  local name="$1"; shift
  if "$@" >"$logs/$name.log" 2>&1; then echo ok >"$logs/$name.status"; else echo FAILED >"$logs/$name.status"; fi
}

echo "=== miri: engines (MIRIFLAGS=${flags}); allocator-rc also with -Zmiri-ignore-leaks"
half_a() {
  MIRIFLAGS="$flags" CARGO_TARGET_DIR=target/miri-a \
    cargo +nightly miri test --no-fail-fast -p allocator-bitmap --lib "$@" &&
  MIRIFLAGS="$flags" CARGO_TARGET_DIR=target/miri-a \
    cargo +nightly miri test --no-fail-fast -p allocator-buddy "${engine_targets[@]}" "$@"
}
half_b() {
  MIRIFLAGS="$flags" cargo +nightly miri test --no-fail-fast -p allocator-traits --lib "$@" &&
  MIRIFLAGS="$flags" cargo +nightly miri test --no-fail-fast -p allocator-tlsf "${engine_targets[@]}" "$@" &&
  MIRIFLAGS="$flags" cargo +nightly miri test --no-fail-fast -p allocator-slab "${slab_targets[@]}" "$@" &&
  MIRIFLAGS="$flags -Zmiri-ignore-leaks" cargo +nightly miri test --no-fail-fast -p allocator-rc --lib --tests "$@"
}
run_half bitmap-buddy half_a "$@" &
run_half others half_b "$@" &
wait

status=0
for half in bitmap-buddy others; do
  echo "=== miri: $half: $(cat "$logs/$half.status")"
  cat "$logs/$half.log"
  [ "$(cat "$logs/$half.status")" = ok ] || status=1
done
exit "$status"
