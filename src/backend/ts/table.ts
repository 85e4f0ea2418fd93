/**
 * Writer-side views over the shared table: the seqlock publish of a slot (docs/DESIGN.md
 * section 4), the counters and the connection confirmations.
 */
import {
  COUNTER_COUNT,
  H_CONFIRMED,
  H_COUNTERS,
  HEADER_BYTES,
  MARKET_BYTES,
  MAX_CONNECTIONS,
  S_ASK_LEVELS,
  S_BID_LEVELS,
  S_CONN,
  S_EXCH_TS,
  S_FLAGS,
  S_GEN,
  S_LAST_TRADE,
  S_LAST_TRADE_SIDE,
  S_LAST_TRADE_SIZE,
  S_LAST_TRADE_TS,
  S_LAST_UPDATE,
  S_LEVELS,
  S_MARKET,
  S_MARKET_LENGTH,
  S_MARKET_VERSION,
  S_MIN_ORDER_SIZE,
  S_NEG_RISK,
  S_NASKS,
  S_NBIDS,
  S_SEQ,
  S_SEQUENCE,
  S_TICK_SIZE,
  S_UPDATES,
  slotBytes,
  tableGeometry,
} from '../../table/layout.js';
import type { SlotState } from './slot-state.js';
import { DEPTH_CLEAN } from './side.js';

const I_SEQ = S_SEQ / 4;
const I_FLAGS = S_FLAGS / 4;
const I_NBIDS = S_NBIDS / 4;
const I_NASKS = S_NASKS / 4;
const I_CONN = S_CONN / 4;
const I_GEN = S_GEN / 4;
const D_LAST_UPDATE = S_LAST_UPDATE / 8;
const D_EXCH_TS = S_EXCH_TS / 8;
const D_SEQUENCE = S_SEQUENCE / 8;
const D_UPDATES = S_UPDATES / 8;
const D_TICK_SIZE = S_TICK_SIZE / 8;
const D_LAST_TRADE = S_LAST_TRADE / 8;
const D_BID_LEVELS = S_BID_LEVELS / 8;
const D_ASK_LEVELS = S_ASK_LEVELS / 8;
const D_LEVELS = S_LEVELS / 8;
const D_LAST_TRADE_SIZE = S_LAST_TRADE_SIZE / 8;
const D_LAST_TRADE_TS = S_LAST_TRADE_TS / 8;
const D_MIN_ORDER_SIZE = S_MIN_ORDER_SIZE / 8;
const I_LAST_TRADE_SIDE = S_LAST_TRADE_SIDE / 4;
const I_NEG_RISK = S_NEG_RISK / 4;
const I_MARKET_VERSION = S_MARKET_VERSION / 4;
const I_MARKET_LENGTH = S_MARKET_LENGTH / 4;

export class TableWriter {
  readonly capacity: number;
  readonly depth: number;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  /** Header counters (section 6), written in place. */
  readonly counters: Float64Array;
  /** Per-connection confirmation times. */
  readonly confirmed: Float64Array;
  /** Slot publications so far (the writer answers whether a call published). */
  publications = 0;
  private readonly stride: number;

  constructor(sab: ArrayBufferLike) {
    const { capacity, depth } = tableGeometry(sab);
    this.capacity = capacity;
    this.depth = depth;
    this.stride = slotBytes(depth);
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.u8 = new Uint8Array(sab);
    this.counters = new Float64Array(sab, H_COUNTERS, COUNTER_COUNT);
    this.confirmed = new Float64Array(sab, H_CONFIRMED, MAX_CONNECTIONS);
  }

  /** Byte offset of a slot. */
  base(slot: number): number {
    return HEADER_BYTES + slot * this.stride;
  }

  /** Loads the published fields of a slot into a fresh mirror (for a table written before). */
  load(st: SlotState): void {
    const b4 = this.base(st.slot) >> 2;
    const b8 = b4 >> 1;
    const seq = Atomics.load(this.i32, b4 + I_SEQ);
    st.seq = (seq + (seq & 1)) | 0;
    st.flags = this.i32[b4 + I_FLAGS];
    st.conn = this.i32[b4 + I_CONN];
    st.gen = this.i32[b4 + I_GEN];
    const f = this.f64;
    st.lastUpdate = f[b8 + D_LAST_UPDATE];
    st.exchTs = f[b8 + D_EXCH_TS];
    st.sequence = f[b8 + D_SEQUENCE];
    st.updates = f[b8 + D_UPDATES];
    st.tickSize = f[b8 + D_TICK_SIZE];
    st.lastTrade = f[b8 + D_LAST_TRADE];
    st.lastTradeSize = f[b8 + D_LAST_TRADE_SIZE];
    st.lastTradeTs = f[b8 + D_LAST_TRADE_TS];
    st.lastTradeSide = this.i32[b4 + I_LAST_TRADE_SIDE];
    st.minOrderValue = f[b8 + D_MIN_ORDER_SIZE];
    st.negRiskValue = this.i32[b4 + I_NEG_RISK];
    st.marketVersion = this.i32[b4 + I_MARKET_VERSION];
    const base = this.base(st.slot) + S_MARKET;
    const n = Math.min(Math.max(this.i32[b4 + I_MARKET_LENGTH], 0), MARKET_BYTES);
    st.marketText = String.fromCharCode(...this.u8.subarray(base, base + n));
  }

  /** Publishes the whole slot from its mirror: seq odd, plain stores, seq even. */
  publish(st: SlotState): void {
    this.publications++;
    const i32 = this.i32;
    const f = this.f64;
    const b4 = this.base(st.slot) >> 2;
    const b8 = b4 >> 1;
    const depth = this.depth;
    const seq = (st.seq + 1) | 0;
    Atomics.store(i32, b4 + I_SEQ, seq);

    const bids = st.bids;
    const asks = st.asks;
    const nb = bids.n < depth ? bids.n : depth;
    const na = asks.n < depth ? asks.n : depth;
    i32[b4 + I_FLAGS] = st.flags;
    i32[b4 + I_NBIDS] = nb;
    i32[b4 + I_NASKS] = na;
    i32[b4 + I_CONN] = st.conn;
    i32[b4 + I_GEN] = st.gen;
    f[b8 + D_LAST_UPDATE] = st.lastUpdate;
    f[b8 + D_EXCH_TS] = st.exchTs;
    f[b8 + D_SEQUENCE] = st.sequence;
    f[b8 + D_UPDATES] = st.updates;
    f[b8 + D_TICK_SIZE] = st.tickSize;
    f[b8 + D_LAST_TRADE] = st.lastTrade;
    f[b8 + D_BID_LEVELS] = bids.n;
    f[b8 + D_ASK_LEVELS] = asks.n;
    f[b8 + D_LAST_TRADE_SIZE] = st.lastTradeSize;
    f[b8 + D_LAST_TRADE_TS] = st.lastTradeTs;
    f[b8 + D_MIN_ORDER_SIZE] = st.minOrderValue;
    i32[b4 + I_LAST_TRADE_SIDE] = st.lastTradeSide;
    i32[b4 + I_NEG_RISK] = st.negRiskValue;
    if (i32[b4 + I_MARKET_VERSION] !== st.marketVersion) {
      // The text changes rarely (a slot's first book): written only then.
      const text = st.marketText;
      const m = this.base(st.slot) + S_MARKET;
      // The whole field, zeros after the text: the published bytes are the same on both writers.
      for (let k = 0; k < MARKET_BYTES; k++) this.u8[m + k] = k < text.length ? text.charCodeAt(k) : 0;
      i32[b4 + I_MARKET_LENGTH] = text.length;
      i32[b4 + I_MARKET_VERSION] = st.marketVersion;
    }

    // Best first: wire index n-1 downwards, from the shallowest changed position (positions
    // above it hold what the last publish wrote). Prices are |key| / 1e9 (see side.ts).
    let i = bids.dirty;
    let o = b8 + D_LEVELS + 2 * i;
    let keys = bids.keys;
    let sizes = bids.sizes;
    for (let w = bids.n - 1 - i; i < nb; i++, w--, o += 2) {
      f[o] = keys[w] / 1e9;
      f[o + 1] = sizes[w];
    }
    bids.dirty = DEPTH_CLEAN;
    i = asks.dirty;
    o = b8 + D_LEVELS + 2 * (depth + i);
    keys = asks.keys;
    sizes = asks.sizes;
    for (let w = asks.n - 1 - i; i < na; i++, w--, o += 2) {
      f[o] = -keys[w] / 1e9;
      f[o + 1] = sizes[w];
    }
    asks.dirty = DEPTH_CLEAN;

    const done = (seq + 1) | 0;
    Atomics.store(i32, b4 + I_SEQ, done);
    st.seq = done;
  }
}
