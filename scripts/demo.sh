#!/usr/bin/env bash
# Installs the dependencies, builds hvnet and runs its embedded demo in throwaway namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec target/release/hvnet demo "$@"
