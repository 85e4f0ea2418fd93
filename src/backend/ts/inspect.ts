/**
 * Plain (non-seqlocked) views of a table for tests and diagnostics on a quiescent table:
 * the published fields of a slot, its published bytes, and the counters.
 */
import {
  COUNTERS,
  COUNTER_COUNT,
  H_CONFIRMED,
  H_COUNTERS,
  HEADER_BYTES,
  MARKET_BYTES,
  MAX_CONNECTIONS,
  S_ASK_LEVELS,
  S_BID_LEVELS,
  S_LAST_TRADE,
  S_LAST_TRADE_SIDE,
  S_LAST_TRADE_SIZE,
  S_LAST_TRADE_TS,
  S_LEVELS,
  S_MARKET,
  S_MARKET_LENGTH,
  S_MARKET_VERSION,
  S_MIN_ORDER_SIZE,
  S_NEG_RISK,
  S_TICK_SIZE,
  slotBytes,
  tableGeometry,
  type CounterName,
} from '../../table/layout.js';

export interface SlotSnapshot {
  seq: number;
  flags: number;
  nBids: number;
  nAsks: number;
  conn: number;
  gen: number;
  lastUpdate: number;
  exchTs: number;
  sequence: number;
  updates: number;
  tickSize: number;
  lastTrade: number;
  lastTradeSize: number;
  lastTradeTs: number;
  lastTradeSide: number;
  minOrderSize: number;
  negRisk: number;
  marketVersion: number;
  /** The market text ('' = none). */
  market: string;
  bidLevels: number;
  askLevels: number;
  /** Published levels, best first, `[price, size]`. */
  bids: [number, number][];
  asks: [number, number][];
}

function geometry(sab: ArrayBufferLike, slot: number) {
  const { depth } = tableGeometry(sab);
  return { depth, base: HEADER_BYTES + slot * slotBytes(depth) };
}

export function readSlot(sab: ArrayBufferLike, slot: number): SlotSnapshot {
  const { depth, base } = geometry(sab, slot);
  const i = new Int32Array(sab, base, S_LEVELS >> 2);
  const f = new Float64Array(sab, base, (S_LEVELS >> 3) + depth * 4);
  const nBids = Math.min(Math.max(i[2], 0), depth);
  const nAsks = Math.min(Math.max(i[3], 0), depth);
  const lv = (o: number, n: number) => {
    const out: [number, number][] = [];
    for (let k = 0; k < n; k++) out.push([f[o + 2 * k], f[o + 2 * k + 1]]);
    return out;
  };
  return {
    seq: i[0],
    flags: i[1],
    nBids: i[2],
    nAsks: i[3],
    conn: i[4],
    gen: i[5],
    lastUpdate: f[3],
    exchTs: f[4],
    sequence: f[5],
    updates: f[6],
    tickSize: f[S_TICK_SIZE >> 3],
    lastTrade: f[S_LAST_TRADE >> 3],
    lastTradeSize: f[S_LAST_TRADE_SIZE >> 3],
    lastTradeTs: f[S_LAST_TRADE_TS >> 3],
    lastTradeSide: i[S_LAST_TRADE_SIDE >> 2],
    minOrderSize: f[S_MIN_ORDER_SIZE >> 3],
    negRisk: i[S_NEG_RISK >> 2],
    marketVersion: i[S_MARKET_VERSION >> 2],
    market: String.fromCharCode(
      ...new Uint8Array(sab, base + S_MARKET, Math.min(Math.max(i[S_MARKET_LENGTH >> 2], 0), MARKET_BYTES)),
    ),
    bidLevels: f[S_BID_LEVELS >> 3],
    askLevels: f[S_ASK_LEVELS >> 3],
    bids: lv(S_LEVELS >> 3, nBids),
    asks: lv((S_LEVELS >> 3) + depth * 2, nAsks),
  };
}

/**
 * The bytes a reader may read from a slot: the slot header (S_LEVELS bytes), then the published bid
 * levels and the published ask levels (unused level entries are not part of it).
 */
export function publishedBytes(sab: ArrayBufferLike, slot: number): Uint8Array {
  const { depth, base } = geometry(sab, slot);
  const i = new Int32Array(sab, base, 4);
  const nb = Math.min(Math.max(i[2], 0), depth);
  const na = Math.min(Math.max(i[3], 0), depth);
  const u = new Uint8Array(sab);
  const out = new Uint8Array(S_LEVELS + (nb + na) * 16);
  out.set(u.subarray(base, base + S_LEVELS), 0);
  out.set(u.subarray(base + S_LEVELS, base + S_LEVELS + nb * 16), S_LEVELS);
  const asks = base + S_LEVELS + depth * 16;
  out.set(u.subarray(asks, asks + na * 16), S_LEVELS + nb * 16);
  return out;
}

export function readCounters(sab: ArrayBufferLike): Record<CounterName, number> {
  const c = new Float64Array(sab, H_COUNTERS, COUNTER_COUNT);
  return Object.fromEntries(COUNTERS.map((n, k) => [n, c[k]])) as Record<CounterName, number>;
}

/** Counters and confirmations region of the header, as bytes. */
export function headerStateBytes(sab: ArrayBufferLike): Uint8Array {
  return new Uint8Array(sab, H_COUNTERS, H_CONFIRMED + MAX_CONNECTIONS * 8 - H_COUNTERS).slice();
}
