/**
 * AttachedStore: the books of a book server read from another process (docs/SERVER.md), through
 * the same lock-free views as a store of this process (src/table/view.ts) over the server's mapped
 * file. Read-only: the server's writer is the only one.
 *
 * - Tokens resolve through the server's token directory (src/server/directory.ts), followed
 *   whenever its epoch moves.
 * - Liveness: the clock word is the server's heartbeat; this process's watchdog thread makes it NaN
 *   once it is older than `serverTimeoutMs`, and every read then misses `server_down`.
 * - A restarted server (a new file under the name) is mapped on the next miss or within
 *   {@link MAINTAIN_MS} (a timer), and handles move to it on their next read.
 */
import { readEnv } from '../config.js';
import { ConfigError, PolybookError } from '../errors.js';
import type { BackendName } from '../backend/index.js';
import { BookTable } from '../table/book-table.js';
import { preciseNow, type ClockOption } from '../table/clock.js';
import { H_CLOCK, H_DIRECTORY_EPOCH, H_SERVER_BACKEND, SERVER_JS } from '../table/layout.js';
import type { BookHandle, Book } from '../table/view.js';
import { TableReader, type Relocation } from '../table/view.js';
import { SlotAllocator } from '../table/slots.js';
import type { TokenState } from '../table/book-view.js';
import { forwardingWriter, type Command } from '../table/writer.js';
import { WatchHub, changesIterator, type BookChange, type ChangesOptions, type WatchCallback } from '../cache/watch.js';
import { TokenDirectory } from './directory.js';
import { checkName, ServerMemory } from './memory.js';

/** Options of `BookStore.attach`. */
export interface AttachOptions {
  /**
   * Clock of staleness checks: `'coarse'` (default: the server's clock word, one load per read),
   * `'precise'` (`performance.now()` per read) or a function returning ms of the host's monotonic
   * clock. Whatever the clock, reads miss `server_down` while the server's heartbeat is down.
   */
  clock?: ClockOption;
  /**
   * Reads miss `server_down` once the server's heartbeat is older than this, ms (then at most one
   * watchdog period, 20 ms, later). Default `POLYBOOK_SERVER_TIMEOUT_MS`, else 200.
   */
  serverTimeoutMs?: number;
  /** `'js'` is refused: only the native addon maps shared memory. Default `POLYBOOK_BACKEND`. */
  backend?: BackendName;
}

/** Default heartbeat bound, ms. */
export const DEFAULT_SERVER_TIMEOUT_MS = 200;
/** The watchdog's period: the bound holds within this (plus scheduling). */
export const WATCHDOG_SLACK_MS = 20;
/** How often an attached store looks for a restarted server and a changed directory without reads, ms. */
export const MAINTAIN_MS = 50;
/** Shortest time between two attempts to map a restarted server's file, ms. */
const REMAP_RETRY_MS = 50;
/** i32 index of the directory epoch in the header. */
const DIR_EPOCH_I32 = H_DIRECTORY_EPOCH / 4;

/** Checks `serverTimeoutMs` (option, else `POLYBOOK_SERVER_TIMEOUT_MS`, else 200). @internal */
export function serverTimeout(option: unknown): number {
  const v = option ?? readEnv('serverTimeoutMs') ?? DEFAULT_SERVER_TIMEOUT_MS;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 20 || v > 60_000) {
    throw new ConfigError('serverTimeoutMs', v, 'an integer from 20 to 60000 (ms)');
  }
  return v;
}

/** Every command of an attached store: refused (the server's writer is the only one). */
function readOnly(what: string): never {
  throw new PolybookError(
    'POLYBOOK_INVALID_STATE',
    `polybook: ${what}() on a store attached to a book server: it is read-only; ask the server for tokens with BookCache.connect (acquire, release)`,
  );
}

/** The clock of an attached store's reads: NaN while the current table's heartbeat is down. */
function attachedClock(option: ClockOption, header: { f64: Float64Array }): ClockOption {
  if (option === 'coarse') return 'coarse';
  const inner = option === 'precise' ? preciseNow : option;
  if (typeof inner !== 'function') throw new ConfigError('clock', option, "'coarse', 'precise' or a function");
  return () => {
    return Number.isNaN(header.f64[0]) ? Number.NaN : inner();
  };
}

/**
 * The books of a book server, read in this process: `get`, `handle`, `watch`, `changes`, `metrics`
 * and `state` as on a store of this process, read-only. Create with `BookStore.attach(name)`.
 */
export class AttachedStore extends BookTable {
  /** The server's name. */
  readonly name: string;
  private memory: ServerMemory;
  private dir: TokenDirectory;
  /** Directory epoch the token map was built at (-1: look again). */
  private dirEpoch = -1;
  /** Per slot: the directory entry version the token map holds, and the token there. */
  private dirSeq: Int32Array;
  private bySlot: (string | undefined)[];
  /** The current table's clock word (the heartbeat). */
  private readonly heartbeat: { f64: Float64Array };
  /** The current table's header, for the plain load of the directory epoch on every read. */
  private header: Int32Array;
  private readonly coarse: boolean;
  private readonly timeoutMs: number;
  private hub: WatchHub | null = null;
  private readonly timer: NodeJS.Timeout;
  private lastRemapTry = -Infinity;
  private closed = false;
  /** Called after the server restarted and its new table was mapped (the connected cache re-resolves). @internal */
  onRestart: (() => void) | null = null;
  /** Called when the token directory changed. @internal */
  onDirectory: (() => void) | null = null;
  /** Called every {@link MAINTAIN_MS} by the timer (the connected cache's watches look at the server's liveness). @internal */
  onMaintain: (() => void) | null = null;

  private constructor(name: string, memory: ServerMemory, options: AttachOptions, timeoutMs: number) {
    const heartbeat = { f64: new Float64Array(memory.buffer, H_CLOCK, 1) };
    const clock = options.clock ?? 'coarse';
    super(
      memory.buffer,
      forwardingWriter((c: Command) => readOnly(c.op)),
      memory.header[H_SERVER_BACKEND / 4] === SERVER_JS ? 'js' : 'native',
      attachedClock(clock, heartbeat),
    );
    this.name = name;
    this.memory = memory;
    this.heartbeat = heartbeat;
    this.coarse = clock === 'coarse';
    this.timeoutMs = timeoutMs;
    this.header = memory.header;
    this.dir = new TokenDirectory(memory.buffer, memory.region.directory, memory.capacity);
    this.dirSeq = new Int32Array(memory.capacity).fill(-1);
    this.bySlot = new Array(memory.capacity);
    this.reader.relocate = this.relocator(this.reader);
    this.sync();
    this.timer = setInterval(() => this.maintain(), MAINTAIN_MS);
    this.timer.unref();
  }

  /**
   * Maps the table of the book server `name` and starts this process's liveness watchdog.
   * @throws PolybookError `POLYBOOK_SERVER_NOT_FOUND` (no such server), `POLYBOOK_LAYOUT_MISMATCH`
   *   (another polybook version), `POLYBOOK_SERVER_UNSAFE` (not this user's, not mode 0600),
   *   `POLYBOOK_SHARED_MEMORY_UNSUPPORTED` (not Linux, or the pure-TypeScript backend); ConfigError on an option.
   */
  static open(name: string, options: AttachOptions = {}): AttachedStore {
    checkName(name);
    const timeoutMs = serverTimeout(options.serverTimeoutMs);
    if (options.backend !== undefined && options.backend !== 'native' && options.backend !== 'js') {
      throw new ConfigError('backend', options.backend, "'native' or 'js'");
    }
    const memory = ServerMemory.open(name, 'reader', options.backend ?? readEnv('backend'));
    try {
      memory.startWatchdog(timeoutMs);
      return new AttachedStore(name, memory, options, timeoutMs);
    } catch (e) {
      memory.close();
      throw e;
    }
  }

  /** The server's generation: 1 on its first start under the name, +1 per restart. */
  get generation(): number {
    return this.memory.generation;
  }

  /** The server's process id. */
  get serverPid(): number {
    return this.memory.pid;
  }

  /** Whether the server's heartbeat is current (younger than `serverTimeoutMs`): reads may be served. */
  get serverUp(): boolean {
    return !Number.isNaN(this.heartbeat.f64[0]);
  }

  /** @internal The mapping (the connected cache reads the stats block). */
  get mapped(): ServerMemory {
    return this.memory;
  }

  override get(tokenId: string, maxStaleMs: number): Book | null {
    // A plain load (an `Atomics.load` is a builtin call): a directory change seen one read late is
    // still seen; its entries are read under their seqlock.
    if (this.header[DIR_EPOCH_I32] !== this.dirEpoch) this.sync();
    const book = super.get(tokenId, maxStaleMs);
    // Missed while the server is down: the next read is from its restarted table, if there is one.
    if (book === null && Number.isNaN(this.heartbeat.f64[0])) this.follow();
    return book;
  }

  override handle(tokenId: string): BookHandle {
    this.sync();
    this.adopt([tokenId]);
    return super.handle(tokenId);
  }

  /**
   * Keys the token map with these very strings (the ones this process reads with): a `get()` of
   * the same string then compares pointers, as a store of the process does with the strings it
   * subscribed; another string of the same text costs a compare of its characters (~5 ns for a
   * 78-digit id). `handle()` and a connected cache's `acquire` do it. @internal
   */
  adopt(tokenIds: Iterable<string>): void {
    const map = this.slots.map;
    for (const t of tokenIds) {
      const slot = map.get(t);
      // (Strings compare by value in JavaScript: no way to tell whether `t` is the key already.)
      if (slot === undefined) continue;
      map.delete(t);
      map.set(t, slot);
      this.bySlot[slot] = t;
    }
  }

  override has(tokenId: string): boolean {
    this.sync();
    return super.has(tokenId);
  }

  override tokens(): string[] {
    this.sync();
    return super.tokens();
  }

  override get size(): number {
    this.sync();
    return super.size;
  }

  override slotOf(tokenId: string): number {
    this.sync();
    return super.slotOf(tokenId);
  }

  override state(tokenId: string): TokenState | null {
    this.sync();
    return super.state(tokenId);
  }

  /** Tokens whose book is ready (ignoring staleness); 0 while the server is down (every read misses `server_down`). */
  override readyCount(): number {
    this.sync();
    return this.serverUp ? super.readyCount() : 0;
  }

  /**
   * Calls `callback` once per change of any of `tokenIds` (coalesced as `cache.watch`), and once
   * per watched token when the server goes down (`ready: false`, at most `serverTimeoutMs` + 70 ms
   * after its last heartbeat) and when it is back (the same server, or a restarted one: `ready` as
   * its book is). Returns the unsubscribe function.
   */
  watch(tokenIds: Iterable<string>, callback: WatchCallback): () => void {
    return this.watchHub().watch(tokenIds, callback);
  }

  /** `for await (const change of store.changes(ids))`; `break` unsubscribes. */
  changes(tokenIds: Iterable<string>, options?: ChangesOptions): AsyncIterableIterator<BookChange> {
    return changesIterator(this.watchHub(), tokenIds, options);
  }

  /** @internal The store's watch hub (the connected cache shares it). */
  watchHub(): WatchHub {
    if (!this.hub) {
      const self = this;
      this.hub = new WatchHub(
        {
          get table() {
            return self.table;
          },
          slotOf: (id) => self.slotOf(id),
          sync: () => self.follow(),
          live: () => self.serverUp,
        },
        undefined,
        true,
      );
    }
    return this.hub;
  }

  /** Refused: the store is read-only (ask the server with `BookCache.connect`'s `acquire`). */
  override subscribe(_tokenIds?: Iterable<string>): void {
    readOnly('subscribe');
  }

  /** Refused: the store is read-only (`BookCache.connect`'s `release`). */
  override unsubscribe(_tokenIds?: Iterable<string>): void {
    readOnly('unsubscribe');
  }

  /** Stops the watches, the watchdog and the timer. Reads afterwards miss as the table was left. Idempotent. */
  override close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.hub?.close();
    this.memory.close();
    super.close();
  }

  /** {@link AttachedStore.close}, for `using store = BookStore.attach(name)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Brings the token map up to the server's directory. @internal */
  sync(): void {
    const epoch = this.dir.epoch();
    if (epoch !== this.dirEpoch) this.rescan(epoch);
  }

  /** Follows a restarted server and the directory without reads (the timer, each watch scan, a reconnect). @internal */
  follow(): void {
    if (this.closed) return;
    if (!this.serverUp) this.followRestart();
    this.sync();
  }

  /**
   * The timer: follows the server without reads, and lets the watches hear the server go down
   * or come back (each watched token is reported once per transition, within {@link MAINTAIN_MS}
   * of the heartbeat turning NaN or current again).
   */
  private maintain(): void {
    this.follow();
    this.hub?.checkLive();
    this.onMaintain?.();
  }

  /** Reads the directory entries whose version moved since the token map was built. */
  private rescan(epoch: number): void {
    const map = this.slots.map;
    let complete = true;
    let changed = false;
    for (let slot = 0; slot < this.dirSeq.length; slot++) {
      const v = this.dir.version(slot);
      if (v === this.dirSeq[slot]) continue;
      const entry = v & 1 ? undefined : this.dir.read(slot, v);
      if (entry === undefined) {
        // Being rewritten: the server bumps the epoch once it is done; look again then.
        complete = false;
        continue;
      }
      const old = this.bySlot[slot];
      if (old !== undefined && map.get(old) === slot) map.delete(old);
      if (entry === null) {
        this.bySlot[slot] = undefined;
      } else {
        map.set(entry.tokenId, slot);
        this.bySlot[slot] = entry.tokenId;
        this.gens[slot] = entry.gen;
      }
      this.dirSeq[slot] = v;
      changed = true;
    }
    this.dirEpoch = complete ? epoch : -1;
    if (changed) {
      this.hub?.refresh();
      this.onDirectory?.();
    }
  }

  /**
   * While the heartbeat is down: when the server's name now names another file, maps it (a
   * restarted server) and moves this store to it. Returns whether it did.
   */
  private followRestart(): boolean {
    if (this.closed) return false;
    const now = preciseNow();
    if (now - this.lastRemapTry < REMAP_RETRY_MS || !this.memory.superseded()) return false;
    this.lastRemapTry = now;
    let next: ServerMemory;
    try {
      next = ServerMemory.open(this.name, 'reader');
      next.startWatchdog(this.timeoutMs);
    } catch {
      // Not back yet (or stopped): reads keep missing `server_down`; tried again later.
      return false;
    }
    const old = this.memory;
    this.memory = next;
    this.table = next.buffer;
    this.reader = new TableReader(next.buffer, this.reader.counters);
    this.reader.relocate = this.relocator(this.reader);
    this.heartbeat.f64 = new Float64Array(next.buffer, H_CLOCK, 1);
    this.header = next.header;
    if (this.coarse) {
      const f64 = this.heartbeat.f64;
      this.readClock = () => f64[0];
    }
    this.dir = new TokenDirectory(next.buffer, next.region.directory, next.capacity);
    this.slots = new SlotAllocator(next.capacity);
    this.gens = new Int32Array(next.capacity);
    this.dirSeq = new Int32Array(next.capacity).fill(-1);
    this.bySlot = new Array(next.capacity);
    this.dirEpoch = -1;
    this.sync();
    // The old mapping stays until nothing reads it (handles move on their next read).
    old.close();
    this.hub?.refresh();
    this.onRestart?.();
    return true;
  }

  /** The relocation hook of a table this store reads (see `TableReader.relocate`). */
  private relocator(reader: TableReader): (tokenId: string) => Relocation | null {
    return (tokenId) => {
      if (reader === this.reader) this.followRestart();
      if (reader === this.reader) return null;
      const slot = this.slotOf(tokenId);
      return { reader: this.reader, slot, gen: slot < 0 ? -1 : this.gens[slot] };
    };
  }
}
