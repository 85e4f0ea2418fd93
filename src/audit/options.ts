/**
 * The auditor's options, their defaults and checks, and the figures that follow from a budget: the
 * coverage period and the detection bound (docs/FEED.md "Audits").
 */
import { ConfigError } from '../errors.js';
import { MAX_BOOKS_PER_REQUEST } from '../rest/books.js';
import { MAX_MS } from '../config.js';

/** The auditor's budget and thresholds (`BookCache.start({ audit: { ... } })`). Every field is optional. */
export interface AuditOptions {
  /**
   * `POST /books` requests per second, at most 25 (the documented `/books` limit is 500 per 10 s,
   * docs/PROTOCOL.md 3.3). Never retried: a failed request is counted and the next one comes anyway.
   * Default 1.
   */
  requestsPerSecond?: number;
  /** Tokens per request, 1 to 500. Default 50. */
  tokensPerRequest?: number;
  /**
   * How long the WebSocket has to catch up with a REST book that is newer than the book held (or
   * different at the same timestamp) before the token counts as frozen (or diverged), ms. REST
   * answers can run about a second ahead of the stream (docs/PROTOCOL.md 3.5). Default 3000.
   */
  graceMs?: number;
  /**
   * Frozen tokens of one connection, found within `quarantineWindowMs`, after which that connection
   * is reconnected (its tokens invalidated first); 0 = never. Default 3.
   */
  quarantineAfter?: number;
  /** The window of `quarantineAfter`, ms. Default 60000. */
  quarantineWindowMs?: number;
  /** Timeout of one request, ms. Default 5000. */
  timeoutMs?: number;
}

/** `BookCache.start({ audit })`: on with the defaults, off, or on with these settings. */
export type AuditSetting = boolean | AuditOptions;

/** Audit settings with every default applied. */
export type ResolvedAudit = Required<AuditOptions>;

/** The defaults of {@link AuditOptions}. */
export const AUDIT_DEFAULTS: Readonly<ResolvedAudit> = {
  requestsPerSecond: 1,
  tokensPerRequest: 50,
  graceMs: 3000,
  quarantineAfter: 3,
  quarantineWindowMs: 60_000,
  timeoutMs: 5000,
};

/** Most audit requests per second: half of the documented `/books` limit. */
export const MAX_AUDIT_REQUESTS_PER_SECOND = 25;

function checked(name: keyof AuditOptions, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || !(v >= min && v <= max) || (integer && !Number.isInteger(v))) {
    throw new ConfigError(`audit.${name}`, v, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return v;
}

/**
 * The audit settings in force, or null when the auditor is off. `option` (the `audit` option) wins,
 * else `env` (`POLYBOOK_AUDIT`), else the default: on for Polymarket's own feed (`live`), off
 * for any other (a simulator, a relay).
 * @throws ConfigError naming the option (`audit`, `audit.graceMs`, ...) for a value not allowed.
 */
export function resolveAudit(option: unknown, env: boolean | undefined, live: boolean): ResolvedAudit | null {
  const setting = option ?? env ?? live;
  if (setting === false) return null;
  if (setting === true) return { ...AUDIT_DEFAULTS };
  if (setting === null || typeof setting !== 'object' || Array.isArray(setting)) {
    throw new ConfigError('audit', setting, 'true, false or { requestsPerSecond, tokensPerRequest, graceMs, ... }');
  }
  const o = setting as AuditOptions;
  for (const k of Object.keys(o)) {
    if (!Object.hasOwn(AUDIT_DEFAULTS, k)) {
      throw new ConfigError(
        `audit.${k}`,
        (o as Record<string, unknown>)[k],
        `no such option; one of ${Object.keys(AUDIT_DEFAULTS).join(', ')}`,
      );
    }
  }
  const d = AUDIT_DEFAULTS;
  return {
    requestsPerSecond: checked(
      'requestsPerSecond',
      o.requestsPerSecond ?? d.requestsPerSecond,
      0.01,
      MAX_AUDIT_REQUESTS_PER_SECOND,
      false,
    ),
    tokensPerRequest: checked(
      'tokensPerRequest',
      o.tokensPerRequest ?? d.tokensPerRequest,
      1,
      MAX_BOOKS_PER_REQUEST,
      true,
    ),
    graceMs: checked('graceMs', o.graceMs ?? d.graceMs, 0, MAX_MS, true),
    quarantineAfter: checked('quarantineAfter', o.quarantineAfter ?? d.quarantineAfter, 0, 500, true),
    quarantineWindowMs: checked('quarantineWindowMs', o.quarantineWindowMs ?? d.quarantineWindowMs, 1, MAX_MS, true),
    timeoutMs: checked('timeoutMs', o.timeoutMs ?? d.timeoutMs, 1, 600_000, true),
  };
}

/** Time to audit `tokens` books once at this budget (one pass), ms: `ceil(tokens / tokensPerRequest) / requestsPerSecond`. */
export function coveragePeriodMs(
  tokens: number,
  o: Pick<ResolvedAudit, 'requestsPerSecond' | 'tokensPerRequest'>,
): number {
  return (Math.ceil(tokens / o.tokensPerRequest) * 1000) / o.requestsPerSecond;
}

/**
 * The longest time from a token's first missed change to its reset, ms, for a universe of `tokens`
 * that does not change and requests that succeed: the next audit of the token comes within one
 * pass plus one request interval, its answer within `timeoutMs`, and the verdict `graceMs` later.
 */
export function detectionBoundMs(tokens: number, o: ResolvedAudit): number {
  return coveragePeriodMs(tokens, o) + 1000 / o.requestsPerSecond + o.timeoutMs + o.graceMs;
}
