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
import { ReadCounters, Miss } from './metrics.js';

/** One price level, best first in a {@link Book}. */
export interface Level {
  readonly price: number;
  readonly size: number;
}

/** A served book. Owned by the store: it is reused while the book does not change (only `ageMs` is refreshed). */
export interface Book {
  readonly tokenId: string;
  /** Best (highest) first, at most `maxDepth` levels. */
  readonly bids: readonly Level[];
  /** Best (lowest) first, at most `maxDepth` levels. */
  readonly asks: readonly Level[];
  readonly bestBid: number | null;
  readonly bestAsk: number | null;
  /** Exchange timestamp (epoch ms) of the last applied book or change, or null. */
  readonly timestamp: number | null;
  /** Time since the feed last confirmed this book current, at the time of the read (ms). */
  ageMs: number;
  /** The store's own sequence for this token: +1 per applied frame that changed it. */
  readonly sequence: number;
  readonly tickSize: number | null;
}

/** Whether the seqlock re-check needs a read-modify-write to order the earlier loads (ARM64 and others). */
const TSO = process.arch === 'x64' || process.arch === 'ia32';

const SERVABLE = F_SUBSCRIBED | F_READY | F_DISABLED | F_SETTLED | F_MISMATCH;
const SERVED = F_SUBSCRIBED | F_READY;
const EMPTY: readonly Level[] = Object.freeze([]);

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

/**
 * Reader over one table. Keeps, per slot, the version of the last validated read and what it
 * read, so an unchanged book costs one atomic load and a comparison.
 */
export class TableReader {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly depth: number;
  readonly capacity: number;
  /** Slot stride in 32-bit words. */
  private readonly stride32: number;
  /** Per slot: seq of the cached book (-1 = none), and the cached book. */
  private readonly bookVersion: Int32Array;
  private readonly books: (Book | undefined)[];
  private readonly bookLastUpdate: Float64Array;
  private readonly bookConn: Int32Array;
  readonly counters = new ReadCounters();

  constructor(readonly sab: SharedArrayBuffer) {
    const { capacity, depth } = tableGeometry(sab);
    this.capacity = capacity;
    this.depth = depth;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.stride32 = slotBytes(depth) / 4;
    this.bookVersion = new Int32Array(capacity).fill(-1);
    this.books = new Array(capacity);
    this.bookLastUpdate = new Float64Array(capacity);
    this.bookConn = new Int32Array(capacity);
  }

  /** Drops the cached book of a slot, so the next read decodes it again (benchmarks). @internal */
  forget(slot: number): void {
    this.bookVersion[slot] = -1;
  }

  /** Base index of a slot in 32-bit words. */
  base32(slot: number): number {
    return HEADER_BYTES / 4 + slot * this.stride32;
  }

  /** The coarse clock in the header (ms), 0 if no ticker runs. */
  clock(): number {
    return this.f64[H_CLOCK / 8];
  }

  /** Confirmation time of a connection (ms). */
  confirmed(conn: number): number {
    return this.f64[H_CONFIRMED / 8 + conn];
  }

  /**
   * Reads the book in `slot` if it may be served under `maxStaleMs` at time `now`; else counts the
   * miss and returns null.
   */
  read(slot: number, gen: number, tokenId: string, maxStaleMs: number, now: number): Book | null {
    const i32 = this.i32;
    const b = this.base32(slot);
    for (;;) {
      const v1 = Atomics.load(i32, b);
      if (v1 === this.bookVersion[slot]) {
        // Unchanged since the last validated read: flags were servable then.
        const conf = this.f64[H_CONFIRMED / 8 + this.bookConn[slot]];
        const lu = this.bookLastUpdate[slot];
        let age = now - (conf > lu ? conf : lu);
        if (age < 0) age = 0;
        if (age > maxStaleMs) return this.counters.miss(Miss.stale);
        const book = this.books[slot] as Book;
        book.ageMs = age;
        this.counters.hit(age);
        return book;
      }
      if (v1 & 1) continue;
      const flags = i32[b + 1];
      const g = i32[b + 5];
      if ((flags & SERVABLE) !== SERVED || g !== gen) {
        if (TSO ? Atomics.load(i32, b) !== v1 : Atomics.or(i32, b, 0) !== v1) continue;
        return this.counters.miss(g !== gen ? Miss.notSubscribed : missReason(flags));
      }
      const book = this.decode(b, tokenId);
      const conn = i32[b + 4];
      const lu = this.f64[(b >> 1) + S_LAST_UPDATE / 8];
      if (TSO ? Atomics.load(i32, b) !== v1 : Atomics.or(i32, b, 0) !== v1) continue;
      this.bookVersion[slot] = v1;
      this.books[slot] = book;
      this.bookLastUpdate[slot] = lu;
      this.bookConn[slot] = conn;
      // Loop once more through the fast path to apply the staleness check and count.
    }
  }

  private decode(b: number, tokenId: string): Book {
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
    const bids: Level[] = nb === 0 ? (EMPTY as Level[]) : new Array(nb);
    for (let i = 0; i < nb; i++) bids[i] = { price: f64[lv + 2 * i], size: f64[lv + 2 * i + 1] };
    const av = lv + depth * 2;
    const asks: Level[] = na === 0 ? (EMPTY as Level[]) : new Array(na);
    for (let i = 0; i < na; i++) asks[i] = { price: f64[av + 2 * i], size: f64[av + 2 * i + 1] };
    const ts = f64[f + S_EXCH_TS / 8];
    const tick = f64[f + S_TICK_SIZE / 8];
    return {
      tokenId,
      bids,
      asks,
      bestBid: nb > 0 ? bids[0].price : null,
      bestAsk: na > 0 ? asks[0].price : null,
      timestamp: ts === ts ? ts : null,
      ageMs: 0,
      sequence: f64[f + S_SEQUENCE / 8],
      tickSize: tick === tick ? tick : null,
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
  bidSize = NaN;
  /** Best ask price and size, NaN when the ask side is empty. */
  askPrice = NaN;
  askSize = NaN;
  /** Age of the book at the last successful `top()`, ms. */
  ageMs = NaN;
  /** Why the last `top()` returned false, or null after a hit. */
  missReason: Miss | null = null;
  private version = -1;
  private lastUpdate = 0;
  private conn = 0;
  private readonly b: number;
  private readonly f: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly counters: ReadCounters;
  /** Whether the clock is the table's coarse clock (read inline instead of through a call). */
  private readonly coarse: boolean;

  /** @internal */
  constructor(
    private readonly reader: TableReader,
    readonly tokenId: string,
    readonly slot: number,
    private readonly gen: number,
    private readonly clock: (() => number) | 'coarse',
  ) {
    this.b = slot < 0 ? 0 : reader.base32(slot);
    this.f = this.b >> 1;
    this.i32 = reader.i32;
    this.f64 = reader.f64;
    this.counters = reader.counters;
    this.coarse = clock === 'coarse';
  }

  /**
   * Refreshes the top of book if it may be served under `maxStaleMs`. Returns false (and counts
   * the miss) when the book is not ready, stale, crossed, disabled or no longer subscribed.
   */
  top(maxStaleMs: number): boolean {
    const counters = this.counters;
    if (this.slot < 0) return this.fail(counters.missReason(Miss.notSubscribed));
    const i32 = this.i32;
    const f64 = this.f64;
    const b = this.b;
    const now = this.coarse ? f64[H_CLOCK / 8] : (this.clock as () => number)();
    for (;;) {
      const v1 = Atomics.load(i32, b);
      if (v1 === this.version) {
        const conf = f64[H_CONFIRMED / 8 + this.conn];
        const lu = this.lastUpdate;
        let age = now - (conf > lu ? conf : lu);
        // The coarse clock can trail a write made a moment ago by up to one tick.
        if (age < 0) age = 0;
        if (age > maxStaleMs) return this.fail(counters.missReason(Miss.stale));
        this.ageMs = age;
        this.missReason = null;
        counters.hit(age);
        return true;
      }
      if (v1 & 1) continue;
      const flags = i32[b + 1];
      const gen = i32[b + 5];
      const f = this.f;
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
      if (TSO ? Atomics.load(i32, b) !== v1 : Atomics.or(i32, b, 0) !== v1) continue;
      if (gen !== this.gen) return this.fail(counters.missReason(Miss.notSubscribed));
      if ((flags & SERVABLE) !== SERVED) return this.fail(counters.missReason(missReason(flags)));
      this.version = v1;
      this.bidPrice = bp;
      this.bidSize = bs;
      this.askPrice = ap;
      this.askSize = as;
      this.conn = conn;
      this.lastUpdate = lu;
    }
  }

  private fail(reason: Miss): false {
    this.missReason = reason;
    return false;
  }
}
