#!/usr/bin/env bash
# Packages every published crate as crates.io would receive it, and checks that
# each .crate ships its README and both license files. Takes seconds: no build
# (--no-verify); the other CI steps build and test the same sources.
set -euo pipefail
cd "$(dirname "$0")/.."

# Published crates, in dependency order. allocator-testkit and allocator-bench
# are publish = false.
CRATES=(allocator-traits allocator-tlsf allocator-buddy allocator-bitmap allocator-slab allocator-rc allocator-global allocator)
REQUIRED=(README.md LICENSE-MIT LICENSE-APACHE Cargo.toml)

# cargo >= 1.90 packages a workspace whose crates depend on one another by path
# (it resolves them against the crates packaged in the same run).
cargo package --workspace --no-verify --allow-dirty \
  --exclude allocator-testkit --exclude allocator-bench

# The two excluded crates must stay unpublishable.
for crate in allocator-testkit allocator-bench; do
  grep -qx 'publish = false' "$crate/Cargo.toml" \
    || { echo "package.sh: $crate/Cargo.toml lacks publish = false" >&2; exit 1; }
done

pkgdir="${CARGO_TARGET_DIR:-target}/package"
fail=0
for crate in "${CRATES[@]}"; do
  pkgid=$(cargo pkgid -q -p "$crate")
  version=${pkgid##*[#@]}
  file="$pkgdir/$crate-$version.crate"
  [[ -f $file ]] || { echo "package.sh: $file was not written" >&2; fail=1; continue; }
  listed=$(cargo package --list --allow-dirty -p "$crate")
  packed=$(tar -tzf "$file" | sed "s|^$crate-$version/||")
  for f in "${REQUIRED[@]}"; do
    grep -qxF "$f" <<<"$listed" || { echo "package.sh: cargo package --list -p $crate lacks $f" >&2; fail=1; }
    grep -qxF "$f" <<<"$packed" || { echo "package.sh: $file lacks $f" >&2; fail=1; }
  done
  # The license files are symlinks to the root copies: the archive must hold
  # the text. (Read whole first: `tar | grep -q` under pipefail fails when grep
  # stops reading early and tar gets SIGPIPE.)
  mit=$(tar -xzOf "$file" "$crate-$version/LICENSE-MIT")
  apache=$(tar -xzOf "$file" "$crate-$version/LICENSE-APACHE")
  grep -q 'Permission is hereby granted' <<<"$mit" \
    || { echo "package.sh: $file: LICENSE-MIT is not the MIT text" >&2; fail=1; }
  grep -q 'Apache License' <<<"$apache" \
    || { echo "package.sh: $file: LICENSE-APACHE is not the Apache text" >&2; fail=1; }
  echo "package.sh: $crate $version: $(wc -l <<<"$packed") files, README and licenses present"
done
exit "$fail"
