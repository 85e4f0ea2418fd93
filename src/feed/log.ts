/**
 * The feed's log lines (docs/FEED.md "Logging"): each has a stable event name and a level, and is
 * written to a console-style logger (`warn(message, context)`: console, winston) or an object-style
 * one (`warn(fields, message)`: pino, bunyan), with the event in the context fields.
 */

/** Log levels, in the logger's method names. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Context fields of a log line: `event` (a {@link LogEvent}) and the fields its entry in {@link LOG_EVENTS} lists (`conn`, `tokens`...). */
export type LogContext = Record<string, unknown>;

/** A console-style logger: message first, then the context (`console` and winston fit). Every method is optional. */
export interface FeedLogger {
  /** Routine events (sockets opened, confirmed or failing to open, `NO NEW ASSETS`, book retries, silence probes). */
  debug?(message: string, context?: LogContext): void;
  /** Notable but expected events (disconnects, settled and slow-consumer closes). */
  info?(message: string, context?: LogContext): void;
  /** Something went wrong and the feed recovers (bad frames, error replies, watchdog reconnects, displaced markets, hydration timeouts). */
  warn?(message: string, context?: LogContext): void;
  /** Internal failures (a native ingest error, a throwing listener, a failed feed worker). */
  error?(message: string, context?: LogContext): void;
}

/** An object-style logger: the fields first, then the message (pino and bunyan fit). Every method is optional. */
export interface ObjectLogger {
  /** Routine events; `fields` holds `event` and the line's context (see {@link FeedLogger.debug}). */
  debug?(fields: LogContext, message?: string): void;
  /** Notable but expected events; `fields` holds `event` and the line's context. */
  info?(fields: LogContext, message?: string): void;
  /** Something went wrong and the feed recovers; `fields` holds `event` and the line's context. */
  warn?(fields: LogContext, message?: string): void;
  /** Internal failures; `fields` holds `event` and the line's context. */
  error?(fields: LogContext, message?: string): void;
}

/**
 * How the feed calls its logger. `auto` (the default) detects pino and bunyan: a logger with a
 * `child()` method and a `bindings()` (pino) or `addStream()` (bunyan) method is called object-style,
 * any other (console, winston, a plain object of functions) console-style. `console` or `object`
 * forces one.
 */
export type LogStyle = 'auto' | 'console' | 'object';

/** Every event the feed logs, with its level. */
export const LOG_EVENTS = {
  /** A socket opened and its first frame was sent. Context: conn, tokens. */
  'feed.connected': 'debug',
  /** A socket's data arrived and a PONG sent after it came back: its reconnect backoff starts over. Context: conn, afterMs. */
  'feed.confirmed': 'debug',
  /** An open socket is gone and reconnects. Context: conn, code, reason, reconnectInMs. */
  'feed.disconnected': 'info',
  /** A socket failed before it opened and reconnects. Context: conn, code, reason, reconnectInMs. */
  'feed.connect_failed': 'debug',
  /** A socket error (the close that follows is logged too). Context: conn, error. */
  'feed.socket_error': 'debug',
  /** Closed with `1000 ... resolved`: its tokens are settled, it is not reconnected. Context: conn, settled. */
  'feed.settled_close': 'info',
  /** Closed with 1013 (slow consumer): about half its markets move to a new connection. Context: conn, into, moved. */
  'feed.slow_consumer_split': 'info',
  /** A market's new tokens do not fit on its connection and form a group elsewhere. Context: market. */
  'feed.market_displaced': 'warn',
  /** The server replied `NO NEW ASSETS`. Context: conn, reply. */
  'feed.no_new_assets': 'debug',
  /** The server replied `INVALID OPERATION` or `INVALID MESSAGE`. Context: conn, reply. */
  'feed.control_reply': 'warn',
  /** A frame that is not JSON: every token of the connection is resubscribed. Context: conn. */
  'feed.bad_frame': 'warn',
  /** A frame over `maxFrameBytes`: the socket is closed with 1009 and reconnects. Context: conn, error. */
  'feed.frame_too_large': 'warn',
  /** Another WebSocket protocol violation by the server: closed with 1002, reconnects. Context: conn, error. */
  'feed.protocol_error': 'warn',
  /** A frame's ingest threw (an internal error of the native writer): every book is resubscribed. Context: conn, error. */
  'feed.internal_error': 'error',
  /** Tokens still without a book are resubscribed. Context: conn, tokens. */
  'feed.book_retry': 'debug',
  /** Watchdog: the oldest unanswered PING is older than `pongTimeoutMs`; reconnecting. Context: conn. */
  'feed.pong_timeout': 'warn',
  /** Watchdog: a busy connection stalled; reconnecting. Context: conn, silentMs, stallAfterMs, typicalGapMs. */
  'feed.stall': 'warn',
  /** Watchdog: a silent connection is probed (one ready token resubscribed). Context: conn, tokenId. */
  'feed.silence_probe': 'debug',
  /** Watchdog: no data after the probe (or nothing to probe); reconnecting. Context: conn. */
  'feed.silence': 'warn',
  /** Watchdog: neither data nor a PONG for too long; reconnecting. Context: conn. */
  'feed.unconfirmed': 'warn',
  /** A `connected`, `disconnected`, `newMarket` or `trade` listener threw (the feed goes on). Context: listener, error. */
  'feed.listener_error': 'error',
  /** Worker mode: an operation failed in the feed worker. Context: error. */
  'feed.worker_op_error': 'error',
  /** Worker mode: the feed worker failed. Context: error. */
  'feed.worker_error': 'error',
  /** The cache's discovery left something out (a selector without a tradeable market...). Context: warning. */
  'cache.discovery_warning': 'warn',
  /** Discovered markets still had no book when the hydration timeout passed: not followed. Context: markets, timeoutMs. */
  'cache.hydration_timeout': 'warn',
  /** The auditor found a book that missed updates: reset and refetched. Context: tokenId, conn, bookTimestamp, restTimestamp. */
  'audit.freeze': 'warn',
  /** The auditor found a book different from REST at the same timestamp: reset and refetched. Context: tokenId, conn, timestamp. */
  'audit.divergence': 'warn',
  /** The auditor found several frozen tokens on one connection: it is reconnected. Context: conn, frozen, windowMs. */
  'audit.quarantine': 'warn',
  /** An audit request failed (the first of a run of failures; the auditor backs off). Context: url, error. */
  'audit.failed': 'warn',
  /** A book server could not save its state file. Context: error. */
  'server.state_error': 'error',
  /** A book server started: where it listens. Context: name, table, socket, generation, restored. */
  'server.started': 'info',
} as const satisfies Record<string, LogLevel>;

/** A stable event name of the feed's log lines (see {@link LOG_EVENTS}). */
export type LogEvent = keyof typeof LOG_EVENTS;

/** One log line. */
export interface LogLine {
  level: LogLevel;
  event: LogEvent;
  message: string;
  context?: LogContext;
}

/** The style `auto` chooses for `logger` (see {@link LogStyle}). */
export function detectLogStyle(logger: unknown): 'console' | 'object' {
  const l = logger as { child?: unknown; bindings?: unknown; addStream?: unknown } | null | undefined;
  if (l && typeof l.child === 'function' && (typeof l.bindings === 'function' || typeof l.addStream === 'function')) {
    return 'object';
  }
  return 'console';
}

/** Writes the feed's log lines to the configured logger (nothing when there is none). */
export class FeedLog {
  constructor(
    private readonly logger: FeedLogger | ObjectLogger | undefined,
    private readonly style: 'console' | 'object',
  ) {}

  /** Writes a line of `event`, at its level. */
  write(event: LogEvent, message: string, context?: LogContext): void {
    this.emit({ level: LOG_EVENTS[event], event, message, context });
  }

  /**
   * Writes a line as it is (the feed worker's lines arrive this way). The event goes first in the
   * fields; a logger without the level's method skips the line, and one that throws is ignored.
   */
  emit(line: LogLine): void {
    const logger = this.logger as Partial<Record<LogLevel, (a: unknown, b?: unknown) => void>> | undefined;
    const fn = logger?.[line.level];
    if (typeof fn !== 'function') return;
    const fields: LogContext = { event: line.event, ...line.context };
    try {
      if (this.style === 'object') fn.call(logger, fields, line.message);
      else fn.call(logger, line.message, fields);
    } catch {
      // A logger's failure must not break the feed's state handling.
    }
  }
}

/** An object-style logger that hands each line to `sink` (the feed worker forwards them to the main thread). */
export function lineLogger(sink: (line: LogLine) => void): ObjectLogger {
  const at =
    (level: LogLevel) =>
    (fields: LogContext, message = ''): void => {
      const { event, ...context } = fields;
      sink({ level, event: event as LogEvent, message, context });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
