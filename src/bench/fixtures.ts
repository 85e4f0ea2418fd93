/**
 * Real Polymarket frames for the benchmarks (fixtures/polymarket, captured 2026-10-04), and the
 * naive `Map` + `JSON.parse` baseline a user would write without polybook.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIX = fileURLToPath(new URL('../../fixtures/polymarket/', import.meta.url));
const fx = (n: string) => readFileSync(FIX + n, 'utf8');

export const AFTER = JSON.parse(fx('book_after_trade_2026-10-04.json'));
/** The opening snapshot: 47 bids + 139 asks = 186 real levels. */
export const OPENING = JSON.parse(fx('book_opening_snapshot_2026-10-04.json'));
export const TRADE = fx('price_change_2026-10-04_trade.json');
export const YES = AFTER.asset_id as string;
export const NO = JSON.parse(TRADE).price_changes[1].asset_id as string;

/** A real 100-level book: the 50 best levels of each side of the after-trade capture, wire order. */
export const BOOK100 = JSON.stringify({ ...AFTER, bids: AFTER.bids.slice(-50), asks: AFTER.asks.slice(-50) });
/**
 * The same frame with the size of the best bid changed (13354.28 -> 13354.27). Ingest benchmarks
 * alternate the two, so every ingest really changes the book and publishes the slot: repeating
 * one identical frame would measure a writer that finds nothing to publish.
 */
export const BOOK100_B = BOOK100.replace('{"price":"0.889","size":"13354.28"}', '{"price":"0.889","size":"13354.27"}');
if (BOOK100_B === BOOK100) throw new Error('bench fixture: best bid of the after-trade book moved');
/** The real two-entry price_change, and the same with both sizes changed (alternated like the books). */
export const TRADE_B = TRADE.replaceAll('"size":"13354.28"', '"size":"13354.27"');
if (TRADE_B === TRADE) throw new Error('bench fixture: price_change sizes moved');

/** The mirror token's book, consistent with the server's best bid/ask in the price_change. */
export const NO_BOOK = JSON.stringify({
  event_type: 'book',
  market: AFTER.market,
  asset_id: NO,
  timestamp: AFTER.timestamp,
  hash: '',
  bids: [
    { price: '0.1', size: '100' },
    { price: '0.106', size: '50' },
  ],
  asks: [
    { price: '0.2', size: '100' },
    { price: '0.111', size: '13354.28' },
  ],
});

export interface NaiveLevel {
  price: number;
  size: number;
}
export interface NaiveBook {
  bids: NaiveLevel[];
  asks: NaiveLevel[];
  at: number;
}

/** Naive baseline: a Map of plain objects fed by JSON.parse, as a user would write it. */
export class NaiveCache {
  books = new Map<string, NaiveBook>();
  ingest(buf: Buffer | string): void {
    const msg = JSON.parse(typeof buf === 'string' ? buf : buf.toString());
    for (const ev of Array.isArray(msg) ? msg : [msg]) {
      if (ev.event_type === 'book') {
        const bids = ev.bids
          .map((l: { price: string; size: string }) => ({ price: Number(l.price), size: Number(l.size) }))
          .reverse();
        const asks = ev.asks
          .map((l: { price: string; size: string }) => ({ price: Number(l.price), size: Number(l.size) }))
          .reverse();
        this.books.set(ev.asset_id, { bids, asks, at: Date.now() });
      } else if (ev.event_type === 'price_change') {
        for (const c of ev.price_changes) {
          const b = this.books.get(c.asset_id);
          if (!b) continue;
          const side = c.side === 'BUY' ? b.bids : b.asks;
          const p = Number(c.price);
          const i = side.findIndex((l) => l.price === p);
          const size = Number(c.size);
          if (i >= 0) {
            if (size === 0) side.splice(i, 1);
            else side[i] = { price: p, size };
          } else if (size > 0) {
            side.push({ price: p, size });
            side.sort((x, y) => (c.side === 'BUY' ? y.price - x.price : x.price - y.price));
          }
          b.at = Date.now();
        }
      }
    }
  }
  get(id: string, maxStale: number): NaiveBook | null {
    const b = this.books.get(id);
    return b && Date.now() - b.at <= maxStale ? b : null;
  }
}
