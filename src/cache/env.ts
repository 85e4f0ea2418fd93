/**
 * Cache configuration from environment variables (`fromEnv`) and the checks shared with options
 * given in code. Every invalid value raises a {@link ConfigError} naming the variable (or option),
 * the value and what is allowed.
 */
import {
  checkWsUrl,
  optionalBoolEnv,
  optionalEnumEnv,
  optionalIntEnv,
  optionalNumberEnv,
  optionalUrlEnv,
  optionalHttpUrlEnv,
  checkHttpUrl,
} from '../config.js';
import { ConfigError } from '../errors.js';
import type { BackendName } from '../backend/index.js';

/** Same list as backend.ts (kept local so reading the environment loads no backend). */
const BACKENDS: readonly BackendName[] = ['native', 'js'];

type Env = Record<string, string | undefined>;

/** The settings `fromEnv` reads; all of them are also `BookCache.start` options. */
export interface CacheEnvOptions {
  /** `HFT_BOOK_CACHE_ENABLED`; false = shipped switched off: no socket, every read misses `disabled`. Default true. */
  enabled: boolean;
  /** `BOOK_STORE_DEFAULT_MAX_STALE_MS`: staleness budget of `cache.get(id)` without one. Default 1500. */
  defaultMaxStaleMs: number;
  /** `BOOK_STORE_HARD_STALE_MS`: no read serves a book older than this, whatever the caller asks. Default 5000. */
  hardStaleMs: number;
  /** `BOOK_STORE_WARMUP_TIMEOUT_MS`: warmup gives up after this. Default 10000. */
  warmupTimeoutMs: number;
  /** `BOOK_STORE_WARMUP_MIN_READY_FRACTION`: warmup completes once this fraction is ready. Default 0.8. */
  warmupMinReadyFraction: number;
  /** `BOOK_STORE_MAX_DEPTH`: levels per side a read returns. Default 20. */
  maxDepth: number;
  /** `POLYBOOK_WS_URL`: market-channel URL. Default: the feed's (Polymarket production). */
  url?: string;
  /** `POLYBOOK_BACKEND`: `native` or `js`. Default: native when it loads. */
  backend?: BackendName;
  /** `POLYBOOK_GAMMA_URL`: Gamma base URL for discovery. Default: Polymarket's with Polymarket's feed, else the feed's origin. */
  gammaUrl?: string;
  /** `POLYBOOK_CLOB_URL`: CLOB REST base URL (books, markets). Default: as `gammaUrl`. */
  clobUrl?: string;
}

export const CACHE_DEFAULTS = {
  enabled: true,
  defaultMaxStaleMs: 1500,
  hardStaleMs: 5000,
  warmupTimeoutMs: 10_000,
  warmupMinReadyFraction: 0.8,
  maxDepth: 20,
} as const satisfies Partial<CacheEnvOptions>;

/** Upper bound accepted for every staleness or timeout setting: one hour. */
export const MAX_MS = 3_600_000;

export const ENV_VARS = {
  enabled: 'HFT_BOOK_CACHE_ENABLED',
  defaultMaxStaleMs: 'BOOK_STORE_DEFAULT_MAX_STALE_MS',
  hardStaleMs: 'BOOK_STORE_HARD_STALE_MS',
  warmupTimeoutMs: 'BOOK_STORE_WARMUP_TIMEOUT_MS',
  warmupMinReadyFraction: 'BOOK_STORE_WARMUP_MIN_READY_FRACTION',
  maxDepth: 'BOOK_STORE_MAX_DEPTH',
  url: 'POLYBOOK_WS_URL',
  backend: 'POLYBOOK_BACKEND',
  gammaUrl: 'POLYBOOK_GAMMA_URL',
  clobUrl: 'POLYBOOK_CLOB_URL',
} as const;

/**
 * Builds cache options from the environment (unset or empty variables take the defaults).
 * Pass the result, possibly extended, to `BookCache.start`.
 * @throws ConfigError naming the first invalid variable, its value and what is allowed.
 */
export function fromEnv(env: Env = process.env): CacheEnvOptions {
  const o: CacheEnvOptions = {
    enabled: optionalBoolEnv(ENV_VARS.enabled, env) ?? CACHE_DEFAULTS.enabled,
    defaultMaxStaleMs: optionalIntEnv(ENV_VARS.defaultMaxStaleMs, 0, MAX_MS, env) ?? CACHE_DEFAULTS.defaultMaxStaleMs,
    hardStaleMs: optionalIntEnv(ENV_VARS.hardStaleMs, 1, MAX_MS, env) ?? CACHE_DEFAULTS.hardStaleMs,
    warmupTimeoutMs: optionalIntEnv(ENV_VARS.warmupTimeoutMs, 0, MAX_MS, env) ?? CACHE_DEFAULTS.warmupTimeoutMs,
    warmupMinReadyFraction:
      optionalNumberEnv(ENV_VARS.warmupMinReadyFraction, 0, 1, env) ?? CACHE_DEFAULTS.warmupMinReadyFraction,
    maxDepth: optionalIntEnv(ENV_VARS.maxDepth, 1, 1000, env) ?? CACHE_DEFAULTS.maxDepth,
  };
  const url = optionalUrlEnv(ENV_VARS.url, env);
  if (url !== undefined) o.url = url;
  const backend = optionalEnumEnv(ENV_VARS.backend, BACKENDS, env);
  if (backend !== undefined) o.backend = backend;
  const gammaUrl = optionalHttpUrlEnv(ENV_VARS.gammaUrl, env);
  if (gammaUrl !== undefined) o.gammaUrl = gammaUrl;
  const clobUrl = optionalHttpUrlEnv(ENV_VARS.clobUrl, env);
  if (clobUrl !== undefined) o.clobUrl = clobUrl;
  if (o.defaultMaxStaleMs > o.hardStaleMs) {
    throw new ConfigError(
      ENV_VARS.defaultMaxStaleMs,
      String(o.defaultMaxStaleMs),
      `at most ${ENV_VARS.hardStaleMs} (${o.hardStaleMs})`,
    );
  }
  return o;
}

/**
 * Fills defaults into settings given in code and checks them, with errors naming the option.
 * @internal used by BookCache.start.
 */
export function resolveCacheSettings(o: Partial<CacheEnvOptions>): CacheEnvOptions {
  const int = (name: keyof CacheEnvOptions, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(name, v, `an integer from ${min} to ${max}`);
    }
    return v;
  };
  const enabled = o.enabled ?? CACHE_DEFAULTS.enabled;
  if (typeof enabled !== 'boolean') throw new ConfigError('enabled', enabled, 'true or false');
  const fraction = o.warmupMinReadyFraction ?? CACHE_DEFAULTS.warmupMinReadyFraction;
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
    throw new ConfigError('warmupMinReadyFraction', fraction, 'a number from 0 to 1');
  }
  const r: CacheEnvOptions = {
    enabled,
    defaultMaxStaleMs: int('defaultMaxStaleMs', o.defaultMaxStaleMs ?? CACHE_DEFAULTS.defaultMaxStaleMs, 0, MAX_MS),
    hardStaleMs: int('hardStaleMs', o.hardStaleMs ?? CACHE_DEFAULTS.hardStaleMs, 1, MAX_MS),
    warmupTimeoutMs: int('warmupTimeoutMs', o.warmupTimeoutMs ?? CACHE_DEFAULTS.warmupTimeoutMs, 0, MAX_MS),
    warmupMinReadyFraction: fraction,
    maxDepth: int('maxDepth', o.maxDepth ?? CACHE_DEFAULTS.maxDepth, 1, 1000),
  };
  if (r.defaultMaxStaleMs > r.hardStaleMs) {
    throw new ConfigError('defaultMaxStaleMs', r.defaultMaxStaleMs, `at most hardStaleMs (${r.hardStaleMs})`);
  }
  if (o.url !== undefined) {
    r.url = checkWsUrl('url', o.url);
  }
  if (o.backend !== undefined) {
    if (!BACKENDS.includes(o.backend)) throw new ConfigError('backend', o.backend, "'native' or 'js'");
    r.backend = o.backend;
  }
  if (o.gammaUrl !== undefined) r.gammaUrl = checkHttpUrl('gammaUrl', o.gammaUrl);
  if (o.clobUrl !== undefined) r.clobUrl = checkHttpUrl('clobUrl', o.clobUrl);
  return r;
}
