/**
 * The live feed: sharded market-channel connections that keep a BookStore current
 * (docs/FEED.md).
 */
export {
  SubscriptionManager,
  type FeedGroup,
  type UniverseEntry,
  type FeedEvents,
  type FeedStats,
  type ConnectedEvent,
  type DisconnectedEvent,
  type NewMarketEvent,
  type ConnectionLiveness,
} from './manager.js';
export { TRADE_EVENT, type Trade } from './trades.js';
export {
  DEFAULT_WS_URL,
  DEFAULT_MAX_TOKENS_PER_CONNECTION,
  MAX_TOKENS_PER_CONNECTION,
  MAX_FEED_CONNECTIONS,
  MAX_FRAME_BYTES,
  MIN_FRAME_LIMIT,
  MAX_FRAME_LIMIT,
  DEFAULT_STALL_FACTOR,
  DEFAULT_STALL_MIN_MS,
  resolveFeedOptions,
  type FeedOptions,
  type ResolvedFeedOptions,
} from './options.js';
export {
  LOG_EVENTS,
  detectLogStyle,
  type FeedLogger,
  type ObjectLogger,
  type LogStyle,
  type LogEvent,
  type LogLevel,
  type LogContext,
} from './log.js';
export { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { startWorkerFeed, WorkerFeed, type WorkerFeedOptions } from './worker.js';
export { WORKER_QUEUE_LIMIT } from './worker-protocol.js';
export { FEED_STATS } from './stats.js';
