/**
 * Validation of market-channel events (docs/DESIGN.md sections 5.1-5.2). Each event is
 * validated completely into reusable scratch structures before the writer applies anything,
 * so a rejected event changes nothing but counters and resets. Validators return 0 when the
 * event is valid, else the index of the counter that rejects it (the first problem found, in
 * wire field order: identity and structure, then levels or entries in order; within a level
 * or entry: price, size, side).
 *
 * Optional fields that are present but invalid are treated as absent.
 */
import { C } from '../../table/layout.js';
import { dec, decKey, decValue, scanDecimal, scanPrice } from './decimal.js';
import type { Side } from './side.js';
import { NO_LEVEL } from './slot-state.js';

export type Obj = Record<string, unknown>;

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The fields of a validated `book` (WebSocket) or REST `/book` summary, besides its levels. */
export class BookFields {
  assetId = '';
  market = '';
  /** Exchange timestamp: its text ('' when not a string) and value (NaN when not a decimal). */
  tsText = '';
  ts = NaN;
  hash: string | null = null;
  tickOk = false;
  tick = 0;
  tickText = '';
  ltpOk = false;
  ltp = 0;
  ltpText = '';
  /** REST only: `min_order_size` text and `neg_risk`, or null when absent or mistyped. */
  minOrderSize: string | null = null;
  negRisk: boolean | null = null;
}

/**
 * Validates the levels of one side in wire order into `side` (dropping zero sizes). Sort keys
 * (see side.ts) must be strictly ascending: bids ascending by price, asks descending.
 */
function fillSide(levels: unknown[], side: Side, ask: boolean): number {
  side.clear();
  let prev = -Infinity;
  for (let i = 0; i < levels.length; i++) {
    const lv = levels[i];
    if (!isObject(lv)) return C.badEvent;
    const p = lv.price;
    if (!scanPrice(p)) return C.badDecimal;
    const key = ask ? -decKey() : decKey();
    const s = lv.size;
    if (!scanDecimal(s)) return C.badDecimal;
    if (!(key > prev)) return C.unorderedLevels;
    prev = key;
    if (dec.mantissa !== 0) side.push(key, decValue(), p as string, s as string);
  }
  return 0;
}

/** Exchange timestamp of an event: text if a string, value if a decimal (else NaN). */
function timestamp(t: unknown, out: { tsText: string; ts: number }): void {
  out.tsText = typeof t === 'string' ? t : '';
  out.ts = scanDecimal(t) ? decValue() : NaN;
}

/** Validates a `book` event (or, with `rest`, a REST summary) into `bids`, `asks` and `f`. */
export function validateBook(ev: Obj, bids: Side, asks: Side, f: BookFields, rest: boolean): number {
  const id = ev.asset_id;
  if (typeof id !== 'string') return C.badEvent;
  const b = ev.bids;
  const a = ev.asks;
  if (!Array.isArray(b) || !Array.isArray(a)) return C.badEvent;
  let r = fillSide(b, bids, false);
  if (r !== 0) return r;
  r = fillSide(a, asks, true);
  if (r !== 0) return r;
  f.assetId = id;
  const m = ev.market;
  f.market = typeof m === 'string' ? m : '';
  timestamp(ev.timestamp, f);
  const h = ev.hash;
  f.hash = typeof h === 'string' ? h : null;
  const tick = ev.tick_size;
  f.tickOk = scanDecimal(tick);
  if (f.tickOk) {
    f.tick = decValue();
    f.tickText = tick as string;
  }
  const ltp = ev.last_trade_price;
  f.ltpOk = scanPrice(ltp);
  if (f.ltpOk) {
    f.ltp = decValue();
    f.ltpText = ltp as string;
  }
  if (rest) {
    const mos = ev.min_order_size;
    const neg = ev.neg_risk;
    f.minOrderSize = typeof mos === 'string' ? mos : null;
    f.negRisk = typeof neg === 'boolean' ? neg : null;
  }
  return 0;
}

/** The validated entries of one `price_change` event, in order. */
export class DeltaBatch {
  n = 0;
  /** Current format (`price_changes`), as opposed to legacy v0/v1. */
  current = false;
  tsText = '';
  ts = NaN;
  /** Slot of the entry's token, -1 when not subscribed. */
  slot = new Int32Array(16);
  ask = new Uint8Array(16);
  /** Sort key (see side.ts): price key for bids, minus price key for asks. */
  key = new Float64Array(16);
  size = new Float64Array(16);
  zero = new Uint8Array(16);
  ptext: string[] = [];
  stext: string[] = [];
  hash: (string | null)[] = [];
  /** best_bid and best_ask as sent (checked only for the entry the end of frame uses: serverLevel()). */
  bb: unknown[] = [];
  ba: unknown[] = [];

  private grow(): void {
    const cap = this.slot.length * 2;
    const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.slot = g(this.slot, new Int32Array(cap));
    this.ask = g(this.ask, new Uint8Array(cap));
    this.key = g(this.key, new Float64Array(cap));
    this.size = g(this.size, new Float64Array(cap));
    this.zero = g(this.zero, new Uint8Array(cap));
  }

  /** Validates one entry (current entry, v1 change, or the v0 event itself) and appends it. */
  entry(e: Obj, id: unknown, ids: Map<string, number>): number {
    if (typeof id !== 'string') return C.badEvent;
    const p = e.price;
    if (!scanPrice(p)) return C.badDecimal;
    const k = decKey();
    const s = e.size;
    if (!scanDecimal(s)) return C.badDecimal;
    const sz = decValue();
    const zero = dec.mantissa === 0 ? 1 : 0;
    const side = e.side;
    let ask: number;
    if (side === 'BUY') ask = 0;
    else if (side === 'SELL') ask = 1;
    else return C.badEvent;
    const i = this.n;
    if (i === this.slot.length) this.grow();
    if (this.current) {
      this.bb[i] = e.best_bid;
      this.ba[i] = e.best_ask;
      const h = e.hash;
      this.hash[i] = typeof h === 'string' ? h : null;
    }
    this.slot[i] = ids.get(id) ?? -1;
    this.ask[i] = ask;
    this.key[i] = ask ? -k : k;
    this.size[i] = sz;
    this.zero[i] = zero;
    this.ptext[i] = p as string;
    this.stext[i] = s as string;
    this.n = i + 1;
    return 0;
  }
}

/** serverLevel() of a value that is neither "" nor a decimal (absent included). */
export const INVALID = -2;

/** Server best bid/ask: NO_LEVEL for "", the exact key of a decimal, INVALID otherwise (absent too). */
export function serverLevel(v: unknown): number {
  if (v === '') return NO_LEVEL;
  return scanDecimal(v) ? decKey() : INVALID;
}

/** Validates a `price_change` event in any of its three formats into `out`. */
export function validateDeltas(ev: Obj, ids: Map<string, number>, out: DeltaBatch): number {
  out.n = 0;
  const pcs = ev.price_changes;
  let r = 0;
  if (pcs !== undefined) {
    out.current = true;
    if (!Array.isArray(pcs)) return C.badEvent;
    for (let i = 0; i < pcs.length; i++) {
      const e = pcs[i];
      if (!isObject(e)) return C.badEvent;
      r = out.entry(e, e.asset_id, ids);
      if (r !== 0) return r;
    }
  } else {
    out.current = false;
    const id = ev.asset_id;
    if (typeof id !== 'string') return C.badEvent;
    const ch = ev.changes;
    if (ch !== undefined) {
      if (!Array.isArray(ch)) return C.badEvent;
      for (let i = 0; i < ch.length; i++) {
        const e = ch[i];
        if (!isObject(e)) return C.badEvent;
        r = out.entry(e, id, ids);
        if (r !== 0) return r;
      }
    } else {
      r = out.entry(ev, id, ids);
      if (r !== 0) return r;
    }
  }
  timestamp(ev.timestamp, out);
  return 0;
}

/**
 * Token ids a rejected event names (section 5, step 4): its `asset_id` if a string; for a
 * current-format `price_change`, the string `asset_id` of every object entry; for
 * `market_resolved`, the string elements of `assets_ids`.
 */
export function namedTokens(type: string, ev: Obj, out: string[]): void {
  out.length = 0;
  if (type === 'market_resolved') {
    const a = ev.assets_ids;
    if (Array.isArray(a)) for (let i = 0; i < a.length; i++) if (typeof a[i] === 'string') out.push(a[i]);
    return;
  }
  if (type === 'price_change' && ev.price_changes !== undefined) {
    const a = ev.price_changes;
    if (Array.isArray(a)) {
      for (let i = 0; i < a.length; i++) {
        const e = a[i];
        if (isObject(e) && typeof e.asset_id === 'string') out.push(e.asset_id);
      }
    }
    return;
  }
  if (typeof ev.asset_id === 'string') out.push(ev.asset_id);
}
