/**
 * Whether a cache can serve books right now, for health checks (`GET /healthz`, docs/METRICS.md):
 * healthy when trading is enabled and every feed connection in use is open (at least one when the
 * table holds tokens).
 */
import type { CacheMetrics } from './metrics.js';

/** Why a cache is not healthy, with what each reason means; checked in this order. */
export const HEALTH_REASONS = {
  /** The cache was started disabled (`POLYBOOK_ENABLED=0` or `enabled: false`): it has no feed and serves nothing. */
  disabled: 'the cache is switched off (HFT_BOOK_CACHE_ENABLED=0): no feed, every read misses',
  /** `stop()` was called: the feed is closed and reads miss. */
  stopped: 'the cache was stopped',
  /** `BookCache.connect`: its server's heartbeat is older than `serverTimeoutMs`. */
  server_down:
    "a connected cache's book server is down (its heartbeat is older than the bound): every read misses until it is back",
  /** Enabled and running, but the initial warmup has not completed: reads miss with `not_ready`. */
  warming_up: 'warmup has not completed: reads are not served yet',
  /** The table holds tokens (or the feed has connections) but no connection is open: no book can be confirmed current. */
  no_open_connection: 'no market-channel connection is open: no book is confirmed current',
  /** At least one connection is open, but fewer than the feed uses: the other connections' tokens miss until they reconnect. */
  connection_down: 'some market-channel connections are not open: their tokens are not served until they reconnect',
} as const;

/** A key of {@link HEALTH_REASONS}. */
export type HealthReason = keyof typeof HEALTH_REASONS;

/** `cache.health()`, also the JSON body of `GET /healthz`. */
export interface CacheHealth {
  /** Trading is enabled and every feed connection in use is open. */
  ok: boolean;
  /** Null when healthy, else the first reason found (in the order of {@link HEALTH_REASONS}). */
  reason: HealthReason | null;
  /** One line for a person. */
  message: string;
  /** Warmup completed and reads are served (`cache.tradingEnabled`). */
  tradingEnabled: boolean;
  /** Tokens in the table. */
  tokens: number;
  /** Tokens with a ready book (neither disabled nor settled), whatever its age; at most `tokens`. */
  readyTokens: number;
  /** Feed connections in use (0 when disabled). */
  connections: number;
  /** Feed connections whose socket is open (0 when disabled, and in worker mode before the worker's first stats). */
  openConnections: number;
}

/** The health of a cache from its metrics. */
export function cacheHealth(m: CacheMetrics, stopped: boolean, serverDown = false): CacheHealth {
  const connections = m.feed?.connections ?? 0;
  const openConnections = m.feed?.open ?? 0;
  let reason: HealthReason | null = null;
  if (!m.enabled) reason = 'disabled';
  else if (stopped) reason = 'stopped';
  else if (serverDown) reason = 'server_down';
  else if (!m.tradingEnabled) reason = 'warming_up';
  // Tokens without an open connection (in worker mode also before the worker's first stats).
  else if (openConnections === 0 && (connections > 0 || m.cache.tokens > 0)) reason = 'no_open_connection';
  else if (openConnections < connections) reason = 'connection_down';
  const counts = `${m.cache.ready}/${m.cache.tokens} tokens ready, ${openConnections}/${connections} connections open`;
  return {
    ok: reason === null,
    reason,
    message: reason === null ? `ok: ${counts}` : `${HEALTH_REASONS[reason]} (${counts})`,
    tradingEnabled: m.tradingEnabled,
    tokens: m.cache.tokens,
    readyTokens: m.cache.ready,
    connections,
    openConnections,
  };
}
