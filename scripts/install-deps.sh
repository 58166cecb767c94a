#!/usr/bin/env bash
# Installs what hvnet's demo, tests and benchmarks need on a Debian machine (run as root).
# Idempotent: skips apt when everything is already there.
set -euo pipefail

pkgs=(iproute2 iputils-ping util-linux procps iperf3 dnsmasq-base udhcpc iptables)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first" >&2; exit 1; }
