/**
 * One side of a full-depth book, in wire order with the best level at the end, so that the
 * frequent changes near the top of the book move few entries.
 *
 * Levels are kept as parallel arrays sorted by an ascending numeric key: the exact integer price
 * key of src/backend/ts/decimal.ts for bids (ascending price), its negation for asks (descending price).
 * The price f64 is not stored: `|key| / 1e9` is the same correctly rounded value as
 * `mantissa / 10^scale` (same exact rational, one IEEE division of exact operands).
 */
import { PRICE_KEY_ONE } from './decimal.js';

/** `Side.dirty` when no published position changed. */
export const DEPTH_CLEAN = 0x7fffffff;

export class Side {
  /** Number of levels. */
  n = 0;
  /** Sort keys, ascending (bids: price key; asks: minus price key). */
  keys: Float64Array;
  /** Sizes (f64 as published). */
  sizes: Float64Array;
  /** Exact price texts, as last received for each level. */
  ptext: string[] = [];
  /** Exact size texts, as last received for each level. */
  stext: string[] = [];
  /**
   * Shallowest published position (distance from the best level) whose content may differ from
   * what the last publish wrote; positions above it are unchanged (a change at distance d
   * shifts only the worse levels). `DEPTH_CLEAN` when nothing changed.
   */
  dirty = 0;

  constructor(capacity = 8) {
    this.keys = new Float64Array(capacity);
    this.sizes = new Float64Array(capacity);
  }

  clear(): void {
    if (this.n === 0) return;
    this.n = 0;
    this.dirty = 0;
  }

  /** Whether a level changed since the last publish. */
  changed(): boolean {
    return this.dirty !== DEPTH_CLEAN;
  }

  private touch(distance: number): void {
    if (distance < this.dirty) this.dirty = distance;
  }

  /** Key of the best level (the last one); only when `n > 0`. */
  bestKey(): number {
    return this.keys[this.n - 1];
  }

  /** Published price of the level at `i` (wire index). */
  price(i: number): number {
    const k = this.keys[i];
    return (k < 0 ? -k : k) / PRICE_KEY_ONE;
  }

  private grow(min: number): void {
    let cap = this.keys.length * 2;
    while (cap < min) cap *= 2;
    const keys = new Float64Array(cap);
    keys.set(this.keys.subarray(0, this.n));
    const sizes = new Float64Array(cap);
    sizes.set(this.sizes.subarray(0, this.n));
    this.keys = keys;
    this.sizes = sizes;
  }

  /** Appends a level after the current last one (the caller keeps the order). */
  push(key: number, size: number, ptext: string, stext: string): void {
    const n = this.n;
    if (n === this.keys.length) this.grow(n + 1);
    this.keys[n] = key;
    this.sizes[n] = size;
    this.ptext[n] = ptext;
    this.stext[n] = stext;
    this.n = n + 1;
    this.dirty = 0;
  }

  /** Index of `key`, or `~insertionPoint` (negative) when absent. Checks the top of book first. */
  find(key: number): number {
    const keys = this.keys;
    let hi = this.n - 1;
    if (hi < 0) return ~0;
    const top = keys[hi];
    if (key === top) return hi;
    if (key > top) return ~this.n;
    let lo = 0;
    hi--;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid];
      if (k < key) lo = mid + 1;
      else if (k > key) hi = mid - 1;
      else return mid;
    }
    return ~lo;
  }

  /** Sets the level `key` to `size` (inserting it if absent); texts replace the previous ones. */
  set(key: number, size: number, ptext: string, stext: string): void {
    const i = this.find(key);
    if (i >= 0) {
      this.touch(this.n - 1 - i);
      this.sizes[i] = size;
      this.ptext[i] = ptext;
      this.stext[i] = stext;
      return;
    }
    const at = ~i;
    const n = this.n;
    if (n === this.keys.length) this.grow(n + 1);
    const keys = this.keys;
    const sizes = this.sizes;
    const pt = this.ptext;
    const st = this.stext;
    for (let j = n; j > at; j--) {
      keys[j] = keys[j - 1];
      sizes[j] = sizes[j - 1];
      pt[j] = pt[j - 1];
      st[j] = st[j - 1];
    }
    keys[at] = key;
    sizes[at] = size;
    pt[at] = ptext;
    st[at] = stext;
    this.n = n + 1;
    this.touch(n - at);
  }

  /** Removes the level `key` if present. */
  remove(key: number): void {
    const i = this.find(key);
    if (i < 0) return;
    const n = this.n - 1;
    this.touch(n - i);
    const keys = this.keys;
    const sizes = this.sizes;
    const pt = this.ptext;
    const st = this.stext;
    for (let j = i; j < n; j++) {
      keys[j] = keys[j + 1];
      sizes[j] = sizes[j + 1];
      pt[j] = pt[j + 1];
      st[j] = st[j + 1];
    }
    this.n = n;
  }

  /** The levels as `[price, size]` texts in wire order. */
  texts(): [string, string][] {
    const out: [string, string][] = new Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = [this.ptext[i], this.stext[i]];
    return out;
  }
}
