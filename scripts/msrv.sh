#!/usr/bin/env bash
# The MSRV check (rust-version in Cargo.toml, 1.85): the library crates and the binary must
# build with that toolchain. A separate command, as it needs a second toolchain:
#   rustup toolchain install 1.85 --profile minimal && scripts/msrv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup run "$msrv" cargo --version >/dev/null 2>&1 || {
  echo "toolchain $msrv is not installed: rustup toolchain install $msrv --profile minimal" >&2
  exit 1
}
# Its own target directory: the main toolchain's artefacts are not reusable anyway.
export CARGO_TARGET_DIR=target/msrv
rustup run "$msrv" cargo check --locked --workspace --all-targets
rustup run "$msrv" cargo check --locked -p hvnet-cli --no-default-features
rustup run "$msrv" cargo check --locked -p hvnet-core --features schema
echo "MSRV $msrv: ok"
