#!/usr/bin/env bash
# The Anvil demo, one command: starts a local Anvil node with a USDT-like
# ERC-20 (tests/evm/TestToken.sol, 6 decimals), a webhook receiver
# (scripts/demo-receiver.py) and paywatch with the forward_all plugin and a
# signed webhook sink (config/demo.toml). It watches two fresh addresses,
# pays one in ETH and the other in tokens, mines a block on top and shows the
# payment.detected and payment.confirmed events arriving at the receiver,
# signatures checked. Everything runs in a temporary folder and is stopped
# and removed at the end (or on Ctrl-C).
#
#   bash scripts/demo.sh
#
# PAYWATCH_BIN=path/to/paywatch uses that binary instead of building one
# (cargo build --release into $CARGO_TARGET_DIR, default ./target, shared
# with the tests and `cargo run`). scripts/demo-bitcoin.sh is the same idea with a
# regtest bitcoind.
set -euo pipefail
case "${PAYWATCH_BIN:-}" in
"" | /*) ;;
*) PAYWATCH_BIN="$PWD/$PAYWATCH_BIN" ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
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

# --- dependencies and builds -------------------------------------------------
say "checking dependencies (scripts/setup-deps.sh)"
bash scripts/setup-deps.sh | sed '/^\//d'
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
say "building the example plugins (scripts/build-plugins.sh)"
CARGO_TERM_QUIET=true bash scripts/build-plugins.sh >/dev/null
if [ -n "${PAYWATCH_BIN:-}" ]; then
    BIN="$PAYWATCH_BIN"
else
    say "building paywatch (cargo build --release: the first build takes about 15 minutes on 2 cores)"
    cargo build --release --bin paywatch
    BIN="$CARGO_TARGET_DIR/release/paywatch"
fi
[ -x "$BIN" ] || die "no paywatch binary at $BIN"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/paywatch-demo.XXXXXX")"

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

# --- anvil -----------------------------------------------------------------
anvil_port="$(free_port)"
ANVIL_URL="http://127.0.0.1:$anvil_port"
say "starting anvil on $ANVIL_URL (blocks are mined on demand)"
"$ANVIL" --host 127.0.0.1 --port "$anvil_port" --no-mining >"$tmp/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    rpc eth_chainId '[]' >/dev/null 2>&1 && break
    running "${pids[-1]}" || { show_log "$tmp/anvil.log"; die "anvil stopped"; }
    sleep 0.1
done
rpc eth_chainId '[]' >/dev/null || die "anvil did not answer on $ANVIL_URL"
payer="$(rpc eth_accounts '[]' 0)"

# 1 000 000 tokens to the payer (6 decimals).
deploy="$(rpc eth_sendTransaction \
    "[{\"from\":\"$payer\",\"data\":\"0x$(<.tools/evm/TestToken.bin)$(word_uint 1000000000000)\"}]")"
mine 1
receipt_ok "$deploy"
token="$(rpc eth_getTransactionReceipt "[\"$deploy\"]" contractAddress)"
say "deployed the PWT token (TestToken, 6 decimals like USDT) at $token"

# --- webhook receiver ------------------------------------------------------
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$tmp/webhook.secret"
chmod 600 "$tmp/webhook.secret"
python3 scripts/demo-receiver.py --secret-file "$tmp/webhook.secret" >"$tmp/receiver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q '^listening on ' "$tmp/receiver.log" && break
    running "${pids[-1]}" || { show_log "$tmp/receiver.log"; die "the webhook receiver stopped"; }
    sleep 0.1
done
receiver_url="$(sed -n 's/^listening on //p' "$tmp/receiver.log")"
[ -n "$receiver_url" ] || die "the webhook receiver did not start"
say "webhook receiver on $receiver_url (scripts/demo-receiver.py)"

# --- paywatch --------------------------------------------------------------
api_port="$(free_port)"
API="http://127.0.0.1:$api_port"
config="$(<config/demo.toml)"
for pair in "API_LISTEN=127.0.0.1:$api_port" "ANVIL_URL=$ANVIL_URL" \
    "TOKEN_ADDRESS=$token" "REPO=$REPO" "RECEIVER_URL=$receiver_url"; do
    config="${config//"@${pair%%=*}@"/"${pair#*=}"}"
done
printf '%s\n' "$config" >"$tmp/paywatch.toml"
if grep -n '^[^#]*@[A-Z_]*@' "$tmp/paywatch.toml" >&2; then
    die "config/demo.toml has a placeholder the demo does not fill"
fi
say "config: config/demo.toml filled in, checked with paywatch check-config"
"$BIN" check-config "$tmp/paywatch.toml" >/dev/null || die "paywatch check-config refused the config"

say "starting paywatch on $API"
NO_COLOR=1 "$BIN" run --config "$tmp/paywatch.toml" >"$tmp/paywatch.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    "$BIN" status --url "$API" >/dev/null 2>&1 && break
    running "${pids[-1]}" || { show_log "$tmp/paywatch.log"; die "paywatch stopped"; }
    sleep 0.1
done
"$BIN" status --url "$API" >/dev/null || { show_log "$tmp/paywatch.log"; die "paywatch did not answer on $API"; }

# Two fresh addresses: paywatch only watches, it needs no keys.
eth_to="$(python3 -c 'import secrets; print("0x" + secrets.token_hex(20))')"
pwt_to="$(python3 -c 'import secrets; print("0x" + secrets.token_hex(20))')"
say "watching two addresses"
watch_add() {
    "$BIN" watch add eth "$1" --label "$2" --url "$API" >/dev/null
    echo "    paywatch watch add eth $1 --label $2"
}
watch_add "$eth_to" order-1001
watch_add "$pwt_to" order-1002

# --- payments --------------------------------------------------------------
say "paying 1.25 ETH to order-1001 and 42.5 PWT to order-1002, mining a block"
deadline=$((SECONDS + WAIT_SECS))
eth_tx="$(rpc eth_sendTransaction \
    "[{\"from\":\"$payer\",\"to\":\"$eth_to\",\"value\":\"$(printf '0x%x' 1250000000000000000)\"}]")"
pwt_tx="$(rpc eth_sendTransaction \
    "[{\"from\":\"$payer\",\"to\":\"$token\",\"data\":\"0xa9059cbb$(word_addr "$pwt_to")$(word_uint 42500000)\"}]")"
mine 1
receipt_ok "$eth_tx"
receipt_ok "$pwt_tx"

# await TYPE: relays the receiver's new lines until both addresses have a
# TYPE line with a good signature; fails at the deadline.
shown=1
await() {
    local lines missing i
    while :; do
        mapfile -t lines <"$tmp/receiver.log"
        # A line still being written waits for the next round.
        [ -z "$(tail -c 1 "$tmp/receiver.log")" ] || unset 'lines[-1]'
        for ((i = shown; i < ${#lines[@]}; i++)); do
            echo "    ${lines[i]}"
        done
        shown=${#lines[@]}
        # Judged on the lines shown, so that a line written meanwhile is
        # shown before the wait ends.
        missing=()
        for addr in "$eth_to" "$pwt_to"; do
            ((${#lines[@]})) && printf '%s\n' "${lines[@]}" |
                grep -qiE "^payment\.$1 .*$addr .*signature ok\$" ||
                missing+=("$addr")
        done
        ((${#missing[@]})) || return 0
        if ((SECONDS >= deadline)); then
            show_log "$tmp/paywatch.log"
            die "no signed payment.$1 webhook for ${missing[*]} within ${WAIT_SECS}s"
        fi
        running "${pids[-1]}" || { show_log "$tmp/paywatch.log"; die "paywatch stopped"; }
        sleep 0.2
    done
}
say "waiting for the webhooks"
await detected
say "mining one more block: 2 confirmations"
mine 1
await confirmed

say "the same events from the API: paywatch events tail --url $API"
"$BIN" events tail --url "$API"

echo
echo "Done in $SECONDS s. paywatch found both payments in the block that mined"
echo "them and confirmed them one block later; the forward_all plugin passed each"
echo "event to the webhook sink, which signed it. Read on: config/demo.toml,"
echo "scripts/demo-receiver.py and docs/webhooks.md. The Bitcoin (regtest) demo:"
echo "bash scripts/demo-bitcoin.sh"
