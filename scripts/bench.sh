#!/usr/bin/env bash
# hvnet's benchmarks (see BENCHMARKS.md): default apply/teardown of N taps vs `ip -batch` vs a shell loop;
# --rates (rate-limit accuracy), --firewall (nft transaction and iptables batch vs per-rule execs), --lease (network start → first guest lease, STP on/off, live static-host change),
# --guests (256 sequential `hvnet guest up`/`down` of 2-NIC guests vs `ip -batch` per guest vs single `ip` commands),
# --kvm (`hvnet kvm ifup` of a fresh tap beside 512 others vs `ip -batch` of the same changes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -q --bin hvnet-bench
scripts/build.sh
# The release binary stays small (issue 13: 41 MB with `debug = 1`; see [profile.release]).
size=$(stat -c %s target/release/hvnet)
echo "target/release/hvnet: $((size / 1024)) KiB"
((size < 10 * 1024 * 1024)) || { echo "target/release/hvnet is $size bytes, over 10 MB: debug info in the release profile?" >&2; exit 1; }
exec target/release/hvnet-bench "$@"
