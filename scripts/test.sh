#!/usr/bin/env bash
# The whole test suite: formatting, lints, the KVM-only build, docs, packaging, unit tests,
# and the root-only integration suite (each test in its own network namespaces). Run as root.
# The MSRV check needs a second toolchain and is a separate command: scripts/msrv.sh.
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
# The library crates: warning-free docs (rustdoc lints denied), and they package for crates.io.
libs=(-p hvnet-core -p hvnet-linux -p hvnet-kvm -p hvnet-xen)
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps --all-features "${libs[@]}"
cargo package -q --no-verify --allow-dirty "${libs[@]}"
cargo build -q --workspace --bins
cargo test --workspace 2>&1 | tee target/test.log
# The shipped linking (scripts/build.sh: static-pie) of the debug build, and the tests that
# need it: no program interpreter, and tap owners resolve without loading NSS modules.
scripts/build.sh --debug
cargo test -q -p hvnet-tests --test static_binary -- --ignored 2>&1 | tee -a target/test.log
