/**
 * The errors polybook throws. Each carries a stable `code` from {@link ERROR_CODES}, so callers
 * can branch on `err.code` instead of parsing messages; the message says what was wrong and what
 * to do.
 *
 * Two shapes, as in Node itself:
 * - a {@link PolybookError} (or a subclass) for everything about polybook's own state, the
 *   environment and the outside world (configuration, stopped objects, capacity, the worker,
 *   discovery, REST, recordings);
 * - a built-in `TypeError` (wrong type) or `RangeError` (out of range) carrying
 *   `code: 'POLYBOOK_INVALID_ARGUMENT'` for a bad argument of a method call, as Node's
 *   `ERR_INVALID_ARG_TYPE` is a `TypeError` with a code (see {@link invalidArgument}).
 */

/** A table as a plain record: its keys stay exact, its values are documented by the table itself. */
function table<K extends string>(t: Record<K, string>): Readonly<Record<K, string>> {
  return t;
}

/** Every error code, with what it means. docs/ERRORS.md lists the same table (a test checks it). */
export const ERROR_CODES = table({
  POLYBOOK_CONFIG:
    'An option or environment variable has an invalid value, or a variable and its alias disagree; the message names it, the value and what is allowed.',
  POLYBOOK_INVALID_ARGUMENT:
    'A method was called with an argument of the wrong type (a TypeError) or out of range (a RangeError), such as a token id that is not a non-empty string.',
  POLYBOOK_NATIVE_UNAVAILABLE:
    "The native backend was asked for (`backend: 'native'` or `POLYBOOK_BACKEND=native`) but its binary cannot load on this machine; `cause` holds the loader's error.",
  POLYBOOK_STOPPED: 'A call on a cache, feed, worker feed or simulator after its stop() or close(); create a new one.',
  POLYBOOK_INVALID_STATE: 'A call out of order, such as start() twice or add() before start().',
  POLYBOOK_CAPACITY:
    'The book table is full, a market has more tokens than maxTokensPerConnection, or the universe needs more than the 255 feed connections; create the store with a larger capacity or raise maxTokensPerConnection.',
  POLYBOOK_WORKER_START:
    'The feed worker thread did not start (it failed, or did not report ready within startTimeoutMs); `cause` holds its error when there is one.',
  POLYBOOK_WORKER_EXITED: 'The feed worker thread exited while the feed was running; the message has its exit code.',
  POLYBOOK_DISCOVERY:
    'Market discovery failed (network error, timeout, HTTP status or a body that is not JSON); the message has the URL, `cause` the underlying error.',
  POLYBOOK_REST_REFUSED: 'The warmup REST client was used after warmup ended; REST is for warmup only.',
  POLYBOOK_RECORDING:
    'A recording could not be read: missing, not gzip-compressed, not a polybook recording, or corrupt.',
  POLYBOOK_INTERNAL: 'An internal consistency check failed: a bug in polybook; please report it with the message.',
});

/** A stable error code, see {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of the errors polybook throws on purpose (bad arguments excepted: see {@link InvalidArgumentError}). */
export class PolybookError extends Error {
  /** Stable code: branch on it rather than on the message. */
  readonly code: ErrorCode;

  /**
   * @param code one of {@link ERROR_CODES}.
   * @param message what was wrong and what to do.
   * @param options `cause`: the underlying error, when there is one.
   */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value is invalid. `variable` names the option or environment variable. */
export class ConfigError extends PolybookError {
  /**
   * @param variable the option (`maxDepth`, `feed.confirmIntervalMs`) or variable (`POLYBOOK_MAX_DEPTH`).
   * @param value the value given.
   * @param allowed what is allowed, as a phrase (`an integer from 1 to 1000`).
   * @param message replaces the standard message (`polybook: invalid NAME=VALUE: expected ALLOWED`).
   */
  constructor(
    /** The option or environment variable at fault. */
    readonly variable: string,
    /** The value given. */
    readonly value: unknown,
    /** What is allowed. */
    readonly allowed: string,
    message?: string,
  ) {
    super('POLYBOOK_CONFIG', message ?? `polybook: invalid ${variable}=${JSON.stringify(value)}: expected ${allowed}`);
  }
}

/** A built-in `TypeError` or `RangeError` carrying {@link ErrorCode} `POLYBOOK_INVALID_ARGUMENT`. */
export type InvalidArgumentError = (TypeError | RangeError) & {
  /** Always `POLYBOOK_INVALID_ARGUMENT`. */
  readonly code: 'POLYBOOK_INVALID_ARGUMENT';
};

/**
 * A bad argument: a `TypeError` (`kind: 'type'`, wrong type) or a `RangeError` (`kind: 'range'`,
 * out of range) with `code: 'POLYBOOK_INVALID_ARGUMENT'`. Built-in classes, so `instanceof
 * TypeError` keeps working, as with Node's own argument errors.
 */
export function invalidArgument(kind: 'type' | 'range', message: string): InvalidArgumentError {
  const e = kind === 'type' ? new TypeError(message) : new RangeError(message);
  return Object.assign(e, { code: 'POLYBOOK_INVALID_ARGUMENT' as const });
}
