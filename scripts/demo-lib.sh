# Shared by the Anvil demos (scripts/demo.sh, scripts/demo-shop.sh), sourced
# from the repository's root with REPO set: messages, the cleanup of what a
# demo starts, the paywatch binary, Anvil with the demo token, and paywatch
# started on a filled-in config template.
# shellcheck shell=bash
# The variables it sets (WAIT_SECS, BIN, ANVIL_URL, payer, token, API,
# paywatch_pid) are read by the demos.
# shellcheck disable=SC2034

ANVIL="$REPO/.tools/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
WAIT_SECS=60

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'demo failed: %s\n' "$*" >&2
    exit 1
}

# --- cleanup: stop what was started, newest first, and remove the folder ----
tmp=""
pids=()
# True while process $1 runs (a child that exited but is not reaped yet is Z).
running() {
    local state
    state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" && [ "$state" != Z ]
}
stop() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do
        running "$1" || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    set +e
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop "${pids[i]}"
    done
    [ -n "$tmp" ] && rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints the last lines of the log of the part that failed.
show_log() {
    printf -- '--- last lines of %s ---\n' "$(basename "$1")" >&2
    tail -n 20 "$1" >&2 || true
}

# paywatch_bin: sets BIN to $PAYWATCH_BIN, or builds paywatch
# (cargo build --release into $CARGO_TARGET_DIR, default ./target).
paywatch_bin() {
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
    if [ -n "${PAYWATCH_BIN:-}" ]; then
        BIN="$PAYWATCH_BIN"
    else
        say "building paywatch (cargo build --release: the first build takes about 15 minutes on 2 cores)"
        cargo build --release --bin paywatch
        BIN="$CARGO_TARGET_DIR/release/paywatch"
    fi
    [ -x "$BIN" ] || die "no paywatch binary at $BIN"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rpc METHOD PARAMS [KEY...]: Anvil's JSON-RPC answer, or one field of it.
rpc() {
    python3 - "$ANVIL_URL" "$@" <<'EOF'
import json, sys, urllib.request
url, method, params, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": json.loads(params)}
request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=10))
if answer.get("error"):
    sys.exit(f"{method}: {answer['error'].get('message')}")
result = answer["result"]
for key in keys:
    if result is not None:
        result = result[int(key) if key.isdigit() else key]
print(result if isinstance(result, str) else json.dumps(result))
EOF
}

mine() { rpc anvil_mine "[\"0x$(printf %x "$1")\"]" >/dev/null; }

# receipt_ok HASH: the transaction is mined and succeeded.
receipt_ok() {
    local status
    status="$(rpc eth_getTransactionReceipt "[\"$1\"]" status)"
    [ "$status" = 0x1 ] || die "transaction $1 did not succeed (status $status)"
}

# A 32-byte ABI word: an address, or a number.
word_addr() { printf '000000000000000000000000%s' "${1#0x}"; }
word_uint() { printf '%064x' "$1"; }

# start_anvil: starts Anvil (blocks mined on demand) and deploys the demo
# token (tests/evm/TestToken.sol, 6 decimals), 1 000 000 of it to Anvil's
# first account. Sets ANVIL_URL, payer (that account) and token.
start_anvil() {
    local port deploy
    port="$(free_port)"
    ANVIL_URL="http://127.0.0.1:$port"
    say "starting anvil on $ANVIL_URL (blocks are mined on demand)"
    "$ANVIL" --host 127.0.0.1 --port "$port" --no-mining >"$tmp/anvil.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do
        rpc eth_chainId '[]' >/dev/null 2>&1 && break
        running "${pids[-1]}" || { show_log "$tmp/anvil.log"; die "anvil stopped"; }
        sleep 0.1
    done
    rpc eth_chainId '[]' >/dev/null || die "anvil did not answer on $ANVIL_URL"
    payer="$(rpc eth_accounts '[]' 0)"
    deploy="$(rpc eth_sendTransaction \
        "[{\"from\":\"$payer\",\"data\":\"0x$(<.tools/evm/TestToken.bin)$(word_uint 1000000000000)\"}]")"
    mine 1
    receipt_ok "$deploy"
    token="$(rpc eth_getTransactionReceipt "[\"$deploy\"]" contractAddress)"
}

# fill_config TEMPLATE NAME=VALUE...: fills the @NAME@ placeholders of the
# config template (API_LISTEN, on a free port, is filled here) into
# $tmp/paywatch.toml and checks it with check-config. Sets API.
fill_config() {
    local template="$1" config pair api_port
    shift
    api_port="$(free_port)"
    API="http://127.0.0.1:$api_port"
    config="$(<"$template")"
    for pair in "API_LISTEN=127.0.0.1:$api_port" "$@"; do
        config="${config//"@${pair%%=*}@"/"${pair#*=}"}"
    done
    printf '%s\n' "$config" >"$tmp/paywatch.toml"
    if grep -n '^[^#]*@[A-Z_]*@' "$tmp/paywatch.toml" >&2; then
        die "$template has a placeholder the demo does not fill"
    fi
    say "config: $template filled in, checked with paywatch check-config"
    "$BIN" check-config "$tmp/paywatch.toml" >/dev/null || die "paywatch check-config refused the config"
}

# run_paywatch [WHAT]: starts paywatch on $tmp/paywatch.toml and waits for
# its API; WHAT ends the message. Sets paywatch_pid.
run_paywatch() {
    say "starting paywatch on $API${1:-}"
    NO_COLOR=1 "$BIN" run --config "$tmp/paywatch.toml" >"$tmp/paywatch.log" 2>&1 &
    paywatch_pid=$!
    pids+=("$paywatch_pid")
    for _ in $(seq 300); do
        "$BIN" status --url "$API" >/dev/null 2>&1 && break
        running "$paywatch_pid" || { show_log "$tmp/paywatch.log"; die "paywatch stopped"; }
        sleep 0.1
    done
    "$BIN" status --url "$API" >/dev/null || { show_log "$tmp/paywatch.log"; die "paywatch did not answer on $API"; }
}
