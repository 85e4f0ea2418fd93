/**
 * Configuration from environment variables: {@link ENVIRONMENT} is the one table of every variable
 * polybook reads (name, alias, option, default, allowed values, meaning). Reading
 * ({@link readEnv}), the errors (a {@link ConfigError} naming the variable, the value and what is
 * allowed) and the tables in README.md and docs/CACHE.md ({@link environmentMarkdown}, checked by
 * test/env.test.ts) all derive from it.
 *
 * Every variable is `POLYBOOK_*`. A variable with an `alias` (its older name) is also read under
 * that name when unset; both set to different values is an error naming both.
 */

import { ConfigError } from './errors.js';

type Env = Record<string, string | undefined>;

/** Upper bound accepted for every staleness or timeout setting: one hour. */
export const MAX_MS = 3_600_000;

/** The writer backends, in order of preference. */
export const BACKEND_NAMES = ['native', 'js'] as const;

/** The values a variable accepts. */
export type EnvKind =
  | {
      /** An integer, or any number, in [min, max]. */
      readonly type: 'int' | 'number';
      /** Smallest value allowed. */
      readonly min: number;
      /** Largest value allowed. */
      readonly max: number;
    }
  | {
      /** 1/0, true/false, yes/no, on/off (any case). */
      readonly type: 'bool';
    }
  | {
      /** A ws:// or wss:// URL. */
      readonly type: 'url';
    }
  | {
      /** An http:// or https:// URL without a query (trailing slashes dropped). */
      readonly type: 'httpUrl';
    }
  | {
      /** One of `values`. */
      readonly type: 'enum';
      /** The values allowed. */
      readonly values: readonly string[];
    };

/** One environment variable polybook reads. */
export interface EnvVariable {
  /** The variable, `POLYBOOK_*`. */
  readonly name: string;
  /** Its older name, still read when `name` is unset; null when there is none. */
  readonly alias: string | null;
  /** The values it accepts. */
  readonly kind: EnvKind;
  /** The default, or null when it depends on the machine (described in `defaultText`). */
  readonly default: number | boolean | null;
  /** The default in words, for the documentation. */
  readonly defaultText: string;
  /** What it sets. */
  readonly meaning: string;
}

/**
 * The table of variables with their exact kinds and defaults (for the code: {@link readEnv} types
 * its values with them); users see it as {@link ENVIRONMENT}.
 */
export const VARIABLES = {
  enabled: {
    name: 'POLYBOOK_ENABLED',
    alias: 'HFT_BOOK_CACHE_ENABLED',
    kind: { type: 'bool' },
    default: true,
    defaultText: 'on',
    meaning: 'off ships the integration switched off: no socket, every cache read misses `disabled`',
  },
  defaultMaxStaleMs: {
    name: 'POLYBOOK_DEFAULT_MAX_STALE_MS',
    alias: 'BOOK_STORE_DEFAULT_MAX_STALE_MS',
    kind: { type: 'int', min: 0, max: MAX_MS },
    default: 1500,
    defaultText: '1500',
    meaning: 'staleness budget of `cache.get(id)` and `cache.handle(id).top()` without one (at most the hard limit)',
  },
  hardStaleMs: {
    name: 'POLYBOOK_HARD_STALE_MS',
    alias: 'BOOK_STORE_HARD_STALE_MS',
    kind: { type: 'int', min: 1, max: MAX_MS },
    default: 5000,
    defaultText: '5000',
    meaning: 'no cache read serves a book older than this; tokens unconfirmed this long are resubscribed',
  },
  warmupTimeoutMs: {
    name: 'POLYBOOK_WARMUP_TIMEOUT_MS',
    alias: 'BOOK_STORE_WARMUP_TIMEOUT_MS',
    kind: { type: 'int', min: 0, max: MAX_MS },
    default: 10_000,
    defaultText: '10000',
    meaning: 'warmup gives up after this; tokens not ready then are disabled for the session',
  },
  warmupMinReadyFraction: {
    name: 'POLYBOOK_WARMUP_MIN_READY_FRACTION',
    alias: 'BOOK_STORE_WARMUP_MIN_READY_FRACTION',
    kind: { type: 'number', min: 0, max: 1 },
    default: 0.8,
    defaultText: '0.8',
    meaning: 'warmup completes once this fraction of the universe is ready',
  },
  maxDepth: {
    name: 'POLYBOOK_MAX_DEPTH',
    alias: 'BOOK_STORE_MAX_DEPTH',
    kind: { type: 'int', min: 1, max: 1000 },
    default: 20,
    defaultText: '20',
    meaning: 'levels per side a read returns (full depth is always tracked)',
  },
  url: {
    name: 'POLYBOOK_WS_URL',
    alias: null,
    kind: { type: 'url' },
    default: null,
    defaultText: "Polymarket's market channel",
    meaning: 'market-channel endpoint',
  },
  gammaUrl: {
    name: 'POLYBOOK_GAMMA_URL',
    alias: null,
    kind: { type: 'httpUrl' },
    default: null,
    defaultText: "Polymarket's with Polymarket's feed, else the feed URL's origin",
    meaning: 'Gamma REST base URL (market discovery)',
  },
  clobUrl: {
    name: 'POLYBOOK_CLOB_URL',
    alias: null,
    kind: { type: 'httpUrl' },
    default: null,
    defaultText: "Polymarket's with Polymarket's feed, else the feed URL's origin",
    meaning: 'CLOB REST base URL (discovery fallback, REST books)',
  },
  audit: {
    name: 'POLYBOOK_AUDIT',
    alias: null,
    kind: { type: 'bool' },
    default: null,
    defaultText: "on with Polymarket's feed, else off",
    meaning:
      'background audit of the books against REST `POST /books` (docs/FEED.md "Audits"); the `audit` option also takes a budget',
  },
  backend: {
    name: 'POLYBOOK_BACKEND',
    alias: null,
    kind: { type: 'enum', values: BACKEND_NAMES },
    default: null,
    defaultText: 'native when it loads, else js',
    meaning: 'forces a backend; forcing `native` where it cannot load is an error',
  },
  serverTimeoutMs: {
    name: 'POLYBOOK_SERVER_TIMEOUT_MS',
    alias: null,
    kind: { type: 'int', min: 20, max: 60_000 },
    default: null,
    defaultText: '200',
    meaning:
      'reads of a process attached to a book server miss `server_down` once its heartbeat is older than this (docs/SERVER.md)',
  },
} as const satisfies Record<string, EnvVariable>;

/** The table with its keys exact and its rows as {@link EnvVariable}s. */
function publicTable<T extends Record<string, EnvVariable>>(t: T): Readonly<Record<keyof T, EnvVariable>> {
  return t;
}

/**
 * Every environment variable polybook reads, by the option it sets (`BookCache.start` takes the
 * same names; `fromEnv()` reads them all).
 */
export const ENVIRONMENT = publicTable(VARIABLES);

/** An option set by an environment variable. */
export type EnvOption = keyof typeof ENVIRONMENT;

/** The value a variable of kind `K` reads as. */
type ValueOf<K> = K extends { type: 'int' | 'number' }
  ? number
  : K extends { type: 'bool' }
    ? boolean
    : K extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

/** What a kind allows, in the words of the error messages. */
export function allowedText(kind: EnvKind): string {
  switch (kind.type) {
    case 'int':
      return `an integer from ${kind.min} to ${kind.max}`;
    case 'number':
      return `a number from ${kind.min} to ${kind.max}`;
    case 'bool':
      return 'one of 1, 0, true, false, yes, no, on, off';
    case 'url':
      return 'a ws:// or wss:// URL';
    case 'httpUrl':
      return 'an http:// or https:// URL without a query';
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
  }
}

function raw(name: string, env: Env): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Parses the text of variable `name`. @throws ConfigError naming it. */
function parse(name: string, v: string, kind: EnvKind): number | boolean | string {
  switch (kind.type) {
    case 'int': {
      const n = Number(v);
      if (!/^[0-9]+$/.test(v) || n < kind.min || n > kind.max) throw new ConfigError(name, v, allowedText(kind));
      return n;
    }
    case 'number': {
      const n = Number(v);
      if (!/^[0-9]*\.?[0-9]+$/.test(v) || !(n >= kind.min && n <= kind.max)) {
        throw new ConfigError(name, v, allowedText(kind));
      }
      return n;
    }
    case 'bool': {
      const l = v.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(l)) return true;
      if (['0', 'false', 'no', 'off'].includes(l)) return false;
      throw new ConfigError(name, v, allowedText(kind));
    }
    case 'url':
      return checkWsUrl(name, v);
    case 'httpUrl':
      return checkHttpUrl(name, v);
    case 'enum':
      if (!kind.values.includes(v)) throw new ConfigError(name, v, allowedText(kind));
      return v;
  }
}

/**
 * The value of the variable that sets `option`, or undefined when it is unset (or empty). Reads
 * the alias when the variable is unset.
 * @throws ConfigError naming the variable (or its alias) when the value is not allowed, or naming
 *   both when both are set to different values.
 */
export function readEnv<O extends EnvOption>(
  option: O,
  env: Env = process.env,
): ValueOf<(typeof VARIABLES)[O]['kind']> | undefined {
  const v: EnvVariable = ENVIRONMENT[option];
  const text = raw(v.name, env);
  const value = text === undefined ? undefined : parse(v.name, text, v.kind);
  const aliasText = v.alias === null ? undefined : raw(v.alias, env);
  if (v.alias === null || aliasText === undefined) return value as ValueOf<(typeof VARIABLES)[O]['kind']>;
  const aliasValue = parse(v.alias, aliasText, v.kind);
  if (value !== undefined && value !== aliasValue) {
    throw new ConfigError(
      v.name,
      text,
      `the value of its alias ${v.alias} (${aliasText}), or only one of them set`,
      `polybook: ${v.name}=${JSON.stringify(text)} and its older name ${v.alias}=${JSON.stringify(aliasText)} ` +
        `are both set and differ; unset ${v.alias}`,
    );
  }
  return aliasValue as ValueOf<(typeof VARIABLES)[O]['kind']>;
}

/** Checks that `value` is a ws:// or wss:// URL; returns it. @throws ConfigError naming `name`. */
export function checkWsUrl(name: string, value: unknown): string {
  let ok = false;
  try {
    const u = new URL(String(value));
    ok = typeof value === 'string' && (u.protocol === 'ws:' || u.protocol === 'wss:');
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(name, value, 'a ws:// or wss:// URL');
  return value as string;
}

/** Checks that `value` is an http:// or https:// URL without a query; returns it without trailing slashes. @throws ConfigError naming `name`. */
export function checkHttpUrl(name: string, value: unknown): string {
  let ok = false;
  try {
    const u = new URL(String(value));
    ok = typeof value === 'string' && (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '';
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(name, value, allowedText({ type: 'httpUrl' }));
  return (value as string).replace(/\/+$/, '');
}

/** The Markdown table of {@link ENVIRONMENT}, as README.md and docs/CACHE.md show it. */
export function environmentMarkdown(): string {
  const rows = Object.entries(ENVIRONMENT).map(([option, v]: [string, EnvVariable]) =>
    [
      `\`${v.name}\``,
      v.alias === null ? '–' : `\`${v.alias}\``,
      `\`${option}\``,
      v.defaultText,
      allowedText(v.kind),
      v.meaning,
    ].join(' | '),
  );
  return [
    '| variable | alias (older name) | option | default | allowed | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}
