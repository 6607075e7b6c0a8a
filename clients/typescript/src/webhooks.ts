/**
 * Verifying paywatch's webhook requests, with Web Crypto (`crypto.subtle`),
 * which Node ≥ 20, Deno, Bun, edge runtimes and browsers all provide: this
 * module imports nothing from Node, so bundles stay portable.
 *
 * paywatch signs each request: `Paywatch-Signature: v1=<hex>`, the lower-case
 * hex HMAC-SHA256 of `timestamp + "." + body` keyed with the sink's secret,
 * where `timestamp` is the `Paywatch-Timestamp` header (Unix seconds). The
 * signature is checked with `crypto.subtle.verify`, which compares in
 * constant time, and a timestamp more than `toleranceSeconds` (default 300)
 * from the local clock is refused, so a captured request cannot be replayed.
 *
 * Pass the **raw body bytes** as received (with Express,
 * `express.raw({ type: "application/json" })` on the route), never JSON
 * parsed and serialized again:
 *
 * ```ts
 * import { constructEvent, WebhookVerificationError } from "@paywatch/client/webhooks";
 *
 * app.post("/paywatch", express.raw({ type: "application/json" }), async (req, res) => {
 *   let event;
 *   try {
 *     event = await constructEvent(req.body, req.headers, process.env.PAYWATCH_WEBHOOK_SECRET!);
 *   } catch (err) {
 *     if (err instanceof WebhookVerificationError) return res.sendStatus(401);
 *     throw err;
 *   }
 *   // deduplicate by event.id: delivery is at-least-once
 *   res.sendStatus(204);
 * });
 * ```
 */

import { WebhookVerificationError } from "./errors.js";
import type { PaywatchEvent } from "./models.js";

export { WebhookVerificationError };

export const SIGNATURE_HEADER = "Paywatch-Signature";
export const TIMESTAMP_HEADER = "Paywatch-Timestamp";
export const EVENT_ID_HEADER = "Paywatch-Event-Id";
export const DELIVERY_ID_HEADER = "Paywatch-Delivery-Id";
export const ATTEMPT_HEADER = "Paywatch-Attempt";
/** Seconds a request's timestamp may be away from the local clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A sink secret (a string is used as UTF-8), or several while one is being rotated. */
export type WebhookSecret = string | Uint8Array | ReadonlyArray<string | Uint8Array>;
/** The raw request body. A string is encoded as UTF-8. */
export type WebhookBody = string | Uint8Array | ArrayBuffer;
/**
 * Request headers: a fetch `Headers`, Node's `req.headers`
 * (`IncomingHttpHeaders`), or any object of header names (any case) to values.
 */
export type HeadersLike =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined | null>;

export interface VerifyOptions {
  /** Seconds of clock difference accepted (default 300); `null` skips the check (tests only). */
  toleranceSeconds?: number | null;
  /** The current time in Unix seconds, instead of the clock. */
  now?: number;
}

const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^[0-9]{1,15}$/;
const encoder = new TextEncoder();

/**
 * Checks one request; resolves when it is authentic and fresh, else rejects
 * with {@link WebhookVerificationError} (whose `reason` says why).
 */
export async function verifySignature(
  secret: WebhookSecret,
  timestamp: string | number | null | undefined,
  body: WebhookBody,
  signature: string | null | undefined,
  options: VerifyOptions = {},
): Promise<void> {
  if (signature == null) throw new WebhookVerificationError("missing_header", `no ${SIGNATURE_HEADER} header`);
  if (timestamp == null) throw new WebhookVerificationError("missing_header", `no ${TIMESTAMP_HEADER} header`);
  const given = signature.startsWith("v1=") ? signature.slice(3) : null;
  if (given === null || !HEX_SIGNATURE.test(given)) {
    throw new WebhookVerificationError("malformed_signature", `${SIGNATURE_HEADER} is not of the form v1=<hex>`);
  }
  const timestampText = String(timestamp);
  if (!TIMESTAMP.test(timestampText)) {
    throw new WebhookVerificationError("malformed_timestamp", `${TIMESTAMP_HEADER} is not Unix seconds`);
  }
  const tolerance = options.toleranceSeconds === undefined ? DEFAULT_TOLERANCE_SECONDS : options.toleranceSeconds;
  if (tolerance !== null) {
    const now = options.now ?? Date.now() / 1000;
    if (Math.abs(now - Number(timestampText)) > tolerance) {
      throw new WebhookVerificationError(
        "timestamp_out_of_tolerance",
        `${TIMESTAMP_HEADER} is more than ${tolerance} s from the local clock`,
      );
    }
  }
  const message = signedMessage(timestampText, body);
  const expected = hexToBytes(given);
  const subtle = webCrypto();
  let matched = false;
  // Every secret is tried, whatever matched before; verify compares in constant time.
  for (const key of secretList(secret)) {
    const hmacKey = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const ok = await subtle.verify("HMAC", hmacKey, expected, message);
    matched = matched || ok;
  }
  if (!matched) throw new WebhookVerificationError("signature_mismatch", "the signature does not match the body");
}

/** {@link verifySignature} as a boolean. */
export async function isValidSignature(
  secret: WebhookSecret,
  timestamp: string | number | null | undefined,
  body: WebhookBody,
  signature: string | null | undefined,
  options: VerifyOptions = {},
): Promise<boolean> {
  try {
    await verifySignature(secret, timestamp, body, signature, options);
    return true;
  } catch (err) {
    if (err instanceof WebhookVerificationError) return false;
    throw err;
  }
}

/** The `Paywatch-Signature` value paywatch would send (`v1=<hex>`); useful to test a receiver. */
export async function sign(secret: string | Uint8Array, timestamp: string | number, body: WebhookBody): Promise<string> {
  const subtle = webCrypto();
  const [key] = secretList(secret);
  const hmacKey = await subtle.importKey("raw", key!, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await subtle.sign("HMAC", hmacKey, signedMessage(String(timestamp), body)));
  return "v1=" + Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Verifies a webhook request and returns its event. When a plugin chose the
 * body it is not an event: use {@link verifySignature} and parse it yourself.
 */
export async function constructEvent(
  body: WebhookBody,
  headers: HeadersLike,
  secret: WebhookSecret,
  options: VerifyOptions = {},
): Promise<PaywatchEvent> {
  await verifySignature(secret, getHeader(headers, TIMESTAMP_HEADER), body, getHeader(headers, SIGNATURE_HEADER), options);
  const bytes = toBytes(body);
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new WebhookVerificationError("invalid_body", `the signed body is not JSON: ${String(err)}`);
  }
  if (!event || typeof event !== "object" || typeof (event as { type?: unknown }).type !== "string") {
    throw new WebhookVerificationError("invalid_body", "the signed body is not a paywatch event");
  }
  return event as PaywatchEvent;
}

/** A header's value, its name matched without regard to case. */
export function getHeader(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") {
    const value = (headers as { get(name: string): string | null }).get(name);
    return value ?? undefined;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== wanted || value == null) continue;
    if (Array.isArray(value)) return value.length ? String(value[0]) : undefined;
    return String(value);
  }
  return undefined;
}

function webCrypto(): SubtleCrypto {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error("Web Crypto (globalThis.crypto.subtle) is not available in this runtime");
  return subtle;
}

function signedMessage(timestamp: string, body: WebhookBody): Uint8Array<ArrayBuffer> {
  const head = encoder.encode(timestamp + ".");
  const rest = toBytes(body);
  const out = new Uint8Array(head.length + rest.length);
  out.set(head, 0);
  out.set(rest, head.length);
  return out;
}

function toBytes(value: WebhookBody): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return value;
}

function secretList(secret: WebhookSecret): Array<Uint8Array<ArrayBuffer>> {
  const list = typeof secret === "string" || secret instanceof Uint8Array ? [secret] : Array.from(secret);
  if (list.length === 0) throw new TypeError("the webhook secret must not be empty");
  return list.map((s) => {
    const bytes = typeof s === "string" ? encoder.encode(s) : s;
    if (bytes.length === 0) throw new TypeError("the webhook secret must not be empty");
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    return copy;
  });
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
