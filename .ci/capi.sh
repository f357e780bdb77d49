#!/usr/bin/env bash
# The C ABI (allocator-capi, issue 18): the Rust tests of the C rules and the
# macro form, then the C test program under LD_PRELOAD of allocator-malloc
# with each engine (slab, tlsf, buddy), debug and release. Needs a C compiler
# (cc); installs gcc with apt-get only where none is present.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(uname -s) != Linux ]]; then
  echo "capi.sh: the LD_PRELOAD checks run on Linux only; running the Rust tests alone"
  cargo test -q -p allocator-capi
  exit 0
fi
if ! command -v "${CC:-cc}" >/dev/null; then
  echo "capi.sh: no C compiler; installing gcc"
  apt-get update -q && apt-get install -y -q gcc libc6-dev
fi

cargo test -q -p allocator-capi
# allocator-capi is published (package.sh packages it with the workspace):
# its package holds its README and licenses, not the preload crate.
listed=$(cargo package --list --allow-dirty -p allocator-capi)
for f in README.md LICENSE-MIT LICENSE-APACHE Cargo.toml src/lib.rs; do
  grep -qxF "$f" <<<"$listed" || { echo "capi.sh: the allocator-capi package lacks $f" >&2; exit 1; }
done
if grep -q '^preload/' <<<"$listed"; then echo "capi.sh: the allocator-capi package ships preload/" >&2; exit 1; fi
grep -qx 'publish = false' allocator-capi/preload/Cargo.toml \
  || { echo "capi.sh: allocator-capi/preload/Cargo.toml lacks publish = false" >&2; exit 1; }
for engine in slab tlsf buddy; do
  echo "capi.sh: the C test under LD_PRELOAD, engine $engine (debug)"
  cargo test -q -p allocator-malloc --no-default-features --features "$engine" -- --nocapture
done
echo "capi.sh: the C test under LD_PRELOAD, engine slab with per-thread caches (debug)"
cargo test -q -p allocator-malloc --features percpu -- --nocapture
echo "capi.sh: the C test under LD_PRELOAD, engine slab (release)"
cargo test -q --release -p allocator-malloc -- --nocapture
echo "capi.sh: done"
