/**
 * Errors thrown by the client. Every error answer of the API is
 * `{"error": {"code", "message", "details"?}}`; it is thrown as a
 * {@link PaywatchApiError} subclass chosen by the HTTP status, with the API's
 * `code`:
 *
 * ```ts
 * try {
 *   await client.getInvoice("inv_…");
 * } catch (err) {
 *   if (err instanceof NotFoundError && err.code === "not_found") { … }
 * }
 * ```
 */

import type { Invoice } from "./models.js";

/** The error codes the API documents (a newer daemon may answer others). */
export type ErrorCode =
  | "address_required"
  | "bad_body"
  | "body_timeout"
  | "derivation_failed"
  | "forbidden"
  | "internal"
  | "invalid_address"
  | "invalid_amount"
  | "invalid_asset"
  | "invalid_batch"
  | "invalid_confirmations"
  | "invalid_currency"
  | "invalid_cursor"
  | "invalid_expires_in"
  | "invalid_height"
  | "invalid_json"
  | "invalid_label"
  | "invalid_metadata"
  | "invalid_note"
  | "invalid_options"
  | "invalid_order_id"
  | "invalid_parameter"
  | "invalid_price"
  | "invalid_rate_adjust"
  | "invalid_redirect_url"
  | "invalid_request"
  | "invalid_txid"
  | "invalid_underpayment_tolerance"
  | "invoice_exists"
  | "invoice_expired"
  | "invoice_invalid"
  | "invoice_paid"
  | "invoices_not_configured"
  | "method_not_allowed"
  | "metrics_unavailable"
  | "missing_parameter"
  | "not_a_pool"
  | "not_dead"
  | "not_found"
  | "not_held"
  | "not_invalidatable"
  | "not_open"
  | "not_settleable"
  | "payload_too_large"
  | "payment_already_credited"
  | "pool_exhausted"
  | "rate_not_configured"
  | "rate_unavailable"
  | "refund_exceeds_paid"
  | "rescan_pending"
  | "stopping"
  | "too_many_open_invoices"
  | "transaction_not_for_invoice"
  | "transaction_not_found"
  | "unauthorized"
  | "unknown_asset"
  | "unknown_chain"
  | "unknown_plugin"
  | "unknown_sink"
  | "unsupported_media_type"
  | "watch_exists";

/** The base of every error this package throws. */
export class PaywatchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The daemon could not be reached, or the connection broke (refused, reset, timed out). */
export class PaywatchConnectionError extends PaywatchError {}

/** A success answer that is not what the API describes (not JSON, say). */
export class UnexpectedResponseError extends PaywatchError {}

/**
 * An error answer of the API: `status` is the HTTP status, `code` the API's
 * error code, `details` what some codes add (`invalid_batch`: the bad items;
 * `watch_exists`: the stored watch). An answer without paywatch's error
 * envelope (from a proxy, say) has the code `http_<status>`.
 */
export class PaywatchApiError extends PaywatchError {
  readonly status: number;
  /** The API's error code: one of {@link ErrorCode}, or `http_<status>`. */
  readonly code: ErrorCode | (string & {});
  readonly details: unknown;
  /** The API's sentence for people; do not parse it. */
  readonly apiMessage: string;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.apiMessage = message;
    this.details = details;
  }
}

/** 400: the request is invalid (the code says how). */
export class BadRequestError extends PaywatchApiError {}
/** 401 `unauthorized`: no API key, or one the daemon does not accept. */
export class AuthenticationError extends PaywatchApiError {}
/** 403 `forbidden`: a `read` key on a request that changes state. */
export class PermissionDeniedError extends PaywatchApiError {}
/** 404: `not_found`, `unknown_chain`, `transaction_not_found`. */
export class NotFoundError extends PaywatchApiError {}
/** 405 `method_not_allowed`. */
export class MethodNotAllowedError extends PaywatchApiError {}
/** 408 `body_timeout`. */
export class RequestTimeoutError extends PaywatchApiError {}
/** 409: conflicts with the stored state (`not_open`, `invoice_exists`, `watch_exists`, `not_dead`, …). */
export class ConflictError extends PaywatchApiError {}
/** 413 `payload_too_large`. */
export class PayloadTooLargeError extends PaywatchApiError {}
/** 415 `unsupported_media_type`. */
export class UnsupportedMediaTypeError extends PaywatchApiError {}
/** 422 `transaction_not_for_invoice`. */
export class UnprocessableEntityError extends PaywatchApiError {}
/** 5xx: `internal` (the daemon's log says why), and other server errors. */
export class ServerError extends PaywatchApiError {}
/** 503: `rate_unavailable`, `stopping`, `metrics_unavailable`. */
export class ServiceUnavailableError extends ServerError {}

const BY_STATUS: Record<number, typeof PaywatchApiError> = {
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
};

/** The error for an error answer: its class from the status, code and message from the body. */
export function errorFromResponse(status: number, body: string): PaywatchApiError {
  let code = `http_${status}`;
  let message = body.trim().slice(0, 200) || `HTTP ${status}`;
  let details: unknown;
  try {
    const envelope: unknown = JSON.parse(body);
    const err = (envelope as { error?: unknown } | null)?.error;
    if (err && typeof err === "object") {
      const e = err as { code?: unknown; message?: unknown; details?: unknown };
      if (typeof e.code === "string") code = e.code;
      if (typeof e.message === "string") message = e.message;
      details = e.details;
    }
  } catch {
    // not JSON: keep the status and the text
  }
  const Class = BY_STATUS[status] ?? (status >= 500 ? ServerError : PaywatchApiError);
  return new Class(status, code, message, details);
}

/**
 * A webhook request failed verification; do not act on its body. `reason` is
 * one of `missing_header`, `malformed_signature`, `malformed_timestamp`,
 * `timestamp_out_of_tolerance`, `signature_mismatch`, `invalid_body`.
 */
export class WebhookVerificationError extends PaywatchError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** `waitForInvoice` gave up; `invoice` is the invoice as last read. */
export class WaitTimeoutError extends PaywatchError {
  readonly invoice: Invoice | undefined;
  constructor(message: string, invoice?: Invoice) {
    super(message);
    this.invoice = invoice;
  }
}
