#!/usr/bin/env python3
"""A webhook receiver for the demo (scripts/demo.sh): checks paywatch's
signature on every request and prints each event on one line.

    python3 scripts/demo-receiver.py --secret-file webhook.secret [--port 0]

Standard library only. First prints `listening on http://127.0.0.1:PORT/`,
then one line per event:

    payment.detected  eth  0x1A2b…  1.25 ETH  (order-1001)  signature ok

A request whose signature does not match, or whose timestamp is more than
five minutes away, is answered 401 (paywatch retries it later) and printed
with the reason. Delivery is at-least-once, so events are deduplicated by
their `Paywatch-Event-Id`. A shop's endpoint has to do the same:
docs/webhooks.md explains the check.
"""

import argparse
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_SKEW_SECS = 300


def whole_units(amount, decimals):
    """A base-unit integer string as whole units, exactly: ("1250000", 6) -> "1.25"."""
    units, frac = divmod(int(amount), 10**decimals)
    if frac == 0:
        return str(units)
    return f"{units}.{frac:0{decimals}d}".rstrip("0")


def check_signature(secret, headers, body):
    """None when the request is signed with `secret` and fresh, else why not
    (the check docs/webhooks.md describes)."""
    timestamp = headers.get("Paywatch-Timestamp", "")
    signature = headers.get("Paywatch-Signature", "")
    if not signature.startswith("v1="):
        return "no v1= signature"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "missing or bad Paywatch-Timestamp"
    if abs(time.time() - int(timestamp)) > MAX_SKEW_SECS:
        return "timestamp more than 5 minutes away"
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature[3:].encode()):
        return "signature does not match"
    return None


def describe(event):
    """One line for an event: type, chain, address, amount and asset, label."""
    asset = event.get("asset") or {}
    amount = whole_units(event["amount"], int(asset.get("decimals", 0)))
    label = (event.get("watch") or {}).get("label")
    parts = [
        f"{event['type']:<17}",
        event["chain"],
        event["address"],
        f"{amount} {asset.get('symbol', '?')}",
    ]
    if label:
        parts.append(f"({label})")
    return "  ".join(parts)


def handler(secret):
    seen = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            problem = check_signature(secret, self.headers, body)
            if problem:
                self.answer(401)
                print(f"rejected a request: {problem}", flush=True)
                return
            event_id = self.headers.get("Paywatch-Event-Id", "")
            try:
                line = describe(json.loads(body))
            except (ValueError, KeyError, TypeError) as e:
                self.answer(400)
                print(f"rejected event {event_id}: cannot read it ({e})", flush=True)
                return
            self.answer(200)
            if event_id not in seen:
                seen.add(event_id)
                print(f"{line}  signature ok", flush=True)

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass  # one line per event is enough

    return Receiver


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--secret-file", required=True, help="the sink's shared secret")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = p.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().strip()
    # One request at a time: the output stays one line per event.
    server = HTTPServer(("127.0.0.1", args.port), handler(secret))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
