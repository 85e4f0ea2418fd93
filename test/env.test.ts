/**
 * fromEnv(): defaults, every variable, the older names as aliases, and clear errors (variable,
 * value, what is allowed); the documented tables derive from the one table of variables; the
 * staleness presets and their validation.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CACHE_DEFAULTS, ENV_VARS, fromEnv, resolveCacheSettings } from '../src/cache/env.js';
import { ENVIRONMENT, environmentMarkdown } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { Staleness } from '../src/cache/staleness.js';
import { BookStore } from '../src/table/store.js';
import { resolveFeedOptions } from '../src/feed/options.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('fromEnv', () => {
  it('uses the documented defaults when nothing is set (or set to empty)', () => {
    const expected = {
      enabled: true,
      defaultMaxStaleMs: 1500,
      hardStaleMs: 5000,
      warmupTimeoutMs: 10000,
      warmupMinReadyFraction: 0.8,
      maxDepth: 20,
    };
    expect(fromEnv({})).toEqual(expected);
    expect(CACHE_DEFAULTS).toEqual(expected);
    const empty = Object.fromEntries(Object.values(ENV_VARS).map((k) => [k, '  ']));
    expect(fromEnv(empty)).toEqual(expected);
  });

  it('reads every variable', () => {
    const o = fromEnv({
      POLYBOOK_ENABLED: '0',
      POLYBOOK_DEFAULT_MAX_STALE_MS: '250',
      POLYBOOK_HARD_STALE_MS: '3000',
      POLYBOOK_WARMUP_TIMEOUT_MS: '2500',
      POLYBOOK_WARMUP_MIN_READY_FRACTION: '0.95',
      POLYBOOK_MAX_DEPTH: '5',
      POLYBOOK_WS_URL: 'ws://127.0.0.1:9/ws/market',
      POLYBOOK_BACKEND: 'js',
    });
    expect(o).toEqual({
      enabled: false,
      defaultMaxStaleMs: 250,
      hardStaleMs: 3000,
      warmupTimeoutMs: 2500,
      warmupMinReadyFraction: 0.95,
      maxDepth: 5,
      url: 'ws://127.0.0.1:9/ws/market',
      backend: 'js',
    });
  });

  it.each([
    ['1', true],
    ['true', true],
    ['ON', true],
    ['yes', true],
    ['0', false],
    ['false', false],
    ['off', false],
    ['No', false],
  ])('POLYBOOK_ENABLED=%s -> %s', (v, want) => {
    expect(fromEnv({ POLYBOOK_ENABLED: v }).enabled).toBe(want);
  });

  it.each([
    ['POLYBOOK_ENABLED', 'maybe', 'one of 1, 0, true, false, yes, no, on, off'],
    ['POLYBOOK_ENABLED', '2', 'one of 1, 0'],
    ['POLYBOOK_DEFAULT_MAX_STALE_MS', 'fast', 'an integer from 0 to 3600000'],
    ['POLYBOOK_DEFAULT_MAX_STALE_MS', '-5', 'an integer'],
    ['POLYBOOK_DEFAULT_MAX_STALE_MS', '1.5', 'an integer'],
    ['POLYBOOK_HARD_STALE_MS', '0', 'an integer from 1 to 3600000'],
    ['POLYBOOK_HARD_STALE_MS', '99999999', 'an integer from 1 to 3600000'],
    ['POLYBOOK_WARMUP_TIMEOUT_MS', '10s', 'an integer from 0 to 3600000'],
    ['POLYBOOK_WARMUP_MIN_READY_FRACTION', '1.5', 'a number from 0 to 1'],
    ['POLYBOOK_WARMUP_MIN_READY_FRACTION', '80%', 'a number from 0 to 1'],
    ['POLYBOOK_WARMUP_MIN_READY_FRACTION', '-0.1', 'a number from 0 to 1'],
    ['POLYBOOK_MAX_DEPTH', '0', 'an integer from 1 to 1000'],
    ['POLYBOOK_MAX_DEPTH', '1001', 'an integer from 1 to 1000'],
    ['POLYBOOK_WS_URL', 'http://127.0.0.1/ws/market', 'a ws:// or wss:// URL'],
    ['POLYBOOK_WS_URL', 'not a url', 'a ws:// or wss:// URL'],
    ['POLYBOOK_BACKEND', 'rust', 'one of native, js'],
  ])('%s=%j is rejected naming the variable, the value and what is allowed', (name, value, allowed) => {
    const e = configError(() => fromEnv({ [name]: value }));
    expect(e.variable).toBe(name);
    expect(e.value).toBe(value);
    expect(e.allowed).toContain(allowed);
    expect(e.message).toContain(name);
    expect(e.message).toContain(JSON.stringify(value));
    expect(e.message).toContain(allowed);
  });

  it('rejects a default staleness above the hard limit, naming both variables', () => {
    const e = configError(() => fromEnv({ POLYBOOK_DEFAULT_MAX_STALE_MS: '6000' }));
    expect(e.variable).toBe('POLYBOOK_DEFAULT_MAX_STALE_MS');
    expect(e.message).toContain('POLYBOOK_HARD_STALE_MS');
    expect(e.message).toContain('5000');
    expect(fromEnv({ POLYBOOK_DEFAULT_MAX_STALE_MS: '6000', POLYBOOK_HARD_STALE_MS: '6000' }).defaultMaxStaleMs).toBe(
      6000,
    );
  });

  it('reads process.env by default', () => {
    vi.stubEnv('POLYBOOK_MAX_DEPTH', '7');
    expect(fromEnv().maxDepth).toBe(7);
  });
});

describe('the older names, read as aliases', () => {
  const aliased = Object.entries(ENVIRONMENT).filter(([, v]) => v.alias !== null);

  it('are exactly the seed names, one per POLYBOOK_ variable', () => {
    expect(Object.values(ENVIRONMENT).every((v) => v.name.startsWith('POLYBOOK_'))).toBe(true);
    expect(aliased.map(([, v]) => v.alias)).toEqual([
      'HFT_BOOK_CACHE_ENABLED',
      'BOOK_STORE_DEFAULT_MAX_STALE_MS',
      'BOOK_STORE_HARD_STALE_MS',
      'BOOK_STORE_WARMUP_TIMEOUT_MS',
      'BOOK_STORE_WARMUP_MIN_READY_FRACTION',
      'BOOK_STORE_MAX_DEPTH',
    ]);
  });

  it('are read when the POLYBOOK_ variable is unset', () => {
    expect(
      fromEnv({
        HFT_BOOK_CACHE_ENABLED: '0',
        BOOK_STORE_DEFAULT_MAX_STALE_MS: '250',
        BOOK_STORE_HARD_STALE_MS: '3000',
        BOOK_STORE_WARMUP_TIMEOUT_MS: '2500',
        BOOK_STORE_WARMUP_MIN_READY_FRACTION: '0.95',
        BOOK_STORE_MAX_DEPTH: '5',
      }),
    ).toEqual({
      enabled: false,
      defaultMaxStaleMs: 250,
      hardStaleMs: 3000,
      warmupTimeoutMs: 2500,
      warmupMinReadyFraction: 0.95,
      maxDepth: 5,
    });
    // An invalid alias is named as such.
    expect(configError(() => fromEnv({ BOOK_STORE_MAX_DEPTH: '0' })).variable).toBe('BOOK_STORE_MAX_DEPTH');
  });

  it('may be set together with the new name when they mean the same', () => {
    expect(fromEnv({ POLYBOOK_MAX_DEPTH: '10', BOOK_STORE_MAX_DEPTH: ' 10 ' }).maxDepth).toBe(10);
    expect(fromEnv({ POLYBOOK_ENABLED: 'off', HFT_BOOK_CACHE_ENABLED: '0' }).enabled).toBe(false);
  });

  it.each(aliased)('%s: both set and different is a ConfigError naming both', (_option, v) => {
    const [a, b] = v.kind.type === 'bool' ? ['1', '0'] : v.kind.type === 'number' ? ['0.5', '0.6'] : ['10', '20'];
    const e = configError(() => fromEnv({ [v.name]: a, [v.alias!]: b }));
    expect(e.code).toBe('POLYBOOK_CONFIG');
    expect(e.variable).toBe(v.name);
    expect(e.message).toBe(
      `polybook: ${v.name}="${a}" and its older name ${v.alias}="${b}" are both set and differ; unset ${v.alias}`,
    );
  });

  it('are read by the store and the feed too, with the same checks', () => {
    vi.stubEnv('BOOK_STORE_MAX_DEPTH', '3');
    vi.stubEnv('BOOK_STORE_HARD_STALE_MS', '2000');
    expect(new BookStore({ backend: 'js', clock: 'precise' }).maxDepth).toBe(3);
    expect(resolveFeedOptions({}).hardStaleMs).toBe(2000);
    vi.stubEnv('POLYBOOK_MAX_DEPTH', '4');
    expect(() => new BookStore({ backend: 'js', clock: 'precise' })).toThrow(
      /POLYBOOK_MAX_DEPTH="4" and its older name/,
    );
    vi.stubEnv('POLYBOOK_HARD_STALE_MS', '2000');
    expect(resolveFeedOptions({}).hardStaleMs).toBe(2000);
  });
});

describe('the documented tables', () => {
  it('README.md and docs/CACHE.md show the table of variables exactly', () => {
    const table = environmentMarkdown();
    for (const doc of ['../README.md', '../docs/CACHE.md']) {
      expect(readFileSync(new URL(doc, import.meta.url), 'utf8'), doc).toContain(`\n${table}\n`);
    }
    expect(table.split('\n')).toHaveLength(2 + Object.keys(ENVIRONMENT).length);
  });

  it('ENV_VARS and CACHE_DEFAULTS derive from it', () => {
    for (const [option, v] of Object.entries(ENVIRONMENT)) {
      expect(ENV_VARS[option as keyof typeof ENV_VARS]).toBe(v.name);
      if (v.default !== null) expect(CACHE_DEFAULTS[option as keyof typeof CACHE_DEFAULTS]).toBe(v.default);
    }
  });
});

describe('options given in code', () => {
  it('fills defaults', () => {
    expect(resolveCacheSettings({})).toEqual({ ...CACHE_DEFAULTS });
  });

  it.each([
    [{ defaultMaxStaleMs: -1 }, 'defaultMaxStaleMs'],
    [{ hardStaleMs: 1.5 }, 'hardStaleMs'],
    [{ warmupTimeoutMs: Number.NaN }, 'warmupTimeoutMs'],
    [{ warmupMinReadyFraction: 2 }, 'warmupMinReadyFraction'],
    [{ maxDepth: 0 }, 'maxDepth'],
    [{ enabled: 'yes' as unknown as boolean }, 'enabled'],
    [{ url: 'https://example.invalid' }, 'url'],
    [{ backend: 'rust' as 'js' }, 'backend'],
    [{ defaultMaxStaleMs: 9000 }, 'defaultMaxStaleMs'],
  ])('%j is rejected naming %s', (o, name) => {
    const e = configError(() => resolveCacheSettings(o));
    expect(e.variable).toBe(name);
    expect(e.message).toContain(name);
  });
});

describe('Staleness presets', () => {
  it('has the documented values', () => {
    expect(Staleness.latencyArb).toBe(250);
    expect(Staleness.fast15m).toBe(1500);
    expect(Staleness.longStrategy).toBe(5000);
  });

  it('latencyArbMs accepts 100..500 and rejects the rest clearly', () => {
    expect(Staleness.latencyArbMs(100)).toBe(100);
    expect(Staleness.latencyArbMs(500)).toBe(500);
    expect(Staleness.latencyArbMs(333)).toBe(333);
    for (const bad of [99, 501, Number.NaN, Infinity, '200' as unknown as number]) {
      const e = configError(() => Staleness.latencyArbMs(bad));
      expect(e.variable).toBe('Staleness.latencyArbMs');
      expect(e.message).toContain('from 100 to 500');
    }
  });

  it('custom accepts any finite non-negative number', () => {
    expect(Staleness.custom(0)).toBe(0);
    expect(Staleness.custom(12345)).toBe(12345);
    expect(() => Staleness.custom(-1)).toThrow(ConfigError);
    expect(() => Staleness.custom(Infinity)).toThrow(/maxStaleMs/);
  });
});
