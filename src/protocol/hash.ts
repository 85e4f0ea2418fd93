import { createHash } from 'node:crypto';

/** The inputs of Polymarket's book hash (docs/PROTOCOL.md section 2.9), all texts exactly as sent. */
export interface HashInput {
  market: string;
  assetId: string;
  timestamp: string;
  /** Wire order: ascending price. */
  bids: readonly (readonly [string, string])[];
  /** Wire order: descending price. */
  asks: readonly (readonly [string, string])[];
  minOrderSize: string;
  tickSize: string;
  negRisk: boolean;
  lastTradePrice: string;
}

/** Same as {@link HashInput}, with each side already serialised as the inside of its JSON array. */
export type RawHashInput = Omit<HashInput, 'bids' | 'asks'> & { bidsJson: string; asksJson: string };

/** The JSON text of levels as the hash recipe writes them (the inside of the array). */
export function levelsJson(levels: HashInput['bids']): string {
  return levels.map(([p, s]) => `{"price":${JSON.stringify(p)},"size":${JSON.stringify(s)}}`).join(',');
}

/** SHA-1 of the canonical compact JSON, as the server computes it: 40 lowercase hex characters. */
export function bookHash(h: HashInput): string {
  return bookHashRaw({ ...h, bidsJson: levelsJson(h.bids), asksJson: levelsJson(h.asks) });
}

/** {@link bookHash} for callers that keep the level JSON ready (the simulator, per change). */
export function bookHashRaw(h: RawHashInput): string {
  const text =
    `{"market":${JSON.stringify(h.market)},"asset_id":${JSON.stringify(h.assetId)},` +
    `"timestamp":${JSON.stringify(h.timestamp)},"hash":"","bids":[${h.bidsJson}],` +
    `"asks":[${h.asksJson}],"min_order_size":${JSON.stringify(h.minOrderSize)},` +
    `"tick_size":${JSON.stringify(h.tickSize)},"neg_risk":${h.negRisk ? 'true' : 'false'},` +
    `"last_trade_price":${JSON.stringify(h.lastTradePrice)}}`;
  return createHash('sha1').update(text).digest('hex');
}
