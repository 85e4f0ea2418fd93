/**
 * BookCache: one object that owns a store and its feed, for strategies.
 *
 * - `await BookCache.start(options)` subscribes the universe and starts warmup; reads through the
 *   cache miss with `not_ready` until warmup completes (`cache.tradingEnabled`).
 * - `POLYBOOK_ENABLED=0` (`enabled: false`): no socket is opened, every read misses `disabled`.
 * - Several strategies share one cache: `acquire`/`release` reference-count the subscriptions.
 * - Settled tokens are evicted (their slots are reused).
 *
 * See docs/CACHE.md.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { BookStore } from '../table/store.js';
import type { BindingDirectory, BookTable } from '../table/book-table.js';
import type { BookHandle, Book, TradeSide } from '../table/view.js';
import type { TickSize } from '../protocol/tick.js';
import { Miss, MISS_NAMES, type MissName } from '../table/metrics.js';
import type { ReadCounters } from '../table/metrics.js';
import type { BackendName } from '../backend/index.js';
import type { ClockOption } from '../table/clock.js';
import { ConfigError, PolybookError } from '../errors.js';
import { F_SETTLED, F_SUBSCRIBED } from '../table/layout.js';
import { SubscriptionManager, type FeedStats, type NewMarketEvent, type DisconnectedEvent } from '../feed/manager.js';
import { logStyle, resolveFeedOptions, type FeedOptions } from '../feed/options.js';
import { FeedLog } from '../feed/log.js';
import { resolveCacheSettings, type CacheEnvOptions } from './env.js';
import { readEnv } from '../config.js';
import { WatchHub, changesIterator, type BookChange, type ChangesOptions, type WatchCallback } from './watch.js';
import { WarmupManager, type WarmupProgress, type WarmupResult } from './warmup.js';
import { TradeHub, tradesIterator, type TradeCallback, type TradesOptions } from './trades.js';
import type { Trade } from '../feed/trades.js';
import { RestWarmupClient, type RestOptions, type RestStats } from './rest.js';
import {
  normalizeGroups,
  resolveUniverse,
  toGroups,
  type MarketGroup,
  type ResolvedUniverse,
  type UniverseSpec,
} from './universe.js';
import { checkQuery, type MarketQuery } from '../discovery/queries.js';
import { renderCachePrometheus } from './prometheus.js';
import { CacheMetrics } from './metrics.js';
import { cacheHealth, type CacheHealth } from './health.js';
import { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics-server.js';
import { HttpClient, type HttpOptions, type PurposeStats } from '../rest/http.js';
import { isPolymarketFeed, restUrlsFor } from '../rest/urls.js';
import type { DiscoveredMarket } from '../discovery/normalize.js';
import { checkBooks } from '../discovery/hydration.js';
import { startWorkerFeed, type WorkerFeed } from '../feed/worker.js';
import { AUDIT_PURPOSE, Auditor } from '../audit/auditor.js';
import { resolveAudit } from '../audit/options.js';
import type { AuditStats } from '../audit/stats.js';
import { checkHttpUrl } from '../config.js';
import { AttachedStore } from '../server/attached.js';
import { ControlClient, RemoteFeed, ServerLink } from '../server/client.js';
import type { AcquireAnswer } from '../server/protocol.js';

/** Options of {@link BookCache.start}. Every setting of `fromEnv()` is accepted too. */
export interface BookCacheOptions extends Partial<CacheEnvOptions> {
  /**
   * Initial universe: token ids, `{market, tokens}` groups, or a discovery query (`{ slugs }`,
   * `{ markets }`, `{ tokens }`, `{ tag }`, `{ text }`, `{ top, by }`; src/discovery). Default none.
   */
  universe?: UniverseSpec;
  /** Writer backend: `native` or `js`. Default: `POLYBOOK_BACKEND`, else native when it loads. */
  backend?: BackendName;
  /** Ingest in a worker thread (the feed's worker mode); reads stay on this thread. Default false. */
  worker?: boolean;
  /**
   * Market-channel URL. Default `POLYBOOK_WS_URL`, else Polymarket's. The REST base URLs follow it
   * (`gammaUrl`, `clobUrl`: default `POLYBOOK_GAMMA_URL` / `POLYBOOK_CLOB_URL`, else Polymarket's
   * for Polymarket's feed, else the feed URL's origin over http(s)).
   */
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
  /**
   * One-time REST `POST /books` during the initial warmup; `true` = defaults. Default off. Its `url`
   * is also the auditor's (`audit`), else `clobUrl`.
   */
  rest?:
    | boolean
    | (RestOptions & {
        /** Which tokens to fetch: all of the universe (default; also enables hash checks) or those not ready yet. */
        tokens?: 'all' | 'notReady';
        /** Start fetching this long after warmup starts, ms (a head start for the WebSocket snapshots). Default 0. */
        afterMs?: number;
      });
  /** The HTTP client of discovery and REST warmup (retries, timeouts, budgets; src/rest). */
  http?: HttpOptions;
  /**
   * Discovered markets whose books the CLOB does not have yet (a new market's first minutes) are
   * checked again every `retryMs` (default 15000) and added once their books exist, for up to
   * `timeoutMs` (default 300000).
   */
  hydration?: {
    /** Period of the checks of pending markets' books, ms (1 to 3600000). Default 15000. */
    retryMs?: number;
    /** How long a pending market is waited for before it is dropped (`cache.hydration_timeout`), ms (0 to 86400000). Default 300000. */
    timeoutMs?: number;
  };
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
  /**
   * Cancels the start: aborting before `start` resolves rejects it with the signal's reason and
   * stops what it had started (discovery requests, the worker). No effect once `start` resolved:
   * stop the cache with {@link BookCache.stop} (or `await using`).
   */
  signal?: AbortSignal;
  /**
   * @internal A book server's table (src/server/server.ts): the store writes the server's mapped
   * file (in worker mode the worker maps it by name) and lists its tokens in the directory.
   */
  serverTable?: { memory: ArrayBufferLike; name: string; directory: BindingDirectory };
}

/** Options of {@link BookCache.connect}. Every setting of `fromEnv()` is accepted too. */
export interface ConnectOptions extends Partial<CacheEnvOptions> {
  /**
   * What this process needs, as `BookCache.start` takes it: token ids, `{market, tokens}` groups,
   * or a discovery query (`{ slugs }`, `{ markets }`, `{ tokens }`, `{ tag }`, `{ text }`,
   * `{ top, by }`), which the server runs with its own REST URLs, HTTP client and budgets (this
   * process never calls Polymarket). The server holds the tokens for it (and subscribes those it
   * did not have). Default none: every token the server holds is readable anyway.
   */
  universe?: UniverseSpec;
  /** Clock of reads: `'coarse'` (default: the server's clock word), `'precise'`, or a function (tests). */
  clock?: ClockOption;
  /** How long to wait for the server's control socket (a server starting), ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Called on warmup progress (also the `warmupProgress` event). */
  onWarmupProgress?: (p: WarmupProgress) => void;
  /** Release settled tokens this cache holds. Default true. */
  evictSettled?: boolean;
  /** Period of the settled-token sweep, ms. Default 1000. */
  sweepIntervalMs?: number;
  /** Cancels the connect: it rejects with the signal's reason and closes what it opened. */
  signal?: AbortSignal;
}

/** Options of {@link BookCache.acquire}: the warmup of the newly added tokens. */
export interface AcquireOptions {
  /** Completes once this fraction of the new tokens is ready, 0..1. Default: the cache's `warmupMinReadyFraction`. */
  minReadyFraction?: number;
  /** Gives up after this, ms. Default: the cache's `warmupTimeoutMs`. */
  timeoutMs?: number;
  /** Disable the new tokens not ready at the end. Default true. */
  disableNotReady?: boolean;
  /** Called on start and whenever the ready count changes. */
  onProgress?: (p: WarmupProgress) => void;
  /**
   * Cancels the acquire: the promise rejects with the signal's reason, the references this call
   * took are released (tokens no longer held are unsubscribed) and nothing is disabled.
   */
  signal?: AbortSignal;
}

/** Events of a {@link BookCache}. */
export interface CacheEvents {
  /** Warmup progress: on start and whenever the ready count changes. */
  warmupProgress: [WarmupProgress];
  /** The initial warmup completed (reads are served from now on). */
  warmup: [WarmupResult];
  /** Tokens added (first acquire, or a followed new market). */
  added: [string[]];
  /** Tokens removed (last release). */
  removed: [string[]];
  /** Settled tokens evicted from the table. */
  evicted: [string[]];
  /** A followed `new_market` event was accepted. */
  newMarket: [NewMarketEvent];
  /** Discovered markets left pending (hydration window) got their books and were added. */
  hydrated: [DiscoveredMarket[]];
  /** An error the cache caught (a throwing `followNewMarkets`, a failed runtime subscription). Without a listener it goes to `console.error`. */
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
  on(ev: 'trade', fn: (t: Trade) => void): unknown;
  off(ev: 'trade', fn: (t: Trade) => void): unknown;
}

const OPEN = -1;
/** Tokens per `universe` request of a connected cache describing what the server's directory gained. */
const DESCRIBE_CHUNK = 20_000;

/**
 * The auditor as the cache drives it: on this thread next to an in-thread feed, or in the feed
 * worker next to the writer (its REST parsing then stays off this thread).
 */
interface AuditRun {
  start(): void;
  stop(): void;
  /** Its counters, and the HTTP counters of its requests when its client is not the cache's (worker). */
  read(): { stats: AuditStats; http: PurposeStats | undefined };
}

/**
 * A pre-resolved read handle through the cache: the fields and reads of {@link BookHandle} (top of
 * book with `top()`, every published level with `book()`, both allocation-free), plus the cache's
 * gates (disabled, warming up), the hard staleness cap, and re-resolution when the token is
 * (re)added later.
 */
export class CacheHandle {
  private inner: BookHandle;
  private epoch: number;
  private gateMiss: MissName | null = null;

  /** @internal */
  constructor(
    private readonly cache: BookCache,
    /** The token this handle reads. */
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
  /** Why the last `top()` or `book()` returned false (`'not_ready'` before warmup, `'stale'`, ...), or null after a hit. */
  get missReason(): MissName | null {
    return this.gateMiss ?? this.inner.missReason;
  }
  /** Tick size, NaN when unknown. Valid after `top()` returned true. */
  get tickSize(): number {
    return this.inner.tickSize;
  }
  /** The tick size as the exchange writes it (clob-client's `tickSize` option), null when unknown. */
  get tickSizeText(): TickSize | null {
    return this.inner.tickSizeText;
  }
  /** Minimum order size in shares, NaN until known (from discovery or a REST book). */
  get minOrderSize(): number {
    return this.inner.minOrderSize;
  }
  /** Whether the market is neg-risk, null until known. */
  get negRisk(): boolean | null {
    return this.inner.negRisk;
  }
  /** Price of the last trade, NaN when none is known. Valid after `top()` returned true. */
  get lastTradePrice(): number {
    return this.inner.lastTradePrice;
  }
  /** Size of the last trade (shares), NaN when not known. */
  get lastTradeSize(): number {
    return this.inner.lastTradeSize;
  }
  /** The last trade's taker side, null when not known. */
  get lastTradeSide(): TradeSide | null {
    return this.inner.lastTradeSide;
  }
  /** Exchange timestamp of the last trade (epoch ms), NaN when not known. */
  get lastTradeTimestamp(): number {
    return this.inner.lastTradeTimestamp;
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
      this.gateMiss = MISS_NAMES[gate];
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
  /** False when shipped switched off (`POLYBOOK_ENABLED=0`). */
  readonly enabled: boolean;
  /** The table: reads are local; in worker mode its commands are forwarded to the feed worker. */
  readonly store: BookTable;
  /** Staleness budget of reads that give none, ms. */
  readonly defaultMaxStaleMs: number;
  /** No read serves a book older than this, whatever the caller asks, ms. */
  readonly hardStaleMs: number;
  /** Warmup timeout, ms. */
  readonly warmupTimeoutMs: number;
  /** Ready fraction that completes warmup. */
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
  /** The book server of a connected cache. */
  private link: ServerLink | null = null;
  /** Last feed stats (the worker answers asynchronously). */
  private feedStats: FeedStats | null = null;
  private readonly hub: WatchHub;
  private readonly tradeHub: TradeHub;
  private readonly refs = new Map<string, number>();
  private readonly groupOf = new Map<string, MarketGroup>();
  private warmupPromise: Promise<WarmupResult> | null = null;
  private warmupResult: WarmupResult | null = null;
  private rest: RestWarmupClient | null = null;
  /** The background auditor (null when off); it starts once the initial warmup completed. */
  private auditor: AuditRun | null = null;
  private readonly restStats: RestStats = {
    restCalls: 0,
    restRefused: 0,
    restBooks: 0,
    restErrors: 0,
    restThrottledMs: 0,
  };
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Discovery's and warmup's HTTP client (null when switched off). */
  private http: HttpClient | null = null;
  private clobUrl = '';
  private gammaUrl = '';
  /** Market and outcome label of each held token that discovery described. */
  private readonly marketOf = new Map<string, { market: DiscoveredMarket; outcome: string }>();
  private pending: DiscoveredMarket[] = [];
  /** Connected: tokens whose markets were asked of the server (described or not). */
  private readonly asked = new Set<string>();
  /** Connected: a description request is running; another was asked for meanwhile; of everything. */
  private describing = false;
  private describeAgain = false;
  private describeAll = false;
  private hydrationTimer: NodeJS.Timeout | undefined;
  /** Aborted by `stop()`: ends the warmups still running (their timers would keep the process alive). */
  private readonly lifetime = new AbortController();
  private readonly evictedIds = new Set<string>();
  private counters = { evicted: 0, addedAtRuntime: 0, newMarketsFollowed: 0 };
  private readonly options: BookCacheOptions;
  /** The cache's own log lines, to the feed's logger. */
  private readonly log: FeedLog;
  private readonly servers = new Set<MetricsServer>();

  /** @param attached the store of a cache connected to a book server (`connect`). */
  private constructor(
    options: BookCacheOptions,
    settings: CacheEnvOptions,
    store: BookTable,
    attached: AttachedStore | null = null,
  ) {
    super();
    this.options = options;
    this.log = new FeedLog(options.feed?.logger, logStyle(options.feed?.logger, options.feed?.logStyle));
    this.enabled = settings.enabled;
    this.store = store;
    this.defaultMaxStaleMs = settings.defaultMaxStaleMs;
    this.hardStaleMs = settings.hardStaleMs;
    this.warmupTimeoutMs = settings.warmupTimeoutMs;
    this.warmupMinReadyFraction = settings.warmupMinReadyFraction;
    this.worker = options.worker === true && settings.enabled;
    this.gate = settings.enabled ? Miss.notReady : Miss.disabled;
    this.readCounters = store.reader.counters;
    const slotOf = (id: string) => this.slotOf(id);
    this.hub = new WatchHub(
      attached
        ? {
            // The server's table changes when it restarts.
            get table() {
              return store.table;
            },
            slotOf,
            sync: () => attached.follow(),
            live: () => attached.serverUp,
          }
        : { table: store.table, slotOf },
      (e) => this.emitError(e),
      attached !== null,
    );
    if (attached) {
      // Tokens another process added, or a restarted server: handles and watches resolve again,
      // and the markets of the new tokens are asked of the server (after a restart: all of them).
      attached.onDirectory = () => {
        this.universeEpoch++;
        this.hub.refresh();
        this.describeLater(false);
      };
      attached.onRestart = () => {
        this.universeEpoch++;
        this.hub.refresh();
        this.describeLater(true);
      };
      // The server going down or coming back: each watched token is reported once.
      attached.onMaintain = () => this.hub.checkLive();
    }
    this.tradeHub = new TradeHub(
      () => this.feed,
      (e) => this.emitError(e),
    );
    // One listener per warmup still running: any number of acquires may run at once.
    setMaxListeners(0, this.lifetime.signal);
  }

  /**
   * Connects to the book server `name` running in another process (docs/SERVER.md): the same
   * cache API (`get`, `handle`, `watch`, `changes`, `acquire`, `release`, `metrics`, `health`)
   * over the server's shared memory. The server holds what this cache acquires (reference-counted
   * per client, released when this process closes the cache or dies) and owns the feed: no socket
   * to Polymarket, no warmup here for books the server already has. Reads miss `server_down`
   * while the server is down; a restarted server is followed and given this cache's tokens again.
   *
   * Resolves once the server holds the initial universe; reads are served once its books are
   * ready (at once from a warm server: {@link BookCache.warmup}).
   * @throws PolybookError `POLYBOOK_SERVER_NOT_FOUND`, `POLYBOOK_LAYOUT_MISMATCH`,
   *   `POLYBOOK_SERVER_UNSAFE`, `POLYBOOK_SHARED_MEMORY_UNSUPPORTED` (not Linux, or the
   *   pure-TypeScript backend: only the native addon maps shared memory), `POLYBOOK_CONTROL`
   *   (the server refused the universe), `POLYBOOK_CAPACITY` (its table is full), and for a query
   *   the server's discovery failure (`POLYBOOK_DISCOVERY`: a slug, market or token that does not
   *   resolve to a tradeable market; `POLYBOOK_NETWORK`, `POLYBOOK_HTTP`: Gamma and the CLOB
   *   unreachable or failing); ConfigError on an option or a malformed universe.
   */
  static async connect(name: string, options: ConnectOptions = {}): Promise<BookCache> {
    const signal = options.signal;
    signal?.throwIfAborted();
    const { universe: spec = [], ...rest } = options;
    const settings = resolveCacheSettings(options);
    if (!settings.enabled) return BookCache.switchedOff(rest, settings);
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 0 || connectTimeoutMs > 3_600_000) {
      throw new ConfigError('connectTimeoutMs', connectTimeoutMs, 'an integer from 0 to 3600000 (ms)');
    }
    // Checked here, before anything opens: a bad universe is this caller's ConfigError, not a refusal.
    const query = Array.isArray(spec) ? null : checkQuery(spec, 'universe');
    let groups = query ? [] : normalizeGroups(spec as readonly (string | MarketGroup)[]);
    const store = AttachedStore.open(name, {
      clock: options.clock,
      serverTimeoutMs: options.serverTimeoutMs,
      backend: settings.backend,
    });
    const client = new ControlClient(name);
    let feed: RemoteFeed;
    let acquired: AcquireAnswer | null;
    let described: DiscoveredMarket[];
    let asked: string[];
    try {
      await client.connect(connectTimeoutMs, signal);
      feed = new RemoteFeed(client, store);
      if (query) {
        const r = await feed.acquireQuery(query);
        groups = r.groups;
        acquired = r.answer;
      } else {
        acquired = await feed.acquire(groups);
      }
      // What the server describes of everything it holds: `market()` answers from memory.
      asked = store.tokens();
      described = await feed.describe();
      signal?.throwIfAborted();
    } catch (e) {
      client.close();
      store.close();
      throw e;
    }
    const cache = new BookCache({ ...rest, worker: false }, settings, store, store);
    cache.feed = feed;
    cache.link = new ServerLink(client, store);
    feed.on('error', (e) => cache.emitError(e));
    feed.on('markets', (markets) => cache.describe(markets));
    for (const g of groups) for (const t of g.tokens) cache.hold(t, g);
    cache.universeEpoch++;
    cache.hub.refresh();
    for (const t of asked) cache.asked.add(t);
    cache.describe(described);
    if (acquired) cache.describe(acquired.markets);
    for (const w of acquired?.warnings ?? []) {
      cache.log.write('cache.discovery_warning', `polybook: discovery (server ${name}): ${w}`, { warning: w });
    }
    if (acquired && acquired.pending.length > 0) {
      const names = acquired.pending.map((m) => m.slug || m.conditionId);
      const w = `${names.length} market(s) have no book on the CLOB yet (hydration window), not held: ${names.join(', ')}; acquire them later`;
      cache.log.write('cache.discovery_warning', `polybook: discovery (server ${name}): ${w}`, { warning: w });
    }
    client.on('reconnected', () => cache.describeLater(true));
    cache.sweepTimer = setInterval(() => cache.sweep(), options.sweepIntervalMs ?? 1000);
    cache.sweepTimer.unref();
    const tokens = groups.flatMap((g) => g.tokens);
    const warmup = new WarmupManager(store, cache.hub, tokens, {
      minReadyFraction: cache.warmupMinReadyFraction,
      timeoutMs: cache.warmupTimeoutMs,
      // The server decides what is disabled: a client never disables another client's tokens.
      disableNotReady: false,
      onProgress: (p) => {
        options.onWarmupProgress?.(p);
        cache.emit('warmupProgress', p);
      },
      signal: cache.lifetime.signal,
    });
    const run = warmup.run().then((r) => {
      cache.warmupResult = r;
      if (!cache.stopped) cache.gate = OPEN;
      cache.emit('warmup', r);
      return r;
    });
    run.catch(() => {});
    cache.warmupPromise = run;
    if (warmup.result) {
      // A warm server: the books were ready when the warmup looked; the first read is served.
      cache.warmupResult = warmup.result;
      cache.gate = OPEN;
    }
    return cache;
  }

  /** Shipped switched off: a minimal table only to count the misses; no socket, no worker, no server. */
  private static switchedOff(options: BookCacheOptions, settings: CacheEnvOptions): BookCache {
    const store = new BookStore({ backend: 'js', capacity: 1, maxDepth: settings.maxDepth, clock: 'precise' });
    const cache = new BookCache(options, settings, store);
    const r: WarmupResult = { ready: 0, total: 0, fraction: 0, timedOut: false, disabled: [], elapsedMs: 0 };
    cache.warmupResult = r;
    cache.warmupPromise = Promise.resolve(r);
    return cache;
  }

  /**
   * Creates the store and the feed, subscribes the universe and starts warmup (not awaited: use
   * {@link BookCache.warmup}). With `enabled: false` nothing connects and every read misses `disabled`.
   * @throws ConfigError on an invalid option; Error when the native backend is asked for but cannot load.
   */
  static async start(options: BookCacheOptions = {}): Promise<BookCache> {
    const signal = options.signal;
    signal?.throwIfAborted();
    const settings = resolveCacheSettings(options);
    if (options.worker !== undefined && typeof options.worker !== 'boolean')
      throw new ConfigError('worker', options.worker, 'true or false');
    if (options.followNewMarkets !== undefined && typeof options.followNewMarkets !== 'function') {
      throw new ConfigError('followNewMarkets', options.followNewMarkets, 'a function (event) => boolean');
    }
    if (!settings.enabled) return BookCache.switchedOff(options, settings);
    // Everything that can be rejected is checked before a socket, a worker or a request exists.
    const feedOptions: FeedOptions = {
      // Custom features on by default: `market_resolved` is how settled tokens are found (and
      // evicted) while their connection still carries live markets; following new markets needs them too.
      customFeatures: true,
      ...(options.feed ?? {}),
      hardStaleMs: settings.hardStaleMs,
      ...(settings.url !== undefined ? { url: settings.url } : {}),
      ...(options.followNewMarkets ? { customFeatures: true } : {}),
    };
    // REST follows the feed's URL (its option, else POLYBOOK_WS_URL, else Polymarket's).
    const feedUrl = resolveFeedOptions(feedOptions).url;
    const urls = restUrlsFor(feedUrl);
    const gammaUrl = settings.gammaUrl ?? readEnv('gammaUrl') ?? urls.gammaUrl;
    const clobUrl = settings.clobUrl ?? readEnv('clobUrl') ?? urls.clobUrl;
    const http = new HttpClient(options.http);
    const hydration = checkHydration(options.hydration);
    const restOptions = options.rest === true ? {} : options.rest || null;
    // The auditor: on by default with Polymarket's own feed only; its REST base URL is warmup's.
    const audit = resolveAudit(options.audit, readEnv('audit'), isPolymarketFeed(feedUrl));
    const auditUrl = restOptions?.url !== undefined ? checkHttpUrl('rest.url', restOptions.url) : clobUrl;
    // The cache's HTTP client is shared (one budget per host) unless the REST options bring their own.
    const ownHttp = restOptions && (restOptions.http || restOptions.fetch || restOptions.now || restOptions.sleep);
    const rest = restOptions
      ? new RestWarmupClient({ url: clobUrl, ...restOptions }, ownHttp ? undefined : http)
      : null;
    const resolved =
      options.universe === undefined
        ? { groups: [], markets: [], pending: [], warnings: [] }
        : await resolveUniverse(options.universe, { gammaUrl, clobUrl, client: http, signal });
    signal?.throwIfAborted();
    const groups = resolved.groups;
    const log = new FeedLog(options.feed?.logger, logStyle(options.feed?.logger, options.feed?.logStyle));
    for (const w of resolved.warnings)
      log.write('cache.discovery_warning', `polybook: discovery: ${w}`, { warning: w });
    const storeOptions = {
      backend: settings.backend,
      maxDepth: settings.maxDepth,
      capacity: options.capacity,
      clock: options.clock,
      graceMs: options.graceMs,
    };
    const server = options.serverTable;
    let store: BookTable;
    let feed: FeedLike;
    let auditor: AuditRun | null = null;
    if (options.worker) {
      const wf: WorkerFeed = await startWorkerFeed({
        ...feedOptions,
        ...storeOptions,
        ...(server ? { serverTable: { memory: server.memory, name: server.name } } : {}),
        signal,
        ...(audit ? { audit: { options: audit, url: auditUrl, http: options.http } } : {}),
      });
      store = wf.store;
      feed = wf;
      if (audit) {
        auditor = {
          start: () => wf.startAudit(),
          // The worker stops it with the feed.
          stop: () => {},
          read: () => wf.auditStats()!,
        };
      }
    } else {
      const local = new BookStore({ ...storeOptions, ...(server ? { table: server.memory } : {}) });
      const manager = new SubscriptionManager(local, feedOptions);
      store = local;
      feed = manager;
      if (audit) {
        const a = new Auditor(
          { store: local, reconnect: (conn, reason) => manager.reconnect(conn, reason), log },
          http,
          auditUrl,
          audit,
        );
        auditor = { start: () => a.start(), stop: () => a.stop(), read: () => ({ stats: a.stats(), http: undefined }) };
      }
    }
    if (server) store.directory = server.directory;
    const cache = new BookCache(options, settings, store);
    cache.feed = feed;
    cache.rest = rest;
    cache.http = http;
    cache.clobUrl = clobUrl;
    cache.gammaUrl = gammaUrl;
    cache.auditor = auditor;
    // Listen only when following: the feed scans frames for new_market only while someone listens.
    if (options.followNewMarkets) feed.on('newMarket', (ev) => cache.onNewMarket(ev));
    feed.on('disconnected', (ev) => {
      if (ev.reconnectInMs === null) cache.sweep();
      cache.emit('disconnected', ev);
    });
    try {
      cache.startFeed(groups);
      cache.describe(resolved.markets);
    } catch (e) {
      await feed.stop().catch(() => {});
      store.close();
      throw e;
    }
    cache.sweepTimer = setInterval(() => cache.sweep(), options.sweepIntervalMs ?? 1000);
    cache.sweepTimer.unref();
    cache.warmupPromise = cache.runInitialWarmup(groups);
    if (resolved.pending.length > 0) cache.awaitHydration(resolved.pending, hydration);
    return cache;
  }

  /**
   * Records discovered markets of held tokens (for {@link BookCache.market}) and gives their
   * `min_order_size` text and neg-risk flag to the store, which turns its server-hash check on.
   */
  private describe(markets: readonly DiscoveredMarket[]): void {
    for (const m of markets) {
      for (const o of m.outcomes) {
        if (this.link) {
          // Connected: the server's tokens (its writer has their metadata already).
          if (this.store.has(o.tokenId)) this.marketOf.set(o.tokenId, { market: m, outcome: o.label });
          continue;
        }
        if (!this.refs.has(o.tokenId)) continue;
        this.marketOf.set(o.tokenId, { market: m, outcome: o.label });
        this.store.setMeta(o.tokenId, m.minOrderSizeText, m.negRisk);
      }
    }
  }

  /**
   * Connected: asks the server, off the read path, for the markets of the tokens its directory
   * gained since they were last asked (`all`: of every token, after a restart or a reconnect), and
   * forgets those of tokens it no longer holds. One request at a time; changes meanwhile are
   * looked at once it is answered. A failure (the server away) leaves the tokens to the next change.
   */
  private describeLater(all: boolean): void {
    if (all) this.describeAll = true;
    if (this.describing) {
      this.describeAgain = true;
      return;
    }
    this.describing = true;
    setImmediate(() => {
      this.describeNow()
        .catch(() => {
          // The server is away: a reconnect describes everything again.
        })
        .finally(() => {
          this.describing = false;
          if (this.describeAgain && !this.stopped) {
            this.describeAgain = false;
            this.describeLater(false);
          }
        });
    });
  }

  private async describeNow(): Promise<void> {
    const feed = this.feed as RemoteFeed | null;
    if (!this.link || !feed || this.stopped) return;
    const held = new Set(this.store.tokens());
    for (const t of this.marketOf.keys()) if (!held.has(t)) this.marketOf.delete(t);
    for (const t of this.asked) if (!held.has(t)) this.asked.delete(t);
    if (this.describeAll) {
      this.describeAll = false;
      try {
        const markets = await feed.describe();
        for (const t of held) this.asked.add(t);
        if (!this.stopped) this.describe(markets);
      } catch (e) {
        this.describeAll = true;
        throw e;
      }
      return;
    }
    const fresh = [...held].filter((t) => !this.asked.has(t));
    for (let i = 0; i < fresh.length && !this.stopped; i += DESCRIBE_CHUNK) {
      const part = fresh.slice(i, i + DESCRIBE_CHUNK);
      const markets = await feed.describe(part);
      for (const t of part) this.asked.add(t);
      if (!this.stopped) this.describe(markets);
    }
  }

  /** Checks pending markets' books every `retryMs` until `timeoutMs`; adds each market once its books exist. */
  private awaitHydration(pending: DiscoveredMarket[], o: { retryMs: number; timeoutMs: number }): void {
    this.pending = pending;
    const giveUpAt = performance.now() + o.timeoutMs;
    const round = async () => {
      this.hydrationTimer = undefined;
      if (this.stopped || !this.http) return;
      let check: Awaited<ReturnType<typeof checkBooks>>;
      try {
        check = await checkBooks(this.http, this.clobUrl, this.pending, {
          purpose: 'discovery',
          signal: this.lifetime.signal,
        });
      } catch {
        return; // stopped
      }
      if (this.stopped) return;
      if (check.ready.length > 0) {
        this.pending = check.pending;
        try {
          this.addMarkets(check.ready);
          this.emit('hydrated', check.ready);
        } catch (e) {
          this.emitError(e);
        }
      }
      if (this.pending.length === 0) return;
      if (performance.now() >= giveUpAt) {
        const left = this.pending;
        this.pending = [];
        const names = left.map((m) => m.slug || m.conditionId);
        this.log.write(
          'cache.hydration_timeout',
          `polybook: ${left.length} discovered market(s) still have no book after ${o.timeoutMs} ms; not followed: ${names.join(', ')}`,
          { markets: names, timeoutMs: o.timeoutMs },
        );
        return;
      }
      this.hydrationTimer = setTimeout(round, o.retryMs);
      this.hydrationTimer.unref();
    };
    this.hydrationTimer = setTimeout(round, o.retryMs);
    this.hydrationTimer.unref();
  }

  /** Holds and subscribes discovered markets that arrived after start; they warm on their own (never disabled). */
  private addMarkets(markets: readonly DiscoveredMarket[]): void {
    const fresh: MarketGroup[] = [];
    for (const g of toGroups(markets)) {
      const added = g.tokens.filter((t) => this.hold(t, g));
      if (added.length > 0) fresh.push({ market: g.market, tokens: added });
    }
    if (fresh.length > 0) this.subscribe(fresh);
    this.describe(markets);
  }

  /** @internal Describes held tokens with markets known from elsewhere (a book server's state file). */
  describeMarkets(markets: readonly DiscoveredMarket[]): void {
    this.describe(markets);
  }

  /**
   * @internal Runs a discovery query with this cache's REST URLs and HTTP client (its budgets and
   * counters): a book server's acquire by query. Holds nothing.
   * @throws ConfigError for a bad query; the errors of `discover`.
   */
  resolveQuery(query: MarketQuery, signal?: AbortSignal): Promise<ResolvedUniverse> {
    this.checkRunning('resolveQuery');
    if (!this.http) {
      return Promise.reject(
        new PolybookError(
          'POLYBOOK_INVALID_STATE',
          'polybook: this cache has no HTTP client (switched off, or connected)',
        ),
      );
    }
    return resolveUniverse(query, { gammaUrl: this.gammaUrl, clobUrl: this.clobUrl, client: this.http, signal });
  }

  /** @internal The held tokens grouped by the market they were added with (a book server's universe). */
  marketGroups(tokens: Iterable<string> = this.refs.keys()): MarketGroup[] {
    const byMarket = new Map<string, string[]>();
    const lone: MarketGroup[] = [];
    for (const t of tokens) {
      const market = this.groupOf.get(t)?.market;
      if (market === undefined) {
        lone.push({ tokens: [t] });
        continue;
      }
      const list = byMarket.get(market);
      if (list) list.push(t);
      else byMarket.set(market, [t]);
    }
    return [...[...byMarket].map(([market, ts]) => ({ market, tokens: ts })), ...lone];
  }

  /** @internal The feed stats now (a book server publishes them into its table). */
  feedStatsNow(): FeedStats | null {
    return this.currentFeedStats();
  }

  /**
   * The market discovery described for a held token, with the token's outcome label (`Yes`, `Up`,
   * a team...); null for tokens given by id or not held. A memory lookup.
   *
   * Connected to a book server: every token the server holds whose market it described (its own
   * discovered universe, and what any client acquired by query), whoever acquired it. The server
   * is asked at `connect`, with each acquire, and (in the background) when its token directory
   * gains tokens, so a token another process just added is described shortly after it is readable.
   */
  market(tokenId: string): {
    /** The market the token trades in, as discovery described it. */
    market: DiscoveredMarket;
    /** The token's outcome label in that market (`Yes`, `Up`, a team...). */
    outcome: string;
  } | null {
    return this.marketOf.get(tokenId) ?? null;
  }

  /** The discovered markets the cache follows (each once, in discovery order); connected: those the server described (see {@link BookCache.market}). */
  markets(): DiscoveredMarket[] {
    const out = new Set<DiscoveredMarket>();
    for (const { market } of this.marketOf.values()) out.add(market);
    return [...out];
  }

  /** Discovered markets waiting for the CLOB to have their books (hydration window). */
  pendingMarkets(): DiscoveredMarket[] {
    return [...this.pending];
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
      signal: this.lifetime.signal,
    });
    const run = wm.run().then((r) => {
      this.warmupResult = r;
      if (!this.stopped) {
        this.gate = OPEN;
        this.auditor?.start();
      }
      this.emit('warmup', r);
      return r;
    });
    // Rejected only by stop(): callers of warmup() see it; nobody else must.
    run.catch(() => {});
    return run;
  }

  /**
   * Resolves when the initial warmup completes: the ready fraction reached the minimum, or the
   * timeout passed. Tokens not ready then were disabled for the session and are listed.
   *
   * `signal` cancels this wait only (it rejects with the signal's reason); the initial warmup goes
   * on for the cache and its other callers. Rejects with `POLYBOOK_STOPPED` when the cache is
   * stopped before warmup completed.
   */
  warmup(options: { signal?: AbortSignal } = {}): Promise<WarmupResult> {
    const p = this.warmupPromise as Promise<WarmupResult>;
    const signal = options.signal;
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const abort = () => reject(signal.reason);
      signal.addEventListener('abort', abort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
    });
  }

  /**
   * @internal The warmup REST client (null without `rest`). Closed when warmup ends: every later
   * call is refused with `RestRefusedError` and counted in `metrics().cache.restRefused`.
   */
  get restClient(): RestWarmupClient | null {
    return this.rest;
  }

  /**
   * The book server this cache is connected to (`BookCache.connect`): its universe, metrics and
   * warmup over the control channel; null for a cache with its own feed.
   */
  get server(): ServerLink | null {
    return this.link;
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

  /**
   * Calls `callback` once per change of any of `tokenIds` (see src/cache/watch.ts). Returns the
   * unsubscribe function. On a connected cache (`BookCache.connect`), also once per watched token
   * when the server goes down (`ready: false`, at most `serverTimeoutMs` + 70 ms after its last
   * heartbeat) and once when it is back (the same server, or a restarted one; `ready` as its book is).
   */
  watch(tokenIds: Iterable<string>, callback: WatchCallback): () => void {
    return this.hub.watch(tokenIds, callback);
  }

  /**
   * `for await (const change of cache.changes(ids))`; `break` unsubscribes. The same changes as
   * {@link BookCache.watch}, the server's liveness included.
   */
  changes(tokenIds: Iterable<string>, options?: ChangesOptions): AsyncIterableIterator<BookChange> {
    return changesIterator(this.hub, tokenIds, options);
  }

  /**
   * Calls `callback` with each trade of `tokenIds` (a `last_trade_price` event: price, size, taker
   * side, exchange time, token, market), in arrival order. Returns the unsubscribe function. The
   * feed looks for trades only while a trade watch exists; in worker mode they come by message.
   * A callback that throws is reported on the `error` event. Switched off: never called.
   * @throws PolybookError `POLYBOOK_STOPPED` after `stop()`; TypeError (`POLYBOOK_INVALID_ARGUMENT`) for a bad token id or callback.
   */
  watchTrades(tokenIds: Iterable<string>, callback: TradeCallback): () => void {
    this.checkRunning('watchTrades');
    return this.tradeHub.watch(tokenIds, callback);
  }

  /**
   * `for await (const trade of cache.trades(ids, { signal }))`: the trades of `tokenIds` from now
   * on. While the loop body is busy, at most `maxQueue` trades wait (default 1000); past it the
   * oldest are dropped and counted (`metrics().cache.tradesDropped`). `break`, the signal or
   * `stop()` ends the iteration (trades still waiting are not delivered).
   * @throws PolybookError `POLYBOOK_STOPPED` after `stop()`; TypeError (`POLYBOOK_INVALID_ARGUMENT`) for a
   *   token id that is not a non-empty string; RangeError (`POLYBOOK_INVALID_ARGUMENT`) for a bad `maxQueue`.
   */
  trades(tokenIds: Iterable<string>, options?: TradesOptions): AsyncIterableIterator<Trade> {
    this.checkRunning('trades');
    return tradesIterator(this.tradeHub, tokenIds, options);
  }

  /**
   * Adds a reference to each token (or market group); tokens not held before are subscribed on
   * the open connections and warm on their own. Resolves with the warmup of the newly added
   * tokens (by default the cache's minimum fraction and timeout; those not ready by then are
   * disabled). The cache's trading gate is not affected. Rejects with the signal's reason when
   * `warmup.signal` aborts (the references taken are released), with `POLYBOOK_STOPPED` when the
   * cache is stopped before the warmup completed.
   */
  acquire(universe: readonly (string | MarketGroup)[], warmup: AcquireOptions = {}): Promise<WarmupResult> {
    this.checkRunning('acquire');
    const signal = warmup.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
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
    const run = new WarmupManager(this.store, this.hub, tokens, {
      minReadyFraction: warmup.minReadyFraction ?? this.warmupMinReadyFraction,
      timeoutMs: warmup.timeoutMs ?? this.warmupTimeoutMs,
      disableNotReady: warmup.disableNotReady,
      onProgress: warmup.onProgress,
      signal: signal ? AbortSignal.any([signal, this.lifetime.signal]) : this.lifetime.signal,
    }).run();
    if (!signal) return run;
    return run.catch((e: unknown) => {
      // Cancelled by the caller: give back every reference this call took.
      if (signal.aborted) this.release(groups.flatMap((g) => g.tokens));
      throw e;
    });
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
        // Connected: the server may still hold it (and describe it); the directory tells.
        if (!this.link) this.marketOf.delete(t);
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
      if (!this.link) this.marketOf.delete(t);
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
    const audit = this.auditor?.read();
    const http = this.http ? this.http.stats() : {};
    if (audit?.http) http[AUDIT_PURPOSE] = audit.http;
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
        tradesDelivered: this.tradeHub.delivered,
        tradesDropped: this.tradeHub.dropped,
        pendingMarkets: this.pending.length,
      },
      this.warmupResult,
      this.enabled,
      this.tradingEnabled,
      http,
      audit?.stats,
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
   * Otherwise `reason` says why (`disabled`, `stopped`, `server_down` for a connected cache,
   * `warming_up`, `no_open_connection`, `connection_down`). The body of `GET /healthz`.
   */
  health(): CacheHealth {
    return cacheHealth(this.metrics(), this.stopped, this.link !== null && !this.link.up);
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
    this.lifetime.abort(
      new PolybookError('POLYBOOK_STOPPED', 'polybook: the cache was stopped before warmup completed'),
    );
    clearInterval(this.sweepTimer);
    clearTimeout(this.hydrationTimer);
    this.lifetime.abort();
    this.pending = [];
    this.rest?.close();
    this.auditor?.stop();
    this.hub.close();
    this.tradeHub.close();
    const f = this.feed;
    if (f) await f.stop();
    this.store.close();
    await Promise.all([...this.servers].map((server) => server.close()));
  }

  /** {@link BookCache.stop}, for `await using cache = await BookCache.start(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private checkRunning(what: string): void {
    if (this.stopped) {
      throw new PolybookError('POLYBOOK_STOPPED', `polybook: ${what}() after the cache was stopped; start a new cache`);
    }
  }

  private emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else console.error('polybook cache:', e);
  }
}

/** Checked hydration options with their defaults. */
function checkHydration(h: BookCacheOptions['hydration']): { retryMs: number; timeoutMs: number } {
  const retryMs = h?.retryMs ?? 15_000;
  const timeoutMs = h?.timeoutMs ?? 300_000;
  if (!Number.isInteger(retryMs) || retryMs < 1 || retryMs > 3_600_000)
    throw new ConfigError('hydration.retryMs', retryMs, 'an integer from 1 to 3600000');
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 86_400_000)
    throw new ConfigError('hydration.timeoutMs', timeoutMs, 'an integer from 0 to 86400000');
  return { retryMs, timeoutMs };
}
