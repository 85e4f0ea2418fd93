/**
 * polybook: live, verified Polymarket CLOB order books for TypeScript strategies.
 *
 * The facade: everything a user imports comes from here. Classes a user receives but never
 * constructs (handles, metrics, the worker feed) are exported as types.
 *
 * @packageDocumentation
 */
export { BookStore, type BookStoreOptions, DEFAULT_MAX_DEPTH, DEFAULT_CAPACITY } from './table/store.js';
export type { BookTable } from './table/book-table.js';
export type { BookView, TokenState } from './table/book-view.js';
export { Status, type FullBook } from './table/writer.js';
export type { BookHandle, Book, Level, LastTrade, TradeSide } from './table/view.js';
export { TICK_SIZES, tickSizeText, type TickSize } from './protocol/tick.js';
export {
  type Metrics,
  MISS_NAMES,
  AGE_BUCKETS_MS,
  type MissName,
  type MetricsSummary,
  type MetricsSnapshot,
} from './table/metrics.js';
export type { ClockOption } from './table/clock.js';
export {
  ConfigError,
  PolybookError,
  ERROR_CODES,
  type ErrorCode,
  type InvalidArgumentError,
  MissingDependencyError,
  MetricsConflictError,
  MetricsListenError,
  NetworkError,
  HttpError,
  DiscoveryError,
  type NetworkFailure,
} from './errors.js';
export { nativeAvailability, type BackendName } from './backend/index.js';
export { BACKEND_NAMES, ENVIRONMENT, type EnvVariable, type EnvKind, type EnvOption } from './config.js';
export { bookHash, type HashInput } from './protocol/hash.js';
export { COUNTERS, type CounterName } from './table/layout.js';
export {
  BookCache,
  type CacheHandle,
  type AcquireOptions,
  type BookCacheOptions,
  type ConnectOptions,
  type CacheEvents,
} from './cache/book-cache.js';
export { BookServer, type BookServerOptions, type ServerClient } from './server/server.js';
export type { AttachedStore, AttachOptions } from './server/attached.js';
export type { ServerLink } from './server/client.js';
export type { ServerUniverse, ServerMetrics, ServerWarmup } from './server/protocol.js';
export {
  type CacheMetrics,
  METRIC_FAMILIES,
  CACHE_COUNTERS,
  type CacheSummary,
  type CacheCounters,
  type CacheMetricsSource,
} from './cache/metrics.js';
export type {
  MetricFamily,
  ScalarFamily,
  HistogramFamily,
  MetricKind,
  MetricUnit,
  FieldDef,
  Labels,
  Sample,
  HistogramSample,
} from './table/metric-defs.js';
export { HEALTH_REASONS, type CacheHealth, type HealthReason } from './cache/health.js';
export type { MetricsServer, MetricsServerOptions } from './cache/metrics-server.js';
export { registerPrometheus, type PrometheusBridge, type PrometheusRegistry } from './cache/prom-client.js';
export {
  registerOpenTelemetry,
  type OpenTelemetryBridge,
  type OpenTelemetryOptions,
  type OtelMeter,
  type OtelBatchObservableResult,
  type OtelInstrumentOptions,
} from './cache/otel.js';
export { Staleness, LATENCY_ARB_MIN_MS, LATENCY_ARB_MAX_MS } from './cache/staleness.js';
export { fromEnv, ENV_VARS, CACHE_DEFAULTS, type CacheEnvOptions } from './cache/env.js';
export {
  AUDIT_DEFAULTS,
  type AuditOptions,
  type AuditSetting,
  type ResolvedAudit,
  coveragePeriodMs,
  detectionBoundMs,
} from './audit/options.js';
export { AUDIT_STATS, type AuditStats, type AuditConnection } from './audit/stats.js';
export type { WarmupResult, WarmupProgress } from './cache/warmup.js';
export type { BookChange, WatchCallback, ChangesOptions } from './cache/watch.js';
export { DEFAULT_TRADE_QUEUE, type TradeCallback, type TradesOptions } from './cache/trades.js';
export { RestRefusedError, type RestOptions, type RestStats, type RestFetchResult } from './cache/rest.js';
export { toGroups, type MarketGroup, type UniverseSpec } from './cache/universe.js';
export {
  discover,
  checkBooks,
  isTradeable,
  notTradeable,
  fromGamma,
  fromGammaEvent,
  fromClob,
  RANK_BY,
  type DiscoveredMarket,
  type Outcome,
  type DiscoverOptions,
  type DiscoveryResult,
  type MarketQuery,
  type RankBy,
  type BookCheck,
} from './discovery/index.js';
export {
  HttpClient,
  RATE_LIMITS,
  DEFAULT_GAMMA_URL,
  DEFAULT_CLOB_URL,
  USER_AGENT,
  restUrlsFor,
  postBooks,
  booksByToken,
  MAX_BOOKS_PER_REQUEST,
  type HttpOptions,
  type HttpResponse,
  type RequestOptions,
  type HttpStats,
  type PurposeStats,
  type RateLimits,
  type RestApi,
  type EndpointLimit,
  type RawBook,
  type BooksRequestOptions,
} from './rest/index.js';
export { PROMETHEUS_CONTENT_TYPE } from './cache/prometheus.js';
export {
  SubscriptionManager,
  startWorkerFeed,
  type WorkerFeed,
  DEFAULT_WS_URL,
  type FeedOptions,
  type ResolvedFeedOptions,
  type FeedStats,
  FEED_STATS,
  type FeedLogger,
  type ObjectLogger,
  type LogContext,
  type LogStyle,
  type LogEvent,
  LOG_EVENTS,
  type FeedEvents,
  type FeedGroup,
  type UniverseEntry,
  type ConnectedEvent,
  type DisconnectedEvent,
  type NewMarketEvent,
  type Trade,
  type ConnectionLiveness,
  type BackoffOptions,
  type WorkerFeedOptions,
} from './feed/index.js';
export {
  startSimulator,
  FAULT_NAMES,
  DEFAULT_OVERSIZED_BYTES,
  type Simulator,
  type SimulatorOptions,
  type FaultName,
  type MarketInfo,
  type TopOfBook,
  type BookState,
  type Level as SimulatorLevel,
  type TokenInfo,
  type ConnectionInfo,
  type SimulatorStats,
  type InjectTarget,
  type MalformedVariant,
  type RestFailure,
} from './simulator/index.js';
export {
  readRecording,
  replay,
  RecordingError,
  type RecordedOp,
  type ReplayResult,
} from './tools/recording.js';
