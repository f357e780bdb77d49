#!/usr/bin/env bash
# CI step: boot the example kernel (examples/kernel) on riscv64 and aarch64
# QEMU virt machines with 4 CPUs; a hang, a failure or a missing pass line
# fails the step. Installs QEMU and OpenSBI with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-system-riscv64 >/dev/null || ! command -v qemu-system-aarch64 >/dev/null \
  || ! ls /usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.* >/dev/null 2>&1; then
  echo "installing QEMU and OpenSBI"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo) # GitHub's runners
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-system-misc qemu-system-arm opensbi >/dev/null
fi
qemu-system-riscv64 --version | head -n 1

cargo fmt --manifest-path examples/kernel/Cargo.toml -- --check
for target in riscv64gc-unknown-none-elf aarch64-unknown-none-softfloat; do
  cargo clippy -q --manifest-path examples/kernel/Cargo.toml --release --target "$target" -- -D warnings
done
bash examples/kernel/run.sh all
