#!/usr/bin/env bash
# End-to-end tests of the paywatch client SDKs, one command:
#
#   bash clients/run-e2e.sh [python] [typescript] [php]     (default: all three)
#
# Starts Anvil on 127.0.0.1 and deploys the test ERC-20 (tests/evm/TestToken.sol),
# starts a webhook receiver that captures every request
# (clients/e2e/webhook_capture.py), writes a paywatch config with invoices on
# the Anvil chain, API keys and two webhook sinks (clients/e2e/paywatch-e2e.toml),
# starts paywatch, then for each SDK builds its package the ecosystem's way
# and runs its end-to-end test against the daemon:
#
#   python      python -m build (wheel and sdist), the wheel pip-installed into
#               a fresh venv, then clients/python/tests/test_e2e.py (unittest)
#   typescript  npm pack (tsc through prepack), the tarball npm-installed into
#               a fresh project, then test/e2e.test.mjs there (node:test)
#   php         php -l on every file, then clients/php/tests/e2e.php (through
#               the package's autoload.php)
#
# Everything runs in a temporary folder and is stopped and removed on exit
# (PAYWATCH_E2E_KEEP=1 keeps the folder when a test failed, for its logs).
#
# PYTHON=python3.9 names the Python the SDK is installed into and tested with
# (default python3); PHP="php -d extension=curl" names the PHP command
# (default php).
# PAYWATCH_BIN=path/to/paywatch names the daemon binary (default
# $CARGO_TARGET_DIR/release/paywatch, else target/release/paywatch; this
# script never builds paywatch). Needs python3 >= 3.9 with venv, node >= 20
# with npm, php >= 8.1, and Anvil and the compiled test token from
# scripts/setup-deps.sh (run when they are missing). The build tools (Python's
# build and setuptools, TypeScript) are installed once from PyPI and npm into
# clients/.cache/ and clients/typescript/node_modules/; later runs need no
# network.
#
# The tests read these variables, which this script sets (see the top of each
# test file): PAYWATCH_URL, PAYWATCH_API_KEY, PAYWATCH_READ_API_KEY,
# ANVIL_URL, PAYWATCH_TOKEN, PAYWATCH_WEBHOOK_SECRET, PAYWATCH_WEBHOOK_DIR,
# PAYWATCH_RESTART_CMD.
set -euo pipefail
case "${PAYWATCH_BIN:-}" in
"" | /*) ;;
*) PAYWATCH_BIN="$PWD/$PAYWATCH_BIN" ;;
esac
CLIENTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$CLIENTS")"
cd "$REPO"

# say, die, show_log, running, stop, free_port, rpc, mine, start_anvil,
# fill_config, and the cleanup of what is started (pids, $tmp) on exit.
# shellcheck source=scripts/demo-lib.sh
. scripts/demo-lib.sh

die() {
    printf 'e2e failed: %s\n' "$*" >&2
    exit 1
}

sdks=()
for arg in "$@"; do
    case "$arg" in
    python | typescript | php) sdks+=("$arg") ;;
    ts) sdks+=(typescript) ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$arg' (python, typescript, php)" ;;
    esac
done
((${#sdks[@]})) || sdks=(python typescript php)

read -r -a php_cmd <<<"${PHP:-php}"
PYTHON="${PYTHON:-python3}"
CACHE="$CLIENTS/.cache"
PY_TOOLS="$CACHE/python-build-venv"

# --- what is needed ----------------------------------------------------------
BIN="${PAYWATCH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/paywatch}"
[ -x "$BIN" ] || die "no paywatch binary at $BIN: set PAYWATCH_BIN (cargo build --release --bin paywatch makes one)"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "python3 >= 3.9 is needed"
for sdk in "${sdks[@]}"; do
    if [ "$sdk" = python ]; then
        "$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' ||
            die "$PYTHON: Python >= 3.9 with venv is needed"
    fi
done
for sdk in "${sdks[@]}"; do
    case "$sdk" in
    typescript)
        command -v node >/dev/null && command -v npm >/dev/null || die "node >= 20 and npm are needed"
        node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
            die "node >= 20 is needed (global fetch), not $(node --version)"
        ;;
    php)
        command -v "${php_cmd[0]}" >/dev/null || die "php >= 8.1 (php-cli) is needed"
        "${php_cmd[@]}" -r 'exit(PHP_VERSION_ID >= 80100 ? 0 : 1);' ||
            die "php >= 8.1 is needed, not $("${php_cmd[@]}" -r 'echo PHP_VERSION;')"
        ;;
    esac
done
if [ ! -x "$ANVIL" ] || [ ! -s .tools/evm/TestToken.bin ]; then
    say "installing Anvil and compiling the test token (scripts/setup-deps.sh)"
    bash scripts/setup-deps.sh | sed '/^\//d'
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/paywatch-sdk-e2e.XXXXXX")"

# The daemon is restarted by the tests through $tmp/paywatchctl, so its pid
# lives in a file rather than in demo-lib's list.
e2e_cleanup() {
    local rc=$? pid
    set +e
    if [ -n "$tmp" ] && [ -f "$tmp/paywatch.pid" ]; then
        pid="$(cat "$tmp/paywatch.pid")"
        [ -n "$pid" ] && stop "$pid"
    fi
    if ((rc)) && [ -n "$tmp" ] && [ "${PAYWATCH_E2E_KEEP:-0}" = 1 ]; then
        # Stop the rest, keep the folder.
        printf 'kept %s\n' "$tmp" >&2
        tmp=""
    fi
    set_rc() { return "$1"; }
    set_rc "$rc"
    cleanup
}
trap e2e_cleanup EXIT

# --- tools, installed once ---------------------------------------------------
tools() {
    local sdk
    for sdk in "${sdks[@]}"; do
        case "$sdk" in
        python)
            # setuptools >= 70.1 builds wheels without the wheel package.
            if ! "$PY_TOOLS/bin/python" -c 'import build, setuptools, sys
sys.exit(tuple(map(int, setuptools.__version__.split(".")[:2])) < (70, 1))' >/dev/null 2>&1; then
                say "installing build and setuptools (PyPI) into $PY_TOOLS"
                rm -rf "$PY_TOOLS"
                python3 -m venv "$PY_TOOLS"
                "$PY_TOOLS/bin/python" -m pip install -q --disable-pip-version-check \
                    "build>=1.0" "setuptools>=70.1" || die "pip could not install build and setuptools"
            fi
            ;;
        typescript)
            if [ ! -x "$CLIENTS/typescript/node_modules/.bin/tsc" ] ||
                [ "$CLIENTS/typescript/package-lock.json" -nt "$CLIENTS/typescript/node_modules/.package-lock.json" ]; then
                say "installing the TypeScript compiler (npm ci in clients/typescript)"
                (cd "$CLIENTS/typescript" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
                    die "npm ci failed in clients/typescript"
            fi
            ;;
        esac
    done
}
tools

# --- anvil, the token, the webhook receiver ------------------------------------
start_anvil
say "deployed the PWT token at $token"

say "starting the capturing webhook receiver"
python3 "$CLIENTS/e2e/webhook_capture.py" "$tmp/webhooks" >"$tmp/receiver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q '^listening on ' "$tmp/receiver.log" && break
    running "${pids[-1]}" || { show_log "$tmp/receiver.log"; die "the webhook receiver stopped"; }
    sleep 0.1
done
receiver_url="$(sed -n 's/^listening on //p' "$tmp/receiver.log")"
[ -n "$receiver_url" ] || die "the webhook receiver did not start"

# --- paywatch -------------------------------------------------------------------
random_hex() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
sha256_hex() { printf %s "$1" | python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }
write_key="pw_e2e_write_$(random_hex)"
read_key="pw_e2e_read_$(random_hex)"
webhook_secret="whsec_$(random_hex)"
printf '%s\n' "$webhook_secret" >"$tmp/webhook.secret"
fill_config "$CLIENTS/e2e/paywatch-e2e.toml" \
    "ANVIL_URL=$ANVIL_URL" "TOKEN_ADDRESS=$token" \
    "WRITE_KEY_SHA256=$(sha256_hex "$write_key")" "READ_KEY_SHA256=$(sha256_hex "$read_key")" \
    "RECEIVER_URL=${receiver_url}hook" "DEAD_URL=http://127.0.0.1:$(free_port)/nothing-listens"

# paywatchctl start|stop|restart [PAUSE]: the daemon on the same config and
# data dir; start (and restart, after PAUSE seconds down, default 1) returns
# once /v1/status answers.
cat >"$tmp/paywatchctl" <<EOF
#!/usr/bin/env bash
set -euo pipefail
BIN='$BIN'
CONFIG='$tmp/paywatch.toml'
LOG='$tmp/paywatch.log'
PIDFILE='$tmp/paywatch.pid'
API='$API'
KEY='$write_key'
EOF
cat >>"$tmp/paywatchctl" <<'EOF'
running() {
    local state
    state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" && [ "$state" != Z ]
}
stop_daemon() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 0
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 300); do
            running "$pid" || break
            sleep 0.05
        done
        if running "$pid"; then
            echo "paywatchctl: paywatch $pid did not stop in 15 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PIDFILE"
}
start_daemon() {
    NO_COLOR=1 "$BIN" run --config "$CONFIG" >>"$LOG" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    for _ in $(seq 300); do
        if python3 - "$API/v1/status" "$KEY" <<'PY' 2>/dev/null; then
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
urllib.request.urlopen(request, timeout=2).read()
PY
            return 0
        fi
        running "$pid" || { tail -n 20 "$LOG" >&2; echo "paywatchctl: paywatch stopped" >&2; return 1; }
        sleep 0.1
    done
    echo "paywatchctl: paywatch did not answer on $API" >&2
    return 1
}
case "${1:-}" in
start) start_daemon ;;
stop) stop_daemon ;;
restart)
    stop_daemon
    sleep "${2:-1}"
    start_daemon
    ;;
*)
    echo "usage: paywatchctl start|stop|restart [PAUSE]" >&2
    exit 2
    ;;
esac
EOF
chmod +x "$tmp/paywatchctl"

say "starting paywatch on $API ($BIN)"
"$tmp/paywatchctl" start || { show_log "$tmp/paywatch.log"; die "paywatch did not start"; }

export PAYWATCH_URL="$API"
export PAYWATCH_API_KEY="$write_key"
export PAYWATCH_READ_API_KEY="$read_key"
export ANVIL_URL
export PAYWATCH_TOKEN="$token"
export PAYWATCH_WEBHOOK_SECRET="$webhook_secret"
export PAYWATCH_WEBHOOK_DIR="$tmp/webhooks"
export PAYWATCH_RESTART_CMD="$tmp/paywatchctl restart"

# --- the SDKs --------------------------------------------------------------------
run_python() {
    say "python: python -m build (sdist and wheel)"
    mkdir -p "$tmp/python"
    # Built from a copy, so that the build leaves nothing in the tree.
    tar -C "$CLIENTS" --exclude=__pycache__ --exclude=build --exclude=dist --exclude='*.egg-info' \
        -cf - python | tar -C "$tmp/python" -xf - || return 1
    "$PY_TOOLS/bin/python" -m build --no-isolation --outdir "$tmp/python/dist" "$tmp/python/python" \
        >"$tmp/python/build.log" 2>&1 || { show_log "$tmp/python/build.log"; return 1; }
    local wheel
    wheel="$(ls "$tmp"/python/dist/paywatch-*.whl)" || return 1
    say "python: pip install $(basename "$wheel") into a fresh venv ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv "$tmp/python/venv" || return 1
    "$tmp/python/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index "$wheel" || return 1
    say "python: clients/python/tests/test_e2e.py"
    (cd "$tmp/python" && "$tmp/python/venv/bin/python" "$CLIENTS/python/tests/test_e2e.py" -v)
}

run_typescript() {
    local tarball
    say "typescript: npm pack (tsc)"
    tarball="$(cd "$CLIENTS/typescript" && npm pack --pack-destination "$tmp" --loglevel=error | tail -n 1)" || return 1
    [ -f "$tmp/$tarball" ] || { echo "npm pack made no tarball" >&2; return 1; }
    say "typescript: npm install $tarball into a fresh project"
    mkdir -p "$tmp/typescript"
    printf '{"name":"paywatch-sdk-e2e","version":"0.0.0","private":true,"type":"module"}\n' \
        >"$tmp/typescript/package.json"
    (cd "$tmp/typescript" && npm install --no-audit --no-fund --loglevel=error --prefer-offline \
        "$tmp/$tarball" >/dev/null) || return 1
    cp "$CLIENTS/typescript/test/e2e.test.mjs" "$tmp/typescript/" || return 1
    say "typescript: test/e2e.test.mjs (node --test), against the installed package"
    (cd "$tmp/typescript" && node --test --test-reporter=spec e2e.test.mjs)
}

run_php() {
    local f
    say "php: php -l, composer.json"
    while IFS= read -r f; do
        "${php_cmd[@]}" -l "$f" >/dev/null || return 1
    done < <(find "$CLIENTS/php" -name '*.php' -not -path '*/vendor/*')
    "${php_cmd[@]}" -r 'json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);' \
        "$CLIENTS/php/composer.json" || return 1
    say "php: clients/php/tests/e2e.php (through autoload.php)"
    "${php_cmd[@]}" "$CLIENTS/php/tests/e2e.php"
}

results=()
failed=0
for sdk in "${sdks[@]}"; do
    echo
    started=$SECONDS
    if "run_$sdk"; then
        results+=("$sdk: passed in $((SECONDS - started)) s")
    else
        results+=("$sdk: FAILED after $((SECONDS - started)) s")
        failed=1
        show_log "$tmp/paywatch.log"
    fi
    # A test that failed midway may have left the daemon stopped.
    if [ ! -f "$tmp/paywatch.pid" ] || ! running "$(cat "$tmp/paywatch.pid")"; then
        "$tmp/paywatchctl" start || die "paywatch could not be started again"
    fi
done

echo
for line in "${results[@]}"; do
    echo "    $line"
done
echo "Done in $SECONDS s."
exit "$failed"
