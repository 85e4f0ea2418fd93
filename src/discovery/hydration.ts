/**
 * The new-market hydration window (docs/PROTOCOL.md 3.4): for several minutes after a market is minted,
 * Gamma lists it as active while the CLOB has no book for it yet. One `POST /books` per 500
 * tokens tells which markets have their books; the others are reported as pending, to be checked
 * again later. The books also give the exchange's own texts of the tick size and minimum order
 * size (the hash inputs), which replace the ones formatted from Gamma's numbers.
 */
import { booksByToken, type RawBook } from '../rest/books.js';
import type { HttpClient } from '../rest/http.js';
import type { DiscoveredMarket } from './normalize.js';

/** What {@link checkBooks} found: the markets split by whether the CLOB has their books. */
export interface BookCheck {
  /** Markets whose every outcome has a book, with the book's tick size, minimum size and neg-risk texts. */
  ready: DiscoveredMarket[];
  /** Markets the CLOB has no book for yet. */
  pending: DiscoveredMarket[];
  /** The error when the check itself failed (then every market is in `ready`, unverified); null when it succeeded. */
  error: unknown;
}

/** A market with the exchange's texts from one of its books. */
function withBookMeta(m: DiscoveredMarket, b: RawBook): DiscoveredMarket {
  const tick = typeof b.tick_size === 'string' && Number(b.tick_size) > 0 ? b.tick_size : null;
  const min = typeof b.min_order_size === 'string' && Number(b.min_order_size) >= 0 ? b.min_order_size : null;
  return {
    ...m,
    ...(tick !== null ? { tickSize: Number(tick), tickSizeText: tick } : {}),
    ...(min !== null ? { minOrderSize: Number(min), minOrderSizeText: min } : {}),
    ...(typeof b.neg_risk === 'boolean' ? { negRisk: b.neg_risk } : {}),
  };
}

/** Splits `markets` by whether the CLOB has their books. Never throws (but rethrows an abort). */
export async function checkBooks(
  client: HttpClient,
  clobUrl: string,
  markets: readonly DiscoveredMarket[],
  o: { purpose: string; signal?: AbortSignal },
): Promise<BookCheck> {
  const ids = markets.flatMap((m) => m.outcomes.map((x) => x.tokenId));
  let books: Map<string, RawBook>;
  try {
    books = await booksByToken(client, clobUrl, ids, o);
  } catch (e) {
    if (o.signal?.aborted) throw e;
    return { ready: [...markets], pending: [], error: e };
  }
  const ready: DiscoveredMarket[] = [];
  const pending: DiscoveredMarket[] = [];
  for (const m of markets) {
    const first = books.get(m.outcomes[0]?.tokenId ?? '');
    if (first && m.outcomes.every((x) => books.has(x.tokenId))) ready.push(withBookMeta(m, first));
    else pending.push(m);
  }
  return { ready, pending, error: null };
}
