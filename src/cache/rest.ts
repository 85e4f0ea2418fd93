/**
 * REST warmup, and only warmup: a one-time `POST /books` (docs/PROTOCOL.md 3.2) in chunks, paced by a
 * token bucket under the documented limit (500 requests per 10 s), that seeds books the WebSocket
 * has not delivered yet and records `min_order_size`/`neg_risk` for hash checks.
 *
 * The client is closed when warmup ends: every later call is refused (and counted), so no REST
 * request can come from the read path or after warmup. Books go through `store.restBook`, which
 * never overwrites a newer WebSocket book.
 */
import { preciseNow } from '../table/clock.js';
import { ConfigError } from '../errors.js';

/** Production CLOB REST base URL. */
export const DEFAULT_CLOB_URL = 'https://clob.polymarket.com';
/** Documented `/books` limit: 500 requests per 10 s (docs/PROTOCOL.md 3.3). */
export const BOOKS_RATE_LIMIT = { capacity: 500, windowMs: 10_000 } as const;
export const DEFAULT_REST_CHUNK = 100;

/** A token bucket: `capacity` tokens, refilled continuously at `capacity / windowMs`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    readonly capacity: number,
    readonly windowMs: number,
    private readonly now: () => number = preciseNow,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
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
  async take(): Promise<number> {
    let waited = 0;
    while (!this.tryTake()) {
      const ms = Math.max(1, Math.ceil((1 - this.tokens) / this.perMs));
      waited += ms;
      await this.sleep(ms);
    }
    return waited;
  }
}

/** The REST client was used after warmup ended. */
export class RestRefusedError extends Error {
  constructor() {
    super('polybook: REST is for warmup only; this client was closed when warmup ended');
    this.name = 'RestRefusedError';
  }
}

export interface RestOptions {
  /** CLOB REST base URL. Default `https://clob.polymarket.com`. */
  url?: string;
  /** Tokens per `POST /books` request. Default 100. */
  chunkSize?: number;
  /** Request budget. Default 500 per 10 s (the documented `/books` limit). */
  rateLimit?: { capacity: number; windowMs: number };
  /** Per-request timeout, ms. Default 5000. */
  timeoutMs?: number;
  /** Which tokens to fetch at warmup: all of the universe (default; also enables hash checks) or only those not ready yet. */
  tokens?: 'all' | 'notReady';
  /** Start fetching this long after warmup starts (ms), giving the WebSocket snapshot a head start. Default 0. */
  afterMs?: number;
  /** @internal tests */
  fetch?: typeof fetch;
  /** @internal tests: clock and sleep of the token bucket. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** What a store needs from the REST client. */
export interface RestSink {
  restBook(json: string, nowMs?: number): void;
  setMeta(tokenId: string, minOrderSize: string, negRisk: boolean): void;
}

export interface RestFetchResult {
  requested: number;
  /** Books received and handed to the store (applied unless the store held a newer one). */
  received: number;
  /** Tokens the server returned no book for (unknown or settled). */
  missing: string[];
  /** Requests that failed (network, HTTP status, bad JSON, timeout). */
  failedRequests: number;
  errors: string[];
}

export interface RestStats {
  /** HTTP requests sent. Never grows after warmup: the proof that reads do not use REST. */
  restCalls: number;
  /** Calls refused because warmup had ended. */
  restRefused: number;
  restBooks: number;
  restErrors: number;
  /** Time spent waiting on the rate limit, ms. */
  restThrottledMs: number;
}

/** One-time REST book fetcher for warmup. Create per warmup; {@link RestWarmupClient.close} when warmup ends. */
export class RestWarmupClient {
  readonly url: string;
  readonly chunkSize: number;
  private readonly bucket: TokenBucket;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly inflight = new Set<AbortController>();
  readonly stats: RestStats = { restCalls: 0, restRefused: 0, restBooks: 0, restErrors: 0, restThrottledMs: 0 };

  constructor(options: RestOptions = {}) {
    this.url = (options.url ?? DEFAULT_CLOB_URL).replace(/\/+$/, '');
    try {
      const u = new URL(this.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw new ConfigError('rest.url', options.url, 'an http:// or https:// URL');
    }
    const chunk = options.chunkSize ?? DEFAULT_REST_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1 || chunk > 500)
      throw new ConfigError('rest.chunkSize', chunk, 'an integer from 1 to 500');
    this.chunkSize = chunk;
    const rl = options.rateLimit ?? BOOKS_RATE_LIMIT;
    this.bucket = new TokenBucket(rl.capacity, rl.windowMs, options.now, options.sleep);
    this.fetchFn = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Whether calls are still allowed (warmup running). */
  get open(): boolean {
    return !this.closed;
  }

  /** Ends REST for the session: in-flight requests are aborted, later calls refused. Idempotent. */
  close(): void {
    this.closed = true;
    for (const c of this.inflight) c.abort();
    this.inflight.clear();
  }

  /**
   * Fetches the books of `tokenIds` with `POST /books` in chunks and hands each to `store`.
   * Resolves with what arrived; network and HTTP errors are counted, not thrown.
   * @throws RestRefusedError after {@link RestWarmupClient.close}.
   */
  async fetchBooks(store: RestSink, tokenIds: readonly string[]): Promise<RestFetchResult> {
    if (this.closed) {
      this.stats.restRefused++;
      throw new RestRefusedError();
    }
    const result: RestFetchResult = {
      requested: tokenIds.length,
      received: 0,
      missing: [],
      failedRequests: 0,
      errors: [],
    };
    const seen = new Set<string>();
    for (let i = 0; i < tokenIds.length && !this.closed; i += this.chunkSize) {
      const chunk = tokenIds.slice(i, i + this.chunkSize);
      this.stats.restThrottledMs += await this.bucket.take();
      if (this.closed) break;
      const books = await this.post(chunk, result);
      if (this.closed || books === null) continue;
      const t = preciseNow();
      for (const b of books) {
        if (b === null || typeof b !== 'object' || typeof (b as { asset_id?: unknown }).asset_id !== 'string') continue;
        const book = b as { asset_id: string; min_order_size?: unknown; neg_risk?: unknown };
        seen.add(book.asset_id);
        // Key order of the server's object is kept: the store hashes the exact texts.
        store.restBook(JSON.stringify(book), t);
        if (typeof book.min_order_size === 'string' && typeof book.neg_risk === 'boolean') {
          store.setMeta(book.asset_id, book.min_order_size, book.neg_risk);
        }
        result.received++;
        this.stats.restBooks++;
      }
    }
    for (const id of tokenIds) if (!seen.has(id)) result.missing.push(id);
    return result;
  }

  private async post(chunk: string[], result: RestFetchResult): Promise<unknown[] | null> {
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = setTimeout(() => ac.abort(), this.timeoutMs);
    this.stats.restCalls++;
    try {
      const res = await this.fetchFn(`${this.url}/books`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(chunk.map((token_id) => ({ token_id }))),
        signal: ac.signal,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`POST /books: HTTP ${res.status} ${text.slice(0, 200)}`);
      const body: unknown = JSON.parse(text);
      if (!Array.isArray(body)) throw new Error('POST /books: response is not an array');
      return body;
    } catch (e) {
      if (this.closed) return null;
      result.failedRequests++;
      result.errors.push(e instanceof Error ? e.message : String(e));
      this.stats.restErrors++;
      return null;
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
    }
  }
}
