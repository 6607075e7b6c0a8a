import {
  PaywatchApiError,
  PaywatchConnectionError,
  PaywatchError,
  UnexpectedResponseError,
  WaitTimeoutError,
  errorFromResponse,
} from "./errors.js";
import type {
  BatchResult,
  Choice,
  DecimalInput,
  DeletedWatch,
  Delivery,
  DeliveryPage,
  DeliveryStatus,
  EventPage,
  FrozenList,
  Invoice,
  InvoicePage,
  InvoiceStatus,
  NewWatch,
  PaywatchEvent,
  PoolResult,
  RescanAccepted,
  Status,
  Transfer,
  TransferPage,
  Watch,
} from "./models.js";
import { decimalString } from "./units.js";

export const DEFAULT_URL = "http://127.0.0.1:8480";

export interface ClientOptions {
  /** The daemon's API (default `http://127.0.0.1:8480`); a path prefix is kept. */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer <apiKey>`; leave out when the daemon has no keys. */
  apiKey?: string;
  /** Milliseconds one request may take (long polls add their `wait`). Default 30 000. */
  timeoutMs?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | null | undefined>;
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
  accept?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CreateInvoiceParams {
  chain: string;
  asset: string;
  order_id: string;
  /** Whole units of the asset (`"25.01"`); not with `price`. */
  amount?: DecimalInput;
  /** A price in `currency`, converted at the current rate; not with `amount`. */
  price?: DecimalInput;
  currency?: string;
  expires_in?: number;
  redirect_url?: string;
  /** `"1%"`, or an amount of the asset. */
  underpayment_tolerance?: string;
  rate_adjust?: string;
  confirmations?: number;
  hold_flagged?: boolean;
  metadata?: Record<string, unknown>;
}

export interface CreateChoiceParams {
  options: Array<{ chain: string; asset: string }>;
  price: DecimalInput;
  currency: string;
  order_id: string;
  expires_in?: number;
  redirect_url?: string;
  underpayment_tolerance?: string;
  rate_adjust?: string;
  hold_flagged?: boolean;
  metadata?: Record<string, unknown>;
}

export interface ListInvoicesParams {
  chain?: string;
  order_id?: string;
  status?: InvoiceStatus;
  after?: string;
  limit?: number;
}

export interface ListTransfersParams {
  chain: string;
  /** Give exactly one of `address`, `counterparty` and `txid`. */
  address?: string;
  counterparty?: string;
  txid?: string;
  limit?: number;
  cursor?: string;
}

export interface ListDeliveriesParams {
  status?: DeliveryStatus;
  sink?: string;
  after?: string;
  limit?: number;
}

export interface ListEventsParams {
  after?: number;
  limit?: number;
  /** Seconds (0 to 60) to hold the request when there is no event yet. */
  wait?: number;
  signal?: AbortSignal;
}

export interface EventStreamOptions {
  /** The `seq` to start after: 0 for the beginning, or a saved `cursor`. */
  after?: number;
  /** Long-poll seconds, 0 to 60 (default 30). */
  wait?: number;
  /** Events per request (default 100). */
  limit?: number;
  /** Keep waiting for new events once caught up (default true); false ends when caught up. */
  follow?: boolean;
  /** Retry connection failures and 5xx answers (a daemon restarting); default true. */
  reconnect?: boolean;
  /** Failed requests in a row before giving up (default: never give up). */
  maxRetries?: number;
  /** The longest wait between retries, ms (default 10 000). */
  maxBackoffMs?: number;
  /** Ends the stream, aborting a long poll in flight. */
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Default 600 000 ms. */
  timeoutMs?: number;
  /** Default 2 000 ms. */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

export interface QrOptions {
  address_only?: boolean;
  refund?: string;
}

// Idempotent reads are tried again on these: a body timeout, rate limits, and
// the daemon (or a proxy in front of it) being busy, restarting or stopping.
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * A client of one paywatch daemon's HTTP API. Errors are thrown as
 * {@link PaywatchApiError} subclasses carrying the API's error `code`;
 * connection failures as {@link PaywatchConnectionError}.
 *
 * ```ts
 * const client = new PaywatchClient({ baseUrl: "http://127.0.0.1:8480", apiKey: process.env.PAYWATCH_API_KEY });
 * const invoice = await client.createInvoice({ chain: "eth", asset: "USDT", amount: "25", order_id: "42" });
 * ```
 */
export class PaywatchClient {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  constructor(options: ClientOptions = {}) {
    const base = options.baseUrl ?? DEFAULT_URL;
    let parsed: URL;
    try {
      parsed = new URL(base);
    } catch {
      throw new TypeError(`baseUrl must be an http(s) URL, not ${JSON.stringify(base)}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(`baseUrl must be an http(s) URL, not ${JSON.stringify(base)}`);
    }
    this.baseUrl = base.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.#apiKey = options.apiKey;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("no fetch: pass options.fetch, or use Node >= 20");
    this.#fetch = f;
    this.#headers = { ...(options.headers ?? {}) };
  }

  // --- transport ---------------------------------------------------------------

  /** Sends one request; resolves with the answer's body, rejects with a {@link PaywatchApiError} for an error answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Uint8Array> {
    let url = this.baseUrl + path;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== null) query.append(key, String(value));
    }
    const qs = query.toString();
    if (qs) url += "?" + qs;
    const headers: Record<string, string> = {
      accept: options.accept ?? "application/json",
      ...this.#headers,
    };
    if (this.#apiKey) headers["authorization"] = `Bearer ${this.#apiKey}`;
    let body: string | Uint8Array | undefined = options.body;
    let contentType = options.contentType;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      contentType = "application/json";
    }
    if (contentType) headers["content-type"] = contentType;

    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const outer = options.signal;
    const onAbort = (): void => controller.abort();
    if (outer?.aborted) controller.abort();
    outer?.addEventListener("abort", onAbort, { once: true });
    try {
      let response: Response;
      let bytes: Uint8Array;
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          body: body as BodyInit | undefined,
          redirect: "manual",
          signal: controller.signal,
        });
        bytes = new Uint8Array(await response.arrayBuffer());
      } catch (err) {
        if (outer?.aborted) throw outer.reason ?? err;
        const why = timedOut ? `timed out after ${timeoutMs} ms` : describe(err);
        throw new PaywatchConnectionError(`${method} ${url}: ${why}`, { cause: err });
      }
      if (response.status >= 200 && response.status < 300) return bytes;
      throw errorFromResponse(response.status, new TextDecoder().decode(bytes));
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    }
  }

  async #json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const bytes = await this.request(method, path, options);
    const text = new TextDecoder().decode(bytes);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new UnexpectedResponseError(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
  }

  // --- service -------------------------------------------------------------------

  /** `GET /health`: true while the daemon serves its API (needs no key). */
  async health(): Promise<boolean> {
    const body = await this.#json<{ ok?: boolean }>("GET", "/health");
    return body.ok === true;
  }

  /** `GET /v1/status`: every chain's state and height, the feed's `last_seq`, delivery, rates. */
  getStatus(): Promise<Status> {
    return this.#json<Status>("GET", "/v1/status");
  }

  // --- watches -------------------------------------------------------------------

  /**
   * `POST /v1/watches`: watch an address. The same request again returns the
   * stored watch; another label or metadata is a ConflictError `watch_exists`.
   */
  addWatch(watch: NewWatch): Promise<Watch> {
    return this.#json<Watch>("POST", "/v1/watches", { json: watchBody(watch) });
  }

  /**
   * `POST /v1/watches:batch`: bulk load, sent as NDJSON. All or nothing: an
   * invalid item is a BadRequestError `invalid_batch` whose `details` name
   * each bad item (from 1).
   */
  addWatches(watches: Iterable<NewWatch>): Promise<BatchResult> {
    let body = "";
    for (const watch of watches) body += JSON.stringify(watchBody(watch)) + "\n";
    return this.#json<BatchResult>("POST", "/v1/watches:batch", { body, contentType: "application/x-ndjson" });
  }

  /** `GET /v1/watches/{chain}/{address}`. */
  getWatch(chain: string, address: string): Promise<Watch> {
    return this.#json<Watch>("GET", `/v1/watches/${seg(chain)}/${seg(address)}`);
  }

  /** `DELETE /v1/watches/{chain}/{address}`: transfers already recorded stay. */
  deleteWatch(chain: string, address: string): Promise<DeletedWatch> {
    return this.#json<DeletedWatch>("DELETE", `/v1/watches/${seg(chain)}/${seg(address)}`);
  }

  // --- transfers -----------------------------------------------------------------

  /** `GET /v1/transfers`: one page; pass `next_cursor` back as `cursor`. */
  listTransfers(params: ListTransfersParams): Promise<TransferPage> {
    return this.#json<TransferPage>("GET", "/v1/transfers", { query: { ...params } });
  }

  /** Every transfer `listTransfers` finds, page after page. */
  async *iterateTransfers(params: Omit<ListTransfersParams, "cursor">): AsyncGenerator<Transfer, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.listTransfers({ ...params, cursor });
      yield* page.transfers;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /** `GET /v1/risk/frozen`: addresses the listed stablecoins' issuers froze. */
  listFrozen(chain: string): Promise<FrozenList> {
    return this.#json<FrozenList>("GET", "/v1/risk/frozen", { query: { chain } });
  }

  // --- invoices ------------------------------------------------------------------

  /**
   * `POST /v1/invoices`: a payment request for `order_id`, for `amount` in
   * whole units of `asset` or for `price` in `currency`. Amounts are decimal
   * strings (a bigint is accepted; a number is refused with a TypeError).
   * The same order with the same amount returns the stored invoice.
   */
  async createInvoice(params: CreateInvoiceParams): Promise<Invoice> {
    if ((params.amount === undefined) === (params.price === undefined)) {
      throw new TypeError("give either amount or price (with currency)");
    }
    const body: Record<string, unknown> = { ...params };
    if (params.amount !== undefined) body["amount"] = decimalString(params.amount, "amount");
    if (params.price !== undefined) body["price"] = decimalString(params.price, "price");
    if (params.underpayment_tolerance !== undefined) {
      body["underpayment_tolerance"] = decimalString(params.underpayment_tolerance, "underpayment_tolerance");
    }
    return this.#json<Invoice>("POST", "/v1/invoices", { json: dropUndefined(body) });
  }

  /** `POST /v1/invoices` with `options`: the buyer picks the network. */
  async createChoice(params: CreateChoiceParams): Promise<Choice> {
    const body: Record<string, unknown> = { ...params, price: decimalString(params.price, "price") };
    return this.#json<Choice>("POST", "/v1/invoices", { json: dropUndefined(body) });
  }

  /** `POST /v1/invoices/{id}/options/{n}`: option `n`'s invoice (made now the first time). */
  chooseOption(choiceId: string, n: number): Promise<Invoice> {
    return this.#json<Invoice>("POST", `/v1/invoices/${seg(choiceId)}/options/${Math.trunc(n)}`);
  }

  /** `GET /v1/invoices/{id}`: the invoice, or a choice (`kind: "choice"`). */
  getInvoice(id: string): Promise<Invoice | Choice> {
    return this.#json<Invoice | Choice>("GET", `/v1/invoices/${seg(id)}`);
  }

  /** `GET /v1/invoices`: one page, ordered by id; pass `next` back as `after`. */
  listInvoices(params: ListInvoicesParams = {}): Promise<InvoicePage> {
    return this.#json<InvoicePage>("GET", "/v1/invoices", { query: { ...params } });
  }

  /** Every invoice `listInvoices` finds, page after page. */
  async *iterateInvoices(params: Omit<ListInvoicesParams, "after"> = {}): AsyncGenerator<Invoice, void, undefined> {
    let after: string | undefined;
    for (;;) {
      const page = await this.listInvoices({ ...params, after });
      yield* page.invoices;
      if (!page.next) return;
      after = page.next;
    }
  }

  /** `POST /v1/invoices/{id}/cancel`: a pending or underpaid invoice is cancelled (else ConflictError `not_open`). */
  cancelInvoice(id: string): Promise<Invoice> {
    return this.#json<Invoice>("POST", `/v1/invoices/${seg(id)}/cancel`);
  }

  /** `POST /v1/invoices/{id}/settle`: marked paid by hand. */
  settleInvoice(id: string, options: { note?: string } = {}): Promise<Invoice> {
    return this.#byHand(id, "settle", options.note);
  }

  /** `POST /v1/invoices/{id}/invalidate`: marked invalid by hand. */
  invalidateInvoice(id: string, options: { note?: string } = {}): Promise<Invoice> {
    return this.#byHand(id, "invalidate", options.note);
  }

  /** `POST /v1/invoices/{id}/release`: a held invoice is confirmed. */
  releaseInvoice(id: string, options: { note?: string } = {}): Promise<Invoice> {
    return this.#byHand(id, "release", options.note);
  }

  /** `POST /v1/invoices/{id}/reject`: a held invoice is rejected. */
  rejectInvoice(id: string, options: { note?: string } = {}): Promise<Invoice> {
    return this.#byHand(id, "reject", options.note);
  }

  /** `POST /v1/invoices/{id}/attach`: credit a transaction to the invoice by hand. */
  attachPayment(id: string, params: { txid: string; note?: string }): Promise<Invoice> {
    return this.#json<Invoice>("POST", `/v1/invoices/${seg(id)}/attach`, { json: dropUndefined({ ...params }) });
  }

  /** `POST /v1/invoices/{id}/refunds`: prepare a refund (whole units); it is last in `refunds`. */
  async requestRefund(id: string, params: { amount: DecimalInput; asset?: string; address?: string; note?: string }): Promise<Invoice> {
    const body = dropUndefined({ ...params, amount: decimalString(params.amount, "amount") });
    return this.#json<Invoice>("POST", `/v1/invoices/${seg(id)}/refunds`, { json: body });
  }

  /** `GET /v1/invoices/{id}/qr.svg`. */
  async invoiceQrSvg(id: string, options: QrOptions = {}): Promise<string> {
    const bytes = await this.request("GET", `/v1/invoices/${seg(id)}/qr.svg`, {
      query: qrQuery(options),
      accept: "image/svg+xml",
    });
    return new TextDecoder().decode(bytes);
  }

  /** `GET /v1/invoices/{id}/qr.png`. */
  invoiceQrPng(id: string, options: QrOptions = {}): Promise<Uint8Array> {
    return this.request("GET", `/v1/invoices/${seg(id)}/qr.png`, { query: qrQuery(options), accept: "image/png" });
  }

  /**
   * Reads the invoice until its status is `status` (or one of several) and
   * resolves with it; rejects with {@link WaitTimeoutError} after `timeoutMs`.
   * Connection failures meanwhile (a daemon restarting) are waited out.
   */
  async waitForInvoice(
    id: string,
    status: InvoiceStatus | readonly InvoiceStatus[] = "confirmed",
    options: WaitOptions = {},
  ): Promise<Invoice> {
    const targets = new Set<string>(typeof status === "string" ? [status] : status);
    if (targets.size === 0) throw new TypeError("status must name at least one invoice status");
    const timeoutMs = options.timeoutMs ?? 600_000;
    const interval = options.pollIntervalMs ?? 2_000;
    const deadline = Date.now() + timeoutMs;
    let last: Invoice | undefined;
    for (;;) {
      let found: Invoice | Choice | undefined;
      try {
        found = await this.getInvoice(id);
      } catch (err) {
        if (!(err instanceof PaywatchConnectionError || (err instanceof PaywatchApiError && RETRYABLE_STATUS.has(err.status)))) {
          throw err;
        }
      }
      if (found) {
        if ("kind" in found && found.kind === "choice") {
          throw new TypeError(`${id} is a choice; wait for one of its options' invoices`);
        }
        last = found as Invoice;
        if (targets.has(last.status)) return last;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new WaitTimeoutError(
          `invoice ${id} is ${last?.status ?? "unreadable"}, not ${[...targets].join(" or ")}, after ${timeoutMs} ms`,
          last,
        );
      }
      await sleep(Math.min(interval, remaining), options.signal);
    }
  }

  // --- events --------------------------------------------------------------------

  /**
   * `GET /v1/events`: one page of the events with `seq > after`, oldest first.
   * With `wait` (0 to 60 s) the daemon holds the request until an event comes.
   */
  listEvents(params: ListEventsParams = {}): Promise<EventPage> {
    const { signal, ...query } = params;
    return this.#json<EventPage>("GET", "/v1/events", {
      query: { ...query },
      timeoutMs: this.timeoutMs + (params.wait ?? 0) * 1000,
      signal,
    });
  }

  /**
   * The events feed as an async iterator, from `after` on. It follows the
   * feed with long polls (or ends when caught up, with `follow: false`),
   * retrying connection failures; save `stream.cursor` after handling each
   * event and pass it as `after` to resume without repeating or missing one:
   *
   * ```ts
   * const stream = client.events({ after: await loadCursor() });
   * for await (const event of stream) {
   *   await handle(event);
   *   await saveCursor(stream.cursor);
   * }
   * ```
   */
  events(options: EventStreamOptions = {}): EventStream {
    return new EventStream(this, options);
  }

  // --- deliveries ----------------------------------------------------------------

  /** `GET /v1/deliveries`: one page in feed order; pass `next` back as `after`. */
  listDeliveries(params: ListDeliveriesParams = {}): Promise<DeliveryPage> {
    return this.#json<DeliveryPage>("GET", "/v1/deliveries", { query: { ...params } });
  }

  /** Every delivery `listDeliveries` finds, page after page. */
  async *iterateDeliveries(params: Omit<ListDeliveriesParams, "after"> = {}): AsyncGenerator<Delivery, void, undefined> {
    let after: string | undefined;
    for (;;) {
      const page = await this.listDeliveries({ ...params, after });
      yield* page.deliveries;
      if (!page.next) return;
      after = page.next;
    }
  }

  /** `GET /v1/deliveries/{id}` (`<seq>.<sink>`). */
  getDelivery(id: string): Promise<Delivery> {
    return this.#json<Delivery>("GET", `/v1/deliveries/${seg(id)}`);
  }

  /** `POST /v1/deliveries/{id}/retry`: a dead delivery is attempted again (else ConflictError `not_dead`). */
  retryDelivery(id: string): Promise<Delivery> {
    return this.#json<Delivery>("POST", `/v1/deliveries/${seg(id)}/retry`);
  }

  // --- chains --------------------------------------------------------------------

  /** `POST /v1/chains/{chain}/rescan`: scan again from a height. */
  rescan(chain: string, from: number): Promise<RescanAccepted> {
    return this.#json<RescanAccepted>("POST", `/v1/chains/${seg(chain)}/rescan`, { json: { from } });
  }

  /** `POST /v1/chains/{chain}/pool`: more addresses for an address-pool chain. */
  addPoolAddresses(chain: string, addresses: string[]): Promise<PoolResult> {
    return this.#json<PoolResult>("POST", `/v1/chains/${seg(chain)}/pool`, { json: { addresses } });
  }

  #byHand(id: string, action: string, note: string | undefined): Promise<Invoice> {
    const options: RequestOptions = note === undefined ? {} : { json: { note } };
    return this.#json<Invoice>("POST", `/v1/invoices/${seg(id)}/${action}`, options);
  }
}

/**
 * The events feed as an async iterator (see {@link PaywatchClient.events}).
 * `cursor` is the `seq` of the last event returned (or the starting `after`);
 * `retries` counts the failed requests that were tried again.
 */
export class EventStream implements AsyncIterableIterator<PaywatchEvent> {
  cursor: number;
  retries = 0;
  readonly #client: PaywatchClient;
  readonly #wait: number;
  readonly #limit: number;
  readonly #follow: boolean;
  readonly #reconnect: boolean;
  readonly #maxRetries: number | undefined;
  readonly #maxBackoffMs: number;
  readonly #controller = new AbortController();
  #buffer: PaywatchEvent[] = [];
  #done = false;

  constructor(client: PaywatchClient, options: EventStreamOptions = {}) {
    const wait = options.wait ?? 30;
    if (!Number.isInteger(wait) || wait < 0 || wait > 60) throw new RangeError("wait must be 0 to 60 seconds");
    this.#client = client;
    this.cursor = options.after ?? 0;
    this.#wait = wait;
    this.#limit = options.limit ?? 100;
    this.#follow = options.follow ?? true;
    this.#reconnect = options.reconnect ?? true;
    this.#maxRetries = options.maxRetries;
    this.#maxBackoffMs = options.maxBackoffMs ?? 10_000;
    if (options.signal) {
      if (options.signal.aborted) this.close();
      else options.signal.addEventListener("abort", () => this.close(), { once: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<PaywatchEvent, undefined>> {
    while (this.#buffer.length === 0) {
      if (this.#done) return { done: true, value: undefined };
      const page = await this.#fetch();
      if (page === undefined) return { done: true, value: undefined };
      this.#buffer = page.events;
      if (!this.#follow && page.events.length < this.#limit) this.#done = true;
    }
    const event = this.#buffer.shift()!;
    this.cursor = event.seq;
    return { done: false, value: event };
  }

  async return(): Promise<IteratorResult<PaywatchEvent, undefined>> {
    this.close();
    return { done: true, value: undefined };
  }

  /** Ends the stream, aborting a long poll in flight; the cursor stays at the last event returned. */
  close(): void {
    this.#done = true;
    this.#buffer = [];
    this.#controller.abort();
  }

  async #fetch(): Promise<EventPage | undefined> {
    let failures = 0;
    for (;;) {
      if (this.#controller.signal.aborted) return undefined;
      try {
        return await this.#client.listEvents({
          after: this.cursor,
          limit: this.#limit,
          wait: this.#follow ? this.#wait : 0,
          signal: this.#controller.signal,
        });
      } catch (err) {
        if (this.#controller.signal.aborted) return undefined;
        const retryable =
          err instanceof PaywatchConnectionError || (err instanceof PaywatchApiError && RETRYABLE_STATUS.has(err.status));
        if (!this.#reconnect || !retryable) throw err;
        if (this.#maxRetries !== undefined && failures >= this.#maxRetries) throw err;
        try {
          await sleep(Math.min(this.#maxBackoffMs, 250 * 2 ** failures), this.#controller.signal);
        } catch {
          return undefined;
        }
        failures += 1;
        this.retries += 1;
      }
    }
  }
}

function watchBody(watch: NewWatch): Record<string, unknown> {
  return dropUndefined({ chain: watch.chain, address: watch.address, label: watch.label, metadata: watch.metadata });
}

function qrQuery(options: QrOptions): Record<string, string | undefined> {
  return { address_only: options.address_only ? "true" : undefined, refund: options.refund };
}

/** One path segment, percent-encoded (a valid id or address passes unchanged). */
function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}

function dropUndefined<T extends Record<string, unknown>>(object: T): T {
  for (const key of Object.keys(object)) if (object[key] === undefined) delete object[key];
  return object;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message) return `${err.message} (${cause.message})`;
    return err.message;
  }
  return String(err);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new PaywatchError("aborted"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason ?? new PaywatchError("aborted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
