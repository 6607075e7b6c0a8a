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

# shellcheck source=scripts/demo-lib.sh
. scripts/demo-lib.sh

# --- dependencies and builds -------------------------------------------------
say "checking dependencies (scripts/setup-deps.sh)"
bash scripts/setup-deps.sh | sed '/^\//d'
say "building the example plugins (scripts/build-plugins.sh)"
CARGO_TERM_QUIET=true bash scripts/build-plugins.sh >/dev/null
paywatch_bin

tmp="$(mktemp -d "${TMPDIR:-/tmp}/paywatch-demo.XXXXXX")"

# --- anvil -----------------------------------------------------------------
start_anvil
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
fill_config config/demo.toml "ANVIL_URL=$ANVIL_URL" "TOKEN_ADDRESS=$token" \
    "REPO=$REPO" "RECEIVER_URL=$receiver_url"
run_paywatch ""

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
