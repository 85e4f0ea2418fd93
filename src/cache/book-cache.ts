/**
 * BookCache: one object that owns a store and its feed, for strategies.
 *
 * - `await BookCache.start(options)` subscribes the universe and starts warmup; reads through the
 *   cache miss with `not_ready` until warmup completes (`cache.tradingEnabled`).
 * - `HFT_BOOK_CACHE_ENABLED=0` (`enabled: false`): no socket is opened, every read misses `disabled`.
 * - Several strategies share one cache: `acquire`/`release` reference-count the subscriptions.
 * - Settled tokens are evicted (their slots are reused).
 *
 * See docs/CACHE.md.
 */
import { EventEmitter } from 'node:events';
import { BookStore } from '../table/store.js';
import type { BookTable } from '../table/book-table.js';
import type { BookHandle, Book } from '../table/view.js';
import { Miss } from '../table/metrics.js';
import type { ReadCounters } from '../table/metrics.js';
import type { BackendName } from '../backend/index.js';
import type { ClockOption } from '../table/clock.js';
import { ConfigError } from '../errors.js';
import { F_SETTLED, F_SUBSCRIBED, HEADER_BYTES, slotBytes } from '../table/layout.js';
import { SubscriptionManager, type FeedStats, type NewMarketEvent, type DisconnectedEvent } from '../feed/manager.js';
import { resolveFeedOptions, type FeedOptions } from '../feed/options.js';
import { resolveCacheSettings, type CacheEnvOptions } from './env.js';
import { WatchHub, changesIterator, type BookChange, type ChangesOptions, type WatchCallback } from './watch.js';
import { WarmupManager, type WarmupProgress, type WarmupResult } from './warmup.js';
import { RestWarmupClient, type RestOptions, type RestStats } from './rest.js';
import { normalizeGroups, resolveUniverse, type MarketGroup, type UniverseSpec } from './universe.js';
import { renderCachePrometheus } from './prometheus.js';
import { CacheMetrics } from './metrics.js';
import { cacheHealth, type CacheHealth } from './health.js';
import { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics-server.js';
import { startWorkerFeed, type WorkerFeed } from '../feed/worker.js';

/** Options of {@link BookCache.start}. Every setting of `fromEnv()` is accepted too. */
export interface BookCacheOptions extends Partial<CacheEnvOptions> {
  /** Initial universe: token ids, `{market, tokens}` groups, or `{discover: true, ...}`. Default none. */
  universe?: UniverseSpec;
  /** Writer backend: `native` or `js`. Default: `POLYBOOK_BACKEND`, else native when it loads. */
  backend?: BackendName;
  /** Ingest in a worker thread (the feed's worker mode); reads stay on this thread. Default false. */
  worker?: boolean;
  /** Market-channel URL. Default `POLYBOOK_WS_URL`, else Polymarket's. */
  url?: string;
  /**
   * Feed options passed through (connections, pings, watchdogs, backoff, logger...). The cache
   * turns `customFeatures` on unless this says `false` (then settlement is only seen when a whole
   * connection closes as resolved).
   */
  feed?: Omit<FeedOptions, 'url' | 'hardStaleMs'>;
  /** Table capacity (tokens). Default 16384. */
  capacity?: number;
  /** Store clock: `'coarse'` (default), `'precise'`, or a function (tests). */
  clock?: ClockOption;
  /** Top-of-book mismatch grace before a reset, ms. Default 1000. */
  graceMs?: number;
  /** One-time REST `POST /books` during the initial warmup; `true` = defaults. Default off. */
  rest?: boolean | (RestOptions & { tokens?: 'all' | 'notReady'; afterMs?: number });
  /**
   * Follow `new_market` events: matching markets are added (each token warms on its own; they are
   * not disabled when slow). Turns on the feed's `customFeatures`.
   */
  followNewMarkets?: (ev: NewMarketEvent) => boolean;
  /** Called on warmup progress (also the `warmupProgress` event). */
  onWarmupProgress?: (p: WarmupProgress) => void;
  /** Evict settled tokens (free their slots). Default true. */
  evictSettled?: boolean;
  /** Period of the settled-token sweep, ms. Default 1000. */
  sweepIntervalMs?: number;
}

/** Events of a {@link BookCache}. */
export interface CacheEvents {
  warmupProgress: [WarmupProgress];
  warmup: [WarmupResult];
  /** Tokens added (first acquire, or a followed new market). */
  added: [string[]];
  /** Tokens removed (last release). */
  removed: [string[]];
  /** Settled tokens evicted from the table. */
  evicted: [string[]];
  /** A followed `new_market` event was accepted. */
  newMarket: [NewMarketEvent];
  error: [unknown];
  /**
   * A feed connection went away; its tokens were invalidated before this event (in worker mode it
   * arrives by message, after the fact). `reconnectInMs: null`: not reconnected (settled).
   */
  disconnected: [DisconnectedEvent];
}

/** The feed calls the cache uses; both the in-thread manager and the worker feed provide them. */
interface FeedLike {
  add(entries: Iterable<string | MarketGroup>): void;
  remove(ids: Iterable<string>): void;
  /** In worker mode: the stats the worker last published (every health interval). */
  stats(): FeedStats;
  /** Worker mode: fresh stats by message. */
  fetchStats?(): Promise<FeedStats>;
  stop(): Promise<void>;
  on(ev: 'newMarket', fn: (e: NewMarketEvent) => void): unknown;
  on(ev: 'disconnected', fn: (e: DisconnectedEvent) => void): unknown;
}

const OPEN = -1;

/**
 * A pre-resolved read handle through the cache: same fields as {@link BookHandle}, plus the
 * cache's gates (disabled, warming up), the hard staleness cap, and re-resolution when the token
 * is (re)added later.
 */
export class CacheHandle {
  private inner: BookHandle;
  private epoch: number;
  private gateMiss: Miss | null = null;

  /** @internal */
  constructor(
    private readonly cache: BookCache,
    readonly tokenId: string,
  ) {
    this.inner = cache.store.handle(tokenId);
    this.epoch = cache.universeEpoch;
  }

  get bidPrice(): number {
    return this.inner.bidPrice;
  }
  get bidSize(): number {
    return this.inner.bidSize;
  }
  get askPrice(): number {
    return this.inner.askPrice;
  }
  get askSize(): number {
    return this.inner.askSize;
  }
  get ageMs(): number {
    return this.inner.ageMs;
  }
  /** Why the last `top()` returned false, or null after a hit. */
  get missReason(): Miss | null {
    return this.gateMiss ?? this.inner.missReason;
  }

  /** Refreshes the top of book if it may be served under `maxStaleMs` (capped at the hard limit). */
  top(maxStaleMs: number = this.cache.defaultMaxStaleMs): boolean {
    const c = this.cache;
    const gate = c.gate;
    if (gate !== OPEN) {
      this.gateMiss = gate as Miss;
      c.readCounters.missReason(gate as Miss);
      return false;
    }
    this.gateMiss = null;
    if (this.epoch !== c.universeEpoch) {
      this.inner = c.store.handle(this.tokenId);
      this.epoch = c.universeEpoch;
    }
    return this.inner.top(maxStaleMs > c.hardStaleMs ? c.hardStaleMs : maxStaleMs);
  }
}

/** Live, verified books for strategies: store + feed + warmup + watch + metrics. */
export class BookCache extends EventEmitter<CacheEvents> {
  /** False when shipped switched off (`HFT_BOOK_CACHE_ENABLED=0`). */
  readonly enabled: boolean;
  /** The table: reads are local; in worker mode its commands are forwarded to the feed worker. */
  readonly store: BookTable;
  readonly defaultMaxStaleMs: number;
  readonly hardStaleMs: number;
  readonly warmupTimeoutMs: number;
  readonly warmupMinReadyFraction: number;
  /** Whether ingestion runs in a worker thread. */
  readonly worker: boolean;
  /** @internal OPEN, or the miss reason every read gets (disabled / not_ready). */
  gate: number;
  /** @internal bumped whenever tokens are added or removed (handles re-resolve). */
  universeEpoch = 0;
  /** @internal */
  readonly readCounters: ReadCounters;
  private feed: FeedLike | null = null;
  /** Last feed stats (the worker answers asynchronously). */
  private feedStats: FeedStats | null = null;
  private readonly hub: WatchHub;
  private readonly refs = new Map<string, number>();
  private readonly groupOf = new Map<string, MarketGroup>();
  private warmupPromise: Promise<WarmupResult> | null = null;
  private warmupResult: WarmupResult | null = null;
  private rest: RestWarmupClient | null = null;
  private readonly restStats: RestStats = {
    restCalls: 0,
    restRefused: 0,
    restBooks: 0,
    restErrors: 0,
    restThrottledMs: 0,
  };
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly evictedIds = new Set<string>();
  private counters = { evicted: 0, addedAtRuntime: 0, newMarketsFollowed: 0 };
  private readonly options: BookCacheOptions;
  private readonly servers = new Set<MetricsServer>();

  private constructor(options: BookCacheOptions, settings: CacheEnvOptions, store: BookTable) {
    super();
    this.options = options;
    this.enabled = settings.enabled;
    this.store = store;
    this.defaultMaxStaleMs = settings.defaultMaxStaleMs;
    this.hardStaleMs = settings.hardStaleMs;
    this.warmupTimeoutMs = settings.warmupTimeoutMs;
    this.warmupMinReadyFraction = settings.warmupMinReadyFraction;
    this.worker = options.worker === true && settings.enabled;
    this.gate = settings.enabled ? Miss.notReady : Miss.disabled;
    this.readCounters = store.reader.counters;
    this.hub = new WatchHub({ table: store.table, slotOf: (id) => this.slotOf(id) }, (e) => this.emitError(e));
  }

  /**
   * Creates the store and the feed, subscribes the universe and starts warmup (not awaited: use
   * {@link BookCache.warmup}). With `enabled: false` nothing connects and every read misses `disabled`.
   * @throws ConfigError on an invalid option; Error when the native backend is asked for but cannot load.
   */
  static async start(options: BookCacheOptions = {}): Promise<BookCache> {
    const settings = resolveCacheSettings(options);
    if (options.worker !== undefined && typeof options.worker !== 'boolean')
      throw new ConfigError('worker', options.worker, 'true or false');
    if (options.followNewMarkets !== undefined && typeof options.followNewMarkets !== 'function') {
      throw new ConfigError('followNewMarkets', options.followNewMarkets, 'a function (event) => boolean');
    }
    if (!settings.enabled) {
      // Shipped switched off: a minimal table only to count the misses; no socket, no worker.
      const store = new BookStore({ backend: 'js', capacity: 1, maxDepth: settings.maxDepth, clock: 'precise' });
      const cache = new BookCache(options, settings, store);
      const r: WarmupResult = { ready: 0, total: 0, fraction: 0, timedOut: false, disabled: [], elapsedMs: 0 };
      cache.warmupResult = r;
      cache.warmupPromise = Promise.resolve(r);
      return cache;
    }
    // Everything that can be rejected is checked before a socket or a worker exists.
    const rest = options.rest ? new RestWarmupClient(options.rest === true ? {} : options.rest) : null;
    const groups = options.universe === undefined ? [] : await resolveUniverse(options.universe);
    const feedOptions: FeedOptions = {
      // Custom features on by default: `market_resolved` is how settled tokens are found (and
      // evicted) while their connection still carries live markets; following new markets needs them too.
      customFeatures: true,
      ...(options.feed ?? {}),
      hardStaleMs: settings.hardStaleMs,
      ...(settings.url !== undefined ? { url: settings.url } : {}),
      ...(options.followNewMarkets ? { customFeatures: true } : {}),
    };
    resolveFeedOptions(feedOptions); // throws ConfigError before anything starts
    const storeOptions = {
      backend: settings.backend,
      maxDepth: settings.maxDepth,
      capacity: options.capacity,
      clock: options.clock,
      graceMs: options.graceMs,
    };
    let store: BookTable;
    let feed: FeedLike;
    if (options.worker) {
      const wf: WorkerFeed = await startWorkerFeed({ ...feedOptions, ...storeOptions });
      store = wf.store;
      feed = wf;
    } else {
      const local = new BookStore(storeOptions);
      store = local;
      feed = new SubscriptionManager(local, feedOptions);
    }
    const cache = new BookCache(options, settings, store);
    cache.feed = feed;
    cache.rest = rest;
    // Listen only when following: the feed scans frames for new_market only while someone listens.
    if (options.followNewMarkets) feed.on('newMarket', (ev) => cache.onNewMarket(ev));
    feed.on('disconnected', (ev) => {
      if (ev.reconnectInMs === null) cache.sweep();
      cache.emit('disconnected', ev);
    });
    try {
      cache.startFeed(groups);
    } catch (e) {
      await feed.stop().catch(() => {});
      store.close();
      throw e;
    }
    cache.sweepTimer = setInterval(() => cache.sweep(), options.sweepIntervalMs ?? 1000);
    cache.sweepTimer.unref();
    cache.warmupPromise = cache.runInitialWarmup(groups);
    return cache;
  }

  private readonly slots = new Map<string, number>();
  private slotsEpoch = -1;

  /** Slot of a token in the table (-1 if absent), cached per universe epoch. */
  private slotOf(tokenId: string): number {
    if (this.slotsEpoch !== this.universeEpoch) {
      this.slots.clear();
      this.slotsEpoch = this.universeEpoch;
    }
    let slot = this.slots.get(tokenId);
    if (slot === undefined) {
      slot = this.store.has(tokenId) ? this.store.handle(tokenId).slot : -1;
      this.slots.set(tokenId, slot);
    }
    return slot;
  }

  private startFeed(groups: MarketGroup[]): void {
    for (const g of groups) for (const t of g.tokens) this.hold(t, g);
    const f = this.feed as FeedLike & { start?: (u: Iterable<string | MarketGroup>) => void };
    if (typeof f.start === 'function') f.start(groups);
    else f.add(groups);
    this.universeEpoch++;
    this.hub.refresh();
  }

  private hold(token: string, g: MarketGroup): boolean {
    const n = this.refs.get(token) ?? 0;
    this.refs.set(token, n + 1);
    if (n === 0) this.groupOf.set(token, g);
    return n === 0;
  }

  private runInitialWarmup(groups: MarketGroup[]): Promise<WarmupResult> {
    const tokens = groups.flatMap((g) => g.tokens);
    const ro = typeof this.options.rest === 'object' ? this.options.rest : {};
    const wm = new WarmupManager(this.store, this.hub, tokens, {
      minReadyFraction: this.warmupMinReadyFraction,
      timeoutMs: this.warmupTimeoutMs,
      onProgress: (p) => {
        this.options.onWarmupProgress?.(p);
        this.emit('warmupProgress', p);
      },
      rest: this.rest ?? undefined,
      restTokens: ro.tokens,
      restAfterMs: ro.afterMs,
    });
    return wm.run().then((r) => {
      this.warmupResult = r;
      if (!this.stopped) this.gate = OPEN;
      this.emit('warmup', r);
      return r;
    });
  }

  /**
   * Resolves when the initial warmup completes: the ready fraction reached the minimum, or the
   * timeout passed. Tokens not ready then were disabled for the session and are listed.
   */
  warmup(): Promise<WarmupResult> {
    return this.warmupPromise as Promise<WarmupResult>;
  }

  /**
   * The warmup REST client (null without `rest`). Closed when warmup ends: every later call is
   * refused with `RestRefusedError` and counted in `metrics().cache.restRefused`.
   */
  get restClient(): RestWarmupClient | null {
    return this.rest;
  }

  /** True once warmup completed (and the cache is enabled and running): reads are served. */
  get tradingEnabled(): boolean {
    return this.gate === OPEN;
  }

  /**
   * The token's book if it may be served under `maxStaleMs` (capped at `hardStaleMs`), else null
   * (counted by reason; skip the tick). Before warmup completes: null (`not_ready`); switched
   * off: null (`disabled`).
   */
  get(tokenId: string, maxStaleMs: number = this.defaultMaxStaleMs): Book | null {
    if (this.gate !== OPEN) return this.readCounters.miss(this.gate as Miss);
    return this.store.get(tokenId, maxStaleMs > this.hardStaleMs ? this.hardStaleMs : maxStaleMs);
  }

  /** A handle for hot loops: `if (h.top(Staleness.latencyArb)) use(h.bidPrice, h.askPrice)`. */
  handle(tokenId: string): CacheHandle {
    return new CacheHandle(this, tokenId);
  }

  /** Calls `callback` once per change of any of `tokenIds` (see src/cache/watch.ts). Returns the unsubscribe function. */
  watch(tokenIds: Iterable<string>, callback: WatchCallback): () => void {
    return this.hub.watch(tokenIds, callback);
  }

  /** `for await (const change of cache.changes(ids))`; `break` unsubscribes. */
  changes(tokenIds: Iterable<string>, options?: ChangesOptions): AsyncIterableIterator<BookChange> {
    return changesIterator(this.hub, tokenIds, options);
  }

  /**
   * Adds a reference to each token (or market group); tokens not held before are subscribed on
   * the open connections and warm on their own. Resolves with the warmup of the newly added
   * tokens (by default the cache's minimum fraction and timeout; those not ready by then are
   * disabled). The cache's trading gate is not affected.
   */
  acquire(
    universe: readonly (string | MarketGroup)[],
    warmup: {
      minReadyFraction?: number;
      timeoutMs?: number;
      disableNotReady?: boolean;
      onProgress?: (p: WarmupProgress) => void;
    } = {},
  ): Promise<WarmupResult> {
    this.checkRunning('acquire');
    const groups = normalizeGroups(universe);
    const fresh: MarketGroup[] = [];
    for (const g of groups) {
      const added = g.tokens.filter((t) => this.hold(t, g));
      if (added.length > 0) fresh.push({ ...(g.market !== undefined ? { market: g.market } : {}), tokens: added });
    }
    const tokens = fresh.flatMap((g) => g.tokens);
    if (!this.enabled || tokens.length === 0) {
      return Promise.resolve({ ready: 0, total: 0, fraction: 1, timedOut: false, disabled: [], elapsedMs: 0 });
    }
    this.subscribe(fresh);
    return new WarmupManager(this.store, this.hub, tokens, {
      minReadyFraction: warmup.minReadyFraction ?? this.warmupMinReadyFraction,
      timeoutMs: warmup.timeoutMs ?? this.warmupTimeoutMs,
      disableNotReady: warmup.disableNotReady,
      onProgress: warmup.onProgress,
    }).run();
  }

  /** Drops a reference to each token; tokens no longer held are unsubscribed and their slots freed. */
  release(tokenIds: Iterable<string>): void {
    if (this.stopped) return;
    const gone: string[] = [];
    for (const t of tokenIds) {
      const n = this.refs.get(t);
      if (n === undefined) continue;
      if (n <= 1) {
        this.refs.delete(t);
        this.groupOf.delete(t);
        gone.push(t);
      } else {
        this.refs.set(t, n - 1);
      }
    }
    if (gone.length === 0 || !this.enabled) return;
    this.feed?.remove(gone);
    this.universeEpoch++;
    this.hub.refresh();
    this.emit('removed', gone);
  }

  /** References held on a token (0 when not subscribed through the cache). */
  refCount(tokenId: string): number {
    return this.refs.get(tokenId) ?? 0;
  }

  /** Tokens held by the cache. */
  tokens(): string[] {
    return [...this.refs.keys()];
  }

  /** Whether the token was evicted after its market settled. */
  wasEvicted(tokenId: string): boolean {
    return this.evictedIds.has(tokenId);
  }

  private subscribe(groups: MarketGroup[]): void {
    if (!this.feed) return;
    this.feed.add(groups);
    this.universeEpoch++;
    this.hub.refresh();
    const ids = groups.flatMap((g) => g.tokens);
    this.counters.addedAtRuntime += ids.length;
    this.emit('added', ids);
  }

  private onNewMarket(ev: NewMarketEvent): void {
    const follow = this.options.followNewMarkets;
    if (!follow || this.stopped) return;
    let ok = false;
    try {
      ok = follow(ev) === true;
    } catch (e) {
      this.emitError(e);
      return;
    }
    if (!ok) return;
    const raw = Array.isArray(ev.assets_ids)
      ? ev.assets_ids
      : Array.isArray(ev.clob_token_ids)
        ? (ev.clob_token_ids as unknown[])
        : [];
    const ids = raw.filter((x): x is string => typeof x === 'string' && x.length > 0);
    if (ids.length === 0) return;
    const g: MarketGroup = { ...(typeof ev.market === 'string' ? { market: ev.market } : {}), tokens: ids };
    const fresh = ids.filter((t) => this.hold(t, g));
    if (fresh.length === 0) return;
    this.counters.newMarketsFollowed++;
    try {
      this.subscribe([{ ...(g.market !== undefined ? { market: g.market } : {}), tokens: fresh }]);
    } catch (e) {
      for (const t of fresh) this.refs.delete(t);
      this.emitError(e);
      return;
    }
    this.emit('newMarket', ev);
  }

  /** Evicts settled tokens now (also runs on a timer and when a connection closes as resolved). */
  sweep(): string[] {
    if (this.stopped || !this.enabled || this.options.evictSettled === false) return [];
    const r = this.store.reader;
    const stride = slotBytes(r.depth) / 4;
    const settled: string[] = [];
    for (const t of this.refs.keys()) {
      const slot = this.slotOf(t);
      if (slot < 0) continue;
      const flags = r.i32[HEADER_BYTES / 4 + slot * stride + 1];
      if ((flags & (F_SUBSCRIBED | F_SETTLED)) === (F_SUBSCRIBED | F_SETTLED)) settled.push(t);
    }
    if (settled.length === 0) return settled;
    for (const t of settled) {
      this.refs.delete(t);
      this.groupOf.delete(t);
      this.evictedIds.add(t);
    }
    if (this.evictedIds.size > 100_000) {
      const drop = this.evictedIds.size - 100_000;
      let i = 0;
      for (const t of this.evictedIds) {
        if (i++ >= drop) break;
        this.evictedIds.delete(t);
      }
    }
    this.counters.evicted += settled.length;
    this.feed?.remove(settled);
    this.universeEpoch++;
    this.hub.refresh();
    this.emit('evicted', settled);
    return settled;
  }

  /** Store metrics, feed stats and cache counters; `.summary()` for the headline figures. */
  metrics(): CacheMetrics {
    return this.metricsWith(this.currentFeedStats());
  }

  private metricsWith(feed: FeedStats | null): CacheMetrics {
    const rest = this.rest ? this.rest.stats : this.restStats;
    return new CacheMetrics(
      this.store.metrics(),
      feed,
      {
        ...rest,
        tokens: this.enabled ? this.store.size : 0,
        ready: this.enabled ? this.store.readyCount() : 0,
        evicted: this.counters.evicted,
        addedAtRuntime: this.counters.addedAtRuntime,
        newMarketsFollowed: this.counters.newMarketsFollowed,
        watchNotifications: this.hub.delivered,
        watchCoalesced: this.hub.coalesced,
      },
      this.warmupResult,
      this.enabled,
      this.tradingEnabled,
    );
  }

  private currentFeedStats(): FeedStats | null {
    if (this.feed && !this.stopped) this.feedStats = this.feed.stats();
    return this.feedStats;
  }

  /**
   * The metrics with feed stats fetched right now. In worker mode `metrics()` reports the feed
   * stats the worker last published (every health interval, 100 ms by default); this asks it.
   */
  async metricsAsync(): Promise<CacheMetrics> {
    const f = this.feed;
    if (f && !this.stopped && f.fetchStats) {
      try {
        this.feedStats = await f.fetchStats();
        return this.metricsWith(this.feedStats);
      } catch {
        // worker gone: the last published stats
      }
    }
    return this.metrics();
  }

  /**
   * Prometheus text exposition of read metrics, writer counters, feed and cache metrics
   * (docs/METRICS.md lists them). Serve it with content type `PROMETHEUS_CONTENT_TYPE`, or let
   * {@link BookCache.serveMetrics} do it.
   */
  prometheus(): string {
    return renderCachePrometheus(this.metrics());
  }

  /**
   * Whether the cache can serve books now: trading enabled and every feed connection in use open.
   * Otherwise `reason` says why (`disabled`, `stopped`, `warming_up`, `no_open_connection`,
   * `connection_down`). The body of `GET /healthz`.
   */
  health(): CacheHealth {
    return cacheHealth(this.metrics(), this.stopped);
  }

  /**
   * Serves `GET /metrics` (the Prometheus text) and `GET /healthz` (200 when {@link BookCache.health}
   * is ok, else 503 with it as JSON) over HTTP, on `127.0.0.1` unless `host` says otherwise.
   * `cache.stop()` closes it too.
   *
   * ```ts
   * await using server = await cache.serveMetrics({ port: 9464 });
   * console.log(`${server.url}/metrics`);
   * ```
   * @throws ConfigError on an invalid port or host; MetricsListenError when it cannot listen there.
   */
  async serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
    this.checkRunning('serveMetrics');
    const server = await startMetricsServer(
      { metrics: () => this.prometheus(), health: () => this.health() },
      options,
      () => this.servers.delete(server),
    );
    if (this.stopped) {
      // stop() ran while the server was starting.
      await server.close();
      this.checkRunning('serveMetrics');
    }
    this.servers.add(server);
    return server;
  }

  /** Stops the feed (sockets closed), the watches and timers. Reads miss afterwards. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.gate = this.enabled ? Miss.notReady : Miss.disabled;
    clearInterval(this.sweepTimer);
    this.rest?.close();
    this.hub.close();
    const f = this.feed;
    if (f) await f.stop();
    this.store.close();
    await Promise.all([...this.servers].map((server) => server.close()));
  }

  private checkRunning(what: string): void {
    if (this.stopped) throw new Error(`polybook: ${what}() after the cache was stopped`);
  }

  private emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else console.error('polybook cache:', e);
  }
}
