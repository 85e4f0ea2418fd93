/**
 * Request budgets: the documented REST rate limits (docs/PROTOCOL.md 3.3, all per 10 s) as token
 * buckets per host, so polybook stays under Cloudflare's throttling instead of discovering it
 * through 429s. A request takes one token from every bucket that applies to it: the host's global
 * budget, its API's general budget, and the endpoint's (or endpoint group's) where one is documented.
 */
import { ConfigError } from '../errors.js';
import { preciseNow } from '../table/clock.js';

/** A sleep that an AbortSignal ends early (rejecting with the signal's reason); its timer never outlives the abort. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const abortableSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** A token bucket: `capacity` tokens, refilled continuously at `capacity / windowMs`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    readonly capacity: number,
    readonly windowMs: number,
    private readonly now: () => number = preciseNow,
    private readonly sleep: Sleep = abortableSleep,
  ) {
    if (!(capacity >= 1) || !(windowMs > 0))
      throw new ConfigError('rateLimit', { capacity, windowMs }, 'capacity >= 1 and windowMs > 0');
    this.tokens = capacity;
    this.last = now();
    this.perMs = capacity / windowMs;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.perMs);
    this.last = t;
  }

  /** Takes one token if available now. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Waits until a token is available and takes it. Returns the time waited (ms). */
  async take(signal?: AbortSignal): Promise<number> {
    let waited = 0;
    while (!this.tryTake()) {
      const ms = Math.max(1, Math.ceil((1 - this.tokens) / this.perMs));
      waited += ms;
      await this.sleep(ms, signal);
    }
    return waited;
  }
}

/** Which REST API a request goes to: its documented limits apply. */
export type RestApi = 'gamma' | 'clob';

/** One documented limit: requests per window on the paths it matches. */
export interface EndpointLimit {
  /** Name in errors and stats, e.g. `/books`. */
  name: string;
  /** Paths counted: exact matches, and `prefix/...` for an entry ending in `/`. */
  paths: readonly string[];
  /** Requests allowed per window (`RateLimits.windowMs`) on those paths together. */
  limit: number;
}

/** Documented limits: per window, global per host, then per API (general and per endpoint). */
export interface RateLimits {
  /** The window every limit counts over, ms (10000 for Polymarket's). */
  windowMs: number;
  /** Every API of one host together. */
  global: number;
  /** The limits of each API on its host. */
  apis: Record<
    RestApi,
    {
      /** Requests per window to any path of the API. */
      general: number;
      /** Stricter limits of single endpoints or groups of them; a request takes a token from each that matches its path. */
      endpoints: readonly EndpointLimit[];
    }
  >;
}

/** Polymarket's documented limits (docs.polymarket.com/api-reference/rate-limits; docs/PROTOCOL.md 3.3), per 10 s. */
export const RATE_LIMITS: RateLimits = {
  windowMs: 10_000,
  global: 15_000,
  apis: {
    gamma: {
      general: 4000,
      endpoints: [
        { name: '/markets', paths: ['/markets', '/markets/'], limit: 300 },
        { name: '/events', paths: ['/events', '/events/'], limit: 500 },
        { name: '/markets + /events', paths: ['/markets', '/markets/', '/events', '/events/'], limit: 900 },
        { name: '/public-search', paths: ['/public-search'], limit: 350 },
        { name: '/tags', paths: ['/tags', '/tags/'], limit: 200 },
      ],
    },
    clob: {
      general: 9000,
      endpoints: [
        { name: '/book', paths: ['/book'], limit: 1500 },
        { name: '/books', paths: ['/books'], limit: 500 },
        { name: '/price', paths: ['/price'], limit: 1500 },
        { name: '/prices', paths: ['/prices'], limit: 500 },
        { name: '/midpoint', paths: ['/midpoint'], limit: 1500 },
        { name: '/midpoints', paths: ['/midpoints'], limit: 500 },
        { name: '/prices-history', paths: ['/prices-history'], limit: 1000 },
        { name: '/tick-size', paths: ['/tick-size'], limit: 200 },
      ],
    },
  },
};

function matches(limit: EndpointLimit, path: string): boolean {
  for (const p of limit.paths) {
    if (p.endsWith('/') ? path.startsWith(p) : path === p) return true;
  }
  return false;
}

/**
 * The buckets of every host seen, created on first use. A 429's `Retry-After` pauses the host's
 * API for everyone (`pause`), so concurrent requests do not keep hitting the limit.
 */
export class RateBudget {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly pausedUntil = new Map<string, number>();

  constructor(
    readonly limits: RateLimits = RATE_LIMITS,
    private readonly now: () => number = preciseNow,
    private readonly sleep: Sleep = abortableSleep,
  ) {}

  private bucket(key: string, limit: number): TokenBucket {
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = new TokenBucket(limit, this.limits.windowMs, this.now, this.sleep);
      this.buckets.set(key, b);
    }
    return b;
  }

  /** Waits for a token from every bucket that applies to `url` on `api`. Returns the time waited (ms). */
  async take(url: URL, api: RestApi, signal?: AbortSignal): Promise<number> {
    const host = url.host;
    const spec = this.limits.apis[api];
    let waited = 0;
    const pauseKey = `${host} ${api}`;
    const until = this.pausedUntil.get(pauseKey);
    if (until !== undefined) {
      const ms = until - this.now();
      if (ms > 0) {
        await this.sleep(ms, signal);
        waited += ms;
      } else this.pausedUntil.delete(pauseKey);
    }
    waited += await this.bucket(host, this.limits.global).take(signal);
    waited += await this.bucket(pauseKey, spec.general).take(signal);
    for (const e of spec.endpoints) {
      if (matches(e, url.pathname)) waited += await this.bucket(`${pauseKey} ${e.name}`, e.limit).take(signal);
    }
    return waited;
  }

  /** No request to `api` on `url`'s host starts before `ms` from now (a server-sent Retry-After). */
  pause(url: URL, api: RestApi, ms: number): void {
    const key = `${url.host} ${api}`;
    const until = this.now() + ms;
    if ((this.pausedUntil.get(key) ?? 0) < until) this.pausedUntil.set(key, until);
  }
}
