/**
 * The watchdogs of the health timer (docs/FEED.md "Watchdogs"): which one, if any, fires on an open
 * connection. Pure decisions; the manager acts on them (probe, close and reconnect).
 */
import type { ResolvedFeedOptions } from './options.js';

/** What the watchdogs read of an open connection (a `FeedConnection` fits). */
export interface WatchedConnection {
  /** Enough recent data frames for a silence of `stallAfterMs()` to mean a stall. */
  readonly busy: boolean;
  /** Receive time of the last data frame (or when the socket opened), ms. */
  readonly lastDataAt: number;
  /** When the silence watchdog last probed the socket, ms (0 = never). */
  readonly probeAt: number;
  /** When the socket opened, ms. */
  readonly openedAt: number;
  /** Send time of the PING whose PONG arrived last, ms (0 = none). */
  readonly confirmedAt: number;
  /** Send time of the oldest unanswered PING, or NaN. */
  oldestPing(): number;
  /** Silence after which the socket counts as stalled, ms. */
  stallAfterMs(): number;
}

/** Options the watchdogs read. */
export type WatchdogOptions = Pick<
  ResolvedFeedOptions,
  'pongTimeoutMs' | 'silenceTimeoutMs' | 'hardStaleMs' | 'confirmIntervalMs'
>;

/**
 * The verdict on one open connection. The first watchdog that fires wins, in this order:
 * - `pong timeout`: the oldest unanswered PING is older than `pongTimeoutMs`: reconnect.
 * - `stall`: a busy connection silent past its `stallAfterMs`: a stall is suspected, judged on the
 *   next turn of the event loop ({@link stallConfirmed}).
 * - `probe`: silent for `silenceTimeoutMs` since its last data: probe it (resubscribe one ready
 *   token, whose snapshot must come back); with nothing to probe, reconnect (as `silence`).
 * - `probing`: a probe is out and `hardStaleMs` has not passed: wait.
 * - `silence`: the probe brought no data within `hardStaleMs`: reconnect.
 * - `unconfirmed`: neither data nor a PONG for `max(hardStaleMs, 3 x confirmIntervalMs)`: reconnect.
 */
export type WatchdogVerdict = 'ok' | 'pong timeout' | 'stall' | 'probe' | 'probing' | 'silence' | 'unconfirmed';

/** What the watchdogs say about open connection `c` at `now` (see {@link WatchdogVerdict}). */
export function watchdogVerdict(c: WatchedConnection, now: number, o: WatchdogOptions): WatchdogVerdict {
  const oldest = c.oldestPing();
  if (!Number.isNaN(oldest) && now - oldest > o.pongTimeoutMs) return 'pong timeout';
  // A busy socket silent for many of its usual gaps has most likely lost data (PING may still be
  // answered): reconnect for fresh snapshots. Its PONGs stopped confirming its books already.
  if (c.busy && now - c.lastDataAt > c.stallAfterMs()) return 'stall';
  // Silent: quiet markets, or a stalled data path (PING may still be answered).
  if (o.silenceTimeoutMs > 0 && now - c.lastDataAt > o.silenceTimeoutMs) {
    if (c.probeAt < c.lastDataAt) return 'probe';
    return now - c.probeAt <= o.hardStaleMs ? 'probing' : 'silence';
  }
  const unconfirmedAfter = Math.max(o.hardStaleMs, 3 * o.confirmIntervalMs);
  if (now - c.openedAt > unconfirmedAfter && now - Math.max(c.lastDataAt, c.confirmedAt) > unconfirmedAfter) {
    return 'unconfirmed';
  }
  return 'ok';
}

/**
 * The stall verdict, taken on the turn after the health timer suspected it (once the poll phase has
 * read what the socket holds): no data since `seenDataAt`, still busy, and silent past the threshold.
 */
export function stallConfirmed(c: WatchedConnection, seenDataAt: number, now: number): boolean {
  return c.lastDataAt === seenDataAt && c.busy && now - seenDataAt > c.stallAfterMs();
}
