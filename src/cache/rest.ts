/**
 * REST warmup, and only warmup: a one-time `POST /books` (docs/PROTOCOL.md 3.2) in chunks, through the
 * REST layer's HTTP client (src/rest: the documented budgets, retries on 429 and 5xx), that seeds
 * books the WebSocket has not delivered yet and records `min_order_size`/`neg_risk` for hash checks.
 *
 * The client is closed when warmup ends: every later call is refused (and counted), so no REST
 * request can come from the read path or after warmup. Books go through `store.restBook`, which
 * never overwrites a newer WebSocket book.
 */
import { preciseNow } from '../table/clock.js';
import { ConfigError, PolybookError } from '../errors.js';
import { postBooks, type RawBook } from '../rest/books.js';
import { TokenBucket, type Sleep } from '../rest/budget.js';
import { HttpClient, type HttpOptions } from '../rest/http.js';
import { checkHttpUrl } from '../config.js';
import { DEFAULT_CLOB_URL } from '../rest/urls.js';

export const DEFAULT_REST_CHUNK = 100;
/** Counter key of warmup requests in the HTTP client. */
export const WARMUP_PURPOSE = 'warmup';

/** The REST client was used after warmup ended. */
export class RestRefusedError extends PolybookError {
  constructor() {
    super(
      'POLYBOOK_REST_REFUSED',
      'polybook: REST is for warmup only; this client was closed when warmup ended (read books from the cache instead)',
    );
  }
}

/** Options of the one-time REST `POST /books` during warmup (`BookCache.start({ rest })`). */
export interface RestOptions {
  /** CLOB REST base URL. Default: the cache's CLOB URL (`clobUrl`), else `https://clob.polymarket.com`. */
  url?: string;
  /** Tokens per `POST /books` request, 1 to 500. Default 100. */
  chunkSize?: number;
  /**
   * An extra budget for warmup's requests, stricter than the documented `/books` limit (500 per
   * 10 s) the HTTP client always keeps. Default none.
   */
  rateLimit?: {
    /** Requests per window. */
    capacity: number;
    /** The window, ms. */
    windowMs: number;
  };
  /** Per-request timeout, ms. Default 5000. */
  timeoutMs?: number;
  /** Retries, backoff and budgets of the HTTP client, when this client makes its own (not given one by the cache). */
  http?: HttpOptions;
  /** Which tokens to fetch at warmup: all of the universe (default; also enables hash checks) or only those not ready yet. */
  tokens?: 'all' | 'notReady';
  /** Start fetching this long after warmup starts (ms), giving the WebSocket snapshot a head start. Default 0. */
  afterMs?: number;
  /** @internal tests */
  fetch?: typeof fetch;
  /** @internal tests: clock and sleep of the budgets. */
  now?: () => number;
  /** @internal tests: the sleep of the budgets and retries. */
  sleep?: Sleep;
}

/** What a store needs from the REST client. */
export interface RestSink {
  restBook(json: string, nowMs?: number): void;
  setMeta(tokenId: string, minOrderSize: string, negRisk: boolean): void;
}

/** What one REST fetch of books returned. */
export interface RestFetchResult {
  /** Tokens asked for. */
  requested: number;
  /** Books received and handed to the store (applied unless the store held a newer one). */
  received: number;
  /** Tokens the server returned no book for (unknown or settled). */
  missing: string[];
  /** Requests that failed for good, after the HTTP client's retries (network, HTTP status, bad JSON, timeout). */
  failedRequests: number;
  /** The error of each failed request. */
  errors: string[];
}

/** REST counters of the cache (part of `metrics().cache`). */
export interface RestStats {
  /** HTTP requests sent (retries included). Never grows after warmup: the proof that reads do not use REST. */
  restCalls: number;
  /** Calls refused because warmup had ended. */
  restRefused: number;
  /** Books received from REST. */
  restBooks: number;
  /** Requests that failed for good. */
  restErrors: number;
  /** Time spent waiting on budgets, `Retry-After` and backoff, ms. */
  restThrottledMs: number;
}

/**
 * One-time REST book fetcher for warmup. Create per warmup (with the cache's HTTP client, or its
 * own); {@link RestWarmupClient.close} when warmup ends.
 */
export class RestWarmupClient {
  readonly url: string;
  readonly chunkSize: number;
  private readonly client: HttpClient;
  private readonly bucket: TokenBucket | null;
  private readonly timeoutMs: number;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly own = { restRefused: 0, restBooks: 0, restErrors: 0, bucketMs: 0 };

  constructor(options: RestOptions = {}, client?: HttpClient) {
    this.url = checkHttpUrl('rest.url', options.url ?? DEFAULT_CLOB_URL);
    const chunk = options.chunkSize ?? DEFAULT_REST_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1 || chunk > 500)
      throw new ConfigError('rest.chunkSize', chunk, 'an integer from 1 to 500');
    this.chunkSize = chunk;
    const rl = options.rateLimit;
    this.bucket = rl ? new TokenBucket(rl.capacity, rl.windowMs, options.now, options.sleep) : null;
    this.client =
      client ??
      new HttpClient({
        ...options.http,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(options.now ? { now: options.now } : {}),
        ...(options.sleep ? { sleep: options.sleep } : {}),
      });
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Counters; `restCalls` and the HTTP part of `restThrottledMs` come from the HTTP client's `warmup` purpose. */
  get stats(): RestStats {
    const p = this.client.purpose(WARMUP_PURPOSE);
    return {
      restCalls: p.requests,
      restRefused: this.own.restRefused,
      restBooks: this.own.restBooks,
      restErrors: this.own.restErrors,
      restThrottledMs: this.own.bucketMs + p.throttledMs,
    };
  }

  /** Whether calls are still allowed (warmup running). */
  get open(): boolean {
    return !this.closed;
  }

  /** Ends REST for the session: in-flight requests (and their retries) are aborted, later calls refused. Idempotent. */
  close(): void {
    this.closed = true;
    this.abort.abort(new RestRefusedError());
  }

  /**
   * Fetches the books of `tokenIds` with `POST /books` in chunks and hands each to `store`.
   * Resolves with what arrived; network and HTTP errors are counted, not thrown.
   * @throws RestRefusedError after {@link RestWarmupClient.close}.
   */
  async fetchBooks(store: RestSink, tokenIds: readonly string[]): Promise<RestFetchResult> {
    if (this.closed) {
      this.own.restRefused++;
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
    const signal = this.abort.signal;
    for (let i = 0; i < tokenIds.length && !this.closed; i += this.chunkSize) {
      const chunk = tokenIds.slice(i, i + this.chunkSize);
      let books: RawBook[];
      try {
        if (this.bucket) this.own.bucketMs += await this.bucket.take(signal);
        books = await postBooks(this.client, this.url, chunk, {
          purpose: WARMUP_PURPOSE,
          signal,
          timeoutMs: this.timeoutMs,
        });
      } catch (e) {
        if (this.closed) break;
        result.failedRequests++;
        result.errors.push(e instanceof Error ? e.message : String(e));
        this.own.restErrors++;
        continue;
      }
      if (this.closed) break;
      const t = preciseNow();
      for (const book of books) {
        seen.add(book.asset_id);
        // Key order of the server's object is kept: the store hashes the exact texts.
        store.restBook(JSON.stringify(book), t);
        if (typeof book.min_order_size === 'string' && typeof book.neg_risk === 'boolean') {
          store.setMeta(book.asset_id, book.min_order_size, book.neg_risk);
        }
        result.received++;
        this.own.restBooks++;
      }
    }
    for (const id of tokenIds) if (!seen.has(id)) result.missing.push(id);
    return result;
  }
}
