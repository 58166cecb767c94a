#!/usr/bin/env bash
# Installs what hvnet's demo, tests and benchmarks need on a Debian machine (run as root).
# Idempotent: skips apt when everything is already there.
#
# - networking tools and daemons: iproute2, ping, iperf3, dnsmasq, udhcpc (busybox), iptables,
#   nftables (hvnet's nftables firewall backend, `nft`)
# - the IPv6 tests' DHCPv6 client: isc-dhcp-client (dhclient -6)
# - a real QEMU guest (tests/tests/qemu.rs): qemu-system-x86, cpio
# - a real xenstored for the Xen hotplug tests: xen-utils-4.17 (cxenstored), xenstore-utils,
#   libxen-dev and gcc (to build the LD_PRELOAD shim that stands in for the hypervisor)
# - the install and packaging tests: systemd (systemd-analyze verify of the units), man-db
#   (man -l renders the pages), python3-jsonschema (checks configs against hvnet.schema.json)
# - `hvnet show --format svg`: graphviz (dot)
# - EVPN overlays (tests/tests/evpn.rs, hvnet-bench --evpn): frr (zebra, bgpd, vtysh; hvnet
#   runs its own daemons, the package's frr service is never started: see policy-rc.d below)
set -euo pipefail

pkgs=(iproute2 iputils-ping util-linux procps iperf3 dnsmasq-base udhcpc iptables nftables
      isc-dhcp-client
      qemu-system-x86 cpio
      xen-utils-4.17 xenstore-utils libxen-dev gcc libc6-dev
      systemd man-db python3-jsonschema graphviz
      frr)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  # Never start services from package scripts (the Xen and FRR packages ship init scripts): a
  # policy-rc.d that refuses every action, only for the duration of the install.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  trap '((own_policy)) && rm -f "$policy"' EXIT
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  # The frr package enables its service for the next boot; hvnet runs its own daemons, so a
  # freshly installed frr is not started at boot either (an frr that was there is left alone).
  if [[ " ${missing[*]} " == *" frr "* ]] && command -v systemctl >/dev/null; then
    systemctl disable frr.service >/dev/null 2>&1 || true
  fi
fi
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first" >&2; exit 1; }
