/**
 * Feed options, their defaults and their validation.
 */
import { VARIABLES, checkWsUrl, readEnv } from '../config.js';
import { ConfigError } from '../errors.js';
import type { BackoffOptions } from './backoff.js';
import { detectLogStyle, type FeedLogger, type LogStyle, type ObjectLogger } from './log.js';

/** Polymarket's public market channel. */
export const DEFAULT_WS_URL = 'wss://ws-subscriptions-clob.polymarket.com/ws/market';
/** Tokens per connection by default (Polymarket serves at most 500; see docs/PROTOCOL.md 1.5). */
export const DEFAULT_MAX_TOKENS_PER_CONNECTION = 200;
/** Hard limit of tokens per connection: with more, the server sends no opening snapshot. */
export const MAX_TOKENS_PER_CONNECTION = 500;
/** Connection indexes available in the table (1..255). */
export const MAX_FEED_CONNECTIONS = 255;
/** Largest frame accepted from the server by default (a 600-token snapshot is over 1 MiB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Bounds of the `maxFrameBytes` option. */
export const MIN_FRAME_LIMIT = 1024;
export const MAX_FRAME_LIMIT = 256 * 1024 * 1024;
/** Default `stallFactor`: a busy connection is stalled after 10 typical gaps without data. */
export const DEFAULT_STALL_FACTOR = 10;
/** Default `stallMinMs`: the earliest a busy connection is judged stalled. */
export const DEFAULT_STALL_MIN_MS = 1000;

/** Options of a {@link SubscriptionManager}. All optional. */
export interface FeedOptions {
  /** Market-channel URL. Default `POLYBOOK_WS_URL`, else Polymarket's `wss://…/ws/market`. */
  url?: string;
  /** Tokens per connection, 1..500. Default 200. The tokens of one market always share a connection. */
  maxTokensPerConnection?: number;
  /**
   * Interval of the text `PING` on each connection, ms. Each `PONG` confirms every book of the
   * connection current as of the PING's send time, so a quiet book's age cycles between the PONG
   * round trip and this interval plus the round trip: keep it well under your `maxStale`. Default 100.
   */
  confirmIntervalMs?: number;
  /** Close and reconnect when the oldest unanswered PING is this old, ms. Default 30000 (PONG queues behind data). */
  pongTimeoutMs?: number;
  /**
   * Data-silence watchdog, ms; 0 = off. A connection with no data frame for this long is probed
   * (one ready token is resubscribed, its snapshot must come back); when still nothing arrives
   * within `hardStaleMs`, it is closed and reconnected. Busy connections are judged sooner (see
   * `stallFactor`). Default 15000.
   */
  silenceTimeoutMs?: number;
  /**
   * Busy-connection stall detection: a connection that is *busy* (about 4 data frames a second or
   * more over the last few seconds) is judged stalled after `stallFactor` times its typical gap
   * between data frames without data, but never before `stallMinMs` and never after
   * `silenceTimeoutMs`. Its PONGs then stop confirming its books (they go stale by themselves) and it
   * is closed (reason `stall`, counted in `stalls`) and reconnected with fresh snapshots. 0 = off
   * (every connection then relies on the silence watchdog alone). Otherwise 1 to 1000. Default 10.
   */
  stallFactor?: number;
  /**
   * Lower bound of a busy connection's stall threshold, ms (see `stallFactor`): 10 to
   * `silenceTimeoutMs` (when the silence watchdog is on). Default 1000, or `silenceTimeoutMs` if lower.
   */
  stallMinMs?: number;
  /**
   * A token still without a book this long after its (re)subscription is resubscribed, and a
   * connection with neither data nor a PONG for this long is recycled, ms.
   * Default `POLYBOOK_HARD_STALE_MS`, else 5000.
   */
  hardStaleMs?: number;
  /** Period of the health timer (store tick, resyncs, watchdogs), ms. Default 100. */
  healthIntervalMs?: number;
  /** Send `custom_feature_enabled: true` (best_bid_ask, new_market, market_resolved events). Default false. */
  customFeatures?: boolean;
  /**
   * Reconnect backoff. Default 100 ms doubling to 30 s, jitter 0.5; it starts over once the new socket
   * is confirmed (a PONG answers a PING sent after its first data frame), or after 10 s up.
   */
  backoff?: BackoffOptions;
  /**
   * Largest incoming frame, bytes (the socket's `maxPayload`). A longer frame is refused as soon as
   * its header arrives: the connection is closed with 1009, counted in `oversizedFrames`, its tokens
   * are invalidated and it reconnects. Default 16 MiB.
   */
  maxFrameBytes?: number;
  /**
   * Diagnostics sink (connections, control replies, watchdogs): `console`, pino, bunyan, winston or
   * any object with `debug`/`info`/`warn`/`error` methods (each optional). Every line has a stable
   * event name (`feed.stall`, ...: docs/FEED.md "Logging"), passed as the field `event` of its
   * context. Default: none.
   */
  logger?: FeedLogger | ObjectLogger;
  /**
   * How `logger` is called: `console` = `warn(message, context)`, `object` = `warn(fields, message)`
   * (pino, bunyan), `auto` = detect (pino and bunyan loggers are recognised by their `child()` and
   * `bindings()` or `addStream()` methods; anything else is console-style). Default `auto`.
   */
  logStyle?: LogStyle;
}

/** Options with every default applied. */
export interface ResolvedFeedOptions {
  /** The market-channel URL the feed connects to (`ws:` or `wss:`). */
  url: string;
  /** Tokens per connection, 1 to 500 (see {@link FeedOptions.maxTokensPerConnection}). */
  maxTokensPerConnection: number;
  /** Interval of the text PING on each connection, ms (see {@link FeedOptions.confirmIntervalMs}). */
  confirmIntervalMs: number;
  /** Age of the oldest unanswered PING at which a connection is recycled, ms. */
  pongTimeoutMs: number;
  /** Data silence after which a connection is probed, ms; 0: the silence watchdog is off. */
  silenceTimeoutMs: number;
  /** 0 = busy-connection stall detection off. */
  stallFactor: number;
  /** Lower bound of a busy connection's stall threshold, ms; never above `silenceTimeoutMs` when that is on. */
  stallMinMs: number;
  /** Time without a book (per token) or without data and PONG (per connection) before acting, ms. */
  hardStaleMs: number;
  /** Period of the health timer (store tick, resyncs, watchdogs), ms. */
  healthIntervalMs: number;
  /** Whether subscriptions ask for the custom events (`best_bid_ask`, `new_market`, `market_resolved`). */
  customFeatures: boolean;
  /** Reconnect backoff as given: a field left out takes its default ({@link BackoffOptions}). */
  backoff: BackoffOptions;
  /** Largest incoming frame, bytes; a longer one closes its connection with 1009. */
  maxFrameBytes: number;
  /** Where the feed's log lines go; undefined: nowhere. */
  logger: FeedLogger | ObjectLogger | undefined;
  /** The style `logger` is called in (`auto` resolved). */
  logStyle: 'console' | 'object';
}

function num(name: string, v: number | undefined, def: number, min: number, max: number, integer = true): number {
  const x = v ?? def;
  if (typeof x !== 'number' || !(x >= min && x <= max) || (integer && !Number.isInteger(x))) {
    throw new ConfigError(name, x, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return x;
}

/** The style a logger is called in, checked (see {@link LogStyle}). */
export function logStyle(logger: unknown, style: unknown): 'console' | 'object' {
  if (logger !== undefined && (logger === null || (typeof logger !== 'object' && typeof logger !== 'function'))) {
    throw new ConfigError('logger', logger, 'an object with debug/info/warn/error methods (console, pino, ...)');
  }
  if (style === undefined || style === 'auto') return detectLogStyle(logger);
  if (style === 'console' || style === 'object') return style;
  throw new ConfigError('logStyle', style, "'auto', 'console' or 'object'");
}

/** Applies defaults (and the environment) and checks ranges; throws {@link ConfigError}. */
export function resolveFeedOptions(o: FeedOptions = {}): ResolvedFeedOptions {
  let url = o.url ?? readEnv('url') ?? DEFAULT_WS_URL;
  if (o.url !== undefined) {
    url = checkWsUrl('url', o.url);
  }
  const r: ResolvedFeedOptions = {
    url,
    maxTokensPerConnection: num(
      'maxTokensPerConnection',
      o.maxTokensPerConnection,
      DEFAULT_MAX_TOKENS_PER_CONNECTION,
      1,
      MAX_TOKENS_PER_CONNECTION,
    ),
    confirmIntervalMs: num('confirmIntervalMs', o.confirmIntervalMs, 100, 10, 600_000),
    pongTimeoutMs: num('pongTimeoutMs', o.pongTimeoutMs, 30_000, 50, 3_600_000),
    silenceTimeoutMs: num('silenceTimeoutMs', o.silenceTimeoutMs, 15_000, 0, 86_400_000),
    stallFactor: o.stallFactor ?? DEFAULT_STALL_FACTOR,
    stallMinMs: DEFAULT_STALL_MIN_MS,
    hardStaleMs: num(
      'hardStaleMs',
      o.hardStaleMs,
      readEnv('hardStaleMs') ?? VARIABLES.hardStaleMs.default,
      1,
      86_400_000,
    ),
    healthIntervalMs: num('healthIntervalMs', o.healthIntervalMs, 100, 5, 60_000),
    customFeatures: o.customFeatures ?? false,
    backoff: { ...(o.backoff ?? {}) },
    maxFrameBytes: num('maxFrameBytes', o.maxFrameBytes, MAX_FRAME_BYTES, MIN_FRAME_LIMIT, MAX_FRAME_LIMIT),
    logger: o.logger,
    logStyle: logStyle(o.logger, o.logStyle),
  };
  const f = r.stallFactor;
  if (typeof f !== 'number' || !(f === 0 || (f >= 1 && f <= 1000))) {
    throw new ConfigError('stallFactor', f, '0 (off) or a number from 1 to 1000');
  }
  // Never later than the silence watchdog: the default gives way to a shorter silenceTimeoutMs;
  // an explicit stallMinMs above it contradicts it.
  const stallMax = r.silenceTimeoutMs > 0 ? r.silenceTimeoutMs : 86_400_000;
  if (o.stallMinMs === undefined) r.stallMinMs = Math.min(DEFAULT_STALL_MIN_MS, stallMax);
  else {
    r.stallMinMs = num('stallMinMs', o.stallMinMs, DEFAULT_STALL_MIN_MS, 10, 86_400_000);
    if (r.stallMinMs > stallMax) {
      throw new ConfigError('stallMinMs', r.stallMinMs, `an integer from 10 to ${stallMax} (at most silenceTimeoutMs)`);
    }
  }
  return r;
}
