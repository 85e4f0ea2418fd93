/**
 * BookView: the read side of a book table, on any thread. Reads never call into a writer: they go
 * through the lock-free views of src/table/view.ts. {@link BookTable} adds the commands that
 * change a table, {@link BookStore} the writer itself.
 */
import {
  C,
  COUNTER_COUNT,
  F_CROSSED,
  F_DISABLED,
  F_DIVERGED,
  F_HAS_BOOK,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  H_COUNTERS,
  type CounterName,
} from './layout.js';
import { SlotAllocator } from './slots.js';
import { TableReader, BookHandle, SlotHeader, readTime, type Book } from './view.js';
import { Metrics } from './metrics.js';
import { makeClock, type ClockOption } from './clock.js';

/** Per-token state, for diagnostics (not for the hot path). */
export interface TokenState {
  /** The token. */
  tokenId: string;
  /** In the table and bound to a slot. */
  subscribed: boolean;
  /** A snapshot arrived on the current connection: the book may be served (staleness aside). */
  ready: boolean;
  /** A book is held (possibly not ready, e.g. after a reconnect). */
  hasBook: boolean;
  /** The book was crossed (bid >= ask) and is not served until a fresh snapshot. */
  crossed: boolean;
  /** Disabled for the session (warmup timed out on it, or `setDisabled`). */
  disabled: boolean;
  /** Its market settled: never served again. */
  settled: boolean;
  /** Its best bid/ask disagree with the server's last report (within the grace period). */
  mismatch: boolean;
  /** An audit found its book behind or different from the exchange's; not served until a fresh book. */
  diverged: boolean;
  /** Exchange timestamp of the last applied event, ms, or null. */
  exchangeTimestamp: number | null;
  /** Local receive time of the last frame that touched the book (ms of the host's monotonic clock). */
  lastUpdate: number;
  /** The store's sequence of the book: +1 per applied frame that changed it. */
  sequence: number;
  /** Books and delta entries applied to the token. */
  updates: number;
  /** The feed connection (1..255) that carries it, 0 when none. */
  conn: number;
}

/**
 * Reads of a book table: {@link BookView.get} and {@link BookView.handle} serve a book from memory
 * only when it may be used, and return null otherwise (skip the tick).
 */
export class BookView {
  /**
   * @internal The shared table (the worker feed and the watch hub attach to it). An attached
   * store replaces it (and the reader, slots and clock) when its server restarts.
   */
  table: ArrayBufferLike;
  /** @internal */
  reader: TableReader;
  /** Token id to slot, as this side bound them. */
  protected slots: SlotAllocator;
  /** Generation each slot has once the writer processed the binds and unbinds made here. */
  protected gens: Int32Array;
  /** The clock of `now()` (ms of the host's monotonic clock); an attached store replaces it with its table. */
  protected readClock: () => number;
  /** The clock reads call, or null for the table's coarse clock (read inline: no call). */
  private readonly clockFn: (() => number) | null;
  private stopClock: () => void;

  /** @internal use {@link BookStore}, or a feed's store. */
  constructor(table: ArrayBufferLike, clock: ClockOption = 'coarse') {
    this.table = table;
    this.reader = new TableReader(table);
    this.slots = new SlotAllocator(this.capacity);
    this.gens = new Int32Array(this.capacity);
    const c = makeClock(clock, table);
    this.readClock = c.now;
    this.clockFn = clock === 'coarse' ? null : c.now;
    this.stopClock = c.stop;
  }

  /** Levels per side a read returns (full depth is always tracked by the writer). */
  get maxDepth(): number {
    return this.reader.depth;
  }

  /** Number of token slots in the table. */
  get capacity(): number {
    return this.reader.capacity;
  }

  /** Current time on the view's clock (ms of the host's monotonic clock). */
  now(): number {
    return this.readClock();
  }

  /** Whether the token is in the table. */
  has(tokenId: string): boolean {
    return this.slots.map.has(tokenId);
  }

  /** Token ids in the table. */
  tokens(): string[] {
    return [...this.slots.map.keys()];
  }

  /** Number of tokens in the table. */
  get size(): number {
    return this.slots.size;
  }

  /** Slot of a token in the table, or -1. @internal */
  slotOf(tokenId: string): number {
    return this.slots.map.get(tokenId) ?? -1;
  }

  /**
   * The token's book if it may be served: ready, not crossed, not disabled or settled, and
   * confirmed current within `maxStaleMs`. Otherwise null (the miss is counted by reason): skip
   * the tick. The returned object is owned by the store and reused while the book does not
   * change; a change gives a new object (see {@link Book}). For depth reads without allocation,
   * use a {@link BookView.handle} and its `book()`.
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
      diverged: (flags & F_DIVERGED) !== 0,
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

  /** Stops the clock ticker. The view stays readable. */
  close(): void {
    this.stopClock();
    this.stopClock = () => {};
  }
}
