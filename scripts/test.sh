#!/usr/bin/env bash
# Runs paywatch's whole test suite: installs what the tests need (a regtest
# bitcoind, Anvil, libclang for RocksDB's bindings, promtool, the wasm32-wasip1
# target), checks and tests the Prometheus alert rules in config/prometheus/,
# tests the plugin SDK and its examples, then runs
# `cargo test --release` (arguments are passed on: `bash scripts/test.sh
# invoices::` runs the tests whose name has that in it). Everything builds
# into cargo's target dir ($CARGO_TARGET_DIR, default ./target), the one
# `cargo run` and the demos use too.
# Tests use the real fixtures from $PAYWATCH_FIXTURES (default ../shared/fixtures).
# Fuzzing is a step of its own, `bash scripts/fuzz.sh` (CI runs both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh
# The alert rules and their unit tests (a second each).
promtool check rules config/prometheus/alerts.yml
promtool test rules config/prometheus/alerts.test.yml
# Modules import one way, lowest layer first (docs/architecture.md).
python3 scripts/layers.py
bash scripts/build-plugins.sh
CARGO_TARGET_DIR="${PAYWATCH_PLUGIN_TARGET:-${CARGO_TARGET_DIR:-$(pwd)/target}/plugins}" \
    cargo test --manifest-path plugins/Cargo.toml
cargo test --release "$@"
