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
    'Market discovery could not resolve a selection: a slug, condition id or token id names no open market, or no market of it is tradeable; the message names the selector.',
  POLYBOOK_MISSING_DEPENDENCY:
    'An optional peer dependency the called function needs (prom-client, @opentelemetry/api) is not installed; install it, or pass the registry or meter yourself.',
  POLYBOOK_METRICS_CONFLICT:
    'A metric polybook registers already exists in the prom-client registry (a second registerPrometheus on one registry); unregister the first bridge or use another registry.',
  POLYBOOK_METRICS_LISTEN:
    'The metrics endpoint could not listen on its host and port (in use, not permitted, not an address of this machine); choose another.',
  POLYBOOK_NETWORK:
    'A REST server could not be reached (DNS failure, connection refused or reset, no answer within the timeout) after the retries; check the network or the base URL (POLYBOOK_GAMMA_URL, POLYBOOK_CLOB_URL).',
  POLYBOOK_HTTP:
    'A REST server answered with an error status (after the retries for 429 and 5xx) or with a body that is not the JSON expected; the error carries the status and the server text.',
  POLYBOOK_REST_REFUSED: 'The warmup REST client was used after warmup ended; REST is for warmup only.',
  POLYBOOK_RECORDING:
    'A recording could not be read: missing, not gzip-compressed, not a polybook recording, or corrupt.',
  POLYBOOK_SERVER_NOT_FOUND:
    'No book server runs under that name (no shared-memory file, or the server stopped); start one with `polybook serve --name NAME` or `BookServer.start({ name })`.',
  POLYBOOK_SERVER_IN_USE:
    "A live book server already holds that name (its file's lock is taken); stop it or choose another name.",
  POLYBOOK_SERVER_UNSAFE:
    "A book server's file or socket is not this user's, is not owner-only (mode 0600), or is not a regular file or socket; it is refused, never read: remove it.",
  POLYBOOK_LAYOUT_MISMATCH:
    "A book server's table was written by a polybook of another layout version (or is not a polybook table); run the same polybook version in the server and its readers.",
  POLYBOOK_SHARED_MEMORY_UNSUPPORTED:
    'Shared-memory books (BookServer, BookStore.attach, BookCache.connect) need Linux and the native addon; this platform, the pure-TypeScript backend or this JavaScript runtime cannot map them.',
  POLYBOOK_SHARED_MEMORY:
    "A system call on a book server's shared-memory file failed (no space left in /dev/shm, too many open files, ...); the message has the call and the system's error.",
  POLYBOOK_CONTROL:
    'A book server refused a control-channel request (malformed, oversized, unknown, over a limit) or the channel closed before it answered; the message says which.',
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

/** An optional peer dependency (prom-client, @opentelemetry/api) is needed but not installed. */
export class MissingDependencyError extends PolybookError {
  constructor(
    /** The npm package to install, e.g. `prom-client`. */
    readonly dependency: string,
    what: string,
    options?: ErrorOptions,
  ) {
    super(
      'POLYBOOK_MISSING_DEPENDENCY',
      `polybook: ${what} needs the optional package ${dependency}, which is not installed: ` +
        `run 'npm install ${dependency}'`,
      options,
    );
  }
}

/** A metric polybook registers already exists in a prom-client registry. */
export class MetricsConflictError extends PolybookError {
  constructor(
    /** Name of the metric the registry already has, e.g. `polybook_reads_total`. */
    readonly metric: string,
  ) {
    super(
      'POLYBOOK_METRICS_CONFLICT',
      `polybook: the registry already has a metric named ${metric}: unregister the previous bridge ` +
        '(registerPrometheus returns it) or pass another registry',
    );
  }
}

/** The metrics endpoint could not listen on its host and port. */
export class MetricsListenError extends PolybookError {
  constructor(
    /** The host the endpoint was asked to listen on. */
    readonly host: string,
    /** The TCP port it was asked to listen on (0: any free port). */
    readonly port: number,
    cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const why =
      code === 'EADDRINUSE'
        ? 'the port is in use; choose another port (0 picks a free one)'
        : code === 'EACCES'
          ? 'not permitted (ports below 1024 need privileges); choose another port'
          : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
            ? 'that host is not an address of this machine; choose another host'
            : ((cause as Error | undefined)?.message ?? String(cause));
    super('POLYBOOK_METRICS_LISTEN', `polybook: cannot serve metrics on ${host}:${port}: ${why}`, { cause });
  }
}

/** Why a REST server could not be reached: `dns` (name not resolved), `refused`, `unreachable` (no route), `reset`, `timeout`. */
export type NetworkFailure = 'dns' | 'refused' | 'unreachable' | 'reset' | 'timeout';

/** A REST server could not be reached (no HTTP answer at all). Distinct from {@link HttpError}. */
export class NetworkError extends PolybookError {
  constructor(
    /** The request, `METHOD url`. */
    readonly request: string,
    /** What went wrong on the last attempt: name resolution, refused, no route, reset or timeout. */
    readonly failure: NetworkFailure,
    /** Attempts made (1 + retries). */
    readonly attempts: number,
    cause?: unknown,
  ) {
    const detail = cause instanceof Error ? `: ${describeCause(cause)}` : '';
    super(
      'POLYBOOK_NETWORK',
      `polybook: ${request} failed (${failure}${detail}) after ${attempts} attempt${attempts === 1 ? '' : 's'}; check the network, or the base URL (POLYBOOK_GAMMA_URL, POLYBOOK_CLOB_URL)`,
      { cause },
    );
  }
}

/** A REST server answered with an error status, or with a body that is not the JSON expected (`status` 200 then). */
export class HttpError extends PolybookError {
  constructor(
    /** The request, `METHOD url`. */
    readonly request: string,
    /** HTTP status of the last answer (200 when a successful answer's body was not the JSON expected). */
    readonly status: number,
    /** The start of the response body (the server's error text). */
    readonly body: string,
    /** Attempts made (1 + retries). */
    readonly attempts: number,
    reason?: string,
  ) {
    super(
      'POLYBOOK_HTTP',
      `polybook: ${request}: ${reason ?? `HTTP ${status}`}${body ? ` ${body.slice(0, 200)}` : ''}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`,
    );
  }
}

/** Discovery could not resolve a selection; `selectors` lists what was not found or not tradeable. */
export class DiscoveryError extends PolybookError {
  constructor(
    message: string,
    /** One line per selector that cannot be followed, naming it and why (e.g. `slug "x": no open event or market has it`). */
    readonly selectors: readonly string[] = [],
  ) {
    super('POLYBOOK_DISCOVERY', `polybook: ${message}`);
  }
}

function describeCause(e: Error): string {
  const code = (e as { code?: unknown }).code;
  const inner = (e as { cause?: unknown }).cause;
  if (inner instanceof Error) return describeCause(inner);
  return typeof code === 'string' && !e.message.includes(code) ? `${code} ${e.message}` : e.message;
}
