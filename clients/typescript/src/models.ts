/**
 * The paywatch API's objects, as docs/openapi.yaml describes them. Property
 * names are the API's own (snake_case), so the documentation applies as it is.
 *
 * Amounts are strings, never numbers: base-unit integers (`"12500000"`) in
 * transfers, events and `amount_due_base`, which can exceed 2^64 on EVM
 * chains (use `BigInt`, or `formatUnits` from this package); whole-unit
 * decimals (`"12.5"`) in an invoice's `amount`, `amount_due`, `paid` and
 * `excess`. Objects may gain properties in later versions of paywatch.
 */

/** A decimal string in whole units of an asset, e.g. `"25.01"`. */
export type DecimalString = string;
/** A base-unit integer as a decimal string, e.g. `"25010000"`. */
export type BaseUnits = string;

/** What an amount given to the client may be: a decimal string, or a `bigint` of whole units. */
export type DecimalInput = string | bigint;

export type Direction = "in" | "out";

export type InvoiceStatus =
  | "pending"
  | "underpaid"
  | "paid"
  | "confirmed"
  | "expired"
  | "paid_late"
  | "cancelled"
  | "settled"
  | "invalid"
  | "held"
  | "rejected";

/** Invoice states in which an invoice still waits for payment (and can be cancelled). */
export const OPEN_INVOICE_STATUSES: readonly InvoiceStatus[] = ["pending", "underpaid"];

export type RiskFlag =
  | "zero_value"
  | "dust"
  | "lookalike"
  | "frozen_sender"
  | "frozen_address"
  | "sanctioned"
  | "contract_sender";

/** What moved; `contract` is null for the chain's native coin. */
export interface Asset {
  symbol: string;
  decimals: number;
  contract: string | null;
}

export interface BlockRef {
  height: number;
  hash: string;
  time: number;
}

/** The label and metadata of the watch a transfer matched, as they were then. */
export interface WatchRef {
  label: string | null;
  metadata: Record<string, unknown>;
}

export interface Risk {
  flags: RiskFlag[];
}

// --- watches -------------------------------------------------------------------

export interface NewWatch {
  chain: string;
  address: string;
  label?: string | null;
  metadata?: Record<string, unknown> | null;
}

export interface Watch {
  chain: string;
  address: string;
  label: string | null;
  metadata: Record<string, unknown>;
  /** Unix seconds. */
  created_at: number;
}

export interface DeletedWatch {
  deleted: true;
  chain: string;
  address: string;
}

export interface BatchResult {
  created: number;
  existing: number;
}

/** One invalid item of a bulk load: the `details` of an `invalid_batch` error. */
export interface BatchItemError {
  item: number;
  code: string;
  message: string;
}

// --- transfers -----------------------------------------------------------------

export interface Transfer {
  chain: string;
  txid: string;
  index: number;
  direction: Direction;
  address: string;
  address_key: string;
  counterparty?: string | null;
  asset: Asset;
  amount: BaseUnits;
  block: BlockRef;
  height: number;
  block_hash: string;
  confirmations: number;
  status: "detected" | "confirmed";
  watch: WatchRef;
  risk?: Risk;
}

export interface TransferPage {
  transfers: Transfer[];
  next_cursor: string | null;
}

export interface FrozenAddress {
  address: string;
  asset: string;
  contract: string;
  height: number;
  txid: string;
}

export interface FrozenList {
  chain: string;
  frozen: FrozenAddress[];
}

// --- invoices ------------------------------------------------------------------

export interface InvoicePayment {
  txid: string;
  index: number;
  amount: BaseUnits;
  height: number;
  confirmed: boolean;
  mempool?: true;
  flags?: RiskFlag[];
}

export interface Tolerance {
  rule: string;
  amount: DecimalString;
  amount_base: BaseUnits;
}

export interface Pricing {
  price: DecimalString;
  currency: string;
  rate: DecimalString;
  rate_sources: string[];
  rate_as_of: number;
  source_rate?: DecimalString;
  rate_adjust?: string;
  places?: number;
  locked_at?: number;
  relocks?: number;
  previous?: {
    amount_due: DecimalString;
    amount_due_base: BaseUnits;
    least_payable: BaseUnits;
    until: number;
    honoured?: boolean;
  };
}

export interface ManualAction {
  action: "settled" | "invalidated" | "payment_attached" | "released" | "rejected";
  at: number;
  by?: string;
  note?: string;
  /** The status before. */
  from: InvoiceStatus;
  txid?: string;
}

export interface Refund {
  id: string;
  status: "requested" | "sent" | "completed";
  amount: DecimalString;
  amount_base: BaseUnits;
  address: string;
  from: string[];
  payment_uri: string;
  qr_svg_url: string;
  created_at: number;
  by?: string;
  note?: string;
  txid?: string;
  index?: number;
  height?: number;
}

/** A payment request. */
export interface Invoice {
  id: string;
  chain: string;
  network: string;
  order_id: string;
  asset: Asset;
  amount: DecimalString;
  amount_due: DecimalString;
  amount_due_base: BaseUnits;
  address: string;
  derivation_index?: number;
  payment_uri: string;
  qr_svg_url: string;
  created_at: number;
  expires_at: number;
  status: InvoiceStatus;
  paid: DecimalString;
  excess?: DecimalString;
  payments: InvoicePayment[];
  closed?: "expired" | "cancelled";
  underpayment_tolerance?: Tolerance;
  amount_short?: DecimalString;
  confirmations?: number;
  pooled?: boolean;
  history?: ManualAction[];
  choice?: string;
  superseded_by?: string;
  hold_flagged?: true;
  released?: true;
  refunds?: Refund[];
  amount_reserved_until?: number;
  metadata: Record<string, unknown>;
  pricing?: Pricing;
  redirect_url?: string;
  checkout_url?: string;
}

export interface ChoiceOption {
  chain: string;
  asset: string;
  network: string;
  invoice: Invoice | null;
}

/** An order the buyer pays on the network of its choice. */
export interface Choice {
  id: string;
  kind: "choice";
  order_id: string;
  price: string;
  currency: string;
  status: string;
  paid_by: string | null;
  options: ChoiceOption[];
  created_at: number;
  expires_at: number;
  redirect_url?: string;
  metadata: Record<string, unknown>;
  underpayment_tolerance?: string;
  rate_adjust?: string;
  hold_flagged?: boolean;
  checkout_url?: string;
}

export interface InvoicePage {
  invoices: Invoice[];
  next: string | null;
}

// --- events --------------------------------------------------------------------

export type PaymentEventType =
  | "payment.detected"
  | "payment.confirmed"
  | "payment.reorged"
  | "payment.replaced"
  | "payment.double_spent"
  | "payment.dropped"
  | "payment.flagged";

export type InvoiceEventType =
  | "invoice.held"
  | "invoice.released"
  | "invoice.rejected"
  | "invoice.paid"
  | "invoice.confirmed"
  | "invoice.underpaid"
  | "invoice.overpaid"
  | "invoice.expired"
  | "invoice.paid_late"
  | "invoice.reorged"
  | "invoice.reverted"
  | "invoice.cancelled"
  | "invoice.repriced"
  | "invoice.settled"
  | "invoice.invalidated"
  | "invoice.payment_attached"
  | "refund.requested"
  | "refund.sent"
  | "refund.completed"
  | "refund.reorged";

export type AddressEventType = "address.frozen" | "address.unfrozen";

export type EventType = PaymentEventType | InvoiceEventType | AddressEventType | "invoice.unmatched_payment";

interface EventBase {
  /** Stable across deliveries: deduplicate by it. */
  id: string;
  /** Position in the feed, strictly increasing. */
  seq: number;
  chain: string;
  network: string;
}

export interface MempoolInfo {
  rbf: boolean;
  full_rbf: boolean;
  fee_rate: number | null;
  unconfirmed_inputs: boolean;
}

/** A transfer of a watched address was detected, confirmed or reorged out. */
export interface PaymentEvent extends EventBase {
  type: PaymentEventType;
  direction: Direction;
  address: string;
  counterparty?: string | null;
  risk?: Risk;
  txid: string;
  index: number;
  /** Absent on a mempool event. */
  block?: BlockRef;
  confirmations: number;
  asset: Asset;
  amount: BaseUnits;
  watch: WatchRef;
  status?: "mempool";
  mempool?: MempoolInfo;
  replaced_by?: string;
  output_kept?: boolean;
  conflicting_txid?: string | null;
}

/** An invoice changed state, or one of its refunds moved. */
export interface InvoiceEvent extends EventBase {
  type: InvoiceEventType;
  direction: Direction;
  address: string;
  asset: Asset;
  /** What the invoice received so far, base units (a refund's amount for `refund.*`). */
  amount: BaseUnits;
  watch: WatchRef;
  /** The invoice as the change left it (without `checkout_url`). */
  invoice: Invoice;
  txid?: string;
  index?: number;
  block?: BlockRef | null;
  confirmations?: number;
  payment_event?: string;
  refund?: Refund;
}

/** A payment to a shared or pool address that credits no invoice. */
export interface UnmatchedPaymentEvent extends EventBase {
  type: "invoice.unmatched_payment";
  direction: "in";
  address: string;
  asset: Asset;
  amount: BaseUnits;
  watch: WatchRef;
  txid: string;
  index: number;
  block?: BlockRef;
  confirmations: number;
  payment_event: string;
  candidates: Array<{
    id: string;
    order_id: string;
    amount_due: DecimalString;
    least_payable: DecimalString;
  }>;
}

/** A stablecoin's issuer froze or released a watched address. */
export interface AddressEvent extends EventBase {
  type: AddressEventType;
  address: string;
  asset: Asset;
  txid: string;
  index: number;
  block: BlockRef;
  watch: WatchRef;
  destroyed?: BaseUnits;
}

/** One entry of the events feed, told apart by `type`. */
export type PaywatchEvent = PaymentEvent | InvoiceEvent | UnmatchedPaymentEvent | AddressEvent;

export interface EventPage {
  events: PaywatchEvent[];
  /** The last event's `seq`, or `after` when the page is empty. */
  next_after: number;
}

export function isPaymentEvent(event: { type: string }): event is PaymentEvent {
  return event.type.startsWith("payment.");
}

export function isInvoiceEvent(event: { type: string }): event is InvoiceEvent {
  return (
    (event.type.startsWith("invoice.") && event.type !== "invoice.unmatched_payment") ||
    event.type.startsWith("refund.")
  );
}

export function isUnmatchedPaymentEvent(event: { type: string }): event is UnmatchedPaymentEvent {
  return event.type === "invoice.unmatched_payment";
}

export function isAddressEvent(event: { type: string }): event is AddressEvent {
  return event.type.startsWith("address.");
}

// --- deliveries ----------------------------------------------------------------

export type DeliveryStatus = "pending" | "delivered" | "dead";

/** One event on its way to a sink (`sink`), or one a plugin failed on (`plugin`). Times in Unix ms. */
export interface Delivery {
  id: string;
  seq: number;
  event_id: string;
  sink?: string;
  plugin?: string;
  chain: string;
  address: string;
  status: DeliveryStatus;
  attempts: number;
  created_ms: number;
  since_ms: number;
  next_attempt_ms: number;
  delivered_ms?: number;
  last_error?: string;
  delayed?: number;
  payload?: unknown;
}

export interface DeliveryPage {
  deliveries: Delivery[];
  next: string | null;
}

// --- status --------------------------------------------------------------------

export interface EndpointStatus {
  endpoint: string;
  priority: number;
  state: "healthy" | "lagging" | "forked" | "failing";
  tip: number | null;
  lag: number | null;
  latency_ms: number;
  requests: number;
  errors: number;
  last_error: string | null;
  unhealthy_for_secs: number | null;
}

export interface ChainStatus {
  chain: string;
  kind: "bitcoin" | "evm" | "tron";
  network: string;
  state: "starting" | "syncing" | "following" | "node_unreachable" | "degraded";
  node_tip: number | null;
  indexed_height: number | null;
  lag: number | null;
  synced_percent: number | null;
  start_height: number;
  blocks_per_second: number;
  confirmations: number;
  decode_skipped: number;
  rescans: number;
  last_error: string | null;
  endpoints: EndpointStatus[];
}

export interface SinkStatus {
  pending: number;
  dead: number;
}

export interface PluginStatus {
  name: string;
  state: "active" | "disabled";
  disabled_until_ms?: number;
  calls: number;
  failures: number;
  consecutive_failures: number;
  last_error?: string;
  dead: number;
}

export interface RateSourceStatus {
  name: string;
  value: DecimalString | null;
  age_secs: number | null;
  fresh: boolean;
  outlier: boolean;
  error: string | null;
}

export interface RatePairStatus {
  pair: string;
  rate: DecimalString | null;
  usable: boolean;
  error: string | null;
  sources: RateSourceStatus[];
}

export interface PoolCounts {
  free: number;
  reserved: number;
}

export interface Status {
  version: string;
  chains: ChainStatus[];
  events: { last_seq: number };
  delivery: {
    dispatched_seq: number;
    sinks: Record<string, SinkStatus>;
    plugins: PluginStatus[];
  };
  risk?: { sanctions: Record<string, unknown> | null };
  invoice_pools?: Record<string, PoolCounts>;
  rates: RatePairStatus[];
}

export interface PoolResult {
  added: number;
  pool: PoolCounts;
}

export interface RescanAccepted {
  chain: string;
  from: number;
}
