#!/usr/bin/env bash
# Builds the example kernel and boots it in QEMU with 4 CPUs, under a timeout.
#
#   bash examples/kernel/run.sh [riscv64|aarch64|all] [--plain-spin-lock]
#
# Passes (exit 0) when every kernel prints its `KERNEL PASS` line for all its
# CPUs and QEMU exits cleanly; fails on `KERNEL FAIL`, a missing pass line, a
# non-zero QEMU exit or a hang (KERNEL_TIMEOUT seconds, 60 by default).
#
# --plain-spin-lock builds the heap behind a plain spin lock instead of
# IrqSafeSpin, to show what the interrupt-safe lock prevents: that kernel is
# expected to deadlock (its timer handlers allocate), so this mode passes
# when it hangs until the timeout (KERNEL_TIMEOUT, 20 s by default here).
#
# Needs qemu-system-riscv64 (with OpenSBI, `-bios default`) and
# qemu-system-aarch64: on Debian/Ubuntu `apt-get install qemu-system-misc
# qemu-system-arm opensbi` (.ci/kernel.sh installs them when missing).
set -euo pipefail
cd "$(dirname "$0")"

ARCHES=()
PLAIN=0
for arg in "$@"; do
  case "$arg" in
    riscv64 | aarch64) ARCHES+=("$arg") ;;
    all) ARCHES+=(riscv64 aarch64) ;;
    --plain-spin-lock) PLAIN=1 ;;
    *) echo "usage: $0 [riscv64|aarch64|all] [--plain-spin-lock]" >&2; exit 2 ;;
  esac
done
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(riscv64 aarch64)
CPUS="${KERNEL_CPUS:-4}"
if [ "$PLAIN" = 1 ]; then TIMEOUT="${KERNEL_TIMEOUT:-20}"; else TIMEOUT="${KERNEL_TIMEOUT:-60}"; fi
FEATURES=()
[ "$PLAIN" = 1 ] && FEATURES=(--features plain-spin-lock)

status=0
for arch in "${ARCHES[@]}"; do
  case "$arch" in
    riscv64)
      target=riscv64gc-unknown-none-elf
      qemu=(qemu-system-riscv64 -machine virt -bios default)
      ;;
    aarch64)
      target=aarch64-unknown-none-softfloat
      qemu=(qemu-system-aarch64 -machine virt -cpu cortex-a57 -semihosting)
      ;;
  esac
  if ! command -v "${qemu[0]}" >/dev/null; then
    echo "run.sh: ${qemu[0]} not found (apt-get install qemu-system-misc qemu-system-arm opensbi)" >&2
    exit 1
  fi
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
  fi
  echo "=== $arch: building"
  cargo build -q --release --target "$target" "${FEATURES[@]}"
  kernel="target/$target/release/kernel"
  log="target/$target/release/boot.log"
  echo "=== $arch: booting with $CPUS CPUs (timeout ${TIMEOUT}s)"
  qemu_status=0
  start=$SECONDS
  timeout "$TIMEOUT" "${qemu[@]}" -smp "$CPUS" -m 128M -nographic -nic none -monitor none -serial stdio \
    -kernel "$kernel" </dev/null 2>&1 | tr -d '\r' | tee "$log" || qemu_status=${PIPESTATUS[0]}
  echo "=== $arch: QEMU exited with $qemu_status after $((SECONDS - start)) s"
  if [ "$PLAIN" = 1 ]; then
    if [ "$qemu_status" = 124 ] && ! grep -q '^KERNEL PASS' "$log"; then
      echo "=== $arch: the plain spin lock deadlocked, as expected (no pass line in ${TIMEOUT}s)"
    else
      echo "=== $arch: expected a deadlock with the plain spin lock, but the kernel finished" >&2
      status=1
    fi
  elif [ "$qemu_status" = 124 ]; then
    echo "=== $arch: FAIL: the kernel hung (no exit in ${TIMEOUT}s)" >&2
    status=1
  elif [ "$qemu_status" != 0 ] || ! grep -q "^KERNEL PASS: $arch, $CPUS CPUs," "$log"; then
    echo "=== $arch: FAIL: no pass line for $CPUS CPUs, or QEMU exit $qemu_status" >&2
    status=1
  else
    echo "=== $arch: pass"
  fi
done
exit "$status"
