/**
 * fromEnv(): defaults, every variable, and clear errors (variable, value, what is allowed);
 * the staleness presets and their validation.
 */
import { describe, expect, it } from 'vitest';
import { CACHE_DEFAULTS, ENV_VARS, fromEnv, resolveCacheSettings } from '../src/cache/env.js';
import { ConfigError } from '../src/errors.js';
import { Staleness } from '../src/cache/staleness.js';

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
      HFT_BOOK_CACHE_ENABLED: '0',
      BOOK_STORE_DEFAULT_MAX_STALE_MS: '250',
      BOOK_STORE_HARD_STALE_MS: '3000',
      BOOK_STORE_WARMUP_TIMEOUT_MS: '2500',
      BOOK_STORE_WARMUP_MIN_READY_FRACTION: '0.95',
      BOOK_STORE_MAX_DEPTH: '5',
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
  ])('HFT_BOOK_CACHE_ENABLED=%s -> %s', (v, want) => {
    expect(fromEnv({ HFT_BOOK_CACHE_ENABLED: v }).enabled).toBe(want);
  });

  it.each([
    ['HFT_BOOK_CACHE_ENABLED', 'maybe', 'one of 1, 0, true, false, yes, no, on, off'],
    ['HFT_BOOK_CACHE_ENABLED', '2', 'one of 1, 0'],
    ['BOOK_STORE_DEFAULT_MAX_STALE_MS', 'fast', 'an integer from 0 to 3600000'],
    ['BOOK_STORE_DEFAULT_MAX_STALE_MS', '-5', 'an integer'],
    ['BOOK_STORE_DEFAULT_MAX_STALE_MS', '1.5', 'an integer'],
    ['BOOK_STORE_HARD_STALE_MS', '0', 'an integer from 1 to 3600000'],
    ['BOOK_STORE_HARD_STALE_MS', '99999999', 'an integer from 1 to 3600000'],
    ['BOOK_STORE_WARMUP_TIMEOUT_MS', '10s', 'an integer from 0 to 3600000'],
    ['BOOK_STORE_WARMUP_MIN_READY_FRACTION', '1.5', 'a number from 0 to 1'],
    ['BOOK_STORE_WARMUP_MIN_READY_FRACTION', '80%', 'a number from 0 to 1'],
    ['BOOK_STORE_WARMUP_MIN_READY_FRACTION', '-0.1', 'a number from 0 to 1'],
    ['BOOK_STORE_MAX_DEPTH', '0', 'an integer from 1 to 1000'],
    ['BOOK_STORE_MAX_DEPTH', '1001', 'an integer from 1 to 1000'],
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
    const e = configError(() => fromEnv({ BOOK_STORE_DEFAULT_MAX_STALE_MS: '6000' }));
    expect(e.variable).toBe('BOOK_STORE_DEFAULT_MAX_STALE_MS');
    expect(e.message).toContain('BOOK_STORE_HARD_STALE_MS');
    expect(e.message).toContain('5000');
    expect(
      fromEnv({ BOOK_STORE_DEFAULT_MAX_STALE_MS: '6000', BOOK_STORE_HARD_STALE_MS: '6000' }).defaultMaxStaleMs,
    ).toBe(6000);
  });

  it('reads process.env by default', () => {
    const prev = process.env.BOOK_STORE_MAX_DEPTH;
    process.env.BOOK_STORE_MAX_DEPTH = '7';
    try {
      expect(fromEnv().maxDepth).toBe(7);
    } finally {
      if (prev === undefined) delete process.env.BOOK_STORE_MAX_DEPTH;
      else process.env.BOOK_STORE_MAX_DEPTH = prev;
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
