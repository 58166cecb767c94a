#!/usr/bin/env bash
# Builds the Debian package target/debian/hvnet_VERSION_ARCH.deb with cargo-deb, laid out
# like `scripts/install.sh --prefix /usr` (the metadata is in hvnet-cli/Cargo.toml), lists
# it and checks the layout. Not part of scripts/test.sh: it needs a release build and
# cargo-deb (`cargo install cargo-deb`, about 15 minutes to compile on a 2-core machine).
#
#   scripts/deb.sh [--no-build]      # --no-build: reuse target/release/hvnet
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: cargo install cargo-deb" >&2; exit 1; }
[[ ${1:-} == --no-build ]] || scripts/build.sh
rm -rf target/deb-stage
scripts/install.sh --prefix /usr --destdir target/deb-stage --binary target/release/hvnet >/dev/null
rm -rf target/debian
cargo deb -q -p hvnet-cli --no-build
deb=$(ls target/debian/hvnet_*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' | sort >target/debian/contents.txt
# Every file install.sh staged (the hook links aside) is in the package, at the same path
# (man pages gzipped, as Debian policy wants).
missing=0
while read -r f; do
  grep -qx -e "\.$f" -e "\.$f.gz" target/debian/contents.txt ||
    { echo "missing from $deb: $f" >&2; missing=1; }
done < <(cd target/deb-stage && find . -type f | sed 's/^\.//' | sort)
((missing == 0))
dpkg-deb -f "$deb" Package Version Depends
echo "$deb: $(wc -l <target/debian/contents.txt) entries, the same layout as scripts/install.sh --prefix /usr"
