/**
 * The read path: lock-free views over the shared book table (docs/DESIGN.md sections 2-4).
 * One implementation serves both backends, on any thread. No N-API call, no lock, and no
 * allocation on the top-of-book path.
 */
import {
  F_CROSSED,
  F_DISABLED,
  F_HAS_BOOK,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  HEADER_BYTES,
  H_CLOCK,
  H_CONFIRMED,
  S_EXCH_TS,
  S_LAST_UPDATE,
  S_LEVELS,
  S_SEQUENCE,
  S_TICK_SIZE,
  slotBytes,
  tableGeometry,
} from './layout.js';
import { ReadCounters, Miss, MISS_NAMES, type MissName } from './metrics.js';
import { PolybookError } from '../errors.js';

/** One price level, best first in a {@link Book}. */
export interface Level {
  /** Price, 0 to 1. */
  readonly price: number;
  /** Size (shares) at this price. */
  readonly size: number;
}

/** A served book. Owned by the store: it is reused while the book does not change (only `ageMs` is refreshed). */
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
  /** Tick size, null before the first book that states it. */
  readonly tickSize: number | null;
}

/** Whether the seqlock re-check needs a read-modify-write to order the earlier loads (ARM64 and others). */
const TSO = process.arch === 'x64' || process.arch === 'ia32';

const SERVABLE = F_SUBSCRIBED | F_READY | F_DISABLED | F_SETTLED | F_MISMATCH;
const SERVED = F_SUBSCRIBED | F_READY;
const EMPTY: readonly Level[] = Object.freeze([]);

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
 * Reader over one table. Keeps, per slot, the version of the last validated read and what it
 * read, so an unchanged book costs one atomic load and a comparison.
 *
 * A table attached from a book server (docs/SERVER.md): its clock word is the server's heartbeat,
 * NaN once the server is known to be down. A NaN clock makes every staleness check fail (the
 * checks are written `!(age <= maxStaleMs)`), and a miss while the table's clock is NaN is counted
 * as `server_down`. In a table of one process the clock is never NaN.
 */
export class TableReader {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly depth: number;
  readonly capacity: number;
  /** Slot stride in 32-bit words. */
  private readonly stride32: number;
  /**
   * Per slot: seq of the cached book (-1 = none), the binding generation it was validated for,
   * the cached book, its lastUpdate, and the f64 index of its connection's `confirmed` word.
   */
  private readonly bookVersion: Int32Array;
  private readonly bookGen: Int32Array;
  private readonly books: (Book | undefined)[];
  private readonly bookLastUpdate: Float64Array;
  private readonly bookConfIdx: Int32Array;
  readonly counters: ReadCounters;
  /**
   * Attached tables only: where a token lives now, once the server that wrote this table was
   * replaced by a restarted one; null while it was not (or for a table of one process). Called
   * on misses while the clock is NaN. @internal
   */
  relocate: ((tokenId: string) => Relocation | null) | null = null;

  /** @param counters the read counters to count into (an attached store keeps its own across server restarts). */
  constructor(
    readonly sab: ArrayBufferLike,
    counters: ReadCounters = new ReadCounters(),
  ) {
    this.counters = counters;
    const { capacity, depth } = tableGeometry(sab);
    this.capacity = capacity;
    this.depth = depth;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.stride32 = slotBytes(depth) / 4;
    this.bookVersion = new Int32Array(capacity).fill(-1);
    this.bookGen = new Int32Array(capacity);
    this.books = new Array(capacity).fill(undefined);
    this.bookLastUpdate = new Float64Array(capacity);
    this.bookConfIdx = new Int32Array(capacity).fill(CONFIRMED_F64);
  }

  /**
   * Drops the cached book of a slot, so the next read decodes it again from scratch, as after a
   * change of every level (benchmarks). @internal
   */
  forget(slot: number): void {
    this.bookVersion[slot] = -1;
    this.books[slot] = undefined;
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

  /** The miss to count for `reason` at clock value `now`: `server_down` while the table's heartbeat is down (NaN). */
  private down(reason: number, now: number): Miss {
    return (Number.isNaN(now) || Number.isNaN(this.f64[CLOCK_F64]) ? Miss.serverDown : reason) as Miss;
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
        if (!(age <= maxStaleMs)) return this.counters.miss(this.down(Miss.stale, now));
        const book = this.books[slot] as Book;
        book.ageMs = age;
        this.counters.hit(age);
        return book;
      }
      const miss = this.refresh(slot, gen, tokenId, v1);
      if (miss >= 0) return this.counters.miss(this.down(miss, now));
    }
  }

  /**
   * Slow path of {@link read}: validates the slot and caches its book. Returns -1 when the cache
   * now holds a validated version (or the slot was being written: try again), else the miss reason.
   */
  private refresh(slot: number, gen: number, tokenId: string, v1: number): number {
    if (v1 & 1) return -1;
    const i32 = this.i32;
    const b = SLOTS_I32 + slot * this.stride32;
    const flags = i32[b + 1];
    const g = i32[b + 5];
    if ((flags & SERVABLE) !== SERVED || g !== gen) {
      if (TSO ? Atomics.load(i32, b) !== v1 : Atomics.or(i32, b, 0) !== v1) return -1;
      return g !== gen ? Miss.notSubscribed : missReason(flags);
    }
    const book = this.decode(b, tokenId, this.books[slot]);
    const conn = i32[b + 4];
    const lu = this.f64[(b >> 1) + S_LAST_UPDATE / 8];
    if (TSO ? Atomics.load(i32, b) !== v1 : Atomics.or(i32, b, 0) !== v1) return -1;
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
   * Builds the Book of the slot at `b`. Levels equal (price and size) to the level at the same
   * position of `prev` (the previous book of the slot) reuse its Level object: levels are
   * immutable values, and a typical change touches one or two levels, so a decode then allocates
   * the new levels, the two arrays and the Book instead of every level again.
   */
  private decode(b: number, tokenId: string, prev: Book | undefined): Book {
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
    const pb = prev === undefined ? EMPTY : prev.bids;
    const bids: Level[] = nb === 0 ? (EMPTY as Level[]) : new Array(nb);
    for (let i = 0; i < nb; i++) {
      const price = f64[lv + 2 * i];
      const size = f64[lv + 2 * i + 1];
      const o = i < pb.length ? pb[i] : undefined;
      bids[i] = o !== undefined && o.price === price && o.size === size ? o : { price, size };
    }
    const av = lv + depth * 2;
    const pa = prev === undefined ? EMPTY : prev.asks;
    const asks: Level[] = na === 0 ? (EMPTY as Level[]) : new Array(na);
    for (let i = 0; i < na; i++) {
      const price = f64[av + 2 * i];
      const size = f64[av + 2 * i + 1];
      const o = i < pa.length ? pa[i] : undefined;
      asks[i] = o !== undefined && o.price === price && o.size === size ? o : { price, size };
    }
    const ts = f64[f + S_EXCH_TS / 8];
    const tick = f64[f + S_TICK_SIZE / 8];
    return {
      tokenId,
      bids,
      asks,
      bestBid: nb > 0 ? bids[0].price : null,
      bestAsk: na > 0 ? asks[0].price : null,
      timestamp: Number.isNaN(ts) ? null : ts,
      // -0 is a heap number: the field starts with the double representation the reads store.
      ageMs: -0,
      sequence: f64[f + S_SEQUENCE / 8],
      tickSize: Number.isNaN(tick) ? null : tick,
    };
  }
}

/**
 * A pre-resolved token for hot loops: `top()` reads the best bid and ask into the handle's own
 * fields, with no allocation. Check its return value before using the fields.
 *
 * ```ts
 * const h = store.handle(tokenId);
 * if (h.top(Staleness.latencyArb)) quote(h.bidPrice, h.askPrice);
 * ```
 */
export class BookHandle {
  /** Best bid price and size, NaN when the bid side is empty. Valid after `top()` returned true. */
  bidPrice = NaN;
  /** Size at the best bid, NaN when the bid side is empty. */
  bidSize = NaN;
  /** Best ask price and size, NaN when the ask side is empty. */
  askPrice = NaN;
  /** Size at the best ask, NaN when the ask side is empty. */
  askSize = NaN;
  /** Age of the book at the last successful `top()`, ms. */
  ageMs = NaN;
  /** Why the last `top()` returned false (`'stale'`, `'not_ready'`, ...), or null after a hit. */
  missReason: MissName | null = null;
  /** seq of the last validated read; -1 = none (never equal to an even seq). */
  private version = -1;
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
        const f64 = this.f64;
        const clock = this.clockFn;
        const now = clock === null ? f64[CLOCK_F64] : clock();
        const conf = f64[this.confIdx];
        const lu = this.lastUpdate;
        let age = now - (conf > lu ? conf : lu);
        // The coarse clock can trail a write made a moment ago by up to one tick: clamp to +0.
        // `now - now` rather than the literal 0: a Smi here would teach the optimising compiler
        // that ages are small integers (right after a write, while the clock trails), and the
        // first fractional age would then deoptimise the read (and its callers' loops).
        if (age < 0) age = now - now;
        // Negated: a NaN age (the clock of a server known to be down) is a miss too.
        if (!(age <= maxStaleMs)) {
          const down = Number.isNaN(now);
          if (down && this.relocated()) continue;
          return this.fail(this.counters.missReason(down ? Miss.serverDown : Miss.stale));
        }
        this.ageMs = age;
        this.missReason = null;
        this.counters.hit(age);
        return true;
      }
      const miss = this.refresh(v1);
      if (miss >= 0) {
        const down = Number.isNaN(this.f64[CLOCK_F64]);
        if (down && this.relocated()) continue;
        return this.fail(this.counters.missReason(down ? Miss.serverDown : (miss as Miss)));
      }
    }
  }

  /**
   * Attached tables, while the server is down: moves the handle to the table of the restarted
   * server when there is one (the token's slot there, read from the beginning). Returns whether it moved.
   */
  private relocated(): boolean {
    const to = this.reader.relocate?.(this.tokenId);
    if (!to || to.reader === this.reader) return false;
    this.reader = to.reader;
    this.slot = to.slot;
    this.gen = to.gen;
    this.b = to.slot < 0 ? 0 : to.reader.base32(to.slot);
    this.i32 = to.reader.i32;
    this.f64 = to.reader.f64;
    this.version = -1;
    this.confIdx = CONFIRMED_F64;
    return true;
  }

  /**
   * Slow path of {@link top}: a seqlock read of the slot's top of book into the handle. Returns -1
   * when the handle now holds a validated version (or the slot was being written: try again),
   * else the miss reason.
   */
  private refresh(v1: number): number {
    if (this.slot < 0) return Miss.notSubscribed;
    if (v1 & 1) return -1;
    const i32 = this.i32;
    const f64 = this.f64;
    const b = this.b;
    const f = b >> 1;
    const flags = i32[b + 1];
    const gen = i32[b + 5];
    const nb = i32[b + 2];
    const na = i32[b + 3];
    const lv = f + S_LEVELS / 8;
    const av = lv + this.reader.depth * 2;
    const bp = nb > 0 ? f64[lv] : NaN;
    const bs = nb > 0 ? f64[lv + 1] : NaN;
    const ap = na > 0 ? f64[av] : NaN;
    const as = na > 0 ? f64[av + 1] : NaN;
    const conn = i32[b + 4];
    const lu = f64[f + S_LAST_UPDATE / 8];
    if (TSO ? Atomics.load(i32, b) !== v1 : Atomics.or(i32, b, 0) !== v1) return -1;
    if (gen !== this.gen) return Miss.notSubscribed;
    if ((flags & SERVABLE) !== SERVED) return missReason(flags);
    this.version = v1;
    this.bidPrice = bp;
    this.bidSize = bs;
    this.askPrice = ap;
    this.askSize = as;
    this.confIdx = CONFIRMED_F64 + (conn & 255);
    this.lastUpdate = lu;
    return -1;
  }

  private fail(reason: Miss): false {
    // A constant string from the table: no allocation on the miss path.
    this.missReason = MISS_NAMES[reason];
    return false;
  }
}
