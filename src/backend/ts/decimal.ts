/**
 * Decimal strings as the market channel sends them (docs/DESIGN.md section 5.1).
 *
 * A decimal matches `^[0-9]*\.?[0-9]*$` with at least one digit, at most 9 digits after the point,
 * and a mantissa (all digits read as one integer) of at most 2^53 - 1. Anything else (sign,
 * exponent, spaces, empty, a JSON number instead of a string) is not a decimal.
 *
 * - Identity of a price level is its exact value: the integer key `mantissa * 10^(9 - scale)`
 *   (so `"0.5"` and `"0.50"` are the same level). Exact for every value below 2^53 / 10^9.
 * - The published f64 is `mantissa / 10^scale`: both operands are exact doubles, so the IEEE
 *   division is the correctly rounded value of the decimal (what `parseFloat` gives, and what
 *   the Rust writer computes).
 *
 * The hot path is {@link scanDecimal}: no allocation, the result is left in {@link dec}.
 */

/** Largest mantissa accepted: 2^53 - 1. */
export const MAX_MANTISSA = 9007199254740991;
/** Most digits accepted after the point. */
export const MAX_SCALE = 9;
/** Key of the value 1 (`10^9`): prices are keys in `(0, PRICE_KEY_ONE)`. */
export const PRICE_KEY_ONE = 1e9;
/** `POW10[i] = 10^i`, exact, for `i` in `0..9`. */
export const POW10: readonly number[] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/** Result of the last successful {@link scanDecimal}. Overwritten by every call. */
export const dec = { mantissa: 0, scale: 0 };

/**
 * Validates `s` as a decimal. On success returns true and leaves the mantissa and scale in
 * {@link dec}; otherwise returns false (and `dec` is unspecified).
 */
export function scanDecimal(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const n = s.length;
  let m = 0;
  let digits = 0;
  let point = -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      m = m * 10 + d;
      // Before this step m <= 2^53 - 1, so the exact result is at most ~9.007e16; when it exceeds
      // 2^53 - 1 the rounded double does too (rounding is monotone and 2^53 is representable).
      if (m > MAX_MANTISSA) return false;
      digits++;
    } else if (c === 46 /* . */ && point < 0) {
      point = i;
    } else {
      return false;
    }
  }
  if (digits === 0) return false;
  const scale = point < 0 ? 0 : n - 1 - point;
  if (scale > MAX_SCALE) return false;
  dec.mantissa = m;
  dec.scale = scale;
  return true;
}

/** The f64 of the last scanned decimal (correctly rounded). */
export function decValue(): number {
  return dec.mantissa / POW10[dec.scale];
}

/** The exact integer key (`value * 10^9`) of the last scanned decimal. Exact below 2^53 / 10^9. */
export function decKey(): number {
  return dec.mantissa * POW10[MAX_SCALE - dec.scale];
}

/** Scans `s` as a price: a decimal with `0 < value < 1`. On success the key is `decKey()`. */
export function scanPrice(s: unknown): boolean {
  if (!scanDecimal(s)) return false;
  const k = decKey();
  return k > 0 && k < PRICE_KEY_ONE;
}

/** A parsed decimal (allocating convenience form of {@link scanDecimal}). */
export interface Decimal {
  /** All digits as one integer. */
  mantissa: number;
  /** Digits after the point (0..9). */
  scale: number;
  /** Correctly rounded f64 value. */
  value: number;
  /** Exact identity key: `value * 10^9` as an integer (exact for values below ~9.007e6). */
  key: number;
}

/** Parses `s` as a decimal of DESIGN 5.1, or returns null. */
export function parseDecimal(s: unknown): Decimal | null {
  if (!scanDecimal(s)) return null;
  return { mantissa: dec.mantissa, scale: dec.scale, value: decValue(), key: decKey() };
}

/** Whether `s` is a decimal of DESIGN 5.1. */
export function isDecimal(s: unknown): s is string {
  return scanDecimal(s);
}

/** Whether `s` is a valid price: a decimal with `0 < value < 1`. */
export function isPrice(s: unknown): s is string {
  return scanPrice(s);
}
