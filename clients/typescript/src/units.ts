/**
 * Exact conversions between base units and whole units, on strings (no
 * floating point anywhere):
 *
 * ```ts
 * formatUnits("125500000", 6); // "125.5"
 * parseUnits("125.5", 6);      // "125500000"
 * ```
 */

import type { DecimalInput } from "./models.js";

const INTEGER = /^[0-9]+$/;
const DECIMAL = /^([0-9]+)(?:\.([0-9]+))?$/;

/** Base units (a string or bigint) as a whole-unit decimal without trailing zeros. */
export function formatUnits(base: string | bigint, decimals: number): string {
  const text = typeof base === "bigint" ? base.toString() : base;
  if (!INTEGER.test(text)) throw new RangeError(`not a non-negative integer: ${JSON.stringify(text)}`);
  checkDecimals(decimals);
  const digits = text.replace(/^0+/, "") || "0";
  if (decimals === 0) return digits;
  const padded = digits.padStart(decimals + 1, "0");
  const whole = padded.slice(0, -decimals);
  const frac = padded.slice(-decimals).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}

/**
 * A whole-unit decimal as base units. More decimal places than `decimals`
 * (other than trailing zeros) is a RangeError, never a rounding.
 */
export function parseUnits(amount: DecimalInput, decimals: number): string {
  const text = decimalString(amount, "amount").trim();
  checkDecimals(decimals);
  const match = DECIMAL.exec(text);
  if (!match) throw new RangeError(`not a non-negative decimal: ${JSON.stringify(text)}`);
  const whole = match[1] ?? "0";
  const frac = (match[2] ?? "").replace(/0+$/, "");
  if (frac.length > decimals) throw new RangeError(`${text} has more than ${decimals} decimal places`);
  return (whole + frac.padEnd(decimals, "0")).replace(/^0+/, "") || "0";
}

/**
 * An amount as the decimal string the API takes. Strings pass as they are
 * (the daemon checks them); a bigint is written out. A number is refused:
 * binary floating point cannot hold most decimal amounts exactly.
 */
export function decimalString(value: DecimalInput, name = "amount"): string {
  if (typeof value === "string") return value;
  if (typeof value === "bigint") {
    if (value < 0n) throw new RangeError(`${name} must not be negative`);
    return value.toString();
  }
  throw new TypeError(`${name} must be a decimal string (or a bigint), not ${typeof value}`);
}

function checkDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) {
    throw new RangeError(`decimals must be an integer from 0 to 255, not ${decimals}`);
  }
}
