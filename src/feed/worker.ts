/**
 * Worker mode: the feed (sockets, parsing, book updates) runs in a worker thread; the main
 * thread reads the same SharedArrayBuffer lock-free. Threading model: docs/FEED.md "Worker mode".
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { BookStore, type BookStoreOptions } from '../table/store.js';
import { resolveBackend, type BackendName } from '../backend/index.js';
import type { Writer } from '../table/writer.js';
import type { FeedEvents, FeedStats, UniverseEntry } from './manager.js';
import { PolybookError } from '../errors.js';
import { resolveFeedOptions, type FeedOptions } from './options.js';
import { queueGauges, readStats, STATS_WORDS } from './stats.js';
import { FeedLog } from './log.js';
import {
  Q_HANDLED,
  Q_OPS_POSTED,
  QUEUE_WORDS,
  type MainMessage,
  type MainOp,
  type WorkerFeedSettings,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol.js';

/** Options of {@link startWorkerFeed}: the feed's (the logger is called on this thread), the store's, and the universe. */
export interface WorkerFeedOptions
  extends FeedOptions,
    Pick<BookStoreOptions, 'backend' | 'maxDepth' | 'capacity' | 'graceMs' | 'clock'> {
  /** Subscribed at start (more with {@link WorkerFeed.add}). */
  universe?: Iterable<UniverseEntry>;
  /** How long to wait for the worker to start, ms. Default 30000. */
  startTimeoutMs?: number;
  /**
   * Cancels the start: aborting before {@link startWorkerFeed} resolves rejects it with the
   * signal's reason once the worker has exited. No effect once started (use {@link WorkerFeed.stop}).
   */
  signal?: AbortSignal;
}

/**
 * A writer that forwards every call to the feed worker, in order, batched per microtask.
 * Calls that need an answer from the writer's private state have none here: `tick` and
 * `takeResync` are the worker's business, `fullBook` returns null.
 */
class ForwardingWriter implements Writer {
  private queue: MainOp[] = [];
  private scheduled = false;
  worker: Worker | undefined;

  /** @param counters shared queue counters: operations posted are counted for `workerOpsQueued`. */
  constructor(private readonly counters: Int32Array) {}

  post(op: MainOp): void {
    Atomics.add(this.counters, Q_OPS_POSTED, 1);
    this.queue.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || !this.worker) return;
    const msg: MainMessage = { ops: this.queue };
    this.queue = [];
    this.worker.postMessage(msg);
  }

  bind(tokenId: string, slot: number, conn: number): void {
    this.post({ op: 'bind', tokenId, slot, conn });
  }
  unbind(slot: number): void {
    this.post({ op: 'unbind', slot });
  }
  assign(slot: number, conn: number): void {
    this.post({ op: 'assign', slot, conn });
  }
  confirm(conn: number, sentAt: number): void {
    this.post({ op: 'confirm', conn, sentAt });
  }
  ingest(frame: string | Uint8Array, now: number): number {
    this.post({ op: 'ingest', frame, now });
    return 0;
  }
  invalidate(slot: number, now: number): void {
    this.post({ op: 'invalidate', slot, now });
  }
  setDisabled(slot: number, disabled: boolean): void {
    this.post({ op: 'disable', slot, disabled });
  }
  setMeta(slot: number, minOrderSize: string, negRisk: boolean): void {
    this.post({ op: 'setMeta', slot, minOrderSize, negRisk });
  }
  tick(): number {
    return 0;
  }
  takeResync(): string[] {
    return [];
  }
  restBook(json: string, now: number): void {
    this.post({ op: 'restBook', json, now });
  }
  fullBook(): null {
    return null;
  }
}

/**
 * How to start the worker: from dist/, `worker-entry.js` directly; from the TypeScript sources
 * (tsx, vitest), a small bootstrap that registers the tsx loader in the worker thread and then
 * imports `worker-entry.ts` (a worker's `execArgv: ['--import', 'tsx']` does not reach its own
 * entry on Node 20).
 */
function workerEntry(): { url: URL; argv: string[] | undefined } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { url: new URL('./worker-entry.js', here), argv: undefined };
  return { url: new URL('./ts-worker-bootstrap.mjs', here), argv: [new URL('./worker-entry.ts', here).href] };
}

/**
 * A feed running in a worker thread. Read books on any thread through {@link WorkerFeed.store}
 * (lock-free, the same SharedArrayBuffer the worker writes).
 */
export class WorkerFeed extends EventEmitter<FeedEvents> {
  /** The main-thread store: reads are local; writes are forwarded to the worker. */
  readonly store: BookStore;
  /** The backend that applies updates in the worker. */
  readonly backend: BackendName;
  private readonly writer: ForwardingWriter;
  private readonly worker: Worker;
  private readonly statsBlock: Float64Array;
  private readonly queueCounters: Int32Array;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  private stopping: Promise<void> | undefined;
  private readonly log: FeedLog;

  /** @internal use {@link startWorkerFeed}. */
  constructor(options: WorkerFeedOptions, ready: { resolve: () => void; reject: (e: Error) => void }) {
    super();
    const so = options;
    const fo = options;
    const resolved = resolveFeedOptions(fo); // validates in the caller's thread
    this.log = new FeedLog(resolved.logger, resolved.logStyle);
    const backend = resolveBackend(so.backend);
    this.backend = backend;
    const queueSab = new SharedArrayBuffer(QUEUE_WORDS * 4);
    this.queueCounters = new Int32Array(queueSab);
    const fw = new ForwardingWriter(this.queueCounters);
    this.writer = fw;
    const statsSab = new SharedArrayBuffer(STATS_WORDS * 8);
    this.statsBlock = new Float64Array(statsSab);
    const settings: WorkerFeedSettings = {
      url: resolved.url,
      maxTokensPerConnection: resolved.maxTokensPerConnection,
      confirmIntervalMs: resolved.confirmIntervalMs,
      pongTimeoutMs: resolved.pongTimeoutMs,
      silenceTimeoutMs: resolved.silenceTimeoutMs,
      stallFactor: resolved.stallFactor,
      stallMinMs: resolved.stallMinMs,
      hardStaleMs: resolved.hardStaleMs,
      healthIntervalMs: resolved.healthIntervalMs,
      customFeatures: resolved.customFeatures,
      backoff: resolved.backoff,
      maxFrameBytes: resolved.maxFrameBytes,
    };
    let worker: Worker | undefined;
    this.store = new BookStore({
      maxDepth: so.maxDepth,
      capacity: so.capacity,
      clock: so.clock,
      writer: (table) => {
        const entry = workerEntry();
        const init: WorkerInit = {
          table,
          backend,
          graceMs: so.graceMs,
          feed: settings,
          stats: statsSab,
          log: fo.logger !== undefined,
          queue: queueSab,
        };
        worker = new Worker(entry.url, { workerData: init, argv: entry.argv });
        return { writer: fw, backend };
      },
    });
    this.worker = worker as unknown as Worker;
    fw.worker = this.worker;
    let started = false;
    const timeout = setTimeout(() => {
      if (started) return;
      ready.reject(
        new PolybookError(
          'POLYBOOK_WORKER_START',
          `polybook: the feed worker did not start within startTimeoutMs (${options.startTimeoutMs ?? 30_000} ms); a loaded machine may need a longer one`,
        ),
      );
      void this.worker.terminate();
    }, options.startTimeoutMs ?? 30_000);
    this.worker.on('message', (m: WorkerMessage) => {
      Atomics.add(this.queueCounters, Q_HANDLED, 1);
      switch (m.type) {
        case 'ready':
          started = true;
          clearTimeout(timeout);
          ready.resolve();
          return;
        case 'fatal':
          clearTimeout(timeout);
          ready.reject(
            new PolybookError(
              'POLYBOOK_WORKER_START',
              `polybook: the feed worker failed to start: ${m.message.replace(/^polybook: /, '')}`,
            ),
          );
          return;
        case 'event':
          (this.emit as (n: string, p: unknown) => boolean)(m.name, m.payload);
          return;
        case 'log':
          this.log.emit(m);
          return;
        case 'opError':
          this.log.write('feed.worker_op_error', `polybook feed worker: ${m.message}`, { error: m.message });
          return;
        case 'stats':
        case 'stopped': {
          const w = this.waiting.get(m.id);
          this.waiting.delete(m.id);
          w?.resolve(m.type === 'stats' ? m.stats : undefined);
          return;
        }
      }
    });
    this.worker.on('error', (e) => {
      clearTimeout(timeout);
      this.log.write('feed.worker_error', `polybook feed worker failed: ${e.message}`, { error: e.message });
      ready.reject(
        new PolybookError('POLYBOOK_WORKER_START', `polybook: the feed worker failed: ${e.message}`, { cause: e }),
      );
      this.failAll(
        new PolybookError('POLYBOOK_WORKER_EXITED', `polybook: the feed worker failed: ${e.message}`, { cause: e }),
      );
    });
    this.worker.on('exit', (code) => {
      clearTimeout(timeout);
      this.exited = true;
      const e = new PolybookError('POLYBOOK_WORKER_EXITED', `polybook: the feed worker exited (code ${code})`);
      ready.reject(
        started
          ? e
          : new PolybookError(
              'POLYBOOK_WORKER_START',
              `polybook: the feed worker exited before it was ready (code ${code})`,
            ),
      );
      this.failAll(e);
    });
  }

  /** Adds markets or tokens (see `SubscriptionManager.add`). Their slots are allocated here, synchronously. */
  add(entries: Iterable<UniverseEntry>): void {
    this.checkAlive();
    const list: UniverseEntry[] = [];
    const tokens: string[] = [];
    for (const e of entries) {
      if (typeof e === 'string') {
        tokens.push(e);
        list.push(e);
      } else {
        const ts = [...e.tokens];
        tokens.push(...ts);
        list.push(e.market === undefined ? { tokens: ts } : { market: e.market, tokens: ts });
      }
    }
    this.store.subscribe(tokens);
    this.writer.post({ op: 'add', entries: list });
  }

  /** Removes tokens from the feed and the table. */
  remove(tokenIds: Iterable<string>): void {
    this.checkAlive();
    const ids = [...tokenIds];
    this.writer.post({ op: 'remove', tokenIds: ids });
    this.store.unsubscribe(ids);
  }

  /**
   * The worker's feed counters as last published (the worker refreshes them every health
   * interval, 100 ms by default). Synchronous and cheap; see {@link WorkerFeed.fetchStats}.
   */
  stats(): FeedStats {
    return readStats(this.statsBlock, this.queueCounters);
  }

  /** The worker's feed counters right now, asked for by message. */
  async fetchStats(): Promise<FeedStats> {
    const s = (await this.request('stats')) as FeedStats;
    return { ...s, ...queueGauges(this.queueCounters) };
  }

  /** Stops the feed (clean close, timers cleared), lets the worker exit, and stops the store's clock. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.exited) {
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        try {
          await this.request('stop');
        } catch {
          // the worker is gone already
        }
        const t = setTimeout(() => void this.worker.terminate(), 2000);
        await exited;
        clearTimeout(t);
      }
      this.store.close();
    })();
    return this.stopping;
  }

  /** {@link WorkerFeed.stop}, for `await using feed = await startWorkerFeed(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private request(op: 'stats' | 'stop'): Promise<unknown> {
    if (this.exited) {
      return Promise.reject(
        new PolybookError('POLYBOOK_WORKER_EXITED', 'polybook: the feed worker has exited; start a new feed'),
      );
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.writer.post({ op, id });
    });
  }

  private checkAlive(): void {
    if (this.stopping) {
      throw new PolybookError('POLYBOOK_STOPPED', 'polybook: the worker feed was stopped; start a new one');
    }
    if (this.exited) {
      throw new PolybookError('POLYBOOK_WORKER_EXITED', 'polybook: the feed worker has exited; start a new feed');
    }
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}

/**
 * Starts a feed in a worker thread and resolves once the worker's writer is up (rejects when it
 * cannot start, e.g. `backend: 'native'` without the binary). The returned feed's `store` is a
 * normal {@link BookStore} on this thread: `get`, `handle`, `metrics` read the shared table.
 *
 * ```ts
 * const feed = await startWorkerFeed({ universe: markets, backend: 'native', confirmIntervalMs: 250 });
 * const h = feed.store.handle(tokenId);
 * if (h.top(Staleness.fast15m)) ...
 * await feed.stop();
 * ```
 */
export async function startWorkerFeed(options: WorkerFeedOptions = {}): Promise<WorkerFeed> {
  const signal = options.signal;
  signal?.throwIfAborted();
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const feed = new WorkerFeed(options, { resolve, reject });
  const abort = () => reject(signal?.reason);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    await ready;
  } catch (e) {
    await feed.stop().catch(() => {});
    throw e;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
  if (options.universe) feed.add(options.universe);
  return feed;
}
