#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the root-only integration suite
# (each test in its own network namespaces). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy -q --workspace --all-targets -- -D warnings
cargo build -q --workspace --bins
cargo test --workspace 2>&1 | tee target/test.log
