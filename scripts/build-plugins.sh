#!/usr/bin/env bash
# Builds the plugin SDK's example plugins (plugins/examples/*) to WebAssembly
# and copies them to plugins/dist/<name>.wasm. The plugins are a cargo
# workspace of their own, built in a target directory of their own, so this
# never waits on the daemon's build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=wasm32-wasip1
# Without rustup, the toolchain is expected to have the target already.
if command -v rustup >/dev/null; then
    installed="$(rustup target list --installed)"
    if ! grep -qx "$target" <<<"$installed"; then
        rustup --quiet target add "$target"
    fi
fi

export CARGO_TARGET_DIR="${PAYWATCH_PLUGIN_TARGET:-${CARGO_TARGET_DIR:-$(pwd)/target}/plugins}"
cargo build --release --target "$target" --manifest-path plugins/Cargo.toml

mkdir -p plugins/dist
for dir in plugins/examples/*/; do
    name="$(basename "$dir")"
    cp "$CARGO_TARGET_DIR/$target/release/$name.wasm" "plugins/dist/$name.wasm"
    echo "plugins/dist/$name.wasm $(wc -c <"plugins/dist/$name.wasm") bytes"
done
