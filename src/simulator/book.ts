/**
 * One side of one token's order book, kept in wire order (bids ascending, asks descending, so the
 * best level is always the last one), with the exact texts and their JSON cached for the wire and
 * for the hash.
 */
import { priceText, sizeText } from './decimal.js';

export class Side {
  /** Price units, wire order. */
  readonly px: number[] = [];
  /** Sizes in cents, same order. */
  readonly sz: number[] = [];
  /** `[price, size]` texts, same order (the shape src/protocol/hash.ts takes). */
  readonly levels: [string, string][] = [];
  private json: string | null = null;

  /** `ascending` is true for bids (wire order ascending), false for asks. */
  constructor(readonly ascending: boolean) {}

  get length(): number {
    return this.px.length;
  }

  /** Best price (units), or -1 when the side is empty. */
  best(): number {
    const n = this.px.length;
    return n === 0 ? -1 : this.px[n - 1]!;
  }

  /** Index of `price`, or `-(insertion index) - 1` when absent. */
  find(price: number): number {
    const key = this.ascending ? price : -price;
    let lo = 0;
    let hi = this.px.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.ascending ? this.px[mid]! : -this.px[mid]!;
      if (k === key) return mid;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  sizeAt(price: number): number {
    const i = this.find(price);
    return i >= 0 ? this.sz[i]! : 0;
  }

  /** Sets the absolute size (cents) at `price`; 0 removes the level. Returns the previous size. */
  set(price: number, cents: number): number {
    const i = this.find(price);
    if (i >= 0) {
      const prev = this.sz[i]!;
      if (cents === 0) {
        this.px.splice(i, 1);
        this.sz.splice(i, 1);
        this.levels.splice(i, 1);
      } else {
        this.sz[i] = cents;
        this.levels[i] = [this.levels[i]![0], sizeText(cents)];
      }
      this.json = null;
      return prev;
    }
    if (cents === 0) return 0;
    const at = -i - 1;
    this.px.splice(at, 0, price);
    this.sz.splice(at, 0, cents);
    this.levels.splice(at, 0, [priceText(price), sizeText(cents)]);
    this.json = null;
    return 0;
  }

  /** The levels as JSON array content (without brackets), exactly as sent on the wire. */
  wire(): string {
    if (this.json === null) {
      let out = '';
      for (let i = 0; i < this.levels.length; i++) {
        const l = this.levels[i]!;
        out += `${i === 0 ? '' : ','}{"price":"${l[0]}","size":"${l[1]}"}`;
      }
      this.json = out;
    }
    return this.json;
  }

  clone(): Side {
    const s = new Side(this.ascending);
    s.px.push(...this.px);
    s.sz.push(...this.sz);
    for (const l of this.levels) s.levels.push([l[0], l[1]]);
    return s;
  }

  /** Copy of the `[price, size]` texts in wire order. */
  copyLevels(): [string, string][] {
    return this.levels.map((l) => [l[0], l[1]]);
  }
}
