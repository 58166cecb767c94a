#!/bin/sh
# Copies the repository's example inputs into fuzz/corpus/TARGET/ as starting points.
# Usage: fuzz/seed-corpus.sh   (then: cd fuzz && cargo +nightly fuzz run config)
set -eu
cd "$(dirname "$0")/.."
c=fuzz/corpus
mkdir -p $c/config $c/libvirt_network $c/usr_guest_config $c/xl_vif $c/xl_rate $c/xenstore
cp tests/malformed/*.toml hvnet-cli/src/demo.toml $c/config/
cp hvnet-kvm/tests/data/libvirt/*.xml $c/libvirt_network/
cp hvnet-kvm/tests/data/usr_guest_config.sh $c/usr_guest_config/
printf '%s' "mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms" > $c/xl_vif/spec
printf '%s' "vif = [ 'mac=00:16:3e:00:00:01,bridge=br0', 'script=vif-nat,ip=10.1.0.2' ]" > $c/xl_vif/list
printf '%s' "100Mb/s@20ms" > $c/xl_rate/interval
printf '%s' "250000,20000" > $c/xl_rate/xenstore
printf 'bridge=xenbr0\nmac=00:16:3e:00:00:01\nrate=250000,20000\ntype=vif_ioemu\n' > $c/xenstore/keys
