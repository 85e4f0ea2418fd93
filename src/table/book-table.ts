/**
 * BookTable: a book table with its subscriptions and the commands that change its tokens' state.
 * Its writer may live on another thread (a feed worker): the commands are then forwarded to it,
 * and only the writer's own thread can answer queries ({@link BookStore}).
 */
import { BookView } from './book-view.js';
import { preciseNow, type ClockOption } from './clock.js';
import type { WriterCommands } from './writer.js';
import type { BackendName } from '../backend/index.js';
import { PolybookError, invalidArgument } from '../errors.js';

/**
 * Told of every bind and unbind a table makes, in order: a book server's token directory
 * (src/server/directory.ts), which readers in other processes resolve tokens with.
 */
export interface BindingDirectory {
  /** Why the token cannot be listed (then it is not subscribed), or null. */
  refuse(tokenId: string): string | null;
  bind(slot: number, tokenId: string, gen: number): void;
  unbind(slot: number, gen: number): void;
  /** After a batch of binds and unbinds: readers may look again. */
  commit(): void;
}

/** The books of a table written by a feed: reads, subscriptions and token commands. */
export class BookTable extends BookView {
  /** Which backend applies updates. Reads are the same code on both. */
  readonly backend: BackendName;
  /** @internal */
  readonly writer: WriterCommands;
  /** @internal A book server's token directory, told of every bind and unbind. */
  directory: BindingDirectory | null = null;

  /** @internal use {@link BookStore}, or a feed's store. */
  constructor(table: ArrayBufferLike, writer: WriterCommands, backend: BackendName, clock: ClockOption = 'coarse') {
    super(table, clock);
    this.writer = writer;
    this.backend = backend;
  }

  /**
   * Adds tokens to the table (idempotent). They are served once their first book arrives.
   * @throws PolybookError `POLYBOOK_CAPACITY` when the table is full; TypeError (`POLYBOOK_INVALID_ARGUMENT`) for a token id that is not a non-empty string.
   */
  subscribe(tokenIds: Iterable<string>, conn = 0): void {
    const dir = this.directory;
    try {
      for (const id of tokenIds) {
        if (typeof id !== 'string' || id.length === 0) {
          throw invalidArgument('type', `polybook: token ids are non-empty strings, got ${JSON.stringify(id)}`);
        }
        if (this.slots.map.has(id)) continue;
        const refused = dir?.refuse(id);
        if (refused) throw invalidArgument('type', refused);
        const slot = this.slots.acquire(id);
        if (slot < 0) {
          throw new PolybookError(
            'POLYBOOK_CAPACITY',
            `polybook: the table is full (${this.capacity} tokens); create the store with a larger capacity`,
          );
        }
        this.gens[slot]++;
        dir?.bind(slot, id, this.gens[slot]);
        this.writer.bind(id, slot, conn);
      }
    } finally {
      dir?.commit();
    }
    this.published();
  }

  /** Removes tokens; their slots are reused by later subscriptions. */
  unsubscribe(tokenIds: Iterable<string>): void {
    const dir = this.directory;
    try {
      for (const id of tokenIds) {
        const slot = this.slots.release(id);
        if (slot < 0) continue;
        this.gens[slot]++;
        dir?.unbind(slot, this.gens[slot]);
        this.writer.unbind(slot);
      }
    } finally {
      dir?.commit();
    }
    this.published();
  }

  /** Records that `tokenIds` are fed by connection `conn` (1..255). @internal */
  assign(tokenIds: Iterable<string>, conn: number): void {
    for (const id of tokenIds) {
      const slot = this.slots.map.get(id);
      if (slot !== undefined) this.writer.assign(slot, conn);
    }
    this.published();
  }

  /** A PONG arrived for a PING sent on `conn` at `sentAtMs`: everything sent before is here. @internal */
  confirm(conn: number, sentAtMs: number): void {
    this.writer.confirm(conn, sentAtMs);
  }

  /** Marks tokens not ready until a fresh book arrives (e.g. their connection dropped). */
  invalidate(tokenIds: Iterable<string>, nowMs: number = preciseNow()): void {
    this.each(tokenIds, (slot) => this.writer.invalidate(slot, nowMs));
  }

  /**
   * Resets tokens an audit found behind or different from the exchange's book: reads miss
   * `diverged` until their fresh book arrives (they are resubscribed). @internal
   */
  diverge(tokenIds: Iterable<string>, nowMs: number = preciseNow()): void {
    this.each(tokenIds, (slot) => this.writer.diverge(slot, nowMs));
  }

  /**
   * Marks tokens settled (never served again), e.g. after a `1000 all subscribed assets resolved`
   * close: the same state as a `market_resolved` event gives them.
   */
  settle(tokenIds: Iterable<string>, nowMs: number = preciseNow()): void {
    this.each(tokenIds, (slot) => this.writer.settle(slot, nowMs));
  }

  /** Disables (or re-enables) tokens for the session: reads miss with reason `disabled`. */
  setDisabled(tokenIds: Iterable<string>, disabled = true): void {
    this.each(tokenIds, (slot) => this.writer.setDisabled(slot, disabled));
  }

  /**
   * The token's minimum order size (the `min_order_size` text) and neg-risk flag, from discovery or
   * REST: reads serve them, and they turn server-hash verification on.
   */
  setMeta(tokenId: string, minOrderSize: string, negRisk: boolean): void {
    const slot = this.slots.map.get(tokenId);
    if (slot === undefined) return;
    this.writer.setMeta(slot, minOrderSize, negRisk);
    this.published();
  }

  /** Applies a REST `/book` summary (JSON text) unless the table already holds a newer book. */
  restBook(json: string, nowMs: number = preciseNow()): void {
    this.writer.restBook(json, nowMs);
    this.published();
  }

  /** Runs `f` on the slot of every token of the table among `tokenIds`, then wakes watchers. */
  private each(tokenIds: Iterable<string>, f: (slot: number) => void): void {
    for (const id of tokenIds) {
      const slot = this.slots.map.get(id);
      if (slot !== undefined) f(slot);
    }
    this.published();
  }

  /**
   * Called after commands that can change what a read returns. Where the writer lives on another
   * thread, that thread wakes the watchers once it applied them, so there is nothing to do here.
   */
  protected published(): void {}
}
