/**
 * Change notification without polling (docs/DESIGN.md section 7).
 *
 * The writer thread, after each `ingest`/`tick`/`invalidate` and only while the header's `watchers`
 * count is non-zero, does `Atomics.add(epoch, 1)` + `Atomics.notify(epoch)`. Here, one hub per
 * store (per thread) keeps `watchers` incremented while any watch is active, sleeps in
 * `Atomics.waitAsync(epoch, seen)`, and on each wake compares the slot `seq` words of the watched
 * tokens with the versions it saw last: every token whose `seq` moved is reported once.
 *
 * Delivery semantics: one notification per published version when changes are further apart than
 * one wake-up (the usual case); versions published between two wake-ups (e.g. several frames
 * ingested back to back) are coalesced into one notification whose `versions` says how many.
 * The book itself is read with `cache.get` / a handle: only the latest version exists.
 *
 * A table in a book server's mapped file (docs/SERVER.md) cannot be waited on with
 * `Atomics.waitAsync` (it is not a SharedArrayBuffer): the hub waits through a native waiter
 * thread instead (a futex on the same epoch word, src/table/mapped.ts), which counts in `watchers`
 * while it runs and calls back on this thread; the scan and its coalescing are the same.
 *
 * The server's liveness: a dead server publishes nothing, so no epoch moves when it dies. The
 * attached store's timer calls {@link WatchHub.checkLive} (every 50 ms); when the source's `live()`
 * answer changed since the last scan, the scan reports every watched token in the table once
 * (`ready: false` while the server is down, its book's state once it is back) unless its last
 * notification said that already, and `ready` is false in every notification while it is down.
 */
import { H_EPOCH, H_WATCHERS, F_READY, F_SUBSCRIBED, F_DISABLED, F_SETTLED, S_SEQUENCE } from '../table/layout.js';
import { SlotHeader, SlotReader } from '../table/view.js';
import { mappedTable, type MappedTable } from '../table/mapped.js';
import { invalidArgument } from '../errors.js';

/** One change of a watched token's book (or of its state: ready, reset, settled, disabled). */
export interface BookChange {
  /** The token that changed. */
  readonly tokenId: string;
  /** The slot's seqlock version (even) after the change. */
  readonly version: number;
  /** The store's book sequence (+1 per frame that changed the book). */
  readonly sequence: number;
  /**
   * Published versions since the previous notification of this token (1, or more when coalesced);
   * 0 when only the book server's liveness changed (it went down or came back).
   */
  readonly versions: number;
  /**
   * Whether the book may be served now (ignoring staleness). False while the book server of an
   * attached store or connected cache is down (its heartbeat is NaN: every read misses
   * `server_down`), whatever the book's own state.
   */
  readonly ready: boolean;
}

/** Called once per change of a watched token (coalesced: see {@link BookChange.versions}). */
export type WatchCallback = (change: BookChange) => void;

/** What the hub needs from a store: the shared table and a token-to-slot lookup. */
export interface WatchSource {
  /** The table; an attached store's changes when its server restarts (then call {@link WatchHub.refresh}). */
  readonly table: ArrayBufferLike;
  /** Slot of a token, or -1 when it is not in the table. */
  slotOf(tokenId: string): number;
  /** Called before each scan: an attached store follows its server's directory and restarts (it calls `refresh`). */
  sync?(): void;
  /**
   * Whether the table's writer is alive (an attached store: its server's heartbeat is current).
   * Absent: always. A change is reported for every watched token (see {@link WatchHub.checkLive}).
   */
  live?(): boolean;
}

interface Entry {
  tokenId: string;
  slot: number;
  gen: number;
  seq: number;
  /** The book sequence of the version `seq` (reported when only the liveness changed). */
  sequence: number;
  /** `ready` of the last notification (null before the first): a liveness change that does not change it is not reported. */
  ready: boolean | null;
  subs: Set<Sub>;
}

interface Sub {
  tokens: string[];
  cb: WatchCallback;
}

/** `Atomics.waitAsync` (V8 / Node >= 16; not in the ES2022 lib typings). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const EPOCH = H_EPOCH / 4;
const WATCHERS = H_WATCHERS / 4;

/** The per-store hub: one `waitAsync` loop however many watches. */
export class WatchHub {
  private table!: ArrayBufferLike;
  private i32!: Int32Array;
  private reader!: SlotReader;
  /** Reused by every scan (no allocation per watched token). */
  private readonly header = new SlotHeader();
  /** The table's mapped-file hooks (a server's table), else undefined. */
  private mapped: MappedTable | undefined;
  /** Stops the native waiter of a mapped table while the hub is active. */
  private stopWaiter: () => void = () => {};
  private readonly entries = new Map<string, Entry>();
  private readonly subs = new Set<Sub>();
  private run = 0;
  private active = false;
  private seen = 0;
  /** `source.live()` at the last scan (or when the first watch started). */
  private live = true;
  /** Wake-ups since creation (diagnostics and tests: proves there is no polling). */
  wakeups = 0;
  /** Notifications delivered. */
  delivered = 0;
  /**
   * Published versions not reported one by one: merged into a later notification of the same
   * token (by the hub between two wake-ups, or by a `changes()` queue while its consumer is busy).
   * This is the queue policy: coalesce per token, so nothing waits in memory beyond one entry per
   * watched token.
   */
  coalesced = 0;

  /**
   * @param reportResolved report a watched token as changed when it appears in the table (an
   *   attached store: a token another process added arrives with its book already there).
   */
  constructor(
    private readonly source: WatchSource,
    private readonly onError: (e: unknown) => void = (e) => console.error('polybook: watch callback threw', e),
    private readonly reportResolved = false,
  ) {
    this.bind(source.table);
  }

  private bind(table: ArrayBufferLike): void {
    this.table = table;
    this.reader = new SlotReader(table);
    this.i32 = this.reader.i32;
    this.mapped = mappedTable(table);
  }

  /** Number of active watches. */
  get size(): number {
    return this.subs.size;
  }

  /** Watches `tokenIds`; returns the unsubscribe function (idempotent). */
  watch(tokenIds: Iterable<string>, cb: WatchCallback): () => void {
    if (typeof cb !== 'function') throw invalidArgument('type', 'polybook: watch needs a callback function');
    const tokens = [...new Set(tokenIds)];
    for (const t of tokens)
      if (typeof t !== 'string' || t.length === 0)
        throw invalidArgument('type', `polybook: token ids are non-empty strings, got ${JSON.stringify(t)}`);
    const sub: Sub = { tokens, cb };
    if (!this.active) {
      // Watches started while the server is down hear it come back.
      this.live = this.source.live?.() ?? true;
      this.start();
    }
    this.subs.add(sub);
    for (const t of tokens) {
      let e = this.entries.get(t);
      if (!e) {
        e = { tokenId: t, slot: -1, gen: 0, seq: 0, sequence: 0, ready: null, subs: new Set() };
        this.resolve(e);
        this.entries.set(t, e);
      }
      e.subs.add(sub);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.subs.delete(sub);
      for (const t of tokens) {
        const e = this.entries.get(t);
        if (!e) continue;
        e.subs.delete(sub);
        if (e.subs.size === 0) this.entries.delete(t);
      }
      if (this.subs.size === 0) this.stop();
    };
  }

  /**
   * Re-resolves token slots after the set of subscribed tokens changed (a watched token was added
   * to or removed from the table). Tokens that appear are reported on their next change.
   */
  refresh(): void {
    if (this.source.table !== this.table) {
      // An attached store's server restarted: the same watches over the new table.
      const active = this.active;
      if (active) this.stop();
      this.bind(this.source.table);
      for (const e of this.entries.values()) this.resolve(e);
      if (active) this.start();
      if (this.reportResolved) this.reportAll();
      return;
    }
    let appeared = false;
    for (const e of this.entries.values()) {
      const slot = this.source.slotOf(e.tokenId);
      if (slot === e.slot) continue;
      this.resolve(e);
      if (this.reportResolved && e.slot >= 0) {
        e.seq = -1;
        appeared = true;
      }
    }
    if (appeared) queueMicrotask(() => this.active && this.scan());
  }

  /**
   * Scans now when the source's liveness changed since the last scan (its server went down or
   * came back): every watched token in the table is reported once. Costs one call of `live()`
   * otherwise. An attached store calls it from its timer. @internal
   */
  checkLive(): void {
    if (this.active && (this.source.live?.() ?? true) !== this.live) this.scan();
  }

  /** Reports every watched token present in the table once, with its current state. */
  private reportAll(): void {
    for (const e of this.entries.values()) if (e.slot >= 0) e.seq = -1;
    queueMicrotask(() => this.active && this.scan());
  }

  /** Stops every watch. */
  close(): void {
    this.subs.clear();
    this.entries.clear();
    this.stop();
  }

  private resolve(e: Entry): void {
    e.slot = this.source.slotOf(e.tokenId);
    if (e.slot < 0) return;
    const b = this.reader.base32(e.slot);
    let s = Atomics.load(this.i32, b);
    // A write in progress finishes with an epoch bump after we loaded `seen`: take the version before it.
    if (s & 1) s -= 1;
    e.seq = s;
    e.gen = this.i32[b + 5];
    e.sequence = this.reader.f64[(b >> 1) + S_SEQUENCE / 8];
  }

  private start(): void {
    this.active = true;
    const run = ++this.run;
    const mapped = this.mapped;
    if (mapped) {
      // The waiter is registered (and counts in `watchers`) before the versions below are loaded.
      this.stopWaiter = mapped.watch(() => {
        if (this.run !== run) return;
        this.wakeups++;
        this.scan();
      });
      for (const e of this.entries.values()) this.resolve(e);
      return;
    }
    Atomics.add(this.i32, WATCHERS, 1);
    // Load the epoch before the slot versions: a change published after our snapshot bumps the
    // epoch after this load, so the wait below cannot miss it.
    this.seen = Atomics.load(this.i32, EPOCH);
    for (const e of this.entries.values()) this.resolve(e);
    void this.loop(run);
  }

  private stop(): void {
    if (!this.active) return;
    this.active = false;
    this.run++;
    if (this.mapped) {
      this.stopWaiter();
      this.stopWaiter = () => {};
      return;
    }
    Atomics.sub(this.i32, WATCHERS, 1);
    // Release our pending wait (other waiters on this epoch just re-check and sleep again).
    Atomics.notify(this.i32, EPOCH);
  }

  private async loop(run: number): Promise<void> {
    let spins = 0;
    while (this.run === run) {
      const w = waitAsync(this.i32, EPOCH, this.seen);
      if (w.async) {
        spins = 0;
        await w.value;
      } else if (++spins >= 16) {
        // The epoch keeps moving (another thread ingesting fast): let this thread's event loop run.
        spins = 0;
        await new Promise((r) => setImmediate(r));
      }
      if (this.run !== run) return;
      this.seen = Atomics.load(this.i32, EPOCH);
      this.wakeups++;
      this.scan();
    }
  }

  private scan(): void {
    this.source.sync?.();
    const live = this.source.live?.() ?? true;
    // The server went down or came back: every watched token is reported once (unless its last
    // notification already said what `ready` says now).
    const flipped = live !== this.live;
    this.live = live;
    const r = this.reader;
    let changes: [Entry, BookChange][] | undefined;
    for (const e of this.entries.values()) {
      if (e.slot < 0) continue;
      const v = Atomics.load(this.i32, r.base32(e.slot));
      if (v & 1) {
        // A write in progress: its epoch bump wakes us again. Unless the server died in it: the
        // slot stays odd for good, so the version seen last is reported as not ready.
        if (!flipped || live || e.ready === false) continue;
        const version = e.seq < 0 ? v - 1 : e.seq;
        e.seq = version;
        e.ready = false;
        changes ??= [];
        changes.push([e, { tokenId: e.tokenId, version, sequence: e.sequence, versions: 0, ready: false }]);
        continue;
      }
      if (v === e.seq && !flipped) continue;
      // The latest version, consistent (a version published meanwhile is reported now, not twice).
      const h = r.header(e.slot, this.header);
      const v1 = h.version;
      if (h.gen !== e.gen) {
        // Rebound: only report when the slot still holds this token.
        const prev = e.slot;
        this.resolve(e);
        if (e.slot !== prev || e.slot < 0) continue;
      }
      // seq -1: the token just appeared in the table (reportResolved), one notification. 0: only
      // the server's liveness changed.
      const versions = e.seq < 0 ? 1 : v1 === e.seq ? 0 : Math.max(1, ((v1 - e.seq) | 0) >> 1);
      if (versions > 1) this.coalesced += versions - 1;
      e.seq = v1;
      e.gen = h.gen;
      e.sequence = h.sequence;
      const ready = live && (h.flags & (F_SUBSCRIBED | F_READY | F_DISABLED | F_SETTLED)) === (F_SUBSCRIBED | F_READY);
      // Only the liveness changed, and not what the token's last notification said (a clean stop
      // reported its books invalidated already; a restarted server's book is not ready yet): nothing new.
      if (versions === 0 && ready === e.ready) continue;
      e.ready = ready;
      changes ??= [];
      changes.push([e, { tokenId: e.tokenId, version: v1, sequence: h.sequence, versions, ready }]);
    }
    if (!changes) return;
    for (const [e, c] of changes) {
      for (const sub of e.subs) {
        if (!this.subs.has(sub)) continue;
        this.delivered++;
        try {
          sub.cb(c);
        } catch (err) {
          this.onError(err);
        }
      }
    }
  }
}

/** Options of `cache.changes()`. */
export interface ChangesOptions {
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
}

/**
 * An async iterator over changes, built on a hub watch. Changes of one token that queue up while
 * the consumer is busy are merged (`versions` summed), so the queue is bounded by the number of
 * watched tokens. `break` (or `return()`) unsubscribes.
 */
export function changesIterator(
  hub: WatchHub,
  tokenIds: Iterable<string>,
  options: ChangesOptions = {},
): AsyncIterableIterator<BookChange> {
  const queue = new Map<string, BookChange>();
  let wake: (() => void) | null = null;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe();
    options.signal?.removeEventListener('abort', end);
    wake?.();
  };
  const unsubscribe = hub.watch(tokenIds, (c) => {
    const prev = queue.get(c.tokenId);
    if (prev) {
      hub.coalesced += 1;
      queue.delete(c.tokenId);
      queue.set(c.tokenId, { ...c, versions: prev.versions + c.versions });
    } else {
      queue.set(c.tokenId, c);
    }
    wake?.();
  });
  if (options.signal?.aborted) end();
  else options.signal?.addEventListener('abort', end, { once: true });

  const it: AsyncIterableIterator<BookChange> = {
    async next(): Promise<IteratorResult<BookChange>> {
      for (;;) {
        const first = queue.entries().next();
        if (!first.done) {
          queue.delete(first.value[0]);
          return { value: first.value[1], done: false };
        }
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
    async return(): Promise<IteratorResult<BookChange>> {
      end();
      queue.clear();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
