/** Checks on what a reader is served, for tests and the soak run against the simulator. */

interface LevelLike {
  price: number;
  size: number;
}

/** The parts of a served book the checks look at (a `Book`). */
export interface BookLike {
  bids: readonly LevelLike[];
  asks: readonly LevelLike[];
  bestBid?: number | null;
  bestAsk?: number | null;
}

/**
 * Structural problems of a served book, or `null`: levels with a price in (0, 1) and a positive
 * size, bids strictly descending and asks strictly ascending (best first), never crossed or locked,
 * and `bestBid`/`bestAsk` (when present) equal to the first levels.
 */
export function bookProblem(b: BookLike): string | null {
  for (let i = 0; i < b.bids.length; i++) {
    if (!(b.bids[i].size > 0) || !(b.bids[i].price > 0 && b.bids[i].price < 1)) return 'bad bid level';
    if (i > 0 && !(b.bids[i].price < b.bids[i - 1].price)) return 'bids out of order';
  }
  for (let i = 0; i < b.asks.length; i++) {
    if (!(b.asks[i].size > 0) || !(b.asks[i].price > 0 && b.asks[i].price < 1)) return 'bad ask level';
    if (i > 0 && !(b.asks[i].price > b.asks[i - 1].price)) return 'asks out of order';
  }
  if (b.bids.length > 0 && b.asks.length > 0 && !(b.bids[0].price < b.asks[0].price)) return 'crossed';
  if ('bestBid' in b && (b.bestBid ?? null) !== (b.bids[0]?.price ?? null))
    return 'bestBid/bestAsk disagree with the levels';
  if ('bestAsk' in b && (b.bestAsk ?? null) !== (b.asks[0]?.price ?? null))
    return 'bestBid/bestAsk disagree with the levels';
  return null;
}
