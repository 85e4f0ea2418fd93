/**
 * Reconnect delays: exponential from `minMs` to `maxMs` with jitter, reset once a new socket is
 * confirmed (connection.ts) or after a healthy period.
 */
import { ConfigError } from '../errors.js';

/** Backoff settings (all optional). */
export interface BackoffOptions {
  /** First delay, ms. Default 100. */
  minMs?: number;
  /** Largest delay, ms. Default 30000. */
  maxMs?: number;
  /** Growth factor per failed attempt. Default 2. */
  factor?: number;
  /**
   * Fraction of the delay that is random: a delay is drawn from `[base * (1 - jitter), base]`
   * (never below `minMs`). Default 0.5.
   */
  jitter?: number;
  /**
   * A connection that stayed up this long resets the delay to `minMs`, ms, even if it was never
   * confirmed (a socket is confirmed, and resets the delay at once, when a PONG answers a PING sent
   * after its first data frame). Default 10000.
   */
  resetAfterMs?: number;
}

export const DEFAULT_BACKOFF = { minMs: 100, maxMs: 30_000, factor: 2, jitter: 0.5, resetAfterMs: 10_000 } as const;

/**
 * Exponential backoff with jitter. `next()` returns the delay before the next attempt and
 * counts the attempt; `reset()` starts over (when a socket is confirmed, or after a healthy period:
 * see {@link Backoff.connected}).
 */
export class Backoff {
  /** First delay, ms. */
  readonly minMs: number;
  /** Largest delay, ms. */
  readonly maxMs: number;
  /** Growth per failed attempt. */
  readonly factor: number;
  /** Random fraction taken off a delay (0..1). */
  readonly jitter: number;
  /** Time up after which a connection resets the backoff, ms. */
  readonly resetAfterMs: number;
  /** Failed attempts since the last reset. */
  attempt = 0;

  /**
   * @param random uniform [0, 1) source (tests inject their own).
   * @throws ConfigError on an out-of-range setting.
   */
  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.minMs = options.minMs ?? DEFAULT_BACKOFF.minMs;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.jitter = options.jitter ?? DEFAULT_BACKOFF.jitter;
    this.resetAfterMs = options.resetAfterMs ?? DEFAULT_BACKOFF.resetAfterMs;
    check('backoff.minMs', this.minMs, 0, 3_600_000);
    check('backoff.maxMs', this.maxMs, this.minMs, 3_600_000);
    check('backoff.factor', this.factor, 1, 100);
    check('backoff.jitter', this.jitter, 0, 1);
    check('backoff.resetAfterMs', this.resetAfterMs, 0, 86_400_000);
  }

  /** The un-jittered delay of the next attempt, ms. */
  base(): number {
    return Math.min(this.maxMs, this.minMs * this.factor ** this.attempt);
  }

  /** Delay before the next attempt (ms), and counts the attempt. */
  next(): number {
    const base = this.base();
    this.attempt++;
    const d = base * (1 - this.jitter * this.random());
    return Math.max(this.minMs, Math.round(d));
  }

  /** Starts over at `minMs`. */
  reset(): void {
    this.attempt = 0;
  }

  /**
   * Call when a connection ends: resets the backoff when it had been up for at least
   * `resetAfterMs` (a healthy period), so one drop after hours of service reconnects fast.
   */
  connected(upMs: number): void {
    if (upMs >= this.resetAfterMs) this.reset();
  }
}

function check(name: string, v: number, min: number, max: number): void {
  if (typeof v !== 'number' || !(v >= min && v <= max))
    throw new ConfigError(name, v, `a number from ${min} to ${max}`);
}
