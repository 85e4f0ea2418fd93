/**
 * What an audit compares: a REST book (`POST /books`) with the book a slot of the table holds, read
 * from shared memory under the seqlock (docs/DESIGN.md section 4), never through the read path (no
 * read counter moves). Compared: the exchange timestamp, the number of levels on each side (full
 * depth) and every published level (price and size, the `maxDepth` best of each side: what reads
 * serve). Deeper sizes are not compared.
 */
import {
  F_DISABLED,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  S_ASK_LEVELS,
  S_BID_LEVELS,
  S_EXCH_TS,
  S_LEVELS,
} from '../table/layout.js';
import type { TableReader } from '../table/view.js';
import type { RawBook } from '../rest/books.js';

/** A REST book as the audit compares it: levels best first, as numbers, zero sizes dropped. */
export interface RestAudit {
  /** The book's last change, exchange ms. */
  ts: number;
  /** `[price, size, price, size, ...]`, best bid first. */
  bids: number[];
  /** `[price, size, price, size, ...]`, best ask first. */
  asks: number[];
}

/** A side in wire order (worst first) as `[price, size, ...]` best first; null when malformed or out of order. */
function side(levels: unknown, bids: boolean): number[] | null {
  if (!Array.isArray(levels)) return null;
  const out: number[] = [];
  let prev = bids ? Infinity : -Infinity;
  for (let i = levels.length - 1; i >= 0; i--) {
    const l = levels[i] as { price?: unknown; size?: unknown } | null;
    if (l === null || typeof l !== 'object' || typeof l.price !== 'string' || typeof l.size !== 'string') return null;
    const price = Number(l.price);
    const size = Number(l.size);
    if (!(price > 0 && price < 1) || !(size >= 0) || !Number.isFinite(size) || l.price.trim() !== l.price) return null;
    // Best first: bids strictly descending, asks strictly ascending.
    if (bids ? !(price < prev) : !(price > prev)) return null;
    prev = price;
    if (size > 0) out.push(price, size);
  }
  return out;
}

/** The parts of a REST book an audit compares, or null when it cannot be compared (malformed, no timestamp). */
export function restAudit(b: RawBook): RestAudit | null {
  const ts = typeof b.timestamp === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(b.timestamp) ? Number(b.timestamp) : NaN;
  if (!Number.isFinite(ts)) return null;
  const bids = side(b.bids, true);
  const asks = side(b.asks, false);
  return bids && asks ? { ts, bids, asks } : null;
}

/** A slot as an audit sees it at one instant. */
export interface SlotAudit {
  /** The exchange timestamp of the book held (NaN when it had none). */
  ts: number;
  /** The connection that carries the token. */
  conn: number;
  /** Whether the book held equals the REST book (levels counted at full depth, compared at published depth). */
  equal: boolean;
}

const SERVABLE = F_SUBSCRIBED | F_READY | F_DISABLED | F_SETTLED | F_MISMATCH;
const SERVED = F_SUBSCRIBED | F_READY;

/**
 * Reads slot `slot` (bound at generation `gen`) and compares it with `rest`; null when the slot is
 * rebound, or holds no book a read would serve (not ready, disabled, settled, in a top-of-book
 * mismatch): nothing to audit. Without `rest`, `equal` is false.
 */
export function auditSlot(r: TableReader, slot: number, gen: number, rest: RestAudit | null): SlotAudit | null {
  const i32 = r.i32;
  const f64 = r.f64;
  const depth = r.depth;
  const b = r.base32(slot);
  const f = b >> 1;
  for (;;) {
    const v = Atomics.load(i32, b);
    if (v & 1) continue;
    const flags = i32[b + 1];
    const g = i32[b + 5];
    const conn = i32[b + 4] & 255;
    const ts = f64[f + S_EXCH_TS / 8];
    let equal = false;
    if (rest !== null) {
      const nb = Math.min(Math.max(i32[b + 2], 0), depth);
      const na = Math.min(Math.max(i32[b + 3], 0), depth);
      equal =
        f64[f + S_BID_LEVELS / 8] === rest.bids.length / 2 &&
        f64[f + S_ASK_LEVELS / 8] === rest.asks.length / 2 &&
        nb === Math.min(depth, rest.bids.length / 2) &&
        na === Math.min(depth, rest.asks.length / 2) &&
        same(f64, f + S_LEVELS / 8, rest.bids, nb) &&
        same(f64, f + S_LEVELS / 8 + depth * 2, rest.asks, na);
    }
    if (Atomics.or(i32, b, 0) !== v) continue;
    if (g !== gen || (flags & SERVABLE) !== SERVED) return null;
    return { ts, conn, equal };
  }
}

/** Whether `n` published levels at f64 index `at` equal the first `n` of `levels`. */
function same(f64: Float64Array, at: number, levels: readonly number[], n: number): boolean {
  for (let i = 0; i < 2 * n; i++) if (f64[at + i] !== levels[i]) return false;
  return true;
}

/** The generation and connection of a slot right now (its binding, for a later {@link auditSlot}). */
export function slotBinding(r: TableReader, slot: number): { gen: number; conn: number; flags: number } {
  const b = r.base32(slot);
  return { gen: r.i32[b + 5], conn: r.i32[b + 4] & 255, flags: r.i32[b + 1] };
}

/** Whether a slot's flags say a read would serve it (staleness aside): only those are audited. */
export function servable(flags: number): boolean {
  return (flags & SERVABLE) === SERVED;
}
