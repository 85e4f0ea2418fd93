/**
 * polybook: live, verified Polymarket CLOB order books for TypeScript strategies.
 *
 * The facade: everything a user imports comes from here.
 */
export { BookStore, type BookStoreOptions, DEFAULT_MAX_DEPTH, DEFAULT_CAPACITY } from './table/store.js';
export { BookTable } from './table/book-table.js';
export { BookView, type TokenState } from './table/book-view.js';
export { Status, type FullBook } from './table/writer.js';
export { BookHandle, type Book, type Level } from './table/view.js';
export { Metrics, Miss, MISS_NAMES, AGE_BUCKETS_MS, type MissName, type MetricsSummary } from './table/metrics.js';
export {
  ConfigError,
  PolybookError,
  ERROR_CODES,
  type ErrorCode,
  MissingDependencyError,
  MetricsConflictError,
  MetricsListenError,
} from './errors.js';
export { nativeAvailability, type BackendName } from './backend/index.js';
export { bookHash, type HashInput } from './protocol/hash.js';
export { COUNTERS, type CounterName } from './table/layout.js';
export { BookCache, CacheHandle, type BookCacheOptions, type CacheEvents } from './cache/book-cache.js';
export {
  CacheMetrics,
  METRIC_FAMILIES,
  CACHE_COUNTERS,
  type CacheSummary,
  type CacheCounters,
  type CacheMetricsSource,
} from './cache/metrics.js';
export type { MetricFamily, MetricKind, MetricUnit, FieldDef } from './table/metric-defs.js';
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
export type { WarmupResult, WarmupProgress } from './cache/warmup.js';
export type { BookChange, WatchCallback, ChangesOptions } from './cache/watch.js';
export { RestRefusedError, type RestOptions, type RestStats } from './cache/rest.js';
export {
  discoverMarkets,
  isTradeable,
  type DiscoveredMarket,
  type DiscoverOptions,
  type MarketGroup,
  type UniverseSpec,
} from './cache/universe.js';
export { PROMETHEUS_CONTENT_TYPE } from './cache/prometheus.js';
export {
  SubscriptionManager,
  startWorkerFeed,
  WorkerFeed,
  DEFAULT_WS_URL,
  type FeedOptions,
  type FeedStats,
  FEED_STATS,
  type FeedLogger,
  type WorkerFeedOptions,
} from './feed/index.js';
export {
  startSimulator,
  FAULT_NAMES,
  type Simulator,
  type SimulatorOptions,
  type FaultName,
  type MarketInfo,
  type TopOfBook,
} from './simulator/index.js';
export {
  Recorder,
  readRecording,
  replay,
  RecordingError,
  type RecordedOp,
  type ReplayResult,
} from './tools/recording.js';
