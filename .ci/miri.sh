#!/usr/bin/env bash
# Miri over the engines' unit tests, their differential tests, the testkit's
# conformance suites in their tiny configurations (ByteConfig/PageConfig/
# IdConfig::tiny() under cfg(miri)) and the allocator-api2 bridge over every
# engine. Needs nightly with the miri component (.ci/run adds it).
# Run from anywhere: .ci/miri.sh
#
# Every test shrinks its own workload under cfg(miri) (small pools, few
# operations), so that the whole step takes minutes: the interpreter is
# roughly a thousand times slower than native code, and pools of a few MiB or
# tens of thousands of operations cost it minutes per test.
#
# Flags:
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
#   write to the header).
# - allocator-rc runs with -Zmiri-ignore-leaks: AllocatorRc::new takes a
#   `&'static mut [u8]` pool, which its tests leak on purpose. The engines
#   keep Miri's leak check.
#
# Two lanes run in parallel (Miri interprets one test at a time; the machine
# has two cores), each with its own target directory so neither waits on the
# other's build lock. Their output streams as it comes, each line prefixed
# with its lane. A lane that runs past MIRI_LANE_SECONDS (default 30 min,
# several times what it needs) is stopped and the step fails, so a slow or
# stuck interpreter shows up as a red step naming the test, not as a CI run
# that hits its time limit.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${MIRI_BORROWS:-tree}" in
  tree) borrows=-Zmiri-tree-borrows ;;
  stacked) borrows= ;;
  *) echo "MIRI_BORROWS is tree or stacked" >&2; exit 2 ;;
esac
flags="${MIRIFLAGS:-} -Zmiri-permissive-provenance ${borrows}"

# One crate's test targets under Miri, in a lane's own target directory; the
# lane goes on after a failure so that every failure is reported.
miri_test() {
  local extra="$1"; shift
  echo "--- cargo miri test $* ($SECONDS s into the lane)"
  MIRIFLAGS="$flags $extra" CARGO_TARGET_DIR="target/miri-$lane" \
    cargo +nightly miri test --no-fail-fast "$@" -- --test-threads=1 || lane_status=1
}

if [ "${1:-}" = --lane ]; then
  lane="$2"
  lane_status=0
  case "$lane" in
    # Measured on a 2-core machine from a cold target directory, builds
    # included, before TLSF moved to lane a: lane a 571 s, lane b 833 s (TLSF
    # 169 s of it; the slab tests fill heaps block by block).
    a)
      miri_test "" -p allocator-buddy --lib --test differential --test conformance
      miri_test "" -p allocator-bitmap --lib --test conformance
      miri_test -Zmiri-ignore-leaks -p allocator-rc --lib --tests
      # The per-CPU layer with threads (small sizes under Miri).
      miri_test "" -p allocator-global --test percpu
      miri_test "" -p allocator-tlsf --lib --test differential --test conformance
      # The benchmark's adapters of every contestant, single and locked (the
      # unsafe code the suites drive), and its clock.
      miri_test "" -p allocator-bench --bin allocator-bench contestants::tests
      miri_test "" -p allocator-bench --bin allocator-bench locked::tests
      miri_test "" -p allocator-bench --bin allocator-bench cputime::tests
      # The C functions with no header (the registry's table, blocks freed by
      # the engine's found size); growing heaps keep their chunks at exit.
      miri_test -Zmiri-ignore-leaks -p allocator-capi --lib header_free
      # The slab index: sizes found by address, its table grown and moved.
      miri_test "" -p allocator-slab --test block_size
      ;;
    b)
      miri_test "" -p allocator-traits --lib
      miri_test "" -p allocator-slab --lib --test conformance
      ;;
    *) echo "unknown lane $lane" >&2; exit 2 ;;
  esac
  echo "--- lane $lane done in $SECONDS s"
  exit "$lane_status"
fi

echo "=== miri (MIRIFLAGS=${flags}); allocator-rc also with -Zmiri-ignore-leaks"
# Build Miri's sysroot once, before the lanes: two cargo-miri processes
# setting it up at the same time race (rust-lang/miri#4320).
cargo +nightly miri setup

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
limit="${MIRI_LANE_SECONDS:-1800}"
for lane in a b; do
  {
    if timeout "$limit" bash "$0" --lane "$lane"; then
      echo ok >"$logs/$lane"
    else
      code=$?
      [ "$code" = 124 ] && printf '\n' && echo "!!! lane $lane stopped after ${limit} s (MIRI_LANE_SECONDS)"
      echo "FAILED ($code)" >"$logs/$lane"
    fi
  } 2>&1 | sed -u "s/^/[miri $lane] /" &
done
wait

status=0
for lane in a b; do
  echo "=== miri lane $lane: $(cat "$logs/$lane")"
  [ "$(cat "$logs/$lane")" = ok ] || status=1
done
echo "=== miri took ${SECONDS} s"
exit "$status"
