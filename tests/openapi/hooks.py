"""Schemathesis hooks for paywatch's docs/openapi.yaml (used by tests/it/openapi.rs).

`POST /v1/watches:batch` takes NDJSON (`application/x-ndjson`, or its other
name `application/jsonl`): a text body, one watch object per line. Schemathesis
has no serializer of its own for these media types; the text one sends the
generated string as it is.
"""

import hashlib
import os
from decimal import Decimal

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/jsonl", "text/plain")


# `POST /api/v1/order/create-transaction` (Epusdt) answers a bad signature
# with status_code 401, so that generated orders alone would never reach the
# answer with an order in it. When the test passes the [epusdt] token in
# PAYWATCH_EPUSDT_TOKEN, about half of the JSON-object bodies are signed the
# way paywatch (src/invoice/epusdt.rs) checks them.
EPUSDT_PATH = "/api/v1/order/create-transaction"


def _epusdt_text(value):
    """The text a parameter contributes to the signature, or None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return str(value)
    if isinstance(value, (int, float)):
        # Integers beyond 64 bits are read as floats; floats print as Rust's
        # `{}` does: the shortest round-trip digits, never an exponent.
        text = format(Decimal(repr(float(value))), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return None


def _epusdt_sign(params, token):
    pairs = sorted(
        f"{key}={text}"
        for key, text in ((k, _epusdt_text(v)) for k, v in params.items() if k != "signature")
        if text is not None
    )
    return hashlib.md5(("&".join(pairs) + token).encode()).hexdigest()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    token = os.environ.get("PAYWATCH_EPUSDT_TOKEN")
    if not token or case.operation.path != EPUSDT_PATH or not isinstance(case.body, dict):
        return
    given = case.body.get("signature")
    if isinstance(given, str) and sum(given.encode()) % 2 == 0:
        case.body["signature"] = _epusdt_sign(case.body, token)
