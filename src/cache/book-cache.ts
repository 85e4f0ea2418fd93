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
import type { BookHandle, Book } from '../table/view.js';
import { type Metrics, Miss, type MetricsSummary, MISS_NAMES, AGE_BUCKETS_MS } from '../table/metrics.js';
import type { ReadCounters } from '../table/metrics.js';
import type { BackendName } from '../backend/index.js';
import type { ClockOption } from '../table/clock.js';
import { ConfigError } from '../errors.js';
import { COUNTERS, F_SETTLED, F_SUBSCRIBED, type CounterName } from '../table/layout.js';
import { SubscriptionManager, type FeedStats, type NewMarketEvent, type DisconnectedEvent } from '../feed/manager.js';
import { resolveFeedOptions, type FeedOptions } from '../feed/options.js';
import { resolveCacheSettings, type CacheEnvOptions } from './env.js';
import { WatchHub, changesIterator, type BookChange, type ChangesOptions, type WatchCallback } from './watch.js';
import { WarmupManager, type WarmupProgress, type WarmupResult } from './warmup.js';
import { RestWarmupClient, type RestOptions, type RestStats } from './rest.js';
import { normalizeGroups, resolveUniverse, type MarketGroup, type UniverseSpec } from './universe.js';
import { PromText, snakeCase } from './prometheus.js';
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

/** Cache-level counters. */
export interface CacheCounters extends RestStats {
  /** Tokens currently in the table. */
  tokens: number;
  /** Tokens ready (ignoring staleness). */
  ready: number;
  /** Settled tokens evicted so far. */
  evicted: number;
  /** Tokens added after start (acquire / new markets). */
  addedAtRuntime: number;
  /** New markets followed. */
  newMarketsFollowed: number;
  /** Change notifications delivered to watch callbacks and `changes()` iterators. */
  watchNotifications: number;
  /** Book versions merged into a later notification of the same token (the watch queues coalesce, never grow). */
  watchCoalesced: number;
}

/** Everything `cache.metrics()` reports. */
export class CacheMetrics {
  constructor(
    /** Store read counters and writer counters. */
    readonly store: Metrics,
    /** Feed counters (null when disabled). */
    readonly feed: FeedStats | null,
    readonly cache: CacheCounters,
    readonly warmup: WarmupResult | null,
    readonly enabled: boolean,
    readonly tradingEnabled: boolean,
  ) {}

  /** Store summary plus feed stats and cache counters. */
  summary(): CacheSummary {
    return {
      ...this.store.summary(),
      enabled: this.enabled,
      tradingEnabled: this.tradingEnabled,
      feed: this.feed,
      ...this.cache,
      warmup: this.warmup,
    };
  }
}

export interface CacheSummary extends MetricsSummary, CacheCounters {
  enabled: boolean;
  tradingEnabled: boolean;
  feed: FeedStats | null;
  warmup: WarmupResult | null;
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
 * A pre-resolved read handle through the cache: the fields and reads of {@link BookHandle} (top of
 * book with `top()`, every published level with `book()`, both allocation-free), plus the cache's
 * gates (disabled, warming up), the hard staleness cap, and re-resolution when the token is
 * (re)added later.
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

  /** Best bid price, NaN when the bid side is empty. Valid after `top()` or `book()` returned true. */
  get bidPrice(): number {
    return this.inner.bidPrice;
  }
  /** Best bid size, NaN when the bid side is empty. */
  get bidSize(): number {
    return this.inner.bidSize;
  }
  /** Best ask price, NaN when the ask side is empty. */
  get askPrice(): number {
    return this.inner.askPrice;
  }
  /** Best ask size, NaN when the ask side is empty. */
  get askSize(): number {
    return this.inner.askSize;
  }
  /** Age of the book at the last successful `top()` or `book()`, ms. */
  get ageMs(): number {
    return this.inner.ageMs;
  }
  /** The store's sequence of the book last read (see {@link BookHandle.sequence}). */
  get sequence(): number {
    return this.inner.sequence;
  }
  /** Exchange timestamp (epoch ms) of the book last read, NaN if none. */
  get timestamp(): number {
    return this.inner.timestamp;
  }
  /** Bid levels read by the last `book()` (0 after it returned false). */
  get bidDepth(): number {
    return this.inner.bidDepth;
  }
  /** Ask levels read by the last `book()` (0 after it returned false). */
  get askDepth(): number {
    return this.inner.askDepth;
  }
  /** Why the last `top()` or `book()` returned false, or null after a hit. */
  get missReason(): Miss | null {
    return this.gateMiss ?? this.inner.missReason;
  }

  /** Refreshes the top of book if it may be served under `maxStaleMs` (capped at the hard limit). */
  top(maxStaleMs: number = this.cache.defaultMaxStaleMs): boolean {
    if (!this.open()) return false;
    const c = this.cache;
    return this.inner.top(maxStaleMs > c.hardStaleMs ? c.hardStaleMs : maxStaleMs);
  }

  /**
   * Reads every published level if the book may be served under `maxStaleMs` (capped at the hard
   * limit), as {@link BookHandle.book}: after true, `bidDepth`, `askDepth` and the `…At(i)`
   * getters give the levels of that one version. After false, both depths are 0.
   */
  book(maxStaleMs: number = this.cache.defaultMaxStaleMs): boolean {
    if (!this.open()) {
      this.inner.dropLevels();
      return false;
    }
    const c = this.cache;
    return this.inner.book(maxStaleMs > c.hardStaleMs ? c.hardStaleMs : maxStaleMs);
  }

  /** Price of bid level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `bidDepth`. */
  bidPriceAt(i: number): number {
    return this.inner.bidPriceAt(i);
  }
  /** Size of bid level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `bidDepth`. */
  bidSizeAt(i: number): number {
    return this.inner.bidSizeAt(i);
  }
  /** Price of ask level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `askDepth`. */
  askPriceAt(i: number): number {
    return this.inner.askPriceAt(i);
  }
  /** Size of ask level `i` (0 = best) read by the last `book()`; NaN unless `i` is an integer below `askDepth`. */
  askSizeAt(i: number): number {
    return this.inner.askSizeAt(i);
  }

  /** The cache's gates: counts the miss when closed; re-resolves the token after universe changes. */
  private open(): boolean {
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
    return true;
  }
}

/** Live, verified books for strategies: store + feed + warmup + watch + metrics. */
export class BookCache extends EventEmitter<CacheEvents> {
  /** False when shipped switched off (`HFT_BOOK_CACHE_ENABLED=0`). */
  readonly enabled: boolean;
  readonly store: BookStore;
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

  private constructor(options: BookCacheOptions, settings: CacheEnvOptions, store: BookStore) {
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
    let store: BookStore;
    let feed: FeedLike;
    if (options.worker) {
      const wf: WorkerFeed = await startWorkerFeed({ ...feedOptions, ...storeOptions });
      store = wf.store;
      feed = wf;
    } else {
      store = new BookStore(storeOptions);
      feed = new SubscriptionManager(store, feedOptions);
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
      slot = this.store.slotOf(tokenId);
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

  /**
   * A handle for hot loops, allocation-free: `if (h.top(Staleness.latencyArb)) use(h.bidPrice, h.askPrice)`
   * for the top of book, `if (h.book(ms)) for (let i = 0; i < h.bidDepth; i++) use(h.bidPriceAt(i), h.bidSizeAt(i))`
   * for every published level.
   */
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
    const settled: string[] = [];
    for (const t of this.refs.keys()) {
      const slot = this.slotOf(t);
      if (slot < 0) continue;
      if ((r.flags(slot) & (F_SUBSCRIBED | F_SETTLED)) === (F_SUBSCRIBED | F_SETTLED)) settled.push(t);
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

  /** Prometheus text exposition of read metrics, writer counters, feed and cache metrics. */
  prometheus(): string {
    return renderCachePrometheus(this.metrics());
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
  }

  private checkRunning(what: string): void {
    if (this.stopped) throw new Error(`polybook: ${what}() after the cache was stopped`);
  }

  private emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else console.error('polybook cache:', e);
  }
}

/** Renders cache metrics in the Prometheus text format (conventional names, seconds and bytes). */
export function renderCachePrometheus(m: CacheMetrics): string {
  const p = new PromText();
  const s = m.store;
  p.counter('polybook_reads_total', 'Book reads through this thread, by result (hit or miss reason).', s.hits, {
    result: 'hit',
  });
  for (const r of MISS_NAMES)
    p.counter('polybook_reads_total', 'Book reads through this thread, by result (hit or miss reason).', s.misses[r], {
      result: r,
    });
  p.histogram(
    'polybook_served_age_seconds',
    'Age of served books (time since the feed last confirmed them current).',
    s.ageHistogram.map((b, i) => ({ le: i < AGE_BUCKETS_MS.length ? b.le / 1000 : Infinity, count: b.count })),
    s.ageSumMs / 1000,
  );
  for (const name of COUNTERS as readonly CounterName[]) {
    const metric = name === 'bytes' ? 'polybook_writer_bytes_total' : `polybook_writer_${snakeCase(name)}_total`;
    p.counter(metric, `Writer counter ${name} (docs/DESIGN.md section 6).`, s.writer[name]);
  }
  p.gauge('polybook_enabled', 'Whether the cache is enabled (HFT_BOOK_CACHE_ENABLED).', m.enabled ? 1 : 0);
  p.gauge('polybook_trading_enabled', 'Whether warmup completed and reads are served.', m.tradingEnabled ? 1 : 0);
  const c = m.cache;
  p.gauge('polybook_tokens', 'Tokens in the table, by state.', c.tokens, { state: 'subscribed' });
  p.gauge('polybook_tokens', 'Tokens in the table, by state.', c.ready, { state: 'ready' });
  p.counter('polybook_evicted_tokens_total', 'Settled tokens evicted from the table.', c.evicted);
  p.counter('polybook_runtime_added_tokens_total', 'Tokens added after start.', c.addedAtRuntime);
  p.counter('polybook_rest_calls_total', 'REST requests sent (warmup only).', c.restCalls);
  p.counter('polybook_rest_refused_total', 'REST calls refused because warmup had ended.', c.restRefused);
  p.counter('polybook_rest_books_total', 'Books received from REST during warmup.', c.restBooks);
  p.counter('polybook_rest_errors_total', 'Failed REST requests during warmup.', c.restErrors);
  p.counter('polybook_watch_notifications_total', 'Change notifications delivered to watchers.', c.watchNotifications);
  p.counter(
    'polybook_watch_coalesced_versions_total',
    'Book versions merged into a later notification of the same token.',
    c.watchCoalesced,
  );
  if (m.warmup) {
    p.gauge('polybook_warmup_ready_fraction', 'Ready fraction when warmup completed.', m.warmup.fraction);
    p.gauge('polybook_warmup_duration_seconds', 'Duration of the initial warmup.', m.warmup.elapsedMs / 1000);
    p.gauge('polybook_warmup_disabled_tokens', 'Tokens disabled at the end of warmup.', m.warmup.disabled.length);
  }
  const f = m.feed;
  if (f) {
    p.gauge('polybook_ws_connections', 'Market-channel connections, by state.', f.connections, { state: 'in_use' });
    p.gauge('polybook_ws_connections', 'Market-channel connections, by state.', f.open, { state: 'open' });
    p.gauge('polybook_ws_tokens', 'Tokens on market-channel connections.', f.tokens);
    p.counter('polybook_ws_reconnects_total', 'Reconnects scheduled after a disconnect.', f.reconnects);
    p.counter('polybook_ws_resubscriptions_total', 'Tokens resubscribed to get a fresh book.', f.resubscriptions);
    p.counter('polybook_ws_messages_total', 'Frames received.', f.messages);
    p.counter('polybook_ws_received_bytes_total', 'Bytes received.', f.bytes);
    p.gauge('polybook_ws_messages_per_second', 'Frames received per second (last window).', f.messagesPerSec);
    p.gauge('polybook_ws_received_bytes_per_second', 'Bytes received per second (last window).', f.bytesPerSec);
    p.gauge(
      'polybook_ws_pong_latency_seconds',
      'PING to PONG round trip, last and mean.',
      f.pongLatencyMs.last / 1000,
      { stat: 'last' },
    );
    p.gauge(
      'polybook_ws_pong_latency_seconds',
      'PING to PONG round trip, last and mean.',
      f.pongLatencyMs.mean / 1000,
      { stat: 'mean' },
    );
    p.counter(
      'polybook_ws_control_replies_total',
      'NO NEW ASSETS / INVALID OPERATION / INVALID MESSAGE replies.',
      f.controlReplies,
    );
    p.counter(
      'polybook_ws_settled_closes_total',
      'Connections closed with 1000 all subscribed assets resolved.',
      f.settledCloses,
    );
    p.counter(
      'polybook_ws_slow_consumer_closes_total',
      'Connections closed with 1013 slow consumer.',
      f.slowConsumerCloses,
    );
    p.counter('polybook_ws_bad_frames_total', 'Frames that were not JSON.', f.badFrames);
    p.counter(
      'polybook_ws_oversized_frames_total',
      'Frames over maxFrameBytes (connection closed with 1009).',
      f.oversizedFrames,
    );
    p.counter(
      'polybook_ws_protocol_errors_total',
      'WebSocket protocol violations by the server (connection closed with 1002).',
      f.protocolErrors,
    );
    p.counter(
      'polybook_ws_stalls_total',
      'Busy connections reconnected because no data arrived for their stall threshold (stallAfterMs).',
      f.stalls,
    );
    p.counter(
      'polybook_ws_internal_errors_total',
      'Frames whose ingest failed with an internal error of the native writer (every book reset and resubscribed).',
      f.internalErrors,
    );
    p.gauge(
      'polybook_worker_queue',
      'Messages waiting between the feed worker and this thread, by direction.',
      f.workerQueued,
      { direction: 'from_worker' },
    );
    p.gauge(
      'polybook_worker_queue',
      'Messages waiting between the feed worker and this thread, by direction.',
      f.workerOpsQueued,
      { direction: 'to_worker' },
    );
    p.counter(
      'polybook_worker_dropped_total',
      'Worker log lines and connection events dropped because this thread fell behind.',
      f.workerDropped,
    );
  }
  return p.toString();
}
