/**
 * The one HTTP client of polybook's REST calls (discovery, warmup, audits): JSON over `fetch`,
 * an explicit User-Agent, a timeout per attempt, the documented request budgets (budget.ts),
 * retries with backoff on 429, 5xx, timeouts and dropped connections (honouring `Retry-After`,
 * in seconds or as an HTTP date, and the body's `retry_after_seconds`), typed errors
 * ({@link NetworkError} when no answer came, {@link HttpError} for an error status) and counters
 * per purpose.
 */
import { createRequire } from 'node:module';
import { ConfigError, HttpError, NetworkError, type NetworkFailure } from '../errors.js';
import { preciseNow } from '../table/clock.js';
import { abortableSleep, RATE_LIMITS, RateBudget, type RateLimits, type RestApi, type Sleep } from './budget.js';

/** polybook's version, from its package.json (dist/rest and src/rest both sit two levels below it). */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** The User-Agent every request carries (Cloudflare refuses some default agents: FIELDS.md). */
export const USER_AGENT = `polybook/${VERSION}`;

/** Options of an {@link HttpClient}: identity, timeouts, retries and request budgets. */
export interface HttpOptions {
  /** User-Agent header. Default `polybook/<version>`. */
  userAgent?: string;
  /** Timeout of one attempt (connect, answer and body), ms. Default 10000. */
  timeoutMs?: number;
  /** Further attempts after a 429, a 5xx, a timeout or a dropped connection. Default 4. */
  retries?: number;
  /** Backoff between attempts without `Retry-After`: `initialMs * 2^n` with jitter, at most `maxMs`. Default 500 and 30000. */
  backoff?: {
    /** Backoff before the first retry, ms (0 to 600000). Default 500. */
    initialMs?: number;
    /** Longest backoff, ms (at least `initialMs`, at most 3600000). Default 30000. */
    maxMs?: number;
  };
  /** A `Retry-After` longer than this is not waited for: the request fails at once. Default 60000 ms. */
  maxRetryAfterMs?: number;
  /** Request budgets per host; `false` for none. Default the documented limits ({@link RATE_LIMITS}). */
  limits?: RateLimits | false;
  /** @internal tests */
  fetch?: typeof fetch;
  /** @internal tests: the budgets' clock and every wait. */
  now?: () => number;
  /** @internal tests: every wait (budgets, `Retry-After`, backoff). */
  sleep?: Sleep;
  /** @internal tests: the backoff's jitter, a number in [0, 1). */
  random?: () => number;
}

/** Options of one {@link HttpClient.request} (and {@link HttpClient.json}). */
export interface RequestOptions {
  /** What the request is for (`discovery`, `warmup`, ...): the counters are kept per purpose. */
  purpose: string;
  /** Which API's documented limits apply. */
  api: RestApi;
  /** HTTP method. Default GET, or POST when `json` is given. */
  method?: 'GET' | 'POST';
  /** Request body, sent as JSON (the method defaults to POST then). */
  json?: unknown;
  /** Overrides the client's timeout for this request, ms. */
  timeoutMs?: number;
  /** Aborts the request, its retries and its waits; the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Statuses that are answers rather than errors (e.g. 404 for "no such market"). */
  accept?: readonly number[];
  /** Further attempts for this request (0 to 20); default the client's `retries`. */
  retries?: number;
}

/** An answer {@link HttpClient.request} resolves with: a 2xx, or a status the request `accept`s. */
export interface HttpResponse {
  /** The HTTP status code. */
  status: number;
  /** The response headers. */
  headers: Headers;
  /** The whole response body, decoded as text. */
  text: string;
}

/** Counters of one purpose. */
export interface PurposeStats {
  /** HTTP requests sent (every attempt). */
  requests: number;
  /** Attempts repeated after a 429, a 5xx, a timeout or a dropped connection. */
  retries: number;
  /** Requests that failed for good (the error was thrown). */
  errors: number;
  /** 429 answers received. */
  rateLimited: number;
  /** Time spent waiting on budgets and `Retry-After`, ms. */
  throttledMs: number;
}

/** Counters by purpose. */
export type HttpStats = Record<string, PurposeStats>;

/** The purposes polybook sends requests for (the `purpose` label of the REST metrics). */
export const HTTP_PURPOSES = ['discovery', 'warmup', 'audit'] as const;

const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EADDRNOTAVAIL']);
const TIMEOUTS = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The kind of a `fetch` failure, from the error codes in its cause chain. */
export function networkFailure(e: unknown): NetworkFailure {
  for (let x: unknown = e, depth = 0; x && typeof x === 'object' && depth < 5; depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (DNS.has(code)) return 'dns';
      if (code === 'ECONNREFUSED') return 'refused';
      if (UNREACHABLE.has(code)) return 'unreachable';
      if (TIMEOUTS.has(code)) return 'timeout';
    }
    x = (x as { cause?: unknown }).cause;
  }
  return 'reset';
}

/**
 * The wait a server asks for, ms: the `Retry-After` header (seconds or an HTTP date), else the
 * JSON body's `retry_after_seconds`; null when neither says.
 */
export function retryAfterMs(header: string | null, body: string, wallNow: number = Date.now()): number | null {
  if (header !== null && header.trim() !== '') {
    const h = header.trim();
    if (/^\d+(\.\d+)?$/.test(h)) return Math.round(Number(h) * 1000);
    const at = Date.parse(h);
    if (Number.isFinite(at)) return Math.max(0, at - wallNow);
  }
  if (body.includes('retry_after_seconds')) {
    try {
      const v = (JSON.parse(body) as { retry_after_seconds?: unknown }).retry_after_seconds;
      const n = typeof v === 'string' ? Number(v) : v;
      if (typeof n === 'number' && Number.isFinite(n) && n >= 0) return Math.round(n * 1000);
    } catch {
      // not JSON: no hint
    }
  }
  return null;
}

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(name, v, `an integer from ${min} to ${max}`);
  return v;
}

/** A request label for errors: method, origin and path, and the query cut short. */
function label(method: string, url: URL): string {
  const q = url.search.length > 120 ? `${url.search.slice(0, 117)}...` : url.search;
  return `${method} ${url.origin}${url.pathname}${q}`;
}

/** One HTTP client: share it between the callers that talk to the same hosts, so they share the budgets. */
export class HttpClient {
  /** The User-Agent header every request carries. */
  readonly userAgent: string;
  /** Timeout of one attempt (connect, answer and body), ms, unless a request sets its own. */
  readonly timeoutMs: number;
  /** Further attempts after a 429, a 5xx, a timeout or a dropped connection (one only for DNS, refused and unroutable). */
  readonly retries: number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly budget: RateBudget | null;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly byPurpose = new Map<string, PurposeStats>();

  constructor(options: HttpOptions = {}) {
    this.userAgent = options.userAgent ?? USER_AGENT;
    if (typeof this.userAgent !== 'string' || this.userAgent.trim() === '')
      throw new ConfigError('http.userAgent', options.userAgent, 'a non-empty string');
    this.timeoutMs = checkInt('http.timeoutMs', options.timeoutMs ?? 10_000, 1, 600_000);
    this.retries = checkInt('http.retries', options.retries ?? 4, 0, 20);
    this.initialMs = checkInt('http.backoff.initialMs', options.backoff?.initialMs ?? 500, 0, 600_000);
    this.maxMs = checkInt('http.backoff.maxMs', options.backoff?.maxMs ?? 30_000, this.initialMs, 3_600_000);
    this.maxRetryAfterMs = checkInt('http.maxRetryAfterMs', options.maxRetryAfterMs ?? 60_000, 0, 3_600_000);
    this.sleep = options.sleep ?? abortableSleep;
    this.budget =
      options.limits === false
        ? null
        : new RateBudget(options.limits ?? RATE_LIMITS, options.now ?? preciseNow, this.sleep);
    this.fetchFn = options.fetch ?? fetch;
    this.random = options.random ?? Math.random;
  }

  /** The counters of one purpose (live: they keep counting). */
  purpose(name: string): PurposeStats {
    let s = this.byPurpose.get(name);
    if (s === undefined) {
      s = { requests: 0, retries: 0, errors: 0, rateLimited: 0, throttledMs: 0 };
      this.byPurpose.set(name, s);
    }
    return s;
  }

  /** A copy of the counters of every purpose seen. */
  stats(): HttpStats {
    const out: HttpStats = {};
    for (const [k, v] of this.byPurpose) out[k] = { ...v };
    return out;
  }

  /** Backoff before attempt `n + 1` (n >= 1): exponential, half of it jittered. */
  private backoffMs(n: number): number {
    const d = Math.min(this.maxMs, this.initialMs * 2 ** (n - 1));
    return Math.round(d / 2 + (d / 2) * this.random());
  }

  /**
   * Sends a request; retries 429, 5xx, timeouts and dropped connections (DNS failures, refused and
   * unroutable connections once only). Resolves with a 2xx answer or an `accept`ed status.
   * @throws NetworkError when no answer came; HttpError for an error status; the signal's reason when aborted.
   */
  async request(input: string | URL, o: RequestOptions): Promise<HttpResponse> {
    const url = typeof input === 'string' ? new URL(input) : input;
    const method = o.method ?? (o.json === undefined ? 'GET' : 'POST');
    const what = label(method, url);
    const st = this.purpose(o.purpose);
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (o.json !== undefined) headers['content-type'] = 'application/json';
    const body = o.json === undefined ? undefined : JSON.stringify(o.json);
    const retries = o.retries === undefined ? this.retries : checkInt('retries', o.retries, 0, 20);
    for (let attempt = 1; ; attempt++) {
      if (this.budget) st.throttledMs += await this.budget.take(url, o.api, o.signal);
      o.signal?.throwIfAborted();
      st.requests++;
      const ac = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, timeoutMs);
      const onAbort = () => ac.abort(o.signal?.reason);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(url, { method, headers, body, signal: ac.signal });
        text = await res.text();
      } catch (e) {
        if (o.signal?.aborted) throw o.signal.reason;
        const failure = timedOut ? 'timeout' : networkFailure(e);
        // A name that does not resolve or a port that refuses rarely changes within seconds: one retry.
        const max = failure === 'timeout' || failure === 'reset' ? retries : Math.min(retries, 1);
        if (attempt <= max) {
          st.retries++;
          await this.wait(this.backoffMs(attempt), o.signal, st);
          continue;
        }
        st.errors++;
        throw new NetworkError(what, failure, attempt, e);
      } finally {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      }
      if (res.ok || o.accept?.includes(res.status)) return { status: res.status, headers: res.headers, text };
      if (res.status === 429) st.rateLimited++;
      if (res.status === 429 || res.status >= 500) {
        const asked = retryAfterMs(res.headers.get('retry-after'), text);
        if (attempt <= retries && (asked === null || asked <= this.maxRetryAfterMs)) {
          st.retries++;
          const delay = asked ?? this.backoffMs(attempt);
          // A 429 slows every request to this API on this host, not just this one.
          if (res.status === 429 && this.budget) this.budget.pause(url, o.api, delay);
          else await this.wait(delay, o.signal, st);
          continue;
        }
        st.errors++;
        const why = asked !== null && asked > this.maxRetryAfterMs ? ` (retry after ${Math.ceil(asked / 1000)} s)` : '';
        throw new HttpError(what, res.status, text.trim(), attempt, `HTTP ${res.status}${why}`);
      }
      st.errors++;
      throw new HttpError(what, res.status, text.trim(), attempt);
    }
  }

  /**
   * {@link HttpClient.request} and the body parsed as JSON.
   * @throws HttpError also when a 2xx body is not JSON.
   */
  async json(
    input: string | URL,
    o: RequestOptions,
  ): Promise<{
    /** The HTTP status code (a 2xx, or a status the request `accept`s). */
    status: number;
    /** The body parsed as JSON, unchecked. */
    body: unknown;
  }> {
    const url = typeof input === 'string' ? new URL(input) : input;
    const r = await this.request(url, o);
    try {
      return { status: r.status, body: JSON.parse(r.text) as unknown };
    } catch {
      this.purpose(o.purpose).errors++;
      throw new HttpError(
        label(o.method ?? (o.json === undefined ? 'GET' : 'POST'), url),
        r.status,
        r.text.trim(),
        1,
        'the answer is not JSON:',
      );
    }
  }

  private async wait(ms: number, signal: AbortSignal | undefined, st: PurposeStats): Promise<void> {
    if (ms <= 0) return;
    st.throttledMs += ms;
    await this.sleep(ms, signal);
  }
}
