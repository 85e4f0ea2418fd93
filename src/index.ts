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
