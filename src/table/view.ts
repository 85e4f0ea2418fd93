/**
 * The read path: lock-free views over the shared book table (docs/DESIGN.md sections 2-4).
 * One implementation serves both backends, on any thread. No N-API call, no lock, and no
 * allocation on the handle paths (top of book and depth reads).
 */
import {
  F_CROSSED,
  F_DISABLED,
  F_DIVERGED,
  F_HAS_BOOK,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  HEADER_BYTES,
  H_CLOCK,
  H_CONFIRMED,
  MARKET_BYTES,
  NEG_RISK_NO,
  NEG_RISK_YES,
  S_EXCH_TS,
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
  S_SEQUENCE,
  S_TICK_SIZE,
  S_UPDATES,
  SIDE_BUY,
  SIDE_SELL,
  slotBytes,
  tableGeometry,
} from './layout.js';
import { ReadCounters, Miss, MISS_NAMES, type MissName } from './metrics.js';
import { PolybookError } from '../errors.js';
import { tickSizeText, type TickSize } from '../protocol/tick.js';

/** One price level, best first in a {@link Book}. */
export interface Level {
  /** Price, 0 to 1. */
  readonly price: number;
  /** Size (shares) at this price. */
  readonly size: number;
}

/**
 * A served book. Owned by the store: it is reused while the book does not change (only `ageMs` is
 * refreshed), and a change gives a new Book, so a book you keep stays as it was. Books of
 * successive versions share their unchanged Level objects and level arrays: treat all of it as
 * read-only.
 */
export interface Book {
  /** The token. */
  readonly tokenId: string;
  /** Best (highest) first, at most `maxDepth` levels. */
  readonly bids: readonly Level[];
  /** Best (lowest) first, at most `maxDepth` levels. */
  readonly asks: readonly Level[];
  /** Best (highest) bid price, null when no bids. */
  readonly bestBid: number | null;
  /** Best (lowest) ask price, null when no asks. */
  readonly bestAsk: number | null;
  /** Exchange timestamp (epoch ms) of the last applied book or change, or null. */
  readonly timestamp: number | null;
  /** Time since the feed last confirmed this book current, at the time of the read (ms). */
  ageMs: number;
  /** The store's own sequence for this token: +1 per applied frame that changed it. */
  readonly sequence: number;
  /** Tick size, null before the first book that states it. A `tick_size_change` updates it at once. */
  readonly tickSize: number | null;
  /**
   * The tick size as the exchange writes it (`"0.01"`): the `tickSize` option of clob-client's
   * `createOrder`. Null when the tick size is unknown or not one of the exchange's (`TICK_SIZES`).
   */
  readonly tickSizeText: TickSize | null;
  /** Minimum order size in shares, null until known (from discovery or a REST book). */
  readonly minOrderSize: number | null;
  /** Whether the market is neg-risk (its orders go to the neg-risk exchange), null until known (as `minOrderSize`). */
  readonly negRisk: boolean | null;
  /** The market (condition id) the last book named, null when it named none. */
  readonly market: string | null;
  /** The last trade of the token, null before one is known. */
  readonly lastTrade: LastTrade | null;
}

/** The last trade of a token, from `last_trade_price` events (a book states the price only). */
export interface LastTrade {
  /** Price, 0 to 1. */
  readonly price: number;
  /** Size (shares), null when not known (older events, or a book that moved the price). */
  readonly size: number | null;
  /** The taker's side, null when not known. */
  readonly side: TradeSide | null;
  /** Exchange timestamp (epoch ms), null when not known. */
  readonly timestamp: number | null;
}

/** The taker's side of a trade: `BUY` took an ask, `SELL` hit a bid. */
export type TradeSide = 'BUY' | 'SELL';

/** The taker side of a `SIDE_*` value of the slot, null when unknown. */
function tradeSide(v: number): TradeSide | null {
  return v === SIDE_BUY ? 'BUY' : v === SIDE_SELL ? 'SELL' : null;
}

/** The neg-risk flag of a `NEG_RISK_*` value of the slot, null when unknown. */
function negRiskOf(v: number): boolean | null {
  return v === NEG_RISK_YES ? true : v === NEG_RISK_NO ? false : null;
}

/** A finite value of the slot, or null for NaN (unknown). */
function known(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

/** Whether loads are ordered with older loads (x86 TSO), so the seqlock re-check can be a plain load. */
const TSO = process.arch === 'x64' || process.arch === 'ia32';

/**
 * The seqlock re-check of docs/DESIGN.md section 4: whether the slot whose `seq` word is at i32
 * index `b` still has the version `v` read before the data loads made since. On x86 an
 * `Atomics.load` (a plain load) is enough; elsewhere (ARM64) `Atomics.or(seq, 0)`, a
 * read-modify-write, orders the earlier loads before it. Small enough to be inlined where called.
 */
function unchanged(i32: Int32Array, b: number, v: number): boolean {
  return TSO ? Atomics.load(i32, b) === v : Atomics.or(i32, b, 0) === v;
}

const SERVABLE = F_SUBSCRIBED | F_READY | F_DISABLED | F_SETTLED | F_MISMATCH;
const SERVED = F_SUBSCRIBED | F_READY;
const EMPTY: readonly Level[] = Object.freeze([]);
/** Level storage of a handle of a token not in the table: never indexed (its depths stay 0). */
const NO_LEVELS = new Float64Array(0);
/**
 * NaN as a loaded double. `cond ? f64[i] : NaN` (a loaded double or the NaN constant) makes the
 * optimising compiler box the double into a new 16-byte heap number on every evaluation; with
 * `NAN[0]` both arms are float64 loads and nothing is allocated (checked by the allocation
 * benchmark and test/depth.test.ts).
 */
const NAN = new Float64Array([Number.NaN]);
/**
 * The time of a read: the table's coarse clock when `clock` is null, else `clock()`. `+clock()`
 * types the call's result as a number, so the conditional stays a float64: with a bare `clock()`
 * (of unknown type) it became a tagged value as soon as any store of the process had called a
 * clock function there, and the coarse clock's double was then boxed into a new heap number on
 * every read.
 */
export function readTime(f64: Float64Array, clock: (() => number) | null): number {
  return clock === null ? f64[CLOCK_F64] : +clock();
}

/*
 * Word indexes used on the hot paths, as local literals: an imported binding is a cell load with a
 * hole check in optimised code, and `H_CLOCK / 8` a division with a divisibility check, on every
 * call (seen with --print-opt-code). Checked against layout.ts once, at module load.
 */
/** f64 index of the coarse clock in the header. */
const CLOCK_F64 = 3;
/** f64 index of `confirmed[0]` in the header. */
const CONFIRMED_F64 = 68;
/** i32 index of slot 0. */
const SLOTS_I32 = 1024;
if (CLOCK_F64 * 8 !== H_CLOCK || CONFIRMED_F64 * 8 !== H_CONFIRMED || SLOTS_I32 * 4 !== HEADER_BYTES) {
  throw new PolybookError('POLYBOOK_INTERNAL', 'polybook: view.ts word indexes disagree with layout.ts');
}

/** Why a slot state cannot be served, in the order of docs/DESIGN.md section 3. */
export function missReason(flags: number): Miss {
  if ((flags & F_SUBSCRIBED) === 0) return Miss.notSubscribed;
  if (flags & F_DISABLED) return Miss.disabled;
  if (flags & F_SETTLED) return Miss.settled;
  if ((flags & F_CROSSED) !== 0 && (flags & F_READY) === 0) return Miss.crossed;
  if ((flags & F_DIVERGED) !== 0 && (flags & F_READY) === 0) return Miss.diverged;
  if ((flags & F_HAS_BOOK) === 0) return Miss.neverSeen;
  if ((flags & F_READY) === 0) return Miss.notReady;
  return Miss.mismatch;
}

/** Where a token lives in the table of a restarted server (see {@link TableReader.relocate}). */
export interface Relocation {
  /** The reader of the new table. */
  readonly reader: TableReader;
  /** The token's slot there, -1 when it is not in it. */
  readonly slot: number;
  /** The slot's binding generation. */
  readonly gen: number;
}

/**
 * The miss to count for `reason` given the table's clock word (or its sum with the read's time:
 * NaN when either is): `server_down` while an attached table's heartbeat is down (NaN;
 * docs/SERVER.md). In a table of one process the clock is never NaN.
 */
function downOr(reason: number, clock: number): Miss {
  return (Number.isNaN(clock) ? Miss.serverDown : reason) as Miss;
}

/**
 * What a read of a slot with an odd `seq` (a write in progress) does: retry (-1), unless the
 * table's clock is NaN (an attached table whose server is down): a server killed in the middle of
 * a write left the slot odd for good, and a retry would spin forever; it misses `server_down`.
 */
function oddSlot(f64: Float64Array): number {
  return Number.isNaN(f64[CLOCK_F64]) ? Miss.serverDown : -1;
}

/**
 * A consistent copy of a slot's header fields (docs/DESIGN.md section 2), filled by
 * {@link SlotReader.header} for cold paths (diagnostics, watch, sweeps). @internal
 */
export class SlotHeader {
  /** The slot's seqlock version (even) the fields were read at. */
  version = 0;
  flags = 0;
  nBids = 0;
  nAsks = 0;
  conn = 0;
  gen = 0;
  lastUpdate = 0;
  exchTs = Number.NaN;
  sequence = 0;
  updates = 0;
  tickSize = Number.NaN;
  lastTrade = Number.NaN;
}

/**
 * Slot-level reads of one table, on any thread: geometry, the header words, and the seqlock read
 * of a slot's fields for cold paths ({@link SlotReader.header}). The hot paths ({@link TableReader},
 * {@link BookHandle}) validate with the same re-check, inline.
 */
export class SlotReader {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly depth: number;
  readonly capacity: number;
  /** Slot stride in 32-bit words. */
  protected readonly stride32: number;

  constructor(readonly sab: ArrayBufferLike) {
    const { capacity, depth } = tableGeometry(sab);
    this.capacity = capacity;
    this.depth = depth;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.stride32 = slotBytes(depth) / 4;
  }

  /** Base index of a slot in 32-bit words. */
  base32(slot: number): number {
    return SLOTS_I32 + slot * this.stride32;
  }

  /** The coarse clock in the header (ms), 0 if no ticker runs. */
  clock(): number {
    return this.f64[CLOCK_F64];
  }

  /** Confirmation time of a connection (ms). */
  confirmed(conn: number): number {
    return this.f64[CONFIRMED_F64 + conn];
  }

  /** The flags of a slot: one aligned word, never torn by itself (no seqlock needed for it alone). */
  flags(slot: number): number {
    return this.i32[SLOTS_I32 + slot * this.stride32 + 1];
  }

  /**
   * Copies the header fields of `slot` into `out` from one version (the seqlock read of
   * docs/DESIGN.md section 4, retried while the writer is publishing; a publish takes
   * microseconds) and returns `out`. For cold paths: the hot paths keep their own inline copy.
   * A slot a dead server left in the middle of a write (odd, with the clock NaN) is read as it
   * is, not ready, with the version before the write.
   */
  header(slot: number, out: SlotHeader): SlotHeader {
    const i32 = this.i32;
    const f64 = this.f64;
    const b = SLOTS_I32 + slot * this.stride32;
    const f = b >> 1;
    for (;;) {
      const v = Atomics.load(i32, b);
      const abandoned = (v & 1) === 1 && Number.isNaN(f64[CLOCK_F64]);
      if (v & 1 && !abandoned) continue;
      out.flags = i32[b + 1];
      out.nBids = i32[b + 2];
      out.nAsks = i32[b + 3];
      out.conn = i32[b + 4];
      out.gen = i32[b + 5];
      out.lastUpdate = f64[f + S_LAST_UPDATE / 8];
      out.exchTs = f64[f + S_EXCH_TS / 8];
      out.sequence = f64[f + S_SEQUENCE / 8];
      out.updates = f64[f + S_UPDATES / 8];
      out.tickSize = f64[f + S_TICK_SIZE / 8];
      out.lastTrade = f64[f + S_LAST_TRADE / 8];
      if (abandoned) {
        out.flags &= ~F_READY;
        out.version = v - 1;
        return out;
      }
      if (unchanged(i32, b, v)) {
        out.version = v;
        return out;
      }
    }
  }
}

/**
 * Reader over one table. Keeps, per slot, the version of the last validated read and what it
 * read, so an unchanged book costs one atomic load and a comparison.
 *
 * A table attached from a book server (docs/SERVER.md): its clock word is the server's heartbeat,
 * NaN once the server is known to be down. A NaN clock makes every staleness check fail (the
 * checks are written `!(age <= maxStaleMs)`), and a miss while the table's clock is NaN is counted
 * as `server_down`.
 */
export class TableReader extends SlotReader {
  /**
   * Per slot: seq of the cached book (-1 = none), the binding generation it was validated for,
   * the cached book, its lastUpdate, and the f64 index of its connection's `confirmed` word.
   */
  private readonly bookVersion: Int32Array;
  private readonly bookGen: Int32Array;
  private readonly books: (Book | undefined)[];
  private readonly bookLastUpdate: Float64Array;
  private readonly bookConfIdx: Int32Array;
  /** Per slot, made on first use: a view of its level area, the source of handles' copies. */
  private readonly levelViews: (Float64Array | undefined)[];
  /**
   * Per slot: the market text version last validated and its text (texts change rarely: a decode
   * reads the bytes only when the version moved). Kept apart from the cached books (`forget`).
   */
  private readonly marketVersion: Int32Array;
  private readonly marketText: (string | null)[];
  /** The market version the last `decode` saw. */
  private decodedMarketVersion = 0;
  readonly counters: ReadCounters;
  /**
   * Attached tables only: where a token lives now, once the server that wrote this table was
   * replaced by a restarted one; null while it was not (or for a table of one process). Called
   * on misses while the clock is NaN. @internal
   */
  relocate: ((tokenId: string) => Relocation | null) | null = null;

  /** @param counters the read counters to count into (an attached store keeps its own across server restarts). */
  constructor(sab: ArrayBufferLike, counters: ReadCounters = new ReadCounters()) {
    super(sab);
    this.counters = counters;
    const capacity = this.capacity;
    this.bookVersion = new Int32Array(capacity).fill(-1);
    this.bookGen = new Int32Array(capacity);
    this.books = new Array(capacity).fill(undefined);
    this.bookLastUpdate = new Float64Array(capacity);
    this.bookConfIdx = new Int32Array(capacity).fill(CONFIRMED_F64);
    this.levelViews = new Array(capacity).fill(undefined);
    // Version 0 is a slot that never had a market text.
    this.marketVersion = new Int32Array(capacity);
    this.marketText = new Array(capacity).fill(null);
  }

  /**
   * A view of the level area of `slot` (both sides, `4 * depth` doubles), shared by the handles of
   * the slot: they copy it with one `set` (a memcpy). @internal
   */
  levelView(slot: number): Float64Array {
    let v = this.levelViews[slot];
    if (v === undefined) {
      v = new Float64Array(this.sab, 8 * ((this.base32(slot) >> 1) + S_LEVELS / 8), 4 * this.depth);
      this.levelViews[slot] = v;
    }
    return v;
  }

  /**
   * Drops the cached book of a slot, so the next read decodes it again from scratch, as after a
   * change of every level (benchmarks). @internal
   */
  forget(slot: number): void {
    this.bookVersion[slot] = -1;
    this.books[slot] = undefined;
  }

  /**
   * Reads the book in `slot` if it may be served under `maxStaleMs` at time `now`; else counts the
   * miss and returns null.
   *
   * Fast path (the book did not change since the last validated read for this binding generation):
   * one atomic load of `seq`, then only this reader's own cache and the `confirmed` word.
   */
  read(slot: number, gen: number, tokenId: string, maxStaleMs: number, now: number): Book | null {
    for (;;) {
      const v1 = Atomics.load(this.i32, SLOTS_I32 + slot * this.stride32);
      if (v1 === this.bookVersion[slot] && gen === this.bookGen[slot]) {
        // Unchanged since the last validated read of this binding: flags were servable then.
        const conf = this.f64[this.bookConfIdx[slot]];
        const lu = this.bookLastUpdate[slot];
        let age = now - (conf > lu ? conf : lu);
        // Clamp to +0 computed as a double (see BookHandle.top).
        if (age < 0) age = now - now;
        // Negated: a NaN age (the clock of a server known to be down) is a miss too.
        if (!(age <= maxStaleMs)) return this.counters.miss(downOr(Miss.stale, this.f64[CLOCK_F64] + now));
        const book = this.books[slot] as Book;
        book.ageMs = age;
        this.counters.hit(age);
        return book;
      }
      const miss = this.refresh(slot, gen, tokenId, v1);
      if (miss >= 0) return this.counters.miss(downOr(miss, this.f64[CLOCK_F64] + now));
    }
  }

  /**
   * Slow path of {@link read}: validates the slot and caches its book. Returns -1 when the cache
   * now holds a validated version (or the slot was being written: try again), else the miss reason.
   */
  private refresh(slot: number, gen: number, tokenId: string, v1: number): number {
    if (v1 & 1) return oddSlot(this.f64);
    const i32 = this.i32;
    const b = SLOTS_I32 + slot * this.stride32;
    const flags = i32[b + 1];
    const g = i32[b + 5];
    if ((flags & SERVABLE) !== SERVED || g !== gen) {
      if (!unchanged(i32, b, v1)) return -1;
      return g !== gen ? Miss.notSubscribed : missReason(flags);
    }
    const book = this.decode(b, slot, tokenId, this.books[slot]);
    const conn = i32[b + 4];
    const lu = this.f64[(b >> 1) + S_LAST_UPDATE / 8];
    if (!unchanged(i32, b, v1)) return -1;
    this.marketVersion[slot] = this.decodedMarketVersion;
    this.marketText[slot] = book.market;
    this.bookVersion[slot] = v1;
    this.bookGen[slot] = gen;
    this.books[slot] = book;
    this.bookLastUpdate[slot] = lu;
    // conn is 0..255 by the layout; a torn value cannot get here (the seq check passed).
    this.bookConfIdx[slot] = CONFIRMED_F64 + (conn & 255);
    // The caller loops once more through the fast path to apply the staleness check and count.
    return -1;
  }

  /**
   * Builds the Book of the slot at `b`. Levels are immutable values: every level equal (price and
   * size) to a level of `prev` (the previous book of the slot) reuses its Level object, found by a
   * merge walk over both price-ordered lists (so a level that only moved position after an insert
   * or a removal above it is reused too), and a side whose levels all equal the previous ones reuses
   * its array. A typical change touches one or two levels of one side: a decode then allocates the
   * changed levels, one array and the Book instead of every level and both arrays.
   */
  private decode(b: number, slot: number, tokenId: string, prev: Book | undefined): Book {
    const f64 = this.f64;
    const i32 = this.i32;
    const depth = this.depth;
    const f = b >> 1;
    let nb = i32[b + 2];
    let na = i32[b + 3];
    // A torn read can show any count; clamp so the loop stays in bounds (the seq check discards it).
    nb = nb < 0 ? 0 : nb > depth ? depth : nb;
    na = na < 0 ? 0 : na > depth ? depth : na;
    const lv = f + S_LEVELS / 8;
    const bids = side(f64, lv, nb, prev === undefined ? EMPTY : prev.bids, true);
    const asks = side(f64, lv + depth * 2, na, prev === undefined ? EMPTY : prev.asks, false);
    const ts = f64[f + S_EXCH_TS / 8];
    const tick = f64[f + S_TICK_SIZE / 8];
    const mv = i32[b + S_MARKET_VERSION / 4];
    this.decodedMarketVersion = mv;
    return {
      tokenId,
      bids,
      asks,
      bestBid: nb > 0 ? bids[0].price : null,
      bestAsk: na > 0 ? asks[0].price : null,
      timestamp: known(ts),
      // -0 is a heap number: the field starts with the double representation the reads store.
      ageMs: -0,
      sequence: f64[f + S_SEQUENCE / 8],
      tickSize: known(tick),
      tickSizeText: tickSizeText(tick),
      minOrderSize: known(f64[f + S_MIN_ORDER_SIZE / 8]),
      negRisk: negRiskOf(i32[b + S_NEG_RISK / 4]),
      market: mv === this.marketVersion[slot] ? this.marketText[slot] : this.readMarket(b),
      lastTrade: this.lastTrade(b, prev === undefined ? null : prev.lastTrade),
    };
  }

  /** The market text of the slot at `b`, null when it has none. */
  private readMarket(b: number): string | null {
    let n = this.i32[b + S_MARKET_LENGTH / 4];
    // A torn read can show any length (the seq check discards the result).
    n = n < 0 ? 0 : n > MARKET_BYTES ? MARKET_BYTES : n;
    if (n === 0) return null;
    const u8 = new Uint8Array(this.sab, b * 4 + S_MARKET, n);
    return String.fromCharCode.apply(null, u8 as unknown as number[]);
  }

  /** The last trade of the slot at `b`; `prev` (the previous book's) when equal. */
  private lastTrade(b: number, prev: LastTrade | null): LastTrade | null {
    const f = b >> 1;
    const price = this.f64[f + S_LAST_TRADE / 8];
    if (Number.isNaN(price)) return null;
    const size = known(this.f64[f + S_LAST_TRADE_SIZE / 8]);
    const timestamp = known(this.f64[f + S_LAST_TRADE_TS / 8]);
    const side = tradeSide(this.i32[b + S_LAST_TRADE_SIDE / 4]);
    if (
      prev !== null &&
      prev.price === price &&
      prev.size === size &&
      prev.side === side &&
      prev.timestamp === timestamp
    )
      return prev;
    return { price, size, side, timestamp };
  }
}

/**
 * The `n` levels (price, size pairs from f64 index `at`) of one side as Level objects, reusing the
 * objects of `prev` (the same side of the previous book) for equal levels, and `prev` itself when
 * every level is equal. `bids`: the side's prices descend (else ascend).
 */
function side(f64: Float64Array, at: number, n: number, prev: readonly Level[], bids: boolean): readonly Level[] {
  if (n === 0) return EMPTY;
  const pn = prev.length;
  if (pn === 0) {
    // No previous levels (a first read, or after an empty side): all new.
    const fresh: Level[] = new Array(n);
    for (let i = 0; i < n; i++) fresh[i] = { price: f64[at + 2 * i], size: f64[at + 2 * i + 1] };
    return fresh;
  }
  // The levels before the first change are the previous ones at the same positions.
  const m = n < pn ? n : pn;
  let i = 0;
  while (i < m) {
    const o = prev[i];
    if (o.price !== f64[at + 2 * i] || o.size !== f64[at + 2 * i + 1]) break;
    i++;
  }
  if (i === n && n === pn) return prev;
  const out: Level[] = new Array(n);
  for (let k = 0; k < i; k++) out[k] = prev[k];
  // From there, a merge walk: skip the previous levels that sort before each price (removed, or
  // moved below `n`), so levels that only moved position after an insert or a removal are reused.
  // A new Level takes its values from the table, not from the `price` local: with the local in the
  // object literal, the loop reoptimised after its first insert boxed it (a heap number per level).
  let j = i;
  for (; i < n; i++) {
    const k = at + 2 * i;
    const price = f64[k];
    let o = j < pn ? prev[j] : undefined;
    if (o !== undefined && o.price !== price) {
      if (bids) while (o !== undefined && o.price > price) o = ++j < pn ? prev[j] : undefined;
      else while (o !== undefined && o.price < price) o = ++j < pn ? prev[j] : undefined;
    }
    if (o !== undefined && o.price === price) {
      out[i] = o.size === f64[k + 1] ? o : { price: f64[k], size: f64[k + 1] };
      j++;
    } else out[i] = { price: f64[k], size: f64[k + 1] };
  }
  return out;
}

/**
 * A pre-resolved token for hot loops, reading into its own fields with no allocation:
 * - `top()` reads the best bid and ask (`bidPrice`, `bidSize`, `askPrice`, `askSize`);
 * - `book()` reads every published level (at most `maxDepth` per side) into the handle's own
 *   typed array, then `bidDepth`, `askDepth` and `bidPriceAt(i)`, `bidSizeAt(i)`, `askPriceAt(i)`,
 *   `askSizeAt(i)` (i = 0 is the best level) give them, all from that one validated version.
 *
 * Both are served under the same rules, miss reasons and counters as `get`. Check the return
 * value before using the fields.
 *
 * ```ts
 * const h = store.handle(tokenId);
 * if (h.top(Staleness.latencyArb)) quote(h.bidPrice, h.askPrice);
 * if (h.book(Staleness.latencyArb)) {
 *   for (let i = 0; i < h.bidDepth; i++) bidQty += h.bidSizeAt(i);
 * }
 * ```
 */
export class BookHandle {
  /** Best bid price and size, NaN when the bid side is empty. Valid after `top()` or `book()` returned true. */
  bidPrice = NaN;
  /** Size at the best bid, NaN when the bid side is empty. */
  bidSize = NaN;
  /** Best ask price and size, NaN when the ask side is empty. */
  askPrice = NaN;
  /** Size at the best ask, NaN when the ask side is empty. */
  askSize = NaN;
  /** Age of the book at the last successful `top()` or `book()`, ms. */
  ageMs = NaN;
  /**
   * The store's sequence of the book last read (+1 per frame that changed it): a strategy that acts
   * on changes compares it with the one it saw last. NaN before the first successful read.
   */
  sequence = NaN;
  /** Exchange timestamp (epoch ms) of the last applied book or change of the book last read, NaN if none. */
  timestamp = NaN;
  /**
   * Number of bid levels read by the last `book()`: up to `maxDepth` after it returned true, 0
   * after it returned false (so a loop to `bidDepth` reads nothing from a book that was not served).
   */
  bidDepth = 0;
  /** Number of ask levels read by the last `book()` (0 after it returned false). */
  askDepth = 0;
  /** Tick size, NaN when unknown. Valid after `top()` returned true; a `tick_size_change` shows at the next `top()`. */
  tickSize = NaN;
  /** The tick size as the exchange writes it (clob-client's `tickSize` option), null when unknown (see {@link Book.tickSizeText}). */
  tickSizeText: TickSize | null = null;
  /** Minimum order size in shares, NaN until known (from discovery or a REST book). */
  minOrderSize = NaN;
  /** Whether the market is neg-risk, null until known. */
  negRisk: boolean | null = null;
  /** Price of the last trade, NaN when none is known. Valid after `top()` returned true. */
  lastTradePrice = NaN;
  /** Size of the last trade (shares), NaN when not known. */
  lastTradeSize = NaN;
  /** The last trade's taker side, null when not known. */
  lastTradeSide: TradeSide | null = null;
  /** Exchange timestamp of the last trade (epoch ms), NaN when not known. */
  lastTradeTimestamp = NaN;
  /** Why the last `top()` or `book()` returned false (`'stale'`, `'not_ready'`, ...), or null after a hit. */
  missReason: MissName | null = null;
  /** seq of the last validated read; -1 = none (never equal to an even seq). */
  private version = -1;
  /** seq of the version whose levels `lv` holds, -1 = none (also while `lv` is being overwritten). */
  private levelsVersion = -1;
  /**
   * The levels of `levelsVersion`: bids from 0 and asks from `askAt`, (price, size) pairs, best
   * first. Allocated with the handle (`4 * maxDepth` doubles, 640 bytes at depth 20), so that no
   * read allocates, not even the first `book()`.
   */
  private lv: Float64Array;
  /** The slot's level area in the table (TableReader.levelView), the source of the copy. */
  private src: Float64Array;
  private askAt: number;
  private lastUpdate = NaN;
  /** f64 index of `confirmed[conn]` of the last validated read. */
  private confIdx = CONFIRMED_F64;
  /** Slot base in i32 words (0 when unsubscribed: never read on the fast path, version stays -1). */
  private b: number;
  private i32: Int32Array;
  private f64: Float64Array;
  private readonly counters: ReadCounters;
  /** The clock to call, or null for the table's coarse clock (read inline: no call). */
  private readonly clockFn: (() => number) | null;

  /** @internal */
  constructor(
    private reader: TableReader,
    /** The token this handle reads. */
    readonly tokenId: string,
    /** @internal Its slot in the table (-1 when it was not subscribed). */
    public slot: number,
    private gen: number,
    clock: (() => number) | 'coarse',
  ) {
    this.b = slot < 0 ? 0 : reader.base32(slot);
    this.i32 = reader.i32;
    this.f64 = reader.f64;
    this.counters = reader.counters;
    this.clockFn = clock === 'coarse' ? null : clock;
    this.askAt = 2 * reader.depth;
    this.lv = slot < 0 ? NO_LEVELS : new Float64Array(4 * reader.depth);
    this.src = slot < 0 ? NO_LEVELS : reader.levelView(slot);
  }

  /**
   * Refreshes the top of book if it may be served under `maxStaleMs`. Returns false (and counts
   * the miss) when the book is not ready, stale, crossed, disabled or no longer subscribed.
   *
   * Fast path (unchanged since the last validated read): one atomic load of `seq` first (so
   * nothing is held across that builtin call), the clock, `confirmed[conn]`, and the counters.
   */
  top(maxStaleMs: number): boolean {
    for (;;) {
      const v1 = Atomics.load(this.i32, this.b);
      if (v1 === this.version) {
        if (this.serve(maxStaleMs)) return true;
        if (this.relocated()) continue;
        return this.fail(this.counters.missReason(downOr(Miss.stale, this.f64[CLOCK_F64])));
      }
      const miss = this.refresh(v1);
      if (miss >= 0) {
        if (this.relocated()) continue;
        return this.fail(this.counters.missReason(downOr(miss, this.f64[CLOCK_F64])));
      }
    }
  }

  /**
   * Reads the whole published book (at most `maxDepth` levels per side) if it may be served under
   * `maxStaleMs`: same rules, miss reasons and counters as `get` and `top()`. After true,
   * {@link BookHandle.bidDepth}, {@link BookHandle.askDepth} and the `…At(i)` getters give the
   * levels, and the top-of-book fields the best ones, all from the one version this call
   * validated: a change published while you read them does not show until the next `book()`.
   * After false, both depths are 0.
   *
   * Allocation-free. Unchanged book: the cost of `top()`. Changed book: one seqlock-validated copy
   * of its levels into the handle's own typed array (made once per change).
   */
  book(maxStaleMs: number): boolean {
    for (;;) {
      const v1 = Atomics.load(this.i32, this.b);
      if (v1 === this.levelsVersion) {
        if (this.serve(maxStaleMs)) return true;
        if (this.relocated()) continue;
        this.fail(this.counters.missReason(downOr(Miss.stale, this.f64[CLOCK_F64])));
        return this.dropLevels();
      }
      const miss = this.refreshLevels(v1);
      if (miss >= 0) {
        if (this.relocated()) continue;
        this.fail(this.counters.missReason(downOr(miss, this.f64[CLOCK_F64])));
        return this.dropLevels();
      }
    }
  }

  /** Price of bid level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `bidDepth`. */
  bidPriceAt(i: number): number {
    return i >= 0 && i < this.bidDepth && (i | 0) === i ? this.lv[2 * i] : NAN[0];
  }

  /** Size of bid level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `bidDepth`. */
  bidSizeAt(i: number): number {
    return i >= 0 && i < this.bidDepth && (i | 0) === i ? this.lv[2 * i + 1] : NAN[0];
  }

  /** Price of ask level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `askDepth`. */
  askPriceAt(i: number): number {
    return i >= 0 && i < this.askDepth && (i | 0) === i ? this.lv[this.askAt + 2 * i] : NAN[0];
  }

  /** Size of ask level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `askDepth`. */
  askSizeAt(i: number): number {
    return i >= 0 && i < this.askDepth && (i | 0) === i ? this.lv[this.askAt + 2 * i + 1] : NAN[0];
  }

  /**
   * The staleness check and hit counters of a validated, unchanged version (the fast path of
   * `top()` and `book()`): the clock, `confirmed[conn]`, the age arithmetic. False on a miss,
   * which the caller counts (it may first move to a restarted server's table).
   */
  private serve(maxStaleMs: number): boolean {
    const f64 = this.f64;
    const now = readTime(f64, this.clockFn);
    const conf = f64[this.confIdx];
    const lu = this.lastUpdate;
    let age = now - (conf > lu ? conf : lu);
    // The coarse clock can trail a write made a moment ago by up to one tick: clamp to +0.
    // `now - now` rather than the literal 0: a Smi here would teach the optimising compiler
    // that ages are small integers (right after a write, while the clock trails), and the
    // first fractional age would then deoptimise the read (and its callers' loops).
    if (age < 0) age = now - now;
    // Negated: a NaN age (the clock of a server known to be down) is a miss too.
    if (!(age <= maxStaleMs)) return false;
    this.ageMs = age;
    this.missReason = null;
    this.counters.hit(age);
    return true;
  }

  /**
   * Attached tables, while the server is down: moves the handle to the table of the restarted
   * server when there is one (the token's slot there, read from the beginning). Returns whether
   * it moved; false at once while the table's clock is not NaN (every table of one process).
   */
  private relocated(): boolean {
    if (!Number.isNaN(this.f64[CLOCK_F64])) return false;
    const to = this.reader.relocate?.(this.tokenId);
    if (!to || to.reader === this.reader) return false;
    const r = to.reader;
    this.reader = to.reader;
    this.slot = to.slot;
    this.gen = to.gen;
    this.b = to.slot < 0 ? 0 : r.base32(to.slot);
    this.i32 = r.i32;
    this.f64 = r.f64;
    this.version = -1;
    this.confIdx = CONFIRMED_F64;
    this.askAt = 2 * r.depth;
    this.lv = to.slot < 0 ? NO_LEVELS : new Float64Array(4 * r.depth);
    this.src = to.slot < 0 ? NO_LEVELS : r.levelView(to.slot);
    this.dropLevels();
    return true;
  }

  /**
   * Slow path of {@link top}: a seqlock read of the slot's top of book into the handle. Returns -1
   * when the handle now holds a validated version (or the slot was being written: try again),
   * else the miss reason.
   */
  private refresh(v1: number): number {
    if (this.slot < 0) return Miss.notSubscribed;
    if (v1 & 1) return oddSlot(this.f64);
    const i32 = this.i32;
    const f64 = this.f64;
    const b = this.b;
    const f = b >> 1;
    const flags = i32[b + 1];
    const gen = i32[b + 5];
    const nb = i32[b + 2];
    const na = i32[b + 3];
    const lv = f + S_LEVELS / 8;
    const av = lv + this.askAt;
    const bp = f64[lv];
    const bs = f64[lv + 1];
    const ap = f64[av];
    const as = f64[av + 1];
    const conn = i32[b + 4];
    const lu = f64[f + S_LAST_UPDATE / 8];
    const seq = f64[f + S_SEQUENCE / 8];
    const ts = f64[f + S_EXCH_TS / 8];
    const tick = f64[f + S_TICK_SIZE / 8];
    const mos = f64[f + S_MIN_ORDER_SIZE / 8];
    const neg = i32[b + S_NEG_RISK / 4];
    const ltp = f64[f + S_LAST_TRADE / 8];
    const lts = f64[f + S_LAST_TRADE_SIZE / 8];
    const ltt = f64[f + S_LAST_TRADE_TS / 8];
    const side = i32[b + S_LAST_TRADE_SIDE / 4];
    if (!unchanged(i32, b, v1)) return -1;
    if (gen !== this.gen) return Miss.notSubscribed;
    if ((flags & SERVABLE) !== SERVED) return missReason(flags);
    this.version = v1;
    this.setTop(nb, bp, bs, na, ap, as);
    this.sequence = seq;
    this.timestamp = ts;
    this.setTrading(tick, mos, neg, ltp, lts, ltt, side);
    this.confIdx = CONFIRMED_F64 + (conn & 255);
    this.lastUpdate = lu;
    return -1;
  }

  /**
   * Slow path of {@link book}: a seqlock read of every published level into the handle's array.
   * Returns -1 when the handle now holds a validated version (or the slot was being written: try
   * again), else the miss reason.
   */
  private refreshLevels(v1: number): number {
    if (this.slot < 0) return Miss.notSubscribed;
    if (v1 & 1) return oddSlot(this.f64);
    const i32 = this.i32;
    const f64 = this.f64;
    const b = this.b;
    const f = b >> 1;
    const flags = i32[b + 1];
    const gen = i32[b + 5];
    if ((flags & SERVABLE) !== SERVED || gen !== this.gen) {
      if (!unchanged(i32, b, v1)) return -1;
      return gen !== this.gen ? Miss.notSubscribed : missReason(flags);
    }
    const depth = this.reader.depth;
    let nb = i32[b + 2];
    let na = i32[b + 3];
    // A torn read can show any count; clamp so the copy stays in bounds (the seq check discards it).
    nb = nb < 0 ? 0 : nb > depth ? depth : nb;
    na = na < 0 ? 0 : na > depth ? depth : na;
    const lv = this.lv;
    // The array is overwritten now: it holds no validated version until the re-check passes.
    this.levelsVersion = -1;
    const askAt = this.askAt;
    if (2 * (nb + na) >= depth) {
      // One memcpy of both whole sides through the fixed view of this slot's levels: about three
      // times faster than element loops over the table at depth 20 (those pay a bounds check
      // against the large shared array per element).
      lv.set(this.src);
    } else {
      // A book far shallower than maxDepth: copy only its levels.
      const src = f + S_LEVELS / 8;
      for (let i = 0; i < 2 * nb; i++) lv[i] = f64[src + i];
      for (let i = 0; i < 2 * na; i++) lv[askAt + i] = f64[src + askAt + i];
    }
    const conn = i32[b + 4];
    const lu = f64[f + S_LAST_UPDATE / 8];
    const seq = f64[f + S_SEQUENCE / 8];
    const ts = f64[f + S_EXCH_TS / 8];
    const tick = f64[f + S_TICK_SIZE / 8];
    const mos = f64[f + S_MIN_ORDER_SIZE / 8];
    const neg = i32[b + S_NEG_RISK / 4];
    const ltp = f64[f + S_LAST_TRADE / 8];
    const lts = f64[f + S_LAST_TRADE_SIZE / 8];
    const ltt = f64[f + S_LAST_TRADE_TS / 8];
    const side = i32[b + S_LAST_TRADE_SIDE / 4];
    if (!unchanged(i32, b, v1)) return -1;
    this.version = v1;
    this.levelsVersion = v1;
    this.bidDepth = nb;
    this.askDepth = na;
    this.setTop(nb, lv[0], lv[1], na, lv[askAt], lv[askAt + 1]);
    this.sequence = seq;
    this.timestamp = ts;
    this.setTrading(tick, mos, neg, ltp, lts, ltt, side);
    this.confIdx = CONFIRMED_F64 + (conn & 255);
    this.lastUpdate = lu;
    return -1;
  }

  /** Sets the top-of-book fields, NaN for an empty side (`NAN[0]`: see NAN). */
  private setTop(nb: number, bp: number, bs: number, na: number, ap: number, as: number): void {
    this.bidPrice = nb > 0 ? bp : NAN[0];
    this.bidSize = nb > 0 ? bs : NAN[0];
    this.askPrice = na > 0 ? ap : NAN[0];
    this.askSize = na > 0 ? as : NAN[0];
  }

  /** Sets the trading fields from the slot's words (read before the seqlock re-check). */
  private setTrading(
    tick: number,
    mos: number,
    neg: number,
    ltp: number,
    lts: number,
    ltt: number,
    side: number,
  ): void {
    this.tickSize = tick;
    this.tickSizeText = tickSizeText(tick);
    this.minOrderSize = mos;
    this.negRisk = negRiskOf(neg);
    this.lastTradePrice = ltp;
    this.lastTradeSize = lts;
    this.lastTradeSide = tradeSide(side);
    this.lastTradeTimestamp = ltt;
  }

  /** After a `book()` miss: no levels are exposed, and the next `book()` copies them again. @internal */
  dropLevels(): false {
    this.bidDepth = 0;
    this.askDepth = 0;
    this.levelsVersion = -1;
    return false;
  }

  private fail(reason: Miss): false {
    // A constant string from the table: no allocation on the miss path.
    this.missReason = MISS_NAMES[reason];
    return false;
  }
}
