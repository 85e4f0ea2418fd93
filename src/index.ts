/**
 * polybook: live, verified Polymarket CLOB order books for TypeScript strategies.
 *
 * The facade: everything a user imports comes from here.
 */
export { BookStore, type BookStoreOptions, type TokenState, DEFAULT_MAX_DEPTH, DEFAULT_CAPACITY } from './store.js';
export { BookHandle, type Book, type Level } from './view.js';
export { Metrics, Miss, MISS_NAMES, AGE_BUCKETS_MS, type MissName, type MetricsSummary } from './metrics.js';
export { ConfigError } from './config.js';
export { nativeAvailability, type BackendName } from './backend.js';
export { bookHash, type HashInput } from './hash.js';
export { COUNTERS, type CounterName } from './layout.js';
export { BookCache, CacheHandle, CacheMetrics, type BookCacheOptions, type CacheEvents, type CacheSummary, type CacheCounters } from './cache.js';
export { Staleness, LATENCY_ARB_MIN_MS, LATENCY_ARB_MAX_MS } from './staleness.js';
export { fromEnv, ENV_VARS, CACHE_DEFAULTS, type CacheEnvOptions } from './env.js';
export type { WarmupResult, WarmupProgress } from './warmup.js';
export type { BookChange, WatchCallback, ChangesOptions } from './watch.js';
export { RestRefusedError, type RestOptions, type RestStats } from './rest.js';
export { discoverMarkets, isTradeable, type DiscoveredMarket, type DiscoverOptions, type MarketGroup, type UniverseSpec } from './universe.js';
export { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
export { SubscriptionManager, startWorkerFeed, WorkerFeed, DEFAULT_WS_URL, type FeedOptions, type FeedStats, type FeedLogger, type WorkerFeedOptions } from './feed/index.js';
export { startSimulator, FAULT_NAMES, type Simulator, type SimulatorOptions, type FaultName, type MarketInfo, type TopOfBook } from './simulator/index.js';
export { Recorder, readRecording, replay, RecordingError, type RecordedOp, type ReplayResult } from './recording.js';
