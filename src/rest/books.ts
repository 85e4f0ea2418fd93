/**
 * CLOB `POST /books` (docs/PROTOCOL.md 3.2): the books of up to 500 tokens per request. The server drops
 * unknown and settled tokens silently and does not keep the order, so answers are keyed by
 * `asset_id`. Used by warmup (seeding), discovery (is the new market's book there yet?) and audits.
 */
import { HttpError } from '../errors.js';
import type { HttpClient } from './http.js';

/** The server's limit per request (501 ids give 400 "Payload exceeds the limit"). */
export const MAX_BOOKS_PER_REQUEST = 500;

/** One `/book` summary as the server sent it (key order kept: the hash is computed over it). */
export type RawBook = Record<string, unknown> & {
  /** The token id the book is of. */
  asset_id: string;
};

/** Options of {@link postBooks} and {@link booksByToken}. */
export interface BooksRequestOptions {
  /** Counter key of the HTTP client, e.g. `warmup`. */
  purpose: string;
  /** Aborts the request (and its retries); the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overrides the client's timeout per attempt, ms. */
  timeoutMs?: number;
  /** Further attempts after a 429, a 5xx, a timeout or a dropped connection; default the client's. */
  retries?: number;
}

/**
 * One `POST /books` for at most {@link MAX_BOOKS_PER_REQUEST} tokens; entries without an
 * `asset_id` string are skipped.
 * @throws NetworkError, HttpError (also when the answer is not an array).
 */
export async function postBooks(
  client: HttpClient,
  clobUrl: string,
  tokenIds: readonly string[],
  o: BooksRequestOptions,
): Promise<RawBook[]> {
  if (tokenIds.length > MAX_BOOKS_PER_REQUEST)
    throw new RangeError(`POST /books takes at most ${MAX_BOOKS_PER_REQUEST} tokens, got ${tokenIds.length}`);
  if (tokenIds.length === 0) return [];
  const url = new URL(`${clobUrl}/books`);
  const { status, body } = await client.json(url, {
    purpose: o.purpose,
    api: 'clob',
    method: 'POST',
    json: tokenIds.map((token_id) => ({ token_id })),
    signal: o.signal,
    timeoutMs: o.timeoutMs,
    retries: o.retries,
  });
  if (!Array.isArray(body)) {
    client.purpose(o.purpose).errors++;
    throw new HttpError(
      `POST ${url.href}`,
      status,
      JSON.stringify(body).slice(0, 200),
      1,
      'the answer is not an array:',
    );
  }
  return body.filter(
    (b): b is RawBook =>
      b !== null && typeof b === 'object' && typeof (b as { asset_id?: unknown }).asset_id === 'string',
  );
}

/**
 * The books of any number of tokens, `chunkSize` per request (default 500), keyed by token id;
 * tokens without a book are absent.
 */
export async function booksByToken(
  client: HttpClient,
  clobUrl: string,
  tokenIds: readonly string[],
  o: BooksRequestOptions & { chunkSize?: number },
): Promise<Map<string, RawBook>> {
  const size = Math.min(o.chunkSize ?? MAX_BOOKS_PER_REQUEST, MAX_BOOKS_PER_REQUEST);
  const out = new Map<string, RawBook>();
  for (let i = 0; i < tokenIds.length; i += size) {
    for (const b of await postBooks(client, clobUrl, tokenIds.slice(i, i + size), o)) out.set(b.asset_id, b);
  }
  return out;
}
