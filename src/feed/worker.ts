/**
 * Worker mode: the feed (sockets, parsing, book updates) runs in a worker thread, which owns the
 * table's writer; the main thread reads the same SharedArrayBuffer lock-free and forwards its
 * commands (subscriptions, invalidations, REST books...) to the worker. Threading model:
 * docs/FEED.md "Worker mode".
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { BookTable } from '../table/book-table.js';
import { storeTable, type BookStoreOptions } from '../table/store.js';
import { forwardingWriter, type Command, type FullBook } from '../table/writer.js';
import { resolveBackend, type BackendName } from '../backend/index.js';
import { PolybookError } from '../errors.js';
import { FeedLog } from './log.js';
import type { FeedEvents, FeedStats, UniverseEntry } from './manager.js';
import { resolveFeedOptions, type FeedOptions } from './options.js';
import { queueGauges, readStats, STATS_WORDS } from './stats.js';
import { AUDIT_BLOCK_WORDS, readAuditBlock, type AuditStats } from '../audit/stats.js';
import type { ResolvedAudit } from '../audit/options.js';
import type { HttpOptions, PurposeStats } from '../rest/http.js';
import { preciseNow } from '../table/clock.js';
import {
  Q_HANDLED,
  Q_OPS_POSTED,
  QUEUE_WORDS,
  type MainMessage,
  type MainOp,
  type RequestKind,
  type Requests,
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
   * @internal A book server's table (its mapped file, docs/SERVER.md): the worker maps the same
   * file by the server's name (a mapped ArrayBuffer cannot be posted to a worker).
   */
  serverTable?: { memory: ArrayBufferLike; name: string };
  /**
   * Cancels the start: aborting before {@link startWorkerFeed} resolves rejects it with the
   * signal's reason once the worker has exited. No effect once started (use {@link WorkerFeed.stop}).
   */
  signal?: AbortSignal;
  /** @internal the cache's auditor, run in the worker next to the writer (started by `startAudit`). */
  audit?: { options: ResolvedAudit; url: string; http?: HttpOptions };
}

/** The HTTP options that can cross to the worker (the test hooks are functions, and stay behind). */
function cloneableHttp(o: HttpOptions = {}): HttpOptions {
  const { userAgent, timeoutMs, retries, backoff, maxRetryAfterMs, limits } = o;
  return { userAgent, timeoutMs, retries, backoff, maxRetryAfterMs, limits };
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
 * The operations posted to the worker: batched per microtask, in call order, never dropped.
 * Requests get an id and a promise for their reply.
 */
class OpQueue {
  private queue: MainOp[] = [];
  private scheduled = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  /** @param counters shared queue counters: operations posted are counted for `workerOpsQueued`. */
  constructor(
    private readonly worker: Worker,
    private readonly counters: Int32Array,
  ) {}

  post(op: MainOp): void {
    Atomics.add(this.counters, Q_OPS_POSTED, 1);
    this.queue.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  request<K extends RequestKind>(kind: K, ask: Requests[K]['ask']): Promise<Requests[K]['answer']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.post({ op: 'request', id, kind, ...ask } as MainOp);
    });
  }

  /** Settles a request with the worker's reply. */
  settle(id: number, value: unknown, error?: Error): void {
    const w = this.waiting.get(id);
    this.waiting.delete(id);
    if (error) w?.reject(error);
    else w?.resolve(value);
  }

  failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const msg: MainMessage = { ops: this.queue };
    this.queue = [];
    this.worker.postMessage(msg);
  }
}

/**
 * A feed running in a worker thread. Read books on any thread through {@link WorkerFeed.store}
 * (lock-free, the same SharedArrayBuffer the worker writes).
 */
export class WorkerFeed extends EventEmitter<FeedEvents> {
  /** This thread's side of the table: reads are local; commands are forwarded to the worker. */
  readonly store: BookTable;
  /** The backend that applies updates in the worker. */
  readonly backend: BackendName;
  private readonly worker: Worker;
  private readonly ops: OpQueue;
  private readonly statsBlock: Float64Array;
  private readonly auditBlock: Float64Array | null;
  private readonly queueCounters: Int32Array;
  private exited = false;
  private stopping: Promise<void> | undefined;
  private readonly log: FeedLog;

  /** @internal use {@link startWorkerFeed}. */
  constructor(options: WorkerFeedOptions, ready: { resolve: () => void; reject: (e: Error) => void }) {
    super();
    // Everything that can be rejected is checked on this thread, before the worker exists.
    const { logger, logStyle, ...settings } = resolveFeedOptions(options);
    this.log = new FeedLog(logger, logStyle);
    this.backend = resolveBackend(options.backend);
    const table = options.serverTable?.memory ?? storeTable(options);
    this.queueCounters = new Int32Array(new SharedArrayBuffer(QUEUE_WORDS * 4));
    this.statsBlock = new Float64Array(new SharedArrayBuffer(STATS_WORDS * 8));
    this.auditBlock = options.audit ? new Float64Array(new SharedArrayBuffer(AUDIT_BLOCK_WORDS * 8)).fill(NaN) : null;
    const init: WorkerInit = {
      table: options.serverTable ? null : (table as SharedArrayBuffer),
      ...(options.serverTable ? { server: options.serverTable.name } : {}),
      backend: this.backend,
      graceMs: options.graceMs,
      feed: settings,
      stats: this.statsBlock.buffer as SharedArrayBuffer,
      log: logger !== undefined,
      queue: this.queueCounters.buffer as SharedArrayBuffer,
      ...(options.audit && this.auditBlock
        ? {
            audit: {
              options: options.audit.options,
              url: options.audit.url,
              http: cloneableHttp(options.audit.http),
              block: this.auditBlock.buffer as SharedArrayBuffer,
            },
          }
        : {}),
    };
    // The forwarding writer is called only after the constructor returned (when `ops` exists).
    this.store = new BookTable(
      table,
      forwardingWriter((c: Command) => this.ops.post(c)),
      this.backend,
      options.clock,
    );
    const entry = workerEntry();
    try {
      this.worker = new Worker(entry.url, { workerData: init, argv: entry.argv });
    } catch (e) {
      this.store.close();
      throw e;
    }
    this.ops = new OpQueue(this.worker, this.queueCounters);
    this.listen(ready, options.startTimeoutMs ?? 30_000);
    this.forwardTradesWhileListened();
  }

  /** Tells the worker to look for trades while this side has `trade` listeners, and to stop after the last one left. */
  private forwardTradesWhileListened(): void {
    const events = this as EventEmitter;
    events.on('newListener', (name: string | symbol) => {
      if (name === 'trade' && this.listenerCount('trade') === 0 && !this.exited && !this.stopping)
        this.ops.post({ op: 'trades', on: true });
    });
    events.on('removeListener', (name: string | symbol) => {
      if (name === 'trade' && this.listenerCount('trade') === 0 && !this.exited && !this.stopping)
        this.ops.post({ op: 'trades', on: false });
    });
  }

  /** Handles the worker's messages and its end; settles `ready` once it started or failed. */
  private listen(ready: { resolve: () => void; reject: (e: Error) => void }, startTimeoutMs: number): void {
    let started = false;
    const timeout = setTimeout(() => {
      if (started) return;
      ready.reject(
        new PolybookError(
          'POLYBOOK_WORKER_START',
          `polybook: the feed worker did not start within startTimeoutMs (${startTimeoutMs} ms); a loaded machine may need a longer one`,
        ),
      );
      void this.worker.terminate();
    }, startTimeoutMs);
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
        case 'trades':
          for (const t of m.trades) this.emit('trade', t);
          return;
        case 'log':
          this.log.emit(m);
          return;
        case 'opError':
          this.log.write('feed.worker_op_error', `polybook feed worker: ${m.message}`, { error: m.message });
          return;
        case 'reply':
          this.ops.settle(m.id, m.value);
          return;
        case 'failed':
          this.ops.settle(m.id, undefined, new PolybookError('POLYBOOK_WORKER_EXITED', m.message));
          return;
      }
    });
    this.worker.on('error', (e) => {
      clearTimeout(timeout);
      this.log.write('feed.worker_error', `polybook feed worker failed: ${e.message}`, { error: e.message });
      ready.reject(
        new PolybookError('POLYBOOK_WORKER_START', `polybook: the feed worker failed: ${e.message}`, { cause: e }),
      );
      this.ops.failAll(
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
      this.ops.failAll(e);
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
    this.ops.post({ op: 'add', entries: list });
  }

  /** Removes tokens from the feed and the table. */
  remove(tokenIds: Iterable<string>): void {
    this.checkAlive();
    const ids = [...tokenIds];
    this.ops.post({ op: 'remove', tokenIds: ids });
    this.store.unsubscribe(ids);
  }

  /**
   * Reconnects connection `conn` in the worker (see `SubscriptionManager.reconnect`): applied in
   * order after the operations posted before it; nothing happens when it has no open socket then.
   */
  reconnect(conn: number, reason: string): void {
    this.checkAlive();
    this.ops.post({ op: 'reconnect', conn, reason });
  }

  /** Starts the auditor in the worker (the cache does, once its warmup completed). @internal */
  startAudit(): void {
    this.checkAlive();
    this.ops.post({ op: 'startAudit' });
  }

  /**
   * The auditor's statistics as the worker last published them, and the HTTP counters of its
   * requests; null without an auditor. @internal
   */
  auditStats(): { stats: AuditStats; http: PurposeStats | undefined } | null {
    return this.auditBlock ? readAuditBlock(this.auditBlock, preciseNow()) : null;
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
    const s = await this.request('stats', {});
    return { ...s, ...queueGauges(this.queueCounters) };
  }

  /** The full-depth book of a token with the exact texts, asked of the worker (which owns the writer). */
  fullBook(tokenId: string): Promise<FullBook | null> {
    return this.request('fullBook', { tokenId });
  }

  /** Stops the feed (clean close, timers cleared), lets the worker exit, and stops the store's clock. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.exited) {
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        try {
          await this.request('stop', {});
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

  private request<K extends RequestKind>(kind: K, ask: Requests[K]['ask']): Promise<Requests[K]['answer']> {
    if (this.exited) {
      return Promise.reject(
        new PolybookError('POLYBOOK_WORKER_EXITED', 'polybook: the feed worker has exited; start a new feed'),
      );
    }
    return this.ops.request(kind, ask);
  }

  private checkAlive(): void {
    if (this.stopping) {
      throw new PolybookError('POLYBOOK_STOPPED', 'polybook: the worker feed was stopped; start a new one');
    }
    if (this.exited) {
      throw new PolybookError('POLYBOOK_WORKER_EXITED', 'polybook: the feed worker has exited; start a new feed');
    }
  }
}

/**
 * Starts a feed in a worker thread and resolves once the worker's writer is up (rejects when it
 * cannot start, e.g. `backend: 'native'` without the binary). The returned feed's `store` is a
 * {@link BookTable} on this thread: `get`, `handle`, `metrics` read the shared table.
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
