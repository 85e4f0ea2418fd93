/**
 * The auditor's statistics: one table defines every field of {@link AuditStats} and the metric it is
 * exported as (docs/METRICS.md), as src/feed/stats.ts does for the feed.
 */
import { counterField, gaugeField, type FieldDef } from '../table/metric-defs.js';

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
