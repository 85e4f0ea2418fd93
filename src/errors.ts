/**
 * The errors polybook throws. Each carries a stable `code` from {@link ERROR_CODES}, so callers
 * can branch on `err.code` instead of parsing messages; the message says what was wrong and what
 * to do.
 */

/** Every error code, with what it means. docs/ERRORS.md lists the same table. */
export const ERROR_CODES = {
  POLYBOOK_CONFIG:
    'An option or environment variable has an invalid value; the message names it, the value and what is allowed.',
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
