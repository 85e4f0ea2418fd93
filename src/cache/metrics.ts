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
import { HTTP_PURPOSES, type HttpStats, type PurposeStats } from '../rest/http.js';
import type { WarmupResult } from './warmup.js';
import { AUDIT_STATS, auditOff, type AuditStats } from '../audit/stats.js';

/** Every field of {@link CacheCounters} and the metric it is exported as. */
export const CACHE_COUNTERS = {
  /** Gauge: tokens in the book table (held by the universe, `acquire` or followed markets); 0 while the cache is disabled. */
  tokens: gaugeField('polybook_tokens', 'Tokens in the table.'),
  /** Gauge: tokens whose book is ready (neither disabled nor settled), whatever its age; 0 while the cache is disabled. */
  ready: gaugeField('polybook_ready_tokens', 'Tokens with a ready book (whatever its age).'),
  /** Counter since start: settled tokens removed from the table by the sweep (`evictSettled`), freeing their slots. */
  evicted: counterField('polybook_evicted_tokens_total', 'Settled tokens evicted from the table.'),
  /** Counter since start: tokens added after `start()` (by `acquire` or by following new markets). */
  addedAtRuntime: counterField(
    'polybook_runtime_added_tokens_total',
    'Tokens added after start (acquire, followed new markets).',
  ),
  /** Counter since start: `new_market` events that `followNewMarkets` accepted. */
  newMarketsFollowed: counterField('polybook_followed_new_markets_total', '`new_market` events followed.'),
  /** Counter since start: change notifications delivered to `watch` callbacks and `changes()` iterators. */
  watchNotifications: counterField(
    'polybook_watch_notifications_total',
    'Change notifications delivered to watch callbacks and changes() iterators.',
  ),
  /** Counter since start: book versions merged into a later notification of the same token instead of delivered one by one (see `BookChange.versions`). */
  watchCoalesced: counterField(
    'polybook_watch_coalesced_versions_total',
    'Book versions merged into a later notification of the same token (watch queues coalesce, never grow).',
  ),
  /** Trades handed to `watchTrades()` callbacks and `trades()` queues. */
  tradesDelivered: counterField(
    'polybook_trades_delivered_total',
    'Trades (`last_trade_price` events) handed to watchTrades() callbacks and trades() queues.',
  ),
  /** Trades dropped from a full `trades()` queue (the oldest first). */
  tradesDropped: counterField(
    'polybook_trades_dropped_total',
    'Trades dropped from a trades() queue that was full (its consumer fell behind: the oldest go first).',
  ),
  /** Counter: REST warmup requests sent, retries included. It stops growing once warmup ends: reads never use REST. */
  restCalls: counterField(
    'polybook_rest_calls_total',
    'REST requests sent (warmup only: it never grows after warmup, the proof that reads do not use REST).',
  ),
  /** Counter: REST warmup calls refused (`RestRefusedError`) because warmup had ended. */
  restRefused: counterField('polybook_rest_refused_total', 'REST calls refused because warmup had ended.'),
  /** Counter: books received from REST during warmup. */
  restBooks: counterField('polybook_rest_books_total', 'Books received from REST during warmup.'),
  /** Counter: REST warmup requests that failed for good (after their retries). */
  restErrors: counterField('polybook_rest_errors_total', 'Failed REST requests during warmup.'),
  /** Counter: time REST warmup requests waited on rate budgets, `Retry-After` and backoff, ms (exported in seconds). */
  restThrottledMs: counterField(
    'polybook_rest_throttled_seconds_total',
    "Time REST requests waited for the endpoint's rate limit.",
    'seconds',
    1000,
  ),
  /** Gauge: discovered markets whose books the CLOB does not have yet, checked again until they do or the hydration timeout passes. */
  pendingMarkets: gaugeField(
    'polybook_pending_markets',
    'Discovered markets waiting for their first book (the new-market hydration window).',
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
    /** The cache's own counters and gauges (tokens, evictions, watch notifications, REST warmup). */
    readonly cache: CacheCounters,
    /** The initial warmup's result; null until it completed. */
    readonly warmup: WarmupResult | null,
    /** Whether the cache is enabled (`POLYBOOK_ENABLED` or the `enabled` option); a disabled cache serves no book. */
    readonly enabled: boolean,
    /** Whether warmup completed and reads are served (see `BookCache.tradingEnabled`). */
    readonly tradingEnabled: boolean,
    /** REST requests by purpose (`discovery`, `warmup`, `audit`): requests, retries, errors, 429s, time throttled. */
    readonly http: HttpStats = {},
    /** The auditor's counters (all 0, `enabled` 0, when it does not run). */
    readonly audit: AuditStats = auditOff(),
  ) {}

  /** Store summary plus feed stats and cache counters. */
  summary(): CacheSummary {
    return {
      ...this.store.summary(),
      enabled: this.enabled,
      tradingEnabled: this.tradingEnabled,
      feed: this.feed,
      ...this.cache,
      http: this.http,
      audit: this.audit,
      warmup: this.warmup,
    };
  }
}

/** Something whose metrics the bridges read at collection time: a `BookCache`. */
export interface CacheMetricsSource {
  /** A fresh snapshot of the metrics, taken at each collection. */
  metrics(): CacheMetrics;
}

/** `cache.metrics().summary()`: the store summary, the cache counters, the feed stats and the warmup. */
export interface CacheSummary extends MetricsSummary, CacheCounters {
  /** REST requests by purpose. */
  http: HttpStats;
  /** The auditor's counters, and each connection's time since its last clean audit. */
  audit: AuditStats;
  /** Whether the cache is enabled; a disabled cache serves no book. */
  enabled: boolean;
  /** Whether warmup completed and reads are served. */
  tradingEnabled: boolean;
  /** The feed's counters and gauges; null while the cache is disabled. */
  feed: FeedStats | null;
  /** The initial warmup's result; null until it completed. */
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

/** A REST counter by purpose, from the HTTP client's stats. */
function httpFamily(name: string, help: string, unit: 'seconds' | null, value: (p: PurposeStats) => number) {
  return {
    name,
    kind: 'counter' as const,
    unit,
    help,
    labels: { purpose: HTTP_PURPOSES },
    // Every purpose from the start (0 before its first request), so that rate() has a baseline.
    read: (m: CacheMetrics) =>
      HTTP_PURPOSES.map((purpose) => {
        const p = m.http[purpose];
        return { labels: { purpose }, value: p ? value(p) : 0 };
      }),
  } satisfies MetricFamily<CacheMetrics>;
}

/** The REST client's counters, by purpose. */
const HTTP_FAMILIES: readonly MetricFamily<CacheMetrics>[] = [
  httpFamily(
    'polybook_http_requests_total',
    'REST requests sent, by purpose (every attempt).',
    null,
    (p) => p.requests,
  ),
  httpFamily(
    'polybook_http_retries_total',
    'REST requests repeated after a 429, a 5xx, a timeout or a dropped connection.',
    null,
    (p) => p.retries,
  ),
  httpFamily('polybook_http_errors_total', 'REST requests that failed for good, by purpose.', null, (p) => p.errors),
  httpFamily('polybook_http_rate_limited_total', 'HTTP 429 answers received, by purpose.', null, (p) => p.rateLimited),
  httpFamily(
    'polybook_http_throttled_seconds_total',
    'Time REST requests waited on budgets and Retry-After, by purpose.',
    'seconds',
    (p) => p.throttledMs / 1000,
  ),
];

/** Connection indexes as label values. */
const CONNECTION_LABELS: readonly string[] = Array.from({ length: 255 }, (_, i) => String(i + 1));

/** The auditor's counters, and its per-connection gauge. */
const AUDIT_FAMILIES: readonly MetricFamily<CacheMetrics>[] = [
  ...fieldFamilies(AUDIT_STATS).map((f) => liftFamily(f, (m: CacheMetrics) => m.audit)),
  {
    name: 'polybook_audit_clean_age_seconds',
    kind: 'gauge',
    unit: 'seconds',
    help: "Time since each connection's last clean audit (every book of it compared in one request equal to REST, or newer), or since the auditor first saw it.",
    labels: { conn: CONNECTION_LABELS },
    read: (m: CacheMetrics) =>
      m.audit.connections.map((c) => ({ labels: { conn: String(c.conn) }, value: c.cleanAgeMs / 1000 })),
  },
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
  ...HTTP_FAMILIES,
  ...AUDIT_FAMILIES,
  ...fieldFamilies(FEED_STATS).map((f) => liftFamily(f, (m: CacheMetrics) => m.feed)),
];
