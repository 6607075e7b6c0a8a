#!/usr/bin/env python3
"""The webhook receiver of the SDK end-to-end tests (clients/run-e2e.sh).

Listens on 127.0.0.1 (a free port unless --port), answers every POST with
204, and keeps each request as DIR/NNNNNN.json:

    {"path": "/hook", "headers": {"Paywatch-Signature": "v1=…", …},
     "body_b64": "<the raw body, base64>"}

It checks nothing: the SDK tests read these files and verify the signatures
with their own SDK, on the exact bytes paywatch sent. Prints
`listening on http://127.0.0.1:PORT/` once it accepts requests.

    python3 clients/e2e/webhook_capture.py DIR [--port N]
"""

import argparse
import base64
import itertools
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="where to write the captured requests")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    counter = itertools.count(1)
    lock = threading.Lock()

    class Capture(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            record = {
                "path": self.path,
                "headers": {name: value for name, value in self.headers.items()},
                "body_b64": base64.b64encode(body).decode("ascii"),
            }
            with lock:
                n = next(counter)
            final = os.path.join(args.dir, f"{n:06d}.json")
            with open(final + ".tmp", "w", encoding="utf-8") as f:
                json.dump(record, f)
            os.replace(final + ".tmp", final)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Capture)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
