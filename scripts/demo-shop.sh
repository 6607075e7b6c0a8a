#!/usr/bin/env bash
# The shop demo, one command: invoices and the hosted checkout page on a
# local Anvil node. Starts Anvil with a USDT-like ERC-20
# (tests/evm/TestToken.sol, 6 decimals) and paywatch with invoices and the
# checkout page on (config/demo-shop.toml). It creates two invoices, order
# 1001 for 25 PWT and order 1002 for 0.05 ETH, each paid to an address of
# its own; pays the token invoice in two parts (underpaid, then paid, then
# confirmed) and shows what its checkout page says on the way; pays the ETH
# invoice in full; and prints the invoice.* events. With Chromium and
# playwright-core installed, it saves screenshots of both checkout pages,
# open and paid, into ./demo-shop-screenshots/, which it keeps. Everything
# else runs in a temporary folder and is stopped and removed at the end (or
# on Ctrl-C).
#
#   bash scripts/demo-shop.sh
#
# PAYWATCH_BIN=path/to/paywatch uses that binary instead of building one
# (cargo build --release into $CARGO_TARGET_DIR, default ./target, shared
# with the tests and `cargo run`). PAYWATCH_DEMO_SCREENSHOTS=0 skips the
# screenshots; PAYWATCH_DEMO_SCREENSHOTS_DIR=path puts them there instead;
# CHROMIUM=path names the browser (default /usr/bin/chromium).
# scripts/demo.sh is the demo of payments and webhooks.
set -euo pipefail
case "${PAYWATCH_BIN:-}" in
"" | /*) ;;
*) PAYWATCH_BIN="$PWD/$PAYWATCH_BIN" ;;
esac
SHOTS_DIR="${PAYWATCH_DEMO_SCREENSHOTS_DIR:-demo-shop-screenshots}"
case "$SHOTS_DIR" in
/*) ;;
*) SHOTS_DIR="$PWD/$SHOTS_DIR" ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

# shellcheck source=scripts/demo-lib.sh
. scripts/demo-lib.sh

# --- dependencies and build --------------------------------------------------
say "checking dependencies (scripts/setup-deps.sh)"
bash scripts/setup-deps.sh | sed '/^\//d'
paywatch_bin

tmp="$(mktemp -d "${TMPDIR:-/tmp}/paywatch-demo-shop.XXXXXX")"

# field KEY... <JSON: one field of a JSON document (a string as it is).
field() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value[int(key) if key.isdigit() else key]
print(value if isinstance(value, str) else json.dumps(value))' "$@"
}

# whole BASE DECIMALS: base units as a decimal in whole units.
whole() {
    python3 -c 'import sys; from decimal import Decimal
print(format(Decimal(sys.argv[1]).scaleb(-int(sys.argv[2])).normalize(), "f"))' "$1" "$2"
}

# http_get URL: the body of a GET answer.
http_get() {
    python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"
}

# --- screenshots of the checkout pages (Chromium and playwright-core) -------
shots=0
if [ "${PAYWATCH_DEMO_SCREENSHOTS:-1}" = 0 ]; then
    shots_note="skipping the screenshots (PAYWATCH_DEMO_SCREENSHOTS=0)"
elif [ -x "$CHROMIUM" ] && [ -f .tools/npm/node_modules/playwright-core/package.json ] &&
    command -v node >/dev/null 2>&1; then
    shots=1
    shots_note="screenshots of the checkout pages go to $SHOTS_DIR/"
else
    shots_note="skipping the screenshots: no Chromium at $CHROMIUM, or no playwright-core (scripts/setup-deps.sh installs both)"
fi

# screenshot NAME STATUS URL [NAME STATUS URL ...]: saves each checkout page,
# once it shows STATUS, as $SHOTS_DIR/NAME.png (in a phone-sized window).
screenshot() {
    ((shots)) || return 0
    local pid rc=0 deadline=$((SECONDS + WAIT_SECS))
    CHROMIUM="$CHROMIUM" PLAYWRIGHT_DIR="$REPO/.tools/npm" TMPDIR="$tmp" \
        node scripts/demo-shop-screenshots.mjs "$SHOTS_DIR" "$@" >"$tmp/screenshots.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    while running "$pid"; do
        if ((SECONDS >= deadline)); then
            show_log "$tmp/screenshots.log"
            die "no screenshots within ${WAIT_SECS}s (PAYWATCH_DEMO_SCREENSHOTS=0 skips them)"
        fi
        sleep 0.2
    done
    wait "$pid" || rc=$?
    unset 'pids[-1]'
    if ((rc)); then
        show_log "$tmp/screenshots.log"
        die "the screenshots failed (PAYWATCH_DEMO_SCREENSHOTS=0 skips them)"
    fi
    sed 's/^/    /' "$tmp/screenshots.log"
}

# --- anvil -----------------------------------------------------------------
start_anvil
say "deployed the PWT token (TestToken, 6 decimals like USDT) at $token; the buyer is $payer"

# --- paywatch --------------------------------------------------------------
fill_config config/demo-shop.toml "ANVIL_URL=$ANVIL_URL" "TOKEN_ADDRESS=$token"
run_paywatch " (invoices on chain eth, checkout page at $API/pay/)"

# --- invoices --------------------------------------------------------------
# create ORDER ASSET AMOUNT: creates the invoice, keeps it as
# $tmp/invoice-ORDER.json and shows it.
create() {
    local inv
    say "creating invoice $1 for $3 $2: paywatch invoice create --chain eth --asset $2 --amount $3 --order-id $1"
    inv="$("$BIN" invoice create --chain eth --asset "$2" --amount "$3" --order-id "$1" --url "$API")" ||
        die "paywatch invoice create failed for order $1"
    printf '%s\n' "$inv" >"$tmp/invoice-$1.json"
    python3 - "$inv" <<'EOF'
import json, sys
inv = json.loads(sys.argv[1])
print(f"    id        {inv['id']}")
print(f"    pay       exactly {inv['amount_due']} {inv['asset']['symbol']} to {inv['address']}"
      f" (address 0/{inv['derivation_index']} of the account key)")
print(f"    wallet    {inv['payment_uri']}")
print(f"    checkout  {inv['checkout_url']}")
EOF
}

# await_invoice ID ORDER STATUS: waits until the invoice has STATUS
# (paywatch invoice get), then shows what it was paid; fails at the deadline.
await_invoice() {
    local inv="" status="" deadline=$((SECONDS + WAIT_SECS))
    while :; do
        if inv="$("$BIN" invoice get "$1" --url "$API" 2>/dev/null)"; then
            status="$(field status <<<"$inv")"
            [ "$status" = "$3" ] && break
        fi
        if ((SECONDS >= deadline)); then
            show_log "$tmp/paywatch.log"
            die "invoice $2 is ${status:-unreadable}, not $3, after ${WAIT_SECS}s"
        fi
        running "$paywatch_pid" || { show_log "$tmp/paywatch.log"; die "paywatch stopped"; }
        sleep 0.2
    done
    python3 - "$inv" <<'EOF'
import json, sys
inv = json.loads(sys.argv[1])
n = len(inv["payments"])
confirmed = sum(1 for p in inv["payments"] if p["confirmed"])
print(f"    invoice {inv['order_id']}: {inv['status']}, {inv['paid']} of {inv['amount_due']}"
      f" {inv['asset']['symbol']} paid in {n} payment{'' if n == 1 else 's'} ({confirmed} confirmed)")
EOF
}

# pay_token TO BASE: sends BASE units of PWT to TO; prints the tx hash.
pay_token() {
    rpc eth_sendTransaction \
        "[{\"from\":\"$payer\",\"to\":\"$token\",\"data\":\"0xa9059cbb$(word_addr "$1")$(word_uint "$2")\"}]"
}

echo
create 1001 PWT 25
create 1002 ETH 0.05
pwt_id="$(field id <"$tmp/invoice-1001.json")"
eth_id="$(field id <"$tmp/invoice-1002.json")"
pwt_to="$(field address <"$tmp/invoice-1001.json")"
pwt_due="$(field amount_due_base <"$tmp/invoice-1001.json")"
pwt_url="$(field checkout_url <"$tmp/invoice-1001.json")"
eth_to="$(field address <"$tmp/invoice-1002.json")"
eth_due="$(field amount_due_base <"$tmp/invoice-1002.json")"
eth_url="$(field checkout_url <"$tmp/invoice-1002.json")"

echo
say "$shots_note"
screenshot 1001-pwt-1-pending pending "$pwt_url" 1002-eth-1-pending pending "$eth_url"

# --- the token invoice: part, the rest, confirmations ----------------------
part=$((pwt_due * 40 / 100))
rest=$((pwt_due - part))
echo
say "paying $(whole "$part" 6) PWT of the 25 due for order 1001 (an ERC-20 transfer), mining a block"
tx="$(pay_token "$pwt_to" "$part")"
mine 1
receipt_ok "$tx"
await_invoice "$pwt_id" 1001 underpaid
say "the checkout page follows: GET $pwt_url/status"
python3 - "$(http_get "$pwt_url/status")" "$(http_get "$pwt_url")" <<'EOF'
import html, json, re, sys
s = json.loads(sys.argv[1])
print(f"    status {s['status']}: {s['paid']} {s['asset']} paid, {s['remaining']} {s['asset']} still due")
print(f"    its QR code and wallet link now ask for the rest: {s['payment_uri']}")
block = re.search(r"<noscript>(.*?)</noscript>", sys.argv[2], re.S)
text = html.unescape(re.sub(r"<[^>]+>", " ", block.group(1))) if block else "(nothing)"
print("    without JavaScript the page says: " + " ".join(text.split()))
EOF
screenshot 1001-pwt-2-underpaid underpaid "$pwt_url"

say "paying the remaining $(whole "$rest" 6) PWT, mining a block"
tx="$(pay_token "$pwt_to" "$rest")"
mine 1
receipt_ok "$tx"
await_invoice "$pwt_id" 1001 paid
say "mining 2 more blocks: the chain's 3 confirmations"
mine 2
await_invoice "$pwt_id" 1001 confirmed

# --- the ETH invoice: in full ------------------------------------------------
echo
say "paying the $(whole "$eth_due" 18) ETH due for order 1002 in full, mining a block"
tx="$(rpc eth_sendTransaction \
    "[{\"from\":\"$payer\",\"to\":\"$eth_to\",\"value\":\"$(printf '0x%x' "$eth_due")\"}]")"
mine 1
receipt_ok "$tx"
await_invoice "$eth_id" 1002 paid
screenshot 1001-pwt-3-confirmed confirmed "$pwt_url" 1002-eth-2-paid paid "$eth_url"
say "mining 2 more blocks"
mine 2
await_invoice "$eth_id" 1002 confirmed

# --- the events --------------------------------------------------------------
echo
say "the invoice events, from paywatch events tail --url $API (the invoice.* ones)"
deadline=$((SECONDS + WAIT_SECS))
while :; do
    "$BIN" events tail --url "$API" >"$tmp/events.ndjson" || die "paywatch events tail failed"
    (($(grep -c '"type":"invoice.confirmed"' "$tmp/events.ndjson") >= 2)) && break
    if ((SECONDS >= deadline)); then
        show_log "$tmp/paywatch.log"
        die "no invoice.confirmed event for both invoices within ${WAIT_SECS}s"
    fi
    sleep 0.2
done
python3 - "$tmp/events.ndjson" <<'EOF'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for e in events:
    if e["type"].startswith("invoice."):
        inv = e["invoice"]
        print(f"    {e['type']:<18} seq {e['seq']:<3} order {inv['order_id']}  "
              f"{inv['paid']} of {inv['amount_due']} {inv['asset']['symbol']}  ({inv['status']})")
payments = sum(1 for e in events if e["type"].startswith("payment."))
print(f"    … and {payments} payment.* events in the same feed, one per transfer and state")
EOF
say "paywatch invoice list --url $API"
"$BIN" invoice list --url "$API" | sed 's/^/    /'

echo
echo "Done in $SECONDS s. Each invoice got an address of its own from the account"
echo "key, and paywatch followed both to confirmed: the token invoice went"
echo "underpaid, paid, confirmed, and its checkout page asked for what was still"
echo "due. Read on: config/demo-shop.toml and docs/invoices.md (the API, the"
echo "events, the checkout page). Payments and webhooks: bash scripts/demo.sh"
if ((shots)); then
    echo "What the buyer saw, open and paid: $SHOTS_DIR/"
fi
