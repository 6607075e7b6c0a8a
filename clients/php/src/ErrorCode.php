<?php

declare(strict_types=1);

namespace Paywatch;

/**
 * The error codes the API documents, for comparing with
 * ApiException::getErrorCode(): `$e->getErrorCode() === ErrorCode::NOT_FOUND`.
 * A newer daemon may answer a code not listed here.
 */
final class ErrorCode
{
    public const ADDRESS_REQUIRED = 'address_required';
    public const BAD_BODY = 'bad_body';
    public const BODY_TIMEOUT = 'body_timeout';
    public const DERIVATION_FAILED = 'derivation_failed';
    public const FORBIDDEN = 'forbidden';
    public const INTERNAL = 'internal';
    public const INVALID_ADDRESS = 'invalid_address';
    public const INVALID_AMOUNT = 'invalid_amount';
    public const INVALID_ASSET = 'invalid_asset';
    public const INVALID_BATCH = 'invalid_batch';
    public const INVALID_CONFIRMATIONS = 'invalid_confirmations';
    public const INVALID_CURRENCY = 'invalid_currency';
    public const INVALID_CURSOR = 'invalid_cursor';
    public const INVALID_EXPIRES_IN = 'invalid_expires_in';
    public const INVALID_HEIGHT = 'invalid_height';
    public const INVALID_JSON = 'invalid_json';
    public const INVALID_LABEL = 'invalid_label';
    public const INVALID_METADATA = 'invalid_metadata';
    public const INVALID_NOTE = 'invalid_note';
    public const INVALID_OPTIONS = 'invalid_options';
    public const INVALID_ORDER_ID = 'invalid_order_id';
    public const INVALID_PARAMETER = 'invalid_parameter';
    public const INVALID_PRICE = 'invalid_price';
    public const INVALID_RATE_ADJUST = 'invalid_rate_adjust';
    public const INVALID_REDIRECT_URL = 'invalid_redirect_url';
    public const INVALID_REQUEST = 'invalid_request';
    public const INVALID_TXID = 'invalid_txid';
    public const INVALID_UNDERPAYMENT_TOLERANCE = 'invalid_underpayment_tolerance';
    public const INVOICE_EXISTS = 'invoice_exists';
    public const INVOICE_EXPIRED = 'invoice_expired';
    public const INVOICE_INVALID = 'invoice_invalid';
    public const INVOICE_PAID = 'invoice_paid';
    public const INVOICES_NOT_CONFIGURED = 'invoices_not_configured';
    public const METHOD_NOT_ALLOWED = 'method_not_allowed';
    public const METRICS_UNAVAILABLE = 'metrics_unavailable';
    public const MISSING_PARAMETER = 'missing_parameter';
    public const NOT_A_POOL = 'not_a_pool';
    public const NOT_DEAD = 'not_dead';
    public const NOT_FOUND = 'not_found';
    public const NOT_HELD = 'not_held';
    public const NOT_INVALIDATABLE = 'not_invalidatable';
    public const NOT_OPEN = 'not_open';
    public const NOT_SETTLEABLE = 'not_settleable';
    public const PAYLOAD_TOO_LARGE = 'payload_too_large';
    public const PAYMENT_ALREADY_CREDITED = 'payment_already_credited';
    public const POOL_EXHAUSTED = 'pool_exhausted';
    public const RATE_NOT_CONFIGURED = 'rate_not_configured';
    public const RATE_UNAVAILABLE = 'rate_unavailable';
    public const REFUND_EXCEEDS_PAID = 'refund_exceeds_paid';
    public const RESCAN_PENDING = 'rescan_pending';
    public const STOPPING = 'stopping';
    public const TOO_MANY_OPEN_INVOICES = 'too_many_open_invoices';
    public const TRANSACTION_NOT_FOR_INVOICE = 'transaction_not_for_invoice';
    public const TRANSACTION_NOT_FOUND = 'transaction_not_found';
    public const UNAUTHORIZED = 'unauthorized';
    public const UNKNOWN_ASSET = 'unknown_asset';
    public const UNKNOWN_CHAIN = 'unknown_chain';
    public const UNKNOWN_PLUGIN = 'unknown_plugin';
    public const UNKNOWN_SINK = 'unknown_sink';
    public const UNSUPPORTED_MEDIA_TYPE = 'unsupported_media_type';
    public const WATCH_EXISTS = 'watch_exists';

    private function __construct()
    {
    }
}
