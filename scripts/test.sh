#!/usr/bin/env bash
# Runs paywatch's whole test suite: installs what the tests need (a regtest
# bitcoind, Anvil, libclang for RocksDB's bindings, the wasm32-wasip1
# target), tests the plugin SDK and its examples, runs `cargo test --release`,
# then fuzzes the decoders for a bounded time (scripts/fuzz.sh, FUZZ_SECS).
# Tests use the real fixtures from $PAYWATCH_FIXTURES (default ../shared/fixtures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh
bash scripts/build-plugins.sh
CARGO_TARGET_DIR="${PAYWATCH_PLUGIN_TARGET:-${CARGO_TARGET_DIR:-$HOME/.cache/paywatch-target}/plugins}" \
    cargo test --manifest-path plugins/Cargo.toml
cargo test --release "$@"
# Fuzzing runs on the whole suite only, not when tests are picked by name.
if (($# == 0)); then
    bash scripts/fuzz.sh
fi
