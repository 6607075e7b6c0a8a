"""Exceptions raised by the paywatch client.

Every error answer of the API is ``{"error": {"code", "message", "details"?}}``;
it is raised as an :class:`APIError` subclass chosen by the HTTP status, with
the API's ``code`` in :attr:`APIError.code`::

    try:
        client.get_invoice("inv_…")
    except paywatch.NotFoundError as err:
        assert err.code == "not_found"
"""

from __future__ import annotations

import enum
import json
from typing import Any, Dict, Optional, Type

__all__ = [
    "PaywatchError",
    "APIConnectionError",
    "UnexpectedResponseError",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "MethodNotAllowedError",
    "RequestTimeoutError",
    "ConflictError",
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
    "UnprocessableEntityError",
    "ServerError",
    "ServiceUnavailableError",
    "WebhookVerificationError",
    "WaitTimeoutError",
    "ErrorCode",
]


class ErrorCode(str, enum.Enum):
    """The error codes the API documents. ``APIError.code`` is a plain string
    (a newer daemon may answer a code not listed here); these compare equal to
    it: ``err.code == ErrorCode.NOT_FOUND``."""

    ADDRESS_REQUIRED = "address_required"
    BAD_BODY = "bad_body"
    BODY_TIMEOUT = "body_timeout"
    DERIVATION_FAILED = "derivation_failed"
    FORBIDDEN = "forbidden"
    INTERNAL = "internal"
    INVALID_ADDRESS = "invalid_address"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_ASSET = "invalid_asset"
    INVALID_BATCH = "invalid_batch"
    INVALID_CONFIRMATIONS = "invalid_confirmations"
    INVALID_CURRENCY = "invalid_currency"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_EXPIRES_IN = "invalid_expires_in"
    INVALID_HEIGHT = "invalid_height"
    INVALID_JSON = "invalid_json"
    INVALID_LABEL = "invalid_label"
    INVALID_METADATA = "invalid_metadata"
    INVALID_NOTE = "invalid_note"
    INVALID_OPTIONS = "invalid_options"
    INVALID_ORDER_ID = "invalid_order_id"
    INVALID_PARAMETER = "invalid_parameter"
    INVALID_PRICE = "invalid_price"
    INVALID_RATE_ADJUST = "invalid_rate_adjust"
    INVALID_REDIRECT_URL = "invalid_redirect_url"
    INVALID_REQUEST = "invalid_request"
    INVALID_TXID = "invalid_txid"
    INVALID_UNDERPAYMENT_TOLERANCE = "invalid_underpayment_tolerance"
    INVOICE_EXISTS = "invoice_exists"
    INVOICE_EXPIRED = "invoice_expired"
    INVOICE_INVALID = "invoice_invalid"
    INVOICE_PAID = "invoice_paid"
    INVOICES_NOT_CONFIGURED = "invoices_not_configured"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    METRICS_UNAVAILABLE = "metrics_unavailable"
    MISSING_PARAMETER = "missing_parameter"
    NOT_A_POOL = "not_a_pool"
    NOT_DEAD = "not_dead"
    NOT_FOUND = "not_found"
    NOT_HELD = "not_held"
    NOT_INVALIDATABLE = "not_invalidatable"
    NOT_OPEN = "not_open"
    NOT_SETTLEABLE = "not_settleable"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    PAYMENT_ALREADY_CREDITED = "payment_already_credited"
    POOL_EXHAUSTED = "pool_exhausted"
    RATE_NOT_CONFIGURED = "rate_not_configured"
    RATE_UNAVAILABLE = "rate_unavailable"
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
    RESCAN_PENDING = "rescan_pending"
    STOPPING = "stopping"
    TOO_MANY_OPEN_INVOICES = "too_many_open_invoices"
    TRANSACTION_NOT_FOR_INVOICE = "transaction_not_for_invoice"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN_ASSET = "unknown_asset"
    UNKNOWN_CHAIN = "unknown_chain"
    UNKNOWN_PLUGIN = "unknown_plugin"
    UNKNOWN_SINK = "unknown_sink"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    WATCH_EXISTS = "watch_exists"

    def __str__(self) -> str:
        return self.value


class PaywatchError(Exception):
    """The base of every exception this package raises."""


class APIConnectionError(PaywatchError):
    """The daemon could not be reached, or the connection broke before an
    answer arrived (refused, reset, timed out)."""


class UnexpectedResponseError(PaywatchError):
    """A success answer that is not what the API describes (not JSON, or a
    required field missing)."""


class APIError(PaywatchError):
    """An error answer of the API.

    :attr:`status` is the HTTP status, :attr:`code` the API's error code
    (``"not_found"``, ``"invalid_amount"``, …), :attr:`message` its sentence
    for people (do not parse it) and :attr:`details` what some codes add
    (``invalid_batch``: the bad items; ``watch_exists``: the stored watch).
    An answer without paywatch's error envelope (from a proxy, say) has the
    code ``"http_<status>"``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        body: Optional[str] = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.body = body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class BadRequestError(APIError):
    """400: the request is invalid (the code says how)."""


class AuthenticationError(APIError):
    """401 ``unauthorized``: no API key, or one the daemon does not accept."""


class PermissionDeniedError(APIError):
    """403 ``forbidden``: a ``read`` key on a request that changes state."""


class NotFoundError(APIError):
    """404: ``not_found``, ``unknown_chain``, ``transaction_not_found``."""


class MethodNotAllowedError(APIError):
    """405 ``method_not_allowed``."""


class RequestTimeoutError(APIError):
    """408 ``body_timeout``: the request body did not arrive in time."""


class ConflictError(APIError):
    """409: the request conflicts with the stored state (``not_open``,
    ``invoice_exists``, ``watch_exists``, ``not_dead``, …)."""


class PayloadTooLargeError(APIError):
    """413 ``payload_too_large``."""


class UnsupportedMediaTypeError(APIError):
    """415 ``unsupported_media_type``."""


class UnprocessableEntityError(APIError):
    """422 ``transaction_not_for_invoice``."""


class ServerError(APIError):
    """5xx: ``internal`` (the daemon's log says why), and other server errors."""


class ServiceUnavailableError(ServerError):
    """503: ``rate_unavailable``, ``stopping``, ``metrics_unavailable``."""


_BY_STATUS: Dict[int, Type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    503: ServiceUnavailableError,
}


def error_from_response(status: int, body: bytes) -> APIError:
    """The exception for an error answer: its class from the status, its code
    and message from the body's error envelope."""
    text = body.decode("utf-8", errors="replace")
    code = f"http_{status}"
    message = text.strip()[:200] or f"HTTP {status}"
    details = None
    try:
        envelope = json.loads(text)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
        err = envelope["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
        details = err.get("details")
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(status, code, message, details, text)


class WebhookVerificationError(PaywatchError):
    """A webhook request failed verification; do not act on its body.

    :attr:`reason` is one of ``missing_header``, ``malformed_signature``,
    ``malformed_timestamp``, ``timestamp_out_of_tolerance``,
    ``signature_mismatch`` and ``invalid_body``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WaitTimeoutError(PaywatchError):
    """:meth:`paywatch.Client.wait_for_invoice` gave up; :attr:`invoice` is the
    invoice as last read (``None`` when it could not be read)."""

    def __init__(self, message: str, invoice: Any = None) -> None:
        super().__init__(message)
        self.invoice = invoice
