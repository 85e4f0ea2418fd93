/**
 * The auditor's statistics: one table defines every field of {@link AuditStats} and the metric it is
 * exported as (docs/METRICS.md), as src/feed/stats.ts does for the feed, and its word in the shared
 * block through which an auditor in the feed worker publishes them (worker mode).
 */
import { counterField, gaugeField, type FieldDef } from '../table/metric-defs.js';
import type { PurposeStats } from '../rest/http.js';

/** Every numeric field of {@link AuditStats}. Fields in ms are exported in seconds. */
export const AUDIT_STATS = {
  /** 1 while the auditor runs, else 0. */
  enabled: gaugeField(
    'polybook_audit_enabled',
    'Whether the auditor runs (books compared with REST `POST /books` in the background; docs/FEED.md "Audits").',
  ),
  /** Requests answered. */
  audits: counterField(
    'polybook_audits_total',
    'Audit requests answered (each compares up to tokensPerRequest books).',
  ),
  /** Books compared with their REST book. */
  tokensAudited: counterField('polybook_audit_tokens_total', 'Books compared with their REST book.'),
  /** Books found frozen (missed updates). */
  freezes: counterField(
    'polybook_audit_freezes_total',
    'Books found frozen: the REST book newer and different, and no WebSocket update within the grace period (reset and refetched).',
  ),
  /** Books found different at the same timestamp. */
  divergences: counterField(
    'polybook_audit_divergences_total',
    'Books found different from the REST book at the same exchange timestamp after the grace period (reset and refetched).',
  ),
  /** REST books older than the book held (ignored). */
  restBehind: counterField(
    'polybook_audit_rest_behind_total',
    'REST books older than the book held: they prove nothing and are ignored.',
  ),
  /** Connections reconnected for several frozen tokens. */
  quarantines: counterField(
    'polybook_audit_quarantines_total',
    'Connections reconnected because several of their tokens were found frozen within the quarantine window.',
  ),
  /** Requests that failed. */
  failures: counterField(
    'polybook_audit_failures_total',
    'Audit requests that failed (never retried: the next request comes anyway).',
  ),
  /** Time to audit every book once at the budget, ms. */
  coveragePeriodMs: gaugeField(
    'polybook_audit_coverage_period_seconds',
    'Time to audit every book of the table once at the configured budget (0 while the auditor is off).',
    'seconds',
    1000,
  ),
  /** Duration of the last complete pass, ms (NaN before the first). */
  lastPassMs: gaugeField(
    'polybook_audit_last_pass_seconds',
    'Duration of the last complete pass over every book (NaN before the first).',
    'seconds',
    1000,
  ),
} as const satisfies Record<string, FieldDef>;

/** One connection as the auditor sees it. */
export interface AuditConnection {
  /** Connection index (1..255). */
  conn: number;
  /**
   * Time since the connection's last clean audit (a request in which every book of it compared was
   * equal to REST, or newer), or since the auditor first saw it, ms.
   */
  cleanAgeMs: number;
  /** Its tokens found frozen within the quarantine window. */
  recentFreezes: number;
}

/** The auditor's counters and gauges; what each field means: {@link AUDIT_STATS} and docs/METRICS.md. Times in ms. */
export type AuditStats = { -readonly [K in keyof typeof AUDIT_STATS]: number } & {
  /** The connections whose tokens the last pass audited, by index. */
  connections: AuditConnection[];
};

/** The statistics of an auditor that does not run. */
export function auditOff(): AuditStats {
  return {
    enabled: 0,
    audits: 0,
    tokensAudited: 0,
    freezes: 0,
    divergences: 0,
    restBehind: 0,
    quarantines: 0,
    failures: 0,
    coveragePeriodMs: 0,
    lastPassMs: NaN,
    connections: [],
  };
}

/** The counters of the HTTP client's `audit` purpose, in the shared block. */
const HTTP_KEYS = [
  'requests',
  'retries',
  'errors',
  'rateLimited',
  'throttledMs',
] as const satisfies readonly (keyof PurposeStats)[];
/** The numeric fields of {@link AuditStats}, in the order of the shared block. */
const STAT_KEYS = Object.keys(AUDIT_STATS) as (keyof typeof AUDIT_STATS)[];
const HTTP0 = STAT_KEYS.length;
const CONN0 = HTTP0 + HTTP_KEYS.length;

/**
 * f64 words of the shared block through which an auditor in the feed worker publishes to the main
 * thread: the counters, the HTTP counters of its requests, then per connection index (0..255) the
 * time its clean age counts from (NaN: not audited) and its recent freezes. @internal
 */
export const AUDIT_BLOCK_WORDS = CONN0 + 2 * 256;

/** Worker side: publishes `s` (taken at `now`) and the `audit` purpose's HTTP counters. @internal */
export function writeAuditBlock(f64: Float64Array, s: AuditStats, http: PurposeStats | undefined, now: number): void {
  for (let i = 0; i < STAT_KEYS.length; i++) f64[i] = s[STAT_KEYS[i]];
  for (let i = 0; i < HTTP_KEYS.length; i++) f64[HTTP0 + i] = http ? http[HTTP_KEYS[i]] : NaN;
  f64.fill(NaN, CONN0);
  for (const c of s.connections) {
    f64[CONN0 + 2 * c.conn] = now - c.cleanAgeMs;
    f64[CONN0 + 2 * c.conn + 1] = c.recentFreezes;
  }
}

/** Main side: the last published statistics, clean ages as of `now`. @internal */
export function readAuditBlock(f64: Float64Array, now: number): { stats: AuditStats; http: PurposeStats | undefined } {
  const s = auditOff();
  for (let i = 0; i < STAT_KEYS.length; i++) s[STAT_KEYS[i]] = f64[i];
  for (let conn = 0; conn < 256; conn++) {
    const at = f64[CONN0 + 2 * conn];
    if (!Number.isNaN(at)) s.connections.push({ conn, cleanAgeMs: now - at, recentFreezes: f64[CONN0 + 2 * conn + 1] });
  }
  if (Number.isNaN(f64[HTTP0])) return { stats: s, http: undefined };
  const http = {} as PurposeStats;
  for (let i = 0; i < HTTP_KEYS.length; i++) http[HTTP_KEYS[i]] = f64[HTTP0 + i];
  return { stats: s, http };
}
