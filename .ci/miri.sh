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
run_half bitmap-buddy env MIRIFLAGS="$flags" CARGO_TARGET_DIR=target/miri-a \
  cargo +nightly miri test --no-fail-fast -p allocator-bitmap -p allocator-buddy --lib --tests "$@" &
run_half others bash -c '
  MIRIFLAGS="$1" cargo +nightly miri test --no-fail-fast \
    -p allocator-traits -p allocator-tlsf -p allocator-slab --lib --tests "${@:2}" &&
  MIRIFLAGS="$1 -Zmiri-ignore-leaks" cargo +nightly miri test --no-fail-fast -p allocator-rc --lib --tests "${@:2}"
' _ "$flags" "$@" &
wait

status=0
for half in bitmap-buddy others; do
  echo "=== miri: $half: $(cat "$logs/$half.status")"
  cat "$logs/$half.log"
  [ "$(cat "$logs/$half.status")" = ok ] || status=1
done
exit "$status"
