/**
 * BookStore: a book table with its writer on this thread (native or pure TypeScript, chosen by
 * src/backend/index.ts). The writer's answers (`ingest`, `tick`, `takeResync`, `fullBook`) exist
 * only here, where the writer lives.
 */
import { createTable, H_EPOCH, H_WATCHERS } from './layout.js';
import { mappedTable, type MappedTable } from './mapped.js';
import { BookTable } from './book-table.js';
import { preciseNow, type ClockOption } from './clock.js';
import { apply, COMMANDS, observedWriter, Status, type Command, type FullBook, type Writer } from './writer.js';
import { createWriter, type BackendName } from '../backend/index.js';
import { VARIABLES, readEnv } from '../config.js';
import { ConfigError } from '../errors.js';
import { AttachedStore, type AttachOptions } from '../server/attached.js';

/** Options of `new BookStore()`. */
export interface BookStoreOptions {
  /** Force a backend; default: `POLYBOOK_BACKEND`, else native when it loads, else js. */
  backend?: BackendName;
  /** Levels per side a read returns (full depth is always tracked). Default `POLYBOOK_MAX_DEPTH` or 20. */
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
  /** @internal write an existing table (the writer side of a feed worker, a book server's mapped file). */
  table?: ArrayBufferLike;
  /** @internal called after every writer command with its answer (the recorder). */
  observe?: (command: Command, result: unknown) => void;
}

/** Levels per side a read returns by default. */
export const DEFAULT_MAX_DEPTH = VARIABLES.maxDepth.default;
/** Token slots of a table by default. */
export const DEFAULT_CAPACITY = 16384;

/**
 * The table a store writes: the caller's, or a new one of the checked size (`maxDepth` defaults to
 * `POLYBOOK_MAX_DEPTH`, else 20; `capacity` to 16384). @internal
 */
export function storeTable(options: Pick<BookStoreOptions, 'table' | 'maxDepth' | 'capacity'>): ArrayBufferLike {
  if (options.table) return options.table;
  const { capacity, maxDepth } = tableShape(options);
  return createTable(capacity, maxDepth);
}

/** The checked size of a new table (`maxDepth` defaults to `POLYBOOK_MAX_DEPTH`, else 20; `capacity` to 16384). @internal */
export function tableShape(options: Pick<BookStoreOptions, 'maxDepth' | 'capacity'>): {
  capacity: number;
  maxDepth: number;
} {
  const maxDepth = options.maxDepth ?? readEnv('maxDepth') ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) {
    throw new ConfigError('maxDepth', maxDepth, 'an integer from 1 to 1000');
  }
  const capacity = options.capacity ?? DEFAULT_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4_000_000) {
    throw new ConfigError('capacity', capacity, 'an integer from 1 to 4000000');
  }
  return { capacity, maxDepth };
}

function writerOf(table: ArrayBufferLike, options: BookStoreOptions): { writer: Writer; backend: BackendName } {
  const w = createWriter(table, { backend: options.backend, graceMs: options.graceMs });
  return options.observe ? { writer: observedWriter(w.writer, options.observe), backend: w.backend } : w;
}

/**
 * A live order-book table with its writer. Feed it raw market-channel frames with
 * {@link BookStore.ingest} (or let a feed do it) and read with {@link BookStore.get} or a
 * {@link BookStore.handle}: reads are served from memory and return null when the book must not
 * be used (skip the tick).
 */
export class BookStore extends BookTable {
  /** @internal */
  declare readonly writer: Writer;
  private readonly header: Int32Array;
  /** Set for a table in a server's mapped file: watchers are woken across processes. */
  private readonly mapped: MappedTable | undefined;

  /**
   * Attaches to the books of the book server `name` running in another process (docs/SERVER.md):
   * the same reads (`get`, `handle`, `state`, `metrics`) and watches (`watch`, `changes`) over the
   * server's shared memory, read-only. Reads miss `server_down` while the server is down, and
   * follow it when it restarts. Close it (or `using`) to stop its watchdog thread.
   *
   * ```ts
   * using books = BookStore.attach('main');
   * const h = books.handle(tokenId);
   * if (h.top(Staleness.latencyArb)) quote(h.bidPrice, h.askPrice);
   * ```
   * @throws PolybookError `POLYBOOK_SERVER_NOT_FOUND`, `POLYBOOK_LAYOUT_MISMATCH`, `POLYBOOK_SERVER_UNSAFE`,
   *   `POLYBOOK_SHARED_MEMORY_UNSUPPORTED` (not Linux, or the pure-TypeScript backend: only the native
   *   addon maps shared memory); ConfigError on an option.
   */
  static attach(name: string, options: AttachOptions = {}): AttachedStore {
    return AttachedStore.open(name, options);
  }

  constructor(options: BookStoreOptions = {}) {
    const table = storeTable(options);
    const { writer, backend } = writerOf(table, options);
    super(table, writer, backend, options.clock ?? 'coarse');
    this.header = new Int32Array(table, 0, 1024);
    this.mapped = mappedTable(table);
  }

  /**
   * Applies one raw market-channel frame exactly as received (text or the bytes `ws` delivers).
   * Never throws on bad input: it is counted in `metrics().writer`.
   * @param recvMs local receive time; default: the store's clock (the coarse clock trails real
   *   time by at most a tick, so a book can only look older than it is, never younger).
   * @returns the {@link Status} bits: `Status.resync` when tokens wait to be refetched (see
   *   {@link BookStore.takeResync}), `Status.badFrame` when the frame was not JSON,
   *   `Status.published` when a book or token state changed.
   */
  ingest(frame: string | Uint8Array, recvMs: number = this.now()): number {
    const status = this.writer.ingest(frame, recvMs);
    if (status & Status.published) this.published();
    return status;
  }

  /** Expires mismatch grace periods and runs pending hash checks; call on a timer. Returns the {@link Status} bits. */
  tick(nowMs: number = preciseNow()): number {
    const status = this.writer.tick(nowMs);
    if (status & Status.published) this.published();
    return status;
  }

  /** Tokens whose book was reset and must be refetched, since the last call. */
  takeResync(): string[] {
    return this.writer.takeResync();
  }

  /** The full-depth book with the exact texts, wire order (worst first); for diagnostics and tests. */
  fullBook(tokenId: string): FullBook | null {
    const slot = this.slots.map.get(tokenId);
    return slot === undefined ? null : this.writer.fullBook(slot);
  }

  /**
   * Applies commands made on another thread (a feed worker's main thread) or read from a
   * recording, keeping this side's token-to-slot map in step (a `bind` places the token at the
   * slot the other side chose), then wakes watchers once. A command that throws is handed to
   * `onError` and the others still apply; without `onError` the error is thrown once the batch is
   * done. Returns the last command's answer.
   * @internal
   */
  apply(commands: Iterable<Command>, onError?: (command: Command, error: unknown) => void): unknown {
    let result: unknown;
    let publishes = false;
    let failed: { error: unknown } | undefined;
    for (const c of commands) {
      try {
        result = this.applyOne(c);
        // Calls that answer a status say whether they published; the others may have.
        publishes ||= typeof result === 'number' ? (result & Status.published) !== 0 : COMMANDS[c.op].publishes;
      } catch (e) {
        if (onError) onError(c, e);
        else failed ??= { error: e };
      }
    }
    if (publishes) this.published();
    if (failed) throw failed.error;
    return result;
  }

  private applyOne(c: Command): unknown {
    if (c.op === 'bind') {
      this.slots.place(c.args[0], c.args[1]);
      this.gens[c.args[1]]++;
    } else if (c.op === 'unbind') {
      const token = this.slots.tokenAt(c.args[0]);
      // A token already unbound here (the feed removed it) is not unbound twice.
      if (token === undefined) return undefined;
      this.slots.release(token);
      this.gens[c.args[0]]++;
    }
    return apply(this.writer, c);
  }

  /** Wakes the table's watchers, when there are any (docs/DESIGN.md section 7). */
  protected override published(): void {
    if (this.header[H_WATCHERS / 4] !== 0) {
      Atomics.add(this.header, H_EPOCH / 4, 1);
      if (this.mapped) this.mapped.wake();
      else Atomics.notify(this.header, H_EPOCH / 4);
    }
  }
}
