#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the root-only integration suite
# (each test in its own network namespaces). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy -q --workspace --all-targets -- -D warnings
# The KVM-only build (no `xen` feature) compiles cleanly and links no GPL code.
cargo clippy -q -p hvnet-cli --no-default-features --all-targets -- -D warnings
if cargo tree -q -p hvnet-cli --no-default-features -e normal,build --prefix none --format '{p} {l}' | grep -i 'gpl'; then
  echo "the KVM-only build (--no-default-features) depends on GPL code (above)" >&2
  exit 1
fi
cargo build -q --workspace --bins
cargo test --workspace 2>&1 | tee target/test.log
