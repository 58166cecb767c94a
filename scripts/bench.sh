#!/usr/bin/env bash
# hvnet's benchmark: apply/teardown of N taps vs `ip -batch` vs a shell loop (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -q --bin hvnet --bin hvnet-bench
exec target/release/hvnet-bench "$@"
