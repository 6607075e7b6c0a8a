#!/usr/bin/env bash
# Runs paywatch's whole test suite: installs what the tests need (a regtest
# bitcoind, libclang for RocksDB's bindings), then `cargo test --release`.
# Tests use the real fixtures from $PAYWATCH_FIXTURES (default ../shared/fixtures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh
exec cargo test --release "$@"
