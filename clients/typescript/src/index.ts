/**
 * Client for the paywatch HTTP API.
 *
 * paywatch is a self-hosted, watch-only payment indexer: it follows Bitcoin,
 * EVM and TRON chains, reports payments to watched addresses and takes
 * payment requests (invoices). This package is its client: invoices,
 * watches, transfers, the events feed, deliveries and status, and the
 * verification of its signed webhooks (also importable alone from
 * `@paywatch/client/webhooks`). It uses the global `fetch` and Web Crypto,
 * so it runs on Node >= 20 and in bundlers.
 */

export { PaywatchClient, EventStream, DEFAULT_URL } from "./client.js";
export type {
  ClientOptions,
  RequestOptions,
  CreateInvoiceParams,
  CreateChoiceParams,
  ListInvoicesParams,
  ListTransfersParams,
  ListDeliveriesParams,
  ListEventsParams,
  EventStreamOptions,
  WaitOptions,
  QrOptions,
} from "./client.js";
export * from "./errors.js";
export * from "./models.js";
export { formatUnits, parseUnits, decimalString } from "./units.js";
export {
  verifySignature,
  isValidSignature,
  constructEvent,
  sign,
  getHeader,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  EVENT_ID_HEADER,
  DELIVERY_ID_HEADER,
  ATTEMPT_HEADER,
  DEFAULT_TOLERANCE_SECONDS,
} from "./webhooks.js";
export type { WebhookSecret, WebhookBody, HeadersLike, VerifyOptions } from "./webhooks.js";
