/**
 * The feed's statistics: one table defines every field of {@link FeedStats}, the metric it is
 * exported as (docs/METRICS.md), and its word in the shared stats block through which a feed
 * worker publishes them to the main thread (worker mode, docs/FEED.md).
 */
import { counterField, gaugeField, type FieldDef } from '../table/metric-defs.js';
import { Q_HANDLED, Q_OPS_APPLIED, Q_OPS_POSTED, Q_POSTED } from './worker-protocol.js';

/**
 * Every field of {@link FeedStats}, in the order of the shared stats block. Fields in ms are
 * exported in seconds; the two rates are for dashboards only (use `rate()` on the counters).
 */
export const FEED_STATS = {
  /** Gauge: connections the feed keeps (open, connecting, or waiting out a reconnect backoff); retired connections are not counted. */
  connections: gaugeField('polybook_ws_connections', 'Connections in use (open, connecting or waiting to reconnect).'),
  /** Gauge: connections whose WebSocket is open now (at most `connections`). */
  open: gaugeField('polybook_ws_open_connections', 'Connections whose socket is open.'),
  /** Gauge: tokens subscribed on the feed's connections. */
  tokens: gaugeField('polybook_ws_tokens', 'Tokens on connections.'),
  /** Counter since the feed started: reconnects scheduled after a socket closed or failed to open. */
  reconnects: counterField('polybook_ws_reconnects_total', 'Reconnects scheduled after a disconnect.'),
  /** Counter since the feed started: tokens unsubscribed and subscribed again on their connection to get a fresh book (the store asked for one, a book never came, a silence probe). */
  resubscriptions: counterField(
    'polybook_ws_resubscriptions_total',
    'Tokens resubscribed (unsubscribe and subscribe) to get a fresh book.',
  ),
  /** Counter since the feed started: WebSocket frames received, data and control replies alike. */
  messages: counterField('polybook_ws_messages_total', 'Frames received (data and control).'),
  /** Counter since the feed started: payload bytes received (frames as they arrived). */
  bytes: counterField('polybook_ws_received_bytes_total', 'Bytes received.', 'bytes'),
  /** Frames received per second over the last window of about 1 s; 0 before the first window closes. Not exported (use `rate()` on `messages`). */
  messagesPerSec: gaugeField(null, 'Frames received per second over the last window (about 1 s).'),
  /** Bytes received per second over the last window of about 1 s; 0 before the first window closes. Not exported (use `rate()` on `bytes`). */
  bytesPerSec: gaugeField(null, 'Bytes received per second over the last window (about 1 s).'),
  /** Counter since the feed started: PONG replies received to the feed's PINGs. */
  pongs: counterField('polybook_ws_pongs_total', 'PONG replies received.'),
  /** Round trip of the most recent PING answered by a PONG, ms (exported in seconds); NaN before the first PONG. */
  lastPongLatencyMs: gaugeField(
    'polybook_ws_last_pong_latency_seconds',
    'Round trip of the last PING answered (NaN before the first PONG).',
    'seconds',
    1000,
  ),
  /** Sum of all PING-to-PONG round trips, ms (exported in seconds); divided by `pongs`, the mean round trip. */
  pongLatencySumMs: counterField(
    'polybook_ws_pong_latency_seconds_total',
    'Sum of PING to PONG round trips (divided by polybook_ws_pongs_total: the mean).',
    'seconds',
    1000,
  ),
  /** Counter since the feed started: text control replies received (`NO NEW ASSETS`, `INVALID OPERATION`, `INVALID MESSAGE`). */
  controlReplies: counterField(
    'polybook_ws_control_replies_total',
    '`NO NEW ASSETS`, `INVALID OPERATION` and `INVALID MESSAGE` replies.',
  ),
  /** Counter since the feed started: connections the server closed with `1000 all subscribed assets resolved` (their tokens settle; not reconnected). */
  settledCloses: counterField(
    'polybook_ws_settled_closes_total',
    'Connections closed with `1000 all subscribed assets resolved`.',
  ),
  /** Counter since the feed started: connections the server closed with 1013 (slow consumer); about half of each one's markets moved to a new connection. */
  slowConsumerCloses: counterField(
    'polybook_ws_slow_consumer_closes_total',
    'Connections closed with 1013 (slow consumer).',
  ),
  /** Counter since the feed started: frames that were not JSON; the connection's tokens were resubscribed. */
  badFrames: counterField(
    'polybook_ws_bad_frames_total',
    'Frames that were not JSON (their tokens were resubscribed).',
  ),
  /** Counter since the feed started: frames larger than `maxFrameBytes`; each closed its connection with 1009, which reconnected. */
  oversizedFrames: counterField(
    'polybook_ws_oversized_frames_total',
    'Frames over maxFrameBytes (each closed its connection with 1009, which reconnected).',
  ),
  /** Counter since the feed started: other WebSocket protocol violations by the server; each closed its connection with 1002, which reconnected. */
  protocolErrors: counterField(
    'polybook_ws_protocol_errors_total',
    'WebSocket protocol violations by the server (each closed its connection with 1002).',
  ),
  /** Counter since the feed started: busy connections reconnected by the watchdog because no data arrived within their stall threshold (`stallAfterMs`). */
  stalls: counterField(
    'polybook_ws_stalls_total',
    'Busy connections reconnected because no data arrived for their stall threshold (stallAfterMs).',
  ),
  /** Counter since the feed started: frames whose ingest threw an internal error of the native writer; every book was reset and resubscribed. */
  internalErrors: counterField(
    'polybook_ws_internal_errors_total',
    'Frames whose ingest failed with an internal error of the native writer (every book reset and resubscribed).',
  ),
  /** Gauge, worker mode only (0 otherwise): messages the feed worker posted to this thread that it has not handled yet. */
  workerQueued: gaugeField(
    'polybook_worker_queued_messages',
    'Worker mode: messages the feed worker posted to this thread that it has not handled yet.',
  ),
  /** Counter, worker mode only (0 otherwise): log lines and connection events dropped because this thread was more than `WORKER_QUEUE_LIMIT` messages behind; `newMarket` events and replies are never dropped. */
  workerDropped: counterField(
    'polybook_worker_dropped_total',
    'Worker mode: log lines, connection events and trade batches dropped because this thread was more than WORKER_QUEUE_LIMIT messages behind (newMarket events and replies are never dropped).',
  ),
  /** Gauge, worker mode only (0 otherwise): operations (bind, unbind, add...) posted to the feed worker and not applied yet; they are never dropped. */
  workerOpsQueued: gaugeField(
    'polybook_worker_queued_operations',
    'Worker mode: operations (bind, unbind, add, ...) posted to the feed worker and not applied yet (never dropped).',
  ),
} as const satisfies Record<string, FieldDef>;

/**
 * Feed counters and gauges, see `SubscriptionManager.stats()`. What each field means:
 * {@link FEED_STATS} (its `help`) and docs/METRICS.md. Times are in ms.
 */
export type FeedStats = { -readonly [K in keyof typeof FEED_STATS]: number };

/** The fields of {@link FeedStats}, in the order of the shared stats block. */
export const FEED_STAT_KEYS = Object.keys(FEED_STATS) as readonly (keyof FeedStats)[];

/** f64 words of the shared stats block: every field, then a write count. */
export const STATS_WORDS = FEED_STAT_KEYS.length + 1;

/** Worker side: publishes a snapshot (single f64 stores; a reader may mix two snapshots, which is fine for counters). */
export function writeStats(f64: Float64Array, s: FeedStats): void {
  const n = FEED_STAT_KEYS.length;
  for (let i = 0; i < n; i++) f64[i] = s[FEED_STAT_KEYS[i]];
  f64[n]++;
}

/** Main side: the last published snapshot, with the queue gauges read from the shared queue counters. */
export function readStats(f64: Float64Array, queue?: Int32Array): FeedStats {
  const s = {} as FeedStats;
  for (let i = 0; i < FEED_STAT_KEYS.length; i++) s[FEED_STAT_KEYS[i]] = f64[i];
  const q = queueGauges(queue);
  s.workerQueued = q.workerQueued;
  s.workerOpsQueued = q.workerOpsQueued;
  return s;
}

/** `workerQueued` and `workerOpsQueued` from the shared queue counters. */
export function queueGauges(queue: Int32Array | undefined): { workerQueued: number; workerOpsQueued: number } {
  if (!queue) return { workerQueued: 0, workerOpsQueued: 0 };
  return {
    workerQueued: Math.max(0, (Atomics.load(queue, Q_POSTED) - Atomics.load(queue, Q_HANDLED)) | 0),
    workerOpsQueued: Math.max(0, (Atomics.load(queue, Q_OPS_POSTED) - Atomics.load(queue, Q_OPS_APPLIED)) | 0),
  };
}
