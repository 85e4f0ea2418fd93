/**
 * Staleness presets: how old (ms since the feed last confirmed the book current) a book may be for
 * a strategy to act on it. Each strategy passes its own to `cache.get(tokenId, maxStaleMs)` or
 * `handle.top(maxStaleMs)`; a read older than that returns null (miss reason `stale`).
 */
import { ConfigError } from '../errors.js';

/** Tight latency arbitrage: 250 ms (tunable from 100 to 500 with {@link Staleness.latencyArbMs}). */
const LATENCY_ARB_MS = 250;
/** Smallest budget {@link Staleness.latencyArbMs} accepts, ms. */
export const LATENCY_ARB_MIN_MS = 100;
/** Largest budget {@link Staleness.latencyArbMs} accepts, ms. */
export const LATENCY_ARB_MAX_MS = 500;

/** Staleness presets (ms) for `cache.get(tokenId, maxStaleMs)` and `handle.top(maxStaleMs)`. */
export const Staleness = {
  /** 250 ms: latency arbitrage, acting on a book only while it is provably fresh. */
  latencyArb: LATENCY_ARB_MS,
  /** 1500 ms: strategies on 15-minute markets. */
  fast15m: 1500,
  /** 5000 ms: slow strategies (equal to the default hard limit). */
  longStrategy: 5000,

  /**
   * A latency-arbitrage budget other than 250 ms.
   * @throws ConfigError unless `ms` is a number from 100 to 500.
   */
  latencyArbMs(ms: number): number {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < LATENCY_ARB_MIN_MS || ms > LATENCY_ARB_MAX_MS) {
      throw new ConfigError(
        'Staleness.latencyArbMs',
        ms,
        `a number of ms from ${LATENCY_ARB_MIN_MS} to ${LATENCY_ARB_MAX_MS}`,
      );
    }
    return ms;
  },

  /**
   * Any other budget, checked.
   * @throws ConfigError unless `ms` is a finite number >= 0.
   */
  custom(ms: number): number {
    return checkStaleMs('maxStaleMs', ms);
  },
} as const;

/** Checks a staleness budget given by the caller. */
export function checkStaleMs(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new ConfigError(name, ms, 'a finite number of milliseconds >= 0');
  }
  return ms;
}
