/** The REST layer: one HTTP client with budgets, retries and typed errors; base URLs; `POST /books`. */
export {
  HttpClient,
  USER_AGENT,
  VERSION,
  networkFailure,
  retryAfterMs,
  type HttpOptions,
  type HttpResponse,
  type HttpStats,
  type PurposeStats,
  type RequestOptions,
} from './http.js';
export {
  RATE_LIMITS,
  RateBudget,
  TokenBucket,
  abortableSleep,
  type EndpointLimit,
  type RateLimits,
  type RestApi,
  type Sleep,
} from './budget.js';
export { DEFAULT_CLOB_URL, DEFAULT_GAMMA_URL, restUrlsFor } from './urls.js';
export { MAX_BOOKS_PER_REQUEST, booksByToken, postBooks, type BooksRequestOptions, type RawBook } from './books.js';
