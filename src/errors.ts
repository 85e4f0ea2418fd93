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
