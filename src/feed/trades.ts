/**
 * Trades as the market channel announces them: `last_trade_price` events (docs/PROTOCOL.md 2.5),
 * read out of the frames the feed receives, for trade listeners. The feed looks for them only while
 * someone listens (a byte search per data frame; the frame is parsed only when it names the event).
 */
import { decValue, scanDecimal, scanPrice } from '../backend/ts/decimal.js';
import type { LastTrade, TradeSide } from '../table/view.js';

/** One trade of a token: a `last_trade_price` event of the market channel. */
export interface Trade extends LastTrade {
  /** The token traded. */
  readonly tokenId: string;
  /** Its market (condition id), null when the event did not name one. */
  readonly market: string | null;
}

/** The bytes the feed searches a frame for before parsing it. */
export const TRADE_EVENT = 'last_trade_price';

/**
 * Calls `emit` with every valid `last_trade_price` event of a frame, in order. An event without a
 * token id or a price (a decimal in (0, 1)) is skipped: the store counts it (`badEvent`,
 * `badDecimal`). Optional fields that are absent or invalid are null, as in the store.
 */
export function readTrades(frame: string, emit: (trade: Trade) => void): void {
  let v: unknown;
  try {
    v = JSON.parse(frame);
  } catch {
    return;
  }
  const events = Array.isArray(v) ? v : [v];
  for (const e of events) {
    if (typeof e !== 'object' || e === null) continue;
    const ev = e as Record<string, unknown>;
    if (ev.event_type !== TRADE_EVENT) continue;
    const tokenId = ev.asset_id;
    if (typeof tokenId !== 'string' || tokenId.length === 0 || !scanPrice(ev.price)) continue;
    const price = decValue();
    const side = ev.side;
    emit({
      tokenId,
      market: typeof ev.market === 'string' ? ev.market : null,
      price,
      size: scanDecimal(ev.size) ? decValue() : null,
      side: side === 'BUY' || side === 'SELL' ? (side as TradeSide) : null,
      timestamp: scanDecimal(ev.timestamp) ? decValue() : null,
    });
  }
}
