#!/usr/bin/env bash
# The facade's feature matrix: `cargo check` of the `allocator` library with
# no features, each feature alone, and every pair of features, on the
# toolchain each set needs (stable; nightly when `allocator_api` is in it).
# A pair is what most bugs between features need (issue 19: `allocator_api`
# with `global` did not build). An explicit loop, not cargo-hack: nothing to
# install, and the checks share one target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

FEATURES=(tlsf buddy slab bitmap allocator-api2 allocator_api global std full debug-checks
          page-alloc-256m page-alloc-4g page-alloc-64g page-alloc-1t)

check() {
  local features="$1" toolchain=()
  [[ ",$features," == *,allocator_api,* ]] && toolchain=(+nightly)
  if ! cargo "${toolchain[@]}" check -q -p allocator --no-default-features --features "$features" 2>/dev/null; then
    echo "FAILED: cargo ${toolchain[*]} check -p allocator --no-default-features --features '$features'"
    cargo "${toolchain[@]}" check -p allocator --no-default-features --features "$features" 2>&1 | tail -30
    return 1
  fi
}

count=0
check ""
for ((i = 0; i < ${#FEATURES[@]}; i++)); do
  check "${FEATURES[i]}"
  count=$((count + 1))
  for ((j = i + 1; j < ${#FEATURES[@]}; j++)); do
    check "${FEATURES[i]},${FEATURES[j]}"
    count=$((count + 1))
  done
done
# And everything at once, as docs.rs-like and `--all-features` runs build it.
check "$(IFS=,; echo "${FEATURES[*]}")"
echo "feature matrix: $((count + 2)) feature sets checked in ${SECONDS}s"
