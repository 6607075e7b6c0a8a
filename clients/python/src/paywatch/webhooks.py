"""Verifying paywatch's webhook requests.

paywatch signs each webhook request: ``Paywatch-Signature: v1=<hex>``, the
lower-case hex HMAC-SHA256 of ``timestamp + "." + body`` keyed with the sink's
secret, where ``timestamp`` is the ``Paywatch-Timestamp`` header (Unix
seconds). Check every request before acting on it, on the **raw body bytes**
as received (not JSON parsed and serialized again)::

    from paywatch.webhooks import construct_event, WebhookVerificationError

    try:
        event = construct_event(raw_body, request_headers, secret)
    except WebhookVerificationError:
        return 401          # paywatch retries; do not act on the body
    handle(event)           # deduplicate by event.id: delivery is at-least-once
    return 200

The comparison is constant-time (:func:`hmac.compare_digest`), and a
timestamp more than ``tolerance`` seconds (default 300) from the local clock
is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from .errors import WebhookVerificationError
from .models import Event

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EVENT_ID_HEADER",
    "DELIVERY_ID_HEADER",
    "ATTEMPT_HEADER",
    "DEFAULT_TOLERANCE",
    "sign",
    "verify_signature",
    "is_valid_signature",
    "construct_event",
    "WebhookVerificationError",
]

SIGNATURE_HEADER = "Paywatch-Signature"
TIMESTAMP_HEADER = "Paywatch-Timestamp"
EVENT_ID_HEADER = "Paywatch-Event-Id"
DELIVERY_ID_HEADER = "Paywatch-Delivery-Id"
ATTEMPT_HEADER = "Paywatch-Attempt"
#: Seconds a request's timestamp may be away from the local clock.
DEFAULT_TOLERANCE = 300

Secret = Union[str, bytes]
Secrets = Union[Secret, Sequence[Secret]]

_TIMESTAMP = re.compile(r"[0-9]{1,15}\Z")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}\Z")


def sign(secret: Secret, timestamp: Union[str, int], body: Union[bytes, str]) -> str:
    """The ``Paywatch-Signature`` value paywatch would send: ``v1=<hex>``.
    Useful to test a receiver."""
    mac = hmac.new(_bytes(secret), str(timestamp).encode("ascii") + b"." + _bytes(body), hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: Secrets,
    timestamp: Optional[Union[str, int]],
    body: Union[bytes, str],
    signature: Optional[str],
    *,
    tolerance: Optional[int] = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> None:
    """Checks one request; returns ``None`` when it is authentic and fresh,
    else raises :class:`WebhookVerificationError` (whose ``reason`` says why).

    ``secret`` is the sink's secret (``str`` as UTF-8, or ``bytes``), or a
    list of secrets while one is being rotated: a signature made with any of
    them is accepted. ``body`` is the raw request body. ``tolerance=None``
    skips the clock check (only for tests); ``now`` replaces the clock.
    """
    if signature is None:
        raise WebhookVerificationError("missing_header", f"no {SIGNATURE_HEADER} header")
    if timestamp is None:
        raise WebhookVerificationError("missing_header", f"no {TIMESTAMP_HEADER} header")
    if not signature.startswith("v1="):
        raise WebhookVerificationError("malformed_signature", f"{SIGNATURE_HEADER} is not of the form v1=<hex>")
    given = signature[3:]
    if not _HEX_SIGNATURE.match(given):
        raise WebhookVerificationError("malformed_signature", f"{SIGNATURE_HEADER} is not of the form v1=<hex>")
    timestamp_text = str(timestamp)
    if not _TIMESTAMP.match(timestamp_text):
        raise WebhookVerificationError("malformed_timestamp", f"{TIMESTAMP_HEADER} is not Unix seconds")
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - int(timestamp_text)) > tolerance:
            raise WebhookVerificationError(
                "timestamp_out_of_tolerance",
                f"{TIMESTAMP_HEADER} is more than {tolerance} s from the local clock",
            )
    message = timestamp_text.encode("ascii") + b"." + _bytes(body)
    matched = False
    for key in _secret_list(secret):
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        # Every secret is compared, in constant time, whatever matched before.
        matched |= hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
    if not matched:
        raise WebhookVerificationError("signature_mismatch", "the signature does not match the body")


def is_valid_signature(
    secret: Secrets,
    timestamp: Optional[Union[str, int]],
    body: Union[bytes, str],
    signature: Optional[str],
    *,
    tolerance: Optional[int] = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> bool:
    """:func:`verify_signature` as a boolean."""
    try:
        verify_signature(secret, timestamp, body, signature, tolerance=tolerance, now=now)
    except WebhookVerificationError:
        return False
    return True


def construct_event(
    body: Union[bytes, str],
    headers: Mapping[str, Any],
    secret: Secrets,
    *,
    tolerance: Optional[int] = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> Event:
    """Verifies a webhook request and returns its event (a
    :class:`~paywatch.models.PaymentEvent`, :class:`~paywatch.models.InvoiceEvent`, …).

    ``headers`` is any mapping of the request's headers, matched without
    regard to case (a ``dict``, ``http.client.HTTPMessage``, Django's
    ``request.headers``, Flask's ``request.headers``), or a WSGI ``environ``
    (``HTTP_PAYWATCH_SIGNATURE``). When a plugin chose the body, it is not an
    event: read it with ``json.loads`` after :func:`verify_signature` instead.
    """
    verify_signature(
        secret,
        header(headers, TIMESTAMP_HEADER),
        body,
        header(headers, SIGNATURE_HEADER),
        tolerance=tolerance,
        now=now,
    )
    try:
        data = json.loads(_bytes(body))
        return Event.parse(data)
    except Exception as err:  # noqa: BLE001 - any parse failure is an invalid body
        raise WebhookVerificationError("invalid_body", f"the signed body is not a paywatch event: {err}") from None


def header(headers: Mapping[str, Any], name: str) -> Optional[str]:
    """The value of header ``name`` in ``headers``, matched without regard to
    case; also finds a WSGI ``environ``'s ``HTTP_…`` key."""
    getter = getattr(headers, "get", None)
    if getter is not None:
        for key in (name, name.lower(), "HTTP_" + name.upper().replace("-", "_")):
            value = getter(key)
            if value is not None:
                return _text(value)
    wanted = name.lower()
    for key in _keys(headers):
        if isinstance(key, str) and key.lower() == wanted:
            return _text(headers[key])
    return None


def _keys(headers: Mapping[str, Any]) -> Iterable[Any]:
    try:
        return list(headers.keys())
    except AttributeError:
        return []


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _bytes(value: Union[str, bytes, bytearray, memoryview]) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _secret_list(secret: Secrets) -> Sequence[bytes]:
    if isinstance(secret, (str, bytes, bytearray)):
        keys = [_bytes(secret)]
    else:
        keys = [_bytes(s) for s in secret]
    if not keys or any(not k for k in keys):
        raise ValueError("the webhook secret must not be empty")
    return keys
