/**
 * What `cache.metrics()` reports, and the catalogue of every metric polybook exports: the store's
 * read and writer counters (table/metrics.ts), the cache's own counters and state (here), and the
 * feed stats (feed/stats.ts). The Prometheus text (prometheus.ts), the prom-client bridge
 * (prom-client.ts), the OpenTelemetry instruments (otel.ts) and docs/METRICS.md all read
 * {@link METRIC_FAMILIES}.
 */
import { STORE_FAMILIES, type Metrics, type MetricsSummary } from '../table/metrics.js';
import {
  counterField,
  fieldFamilies,
  gaugeField,
  liftFamily,
  scalarFamily,
  type FieldDef,
  type MetricFamily,
} from '../table/metric-defs.js';
import { FEED_STATS, type FeedStats } from '../feed/stats.js';
import type { RestStats } from './rest.js';
import type { WarmupResult } from './warmup.js';

/** Every field of {@link CacheCounters} and the metric it is exported as. */
export const CACHE_COUNTERS = {
  tokens: gaugeField('polybook_tokens', 'Tokens in the table.'),
  ready: gaugeField('polybook_ready_tokens', 'Tokens with a ready book (whatever its age).'),
  evicted: counterField('polybook_evicted_tokens_total', 'Settled tokens evicted from the table.'),
  addedAtRuntime: counterField(
    'polybook_runtime_added_tokens_total',
    'Tokens added after start (acquire, followed new markets).',
  ),
  newMarketsFollowed: counterField('polybook_followed_new_markets_total', '`new_market` events followed.'),
  watchNotifications: counterField(
    'polybook_watch_notifications_total',
    'Change notifications delivered to watch callbacks and changes() iterators.',
  ),
  watchCoalesced: counterField(
    'polybook_watch_coalesced_versions_total',
    'Book versions merged into a later notification of the same token (watch queues coalesce, never grow).',
  ),
  restCalls: counterField(
    'polybook_rest_calls_total',
    'REST requests sent (warmup only: it never grows after warmup, the proof that reads do not use REST).',
  ),
  restRefused: counterField('polybook_rest_refused_total', 'REST calls refused because warmup had ended.'),
  restBooks: counterField('polybook_rest_books_total', 'Books received from REST during warmup.'),
  restErrors: counterField('polybook_rest_errors_total', 'Failed REST requests during warmup.'),
  restThrottledMs: counterField(
    'polybook_rest_throttled_seconds_total',
    "Time REST requests waited for the endpoint's rate limit.",
    'seconds',
    1000,
  ),
} as const satisfies Record<string, FieldDef>;

/** Cache-level counters; what each field means: {@link CACHE_COUNTERS} and docs/METRICS.md. */
export type CacheCounters = { -readonly [K in keyof typeof CACHE_COUNTERS]: number };

// The REST client's stats are spread into the cache counters: each needs its definition above.
CACHE_COUNTERS satisfies Record<keyof RestStats, FieldDef>;

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

/** Something whose metrics the bridges read at collection time: a `BookCache`. */
export interface CacheMetricsSource {
  metrics(): CacheMetrics;
}

/** `cache.metrics().summary()`: the store summary, the cache counters, the feed stats and the warmup. */
export interface CacheSummary extends MetricsSummary, CacheCounters {
  enabled: boolean;
  tradingEnabled: boolean;
  feed: FeedStats | null;
  warmup: WarmupResult | null;
}

/** The cache's switches and its warmup (absent until warmup completed). */
const STATE_FAMILIES: readonly MetricFamily<CacheMetrics>[] = [
  scalarFamily<CacheMetrics>(
    'gauge',
    'polybook_enabled',
    'Whether the cache is enabled (HFT_BOOK_CACHE_ENABLED).',
    null,
    (m) => (m.enabled ? 1 : 0),
  ),
  scalarFamily<CacheMetrics>(
    'gauge',
    'polybook_trading_enabled',
    'Whether warmup completed and reads are served.',
    null,
    (m) => (m.tradingEnabled ? 1 : 0),
  ),
  ...[
    scalarFamily<WarmupResult>(
      'gauge',
      'polybook_warmup_ready_fraction',
      'Ready fraction when the initial warmup completed.',
      null,
      (w) => w.fraction,
    ),
    scalarFamily<WarmupResult>(
      'gauge',
      'polybook_warmup_duration_seconds',
      'Duration of the initial warmup.',
      'seconds',
      (w) => w.elapsedMs / 1000,
    ),
    scalarFamily<WarmupResult>(
      'gauge',
      'polybook_warmup_disabled_tokens',
      'Tokens disabled at the end of the initial warmup.',
      null,
      (w) => w.disabled.length,
    ),
  ].map((f) => liftFamily(f, (m: CacheMetrics) => m.warmup)),
];

/**
 * Every metric polybook exports, in exposition order, each read from a {@link CacheMetrics}.
 * Families of the feed have no samples while the cache is disabled; those of the warmup none
 * until it completed.
 */
export const METRIC_FAMILIES: readonly MetricFamily<CacheMetrics>[] = [
  ...STORE_FAMILIES.map((f) => liftFamily(f, (m: CacheMetrics) => m.store)),
  ...STATE_FAMILIES,
  ...fieldFamilies(CACHE_COUNTERS).map((f) => liftFamily(f, (m: CacheMetrics) => m.cache)),
  ...fieldFamilies(FEED_STATS).map((f) => liftFamily(f, (m: CacheMetrics) => m.feed)),
];
