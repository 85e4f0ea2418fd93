/**
 * BookStore: the one source of truth per token. Owns the shared table, a writer (native or
 * pure TypeScript, chosen by src/backend/index.ts) and a reader (src/table/view.ts).
 */
import {
  createTable,
  C,
  F_CROSSED,
  F_DISABLED,
  F_HAS_BOOK,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  H_COUNTERS,
  H_EPOCH,
  H_WATCHERS,
  COUNTER_COUNT,
  type CounterName,
} from './layout.js';
import { SlotAllocator } from './slots.js';
import { TableReader, BookHandle, SlotHeader, readTime, type Book } from './view.js';
import { Metrics } from './metrics.js';
import { createWriter, type BackendName } from '../backend/index.js';
import { makeClock, preciseNow, type ClockOption } from './clock.js';
import { optionalIntEnv } from '../config.js';
import type { Writer } from './writer.js';

export interface BookStoreOptions {
  /** Force a backend; default: `POLYBOOK_BACKEND`, else native when it loads, else js. */
  backend?: BackendName;
  /** Levels per side a read returns (full depth is always tracked). Default `BOOK_STORE_MAX_DEPTH` or 20. */
  maxDepth?: number;
  /** Number of token slots in the table. Default 16384. Freed slots are reused. */
  capacity?: number;
  /** How long a top-of-book mismatch with the server may last before the token is reset, ms. Default 1000. */
  graceMs?: number;
  /**
   * Clock for staleness checks: `'coarse'` (default; a 1 ms ticker thread writes the time into the
   * table, so a read costs no clock call and allocates nothing), `'precise'` (`performance.now()`
   * per read, which on Node 20 also allocates a 16-byte number per read), or a function returning
   * ms of the host's monotonic clock, as `preciseNow` does (tests).
   */
  clock?: ClockOption;
  /** @internal attach to an existing table (the other side of a worker). */
  table?: SharedArrayBuffer;
  /** @internal a writer other than the local backend (e.g. one that forwards to a worker). */
  writer?: (table: SharedArrayBuffer) => { writer: Writer; backend: BackendName };
}

/** Per-token state, for diagnostics (not for the hot path). */
export interface TokenState {
  tokenId: string;
  subscribed: boolean;
  ready: boolean;
  hasBook: boolean;
  crossed: boolean;
  disabled: boolean;
  settled: boolean;
  mismatch: boolean;
  /** Exchange timestamp of the last applied event, ms, or null. */
  exchangeTimestamp: number | null;
  /** Local receive time of the last frame that touched the book (ms of the host's monotonic clock). */
  lastUpdate: number;
  sequence: number;
  updates: number;
  conn: number;
}

export const DEFAULT_MAX_DEPTH = 20;
export const DEFAULT_CAPACITY = 16384;

/**
 * A live order-book table. Feed it raw market-channel frames with {@link BookStore.ingest} (or let
 * a feed do it) and read with {@link BookStore.get} or a {@link BookStore.handle}: reads are served
 * from memory and return null when the book must not be used (skip the tick).
 */
export class BookStore {
  /** Which backend applies updates. Reads are the same code on both. */
  readonly backend: BackendName;
  readonly maxDepth: number;
  readonly capacity: number;
  /** The shared table; hand it to another thread to read (or write) the same books. */
  readonly table: SharedArrayBuffer;
  /** @internal */
  readonly writer: Writer;
  /** @internal */
  readonly reader: TableReader;
  private readonly slots: SlotAllocator;
  /** Generation each slot will have once the writer processed our bind/unbind calls. */
  private readonly gens: Int32Array;
  private readonly readClock: () => number;
  /** The clock reads call, or null for the table's coarse clock (read inline: no call). */
  private readonly clockFn: (() => number) | null;
  private readonly header: Int32Array;
  private stopClock: () => void;

  constructor(options: BookStoreOptions = {}) {
    const maxDepth = options.maxDepth ?? optionalIntEnv('BOOK_STORE_MAX_DEPTH', 1, 1000) ?? DEFAULT_MAX_DEPTH;
    if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) {
      throw new RangeError(`polybook: maxDepth must be an integer from 1 to 1000, got ${maxDepth}`);
    }
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4_000_000) {
      throw new RangeError(`polybook: capacity must be an integer from 1 to 4000000, got ${capacity}`);
    }
    this.table = options.table ?? createTable(capacity, maxDepth);
    this.reader = new TableReader(this.table);
    this.header = new Int32Array(this.table, 0, 1024);
    this.maxDepth = this.reader.depth;
    this.capacity = this.reader.capacity;
    const { writer, backend } = options.writer
      ? options.writer(this.table)
      : createWriter(this.table, { backend: options.backend, graceMs: options.graceMs });
    this.writer = writer;
    this.backend = backend;
    this.slots = new SlotAllocator(this.capacity);
    this.gens = new Int32Array(this.capacity);
    const clock = makeClock(options.clock ?? 'coarse', this.table);
    this.readClock = clock.now;
    this.clockFn = (options.clock ?? 'coarse') === 'coarse' ? null : clock.now;
    this.stopClock = clock.stop;
  }

  /** Current time on the store's clock (ms). */
  now(): number {
    return this.readClock();
  }

  /**
   * Adds tokens to the table (idempotent). They are served once their first book arrives.
   * @throws RangeError when the table is full.
   */
  subscribe(tokenIds: Iterable<string>, conn = 0): void {
    for (const id of tokenIds) {
      if (typeof id !== 'string' || id.length === 0) {
        throw new TypeError(`polybook: token ids are non-empty strings, got ${JSON.stringify(id)}`);
      }
      if (this.slots.map.has(id)) continue;
      const slot = this.slots.acquire(id);
      if (slot < 0) {
        throw new RangeError(
          `polybook: the table is full (${this.capacity} tokens); create the store with a larger capacity`,
        );
      }
      this.gens[slot]++;
      this.writer.bind(id, slot, conn);
    }
  }

  /** @internal Worker side: binds `tokenId` at the slot the owning thread allocated. */
  bindAt(tokenId: string, slot: number, conn = 0): void {
    this.slots.place(tokenId, slot);
    this.gens[slot]++;
    this.writer.bind(tokenId, slot, conn);
  }

  /** @internal Worker side: unbinds a token placed with {@link BookStore.bindAt}. */
  unbindAt(tokenId: string): void {
    const slot = this.slots.release(tokenId);
    if (slot < 0) return;
    this.gens[slot]++;
    this.writer.unbind(slot);
  }

  /** Removes tokens; their slots are reused by later subscriptions. */
  unsubscribe(tokenIds: Iterable<string>): void {
    for (const id of tokenIds) {
      const slot = this.slots.release(id);
      if (slot < 0) continue;
      this.gens[slot]++;
      this.writer.unbind(slot);
    }
  }

  /** Whether the token is in the table. */
  has(tokenId: string): boolean {
    return this.slots.map.has(tokenId);
  }

  /** Token ids in the table. */
  tokens(): string[] {
    return [...this.slots.map.keys()];
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * Applies one raw market-channel frame exactly as received (text or the bytes `ws` delivers).
   * Never throws: bad input is counted in `metrics().writer`.
   * @param recvMs local receive time; default: the store's clock (the coarse clock trails real
   *   time by at most a tick, so a book can only look older than it is, never younger).
   * @returns the number of tokens waiting to be refetched (see {@link BookStore.takeResync}).
   */
  ingest(frame: string | Uint8Array, recvMs: number = this.readClock()): number {
    const n = this.writer.ingest(frame, recvMs);
    this.wake();
    return n;
  }

  /** Wakes watchers of this table (docs/DESIGN.md section 7). */
  notifyWatchers(): void {
    Atomics.add(this.header, H_EPOCH / 4, 1);
    Atomics.notify(this.header, H_EPOCH / 4);
  }

  /**
   * The token's book if it may be served: ready, not crossed, not disabled or settled, and
   * confirmed current within `maxStaleMs`. Otherwise null (the miss is counted by reason): skip
   * the tick. The returned object is owned by the store and reused while the book does not
   * change; a change gives a new object (see {@link Book}). For depth reads without allocation,
   * use a {@link BookStore.handle} and its `book()`.
   */
  get(tokenId: string, maxStaleMs: number): Book | null {
    const slot = this.slots.map.get(tokenId);
    if (slot === undefined) return this.reader.counters.miss(0);
    const r = this.reader;
    return r.read(slot, this.gens[slot], tokenId, maxStaleMs, readTime(r.f64, this.clockFn));
  }

  /**
   * A pre-resolved handle for hot loops, allocation-free: the top of book with
   * {@link BookHandle.top}, every published level with {@link BookHandle.book}. Making one
   * allocates it with its own level storage (`4 * maxDepth` doubles, 640 bytes at the default
   * depth): make handles once, outside the hot loop.
   */
  handle(tokenId: string): BookHandle {
    const slot = this.slots.map.get(tokenId);
    return new BookHandle(
      this.reader,
      tokenId,
      slot ?? -1,
      slot === undefined ? -1 : this.gens[slot],
      this.clockFn ?? 'coarse',
    );
  }

  /** Counters: hits, misses by reason, served-age histogram, and the writer's counters. */
  metrics(): Metrics {
    return new Metrics(this.reader.counters, this.table);
  }

  /** One writer counter (cheap). */
  counter(name: CounterName): number {
    return new Float64Array(this.table, H_COUNTERS, COUNTER_COUNT)[C[name]];
  }

  /** Diagnostic state of one token, or null when it is not in the table. */
  state(tokenId: string): TokenState | null {
    const slot = this.slots.map.get(tokenId);
    if (slot === undefined) return null;
    const h = this.reader.header(slot, new SlotHeader());
    const flags = h.flags;
    return {
      tokenId,
      subscribed: (flags & F_SUBSCRIBED) !== 0,
      ready: (flags & F_READY) !== 0,
      hasBook: (flags & F_HAS_BOOK) !== 0,
      crossed: (flags & F_CROSSED) !== 0,
      disabled: (flags & F_DISABLED) !== 0,
      settled: (flags & F_SETTLED) !== 0,
      mismatch: (flags & F_MISMATCH) !== 0,
      exchangeTimestamp: Number.isNaN(h.exchTs) ? null : h.exchTs,
      lastUpdate: h.lastUpdate,
      sequence: h.sequence,
      updates: h.updates,
      conn: h.conn,
    };
  }

  /** Number of tokens that are ready to be served (ignoring staleness). */
  readyCount(): number {
    let n = 0;
    const r = this.reader;
    for (const slot of this.slots.map.values()) {
      if ((r.flags(slot) & (F_READY | F_DISABLED | F_SETTLED)) === F_READY) n++;
    }
    return n;
  }

  // ---- feed-facing calls (used by SubscriptionManager; applications rarely need them) ----

  /** Records that `tokenIds` are fed by connection `conn` (1..255). */
  assign(tokenIds: Iterable<string>, conn: number): void {
    for (const id of tokenIds) {
      const slot = this.slots.map.get(id);
      if (slot !== undefined) this.writer.assign(slot, conn);
    }
  }

  /** A PONG arrived for a PING sent on `conn` at `sentAtMs`: everything sent before is here. */
  confirm(conn: number, sentAtMs: number): void {
    this.writer.confirm(conn, sentAtMs);
  }

  /** Marks tokens not ready until a fresh book arrives (e.g. their connection dropped). */
  invalidate(tokenIds: Iterable<string>, nowMs: number = preciseNow()): void {
    for (const id of tokenIds) {
      const slot = this.slots.map.get(id);
      if (slot !== undefined) this.writer.invalidate(slot, nowMs);
    }
    this.wake();
  }

  /**
   * Marks tokens settled (never served again), e.g. after a `1000 all subscribed assets resolved`
   * close. Goes through the same path as a `market_resolved` event.
   */
  settle(tokenIds: readonly string[], nowMs: number = preciseNow()): void {
    if (tokenIds.length === 0) return;
    this.writer.ingest(JSON.stringify({ event_type: 'market_resolved', assets_ids: tokenIds }), nowMs);
    this.wake();
  }

  /** Wakes watchers when there are any (after any call that can change what a read returns). */
  private wake(): void {
    if (this.header[H_WATCHERS / 4] !== 0) this.notifyWatchers();
  }

  /** Slot of a token in the table, or -1. @internal */
  slotOf(tokenId: string): number {
    return this.slots.map.get(tokenId) ?? -1;
  }

  /** Disables (or re-enables) tokens for the session: reads miss with reason `disabled`. */
  setDisabled(tokenIds: Iterable<string>, disabled = true): void {
    for (const id of tokenIds) {
      const slot = this.slots.map.get(id);
      if (slot !== undefined) this.writer.setDisabled(slot, disabled);
    }
    this.wake();
  }

  /** Enables server-hash verification for a token (`min_order_size` text and `neg_risk` from REST). */
  setMeta(tokenId: string, minOrderSize: string, negRisk: boolean): void {
    const slot = this.slots.map.get(tokenId);
    if (slot !== undefined) this.writer.setMeta(slot, minOrderSize, negRisk);
  }

  /** Expires mismatch grace periods and runs pending hash checks; call on a timer. */
  tick(nowMs: number = preciseNow()): number {
    const n = this.writer.tick(nowMs);
    this.wake();
    return n;
  }

  /** Tokens whose book was reset and must be refetched, since the last call. */
  takeResync(): string[] {
    return this.writer.takeResync();
  }

  /** Applies a REST `/book` summary (JSON text) unless the table already holds a newer book. */
  restBook(json: string, nowMs: number = preciseNow()): void {
    this.writer.restBook(json, nowMs);
    this.wake();
  }

  /** The full-depth book with the exact texts, wire order (worst first); for diagnostics and tests. */
  fullBook(tokenId: string): { bids: [string, string][]; asks: [string, string][] } | null {
    const slot = this.slots.map.get(tokenId);
    return slot === undefined ? null : this.writer.fullBook(slot);
  }

  /** Stops the clock ticker. The store stays readable. */
  close(): void {
    this.stopClock();
    this.stopClock = () => {};
  }
}
