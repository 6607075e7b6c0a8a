#!/usr/bin/env bash
# Runs paywatch's whole test suite: installs what the tests need (a regtest
# bitcoind, Anvil, libclang for RocksDB's bindings, promtool, the wasm32-wasip1
# target; all but libclang while the tests build), checks and tests the Prometheus alert rules in config/prometheus/,
# tests the plugin SDK and its examples, then runs
# `cargo test --release` (arguments are passed on: `bash scripts/test.sh
# invoices::` runs the tests whose name has that in it). Everything builds
# into cargo's target dir ($CARGO_TARGET_DIR, default ./target), the one
# `cargo run` and the demos use too.
# Tests use the real fixtures from $PAYWATCH_FIXTURES (default ../shared/fixtures).
# Fuzzing is a step of its own, `bash scripts/fuzz.sh` (CI runs both).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Compiling needs only libclang; the rest of the setup (apt packages, the
# nodes, the browser) is fetched in the background while cargo builds, its
# output shown once both are done.
bash scripts/setup-deps.sh --build-only
setup_log="$(mktemp)"
trap 'rm -f "$setup_log"' EXIT
echo "installing the test dependencies in the background while the tests build"
bash scripts/setup-deps.sh >"$setup_log" 2>&1 &
setup_pid=$!
build_status=0
cargo test --release --no-run "$@" || build_status=$?
setup_status=0
wait "$setup_pid" || setup_status=$?
cat "$setup_log"
if ((setup_status)); then
    echo "test.sh: installing the test dependencies failed (exit $setup_status), see above" >&2
    exit "$setup_status"
fi
if ((build_status)); then
    exit "$build_status"
fi
# The alert rules and their unit tests (a second each).
promtool check rules config/prometheus/alerts.yml
promtool test rules config/prometheus/alerts.test.yml
# Modules import one way, lowest layer first (docs/architecture.md).
python3 scripts/layers.py
bash scripts/build-plugins.sh
CARGO_TARGET_DIR="${PAYWATCH_PLUGIN_TARGET:-${CARGO_TARGET_DIR:-$(pwd)/target}/plugins}" \
    cargo test --manifest-path plugins/Cargo.toml
cargo test --release "$@"
