#!/usr/bin/env bash
# Builds the shipped binary, target/release/hvnet, as a static-pie executable: glibc and
# libgcc are linked in, so starting it maps no shared library and resolves no symbol (a
# `guest up` or `kvm ifup` is mostly process start: 2.9 → 2.5 ms of CPU per `guest up`,
# BENCHMARKS.md). It stays position-independent, so ASLR still applies to it.
#
# glibc's NSS (tap `owner`/`group` given by name) still works: the `files` source is built
# into libc, and other sources (systemd, sss, ldap) are loaded from the host's glibc, which
# must then be the version hvnet was built against — true of a package built for the
# release it is installed on, and of `scripts/install.sh`, which builds on the host.
#
# Only the final link differs from `cargo build --release`: `cargo rustc` passes the flag
# to the binary's crate alone, because proc-macro crates cannot be built with crt-static.
# Extra arguments go to cargo, e.g. `scripts/build.sh --no-default-features`.
# `scripts/build.sh --debug` links target/debug/hvnet the same way (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=(--release)
if [[ ${1:-} == --debug ]]; then
  profile=()
  shift
fi
cargo rustc "${profile[@]}" -q -p hvnet-cli --bin hvnet "$@" -- -C target-feature=+crt-static
