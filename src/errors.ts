/**
 * The errors polybook throws. Each carries a stable `code` from {@link ERROR_CODES}, so callers
 * can branch on `err.code` instead of parsing messages; the message says what was wrong and what
 * to do.
 */

/** Every error code, with what it means. docs/ERRORS.md lists the same table. */
export const ERROR_CODES = {
  POLYBOOK_CONFIG:
    'An option or environment variable has an invalid value; the message names it, the value and what is allowed.',
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
  POLYBOOK_DISCOVERY:
    'Market discovery could not resolve a selection: a slug, condition id or token id names no open market, or no market of it is tradeable; the message names the selector.',
} as const;

/** A stable error code, see {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every error polybook throws on purpose. */
export class PolybookError extends Error {
  /** Stable code: branch on it rather than on the message. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value is invalid. `variable` names the option or environment variable. */
export class ConfigError extends PolybookError {
  constructor(
    readonly variable: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super('POLYBOOK_CONFIG', `polybook: invalid ${variable}=${JSON.stringify(value)}: expected ${allowed}`);
  }
}

/** An optional peer dependency (prom-client, @opentelemetry/api) is needed but not installed. */
export class MissingDependencyError extends PolybookError {
  constructor(
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
  constructor(readonly metric: string) {
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
    readonly host: string,
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
