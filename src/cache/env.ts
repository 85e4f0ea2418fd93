/**
 * Cache configuration from environment variables (`fromEnv`, over the table in src/config.ts) and
 * the checks shared with options given in code. Every invalid value raises a {@link ConfigError}
 * naming the variable (or option), the value and what is allowed.
 */
import {
  BACKEND_NAMES,
  ENVIRONMENT,
  MAX_MS,
  VARIABLES,
  allowedText,
  checkHttpUrl,
  checkWsUrl,
  readEnv,
  type EnvOption,
} from '../config.js';
import { ConfigError } from '../errors.js';
import type { BackendName } from '../backend/index.js';
import type { AuditSetting } from '../audit/options.js';

const BACKENDS: readonly string[] = BACKEND_NAMES;

/** The settings `fromEnv` reads; all of them are also `BookCache.start` options. */
export interface CacheEnvOptions {
  /** `POLYBOOK_ENABLED`; false = shipped switched off: no socket, every read misses `disabled`. Default true. */
  enabled: boolean;
  /** `POLYBOOK_DEFAULT_MAX_STALE_MS`: staleness budget of `cache.get(id)` without one. Default 1500. */
  defaultMaxStaleMs: number;
  /** `POLYBOOK_HARD_STALE_MS`: no read serves a book older than this, whatever the caller asks. Default 5000. */
  hardStaleMs: number;
  /** `POLYBOOK_WARMUP_TIMEOUT_MS`: warmup gives up after this. Default 10000. */
  warmupTimeoutMs: number;
  /** `POLYBOOK_WARMUP_MIN_READY_FRACTION`: warmup completes once this fraction is ready. Default 0.8. */
  warmupMinReadyFraction: number;
  /** `POLYBOOK_MAX_DEPTH`: levels per side a read returns. Default 20. */
  maxDepth: number;
  /** `POLYBOOK_WS_URL`: market-channel URL. Default: the feed's (Polymarket production). */
  url?: string;
  /** `POLYBOOK_BACKEND`: `native` or `js`. Default: native when it loads. */
  backend?: BackendName;
  /** `POLYBOOK_GAMMA_URL`: Gamma base URL for discovery. Default: Polymarket's with Polymarket's feed, else the feed's origin. */
  gammaUrl?: string;
  /** `POLYBOOK_CLOB_URL`: CLOB REST base URL (books, markets). Default: as `gammaUrl`. */
  clobUrl?: string;
  /**
   * `POLYBOOK_AUDIT`: compare the books held with REST `POST /books` in the background and reset
   * those that missed updates (docs/FEED.md "Audits"); in code also
   * `{ requestsPerSecond, tokensPerRequest, graceMs, ... }`. Default: on with Polymarket's feed, else off.
   */
  audit?: AuditSetting;
  /**
   * `POLYBOOK_SERVER_TIMEOUT_MS`: a cache connected to a book server (`BookCache.connect`) misses
   * `server_down` once the server's heartbeat is older than this, ms. Default 200.
   */
  serverTimeoutMs?: number;
}

/** The defaults of the settings `fromEnv` reads (from the table of variables). */
export const CACHE_DEFAULTS: Readonly<
  Omit<CacheEnvOptions, 'url' | 'backend' | 'gammaUrl' | 'clobUrl' | 'audit' | 'serverTimeoutMs'>
> = {
  enabled: VARIABLES.enabled.default,
  defaultMaxStaleMs: VARIABLES.defaultMaxStaleMs.default,
  hardStaleMs: VARIABLES.hardStaleMs.default,
  warmupTimeoutMs: VARIABLES.warmupTimeoutMs.default,
  warmupMinReadyFraction: VARIABLES.warmupMinReadyFraction.default,
  maxDepth: VARIABLES.maxDepth.default,
};

export { MAX_MS };

/** The variable of each setting (`ENVIRONMENT` has their aliases, defaults and meanings). */
export const ENV_VARS = Object.fromEntries(Object.entries(ENVIRONMENT).map(([k, v]) => [k, v.name])) as Readonly<
  Record<EnvOption, string>
>;

/**
 * Builds cache options from the environment (unset or empty variables take the defaults; an
 * unset variable is read under its older name, its alias).
 * Pass the result, possibly extended, to `BookCache.start`.
 * @throws ConfigError naming the first invalid variable, its value and what is allowed, or a
 *   variable and its alias set to different values.
 */
export function fromEnv(env: Record<string, string | undefined> = process.env): CacheEnvOptions {
  const o: CacheEnvOptions = {
    enabled: readEnv('enabled', env) ?? CACHE_DEFAULTS.enabled,
    defaultMaxStaleMs: readEnv('defaultMaxStaleMs', env) ?? CACHE_DEFAULTS.defaultMaxStaleMs,
    hardStaleMs: readEnv('hardStaleMs', env) ?? CACHE_DEFAULTS.hardStaleMs,
    warmupTimeoutMs: readEnv('warmupTimeoutMs', env) ?? CACHE_DEFAULTS.warmupTimeoutMs,
    warmupMinReadyFraction: readEnv('warmupMinReadyFraction', env) ?? CACHE_DEFAULTS.warmupMinReadyFraction,
    maxDepth: readEnv('maxDepth', env) ?? CACHE_DEFAULTS.maxDepth,
  };
  const url = readEnv('url', env);
  if (url !== undefined) o.url = url;
  const backend = readEnv('backend', env);
  if (backend !== undefined) o.backend = backend;
  const gammaUrl = readEnv('gammaUrl', env);
  if (gammaUrl !== undefined) o.gammaUrl = gammaUrl;
  const clobUrl = readEnv('clobUrl', env);
  if (clobUrl !== undefined) o.clobUrl = clobUrl;
  const audit = readEnv('audit', env);
  if (audit !== undefined) o.audit = audit;
  const serverTimeoutMs = readEnv('serverTimeoutMs', env);
  if (serverTimeoutMs !== undefined) o.serverTimeoutMs = serverTimeoutMs;
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
  /** An integer setting, checked against the range of its variable. */
  const int = (name: 'defaultMaxStaleMs' | 'hardStaleMs' | 'warmupTimeoutMs' | 'maxDepth'): number => {
    const v = o[name] ?? CACHE_DEFAULTS[name];
    const kind = VARIABLES[name].kind;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < kind.min || v > kind.max) {
      throw new ConfigError(name, v, allowedText(kind));
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
    defaultMaxStaleMs: int('defaultMaxStaleMs'),
    hardStaleMs: int('hardStaleMs'),
    warmupTimeoutMs: int('warmupTimeoutMs'),
    warmupMinReadyFraction: fraction,
    maxDepth: int('maxDepth'),
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
