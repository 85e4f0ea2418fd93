/**
 * Wire texts of the market-channel events the simulator sends, in the key orders seen on the
 * live service (docs/PROTOCOL.md section 2 and fixtures/polymarket/). All ids, prices and sizes are
 * strings.
 */
import { PRICE_SCALE, priceText, sizeText } from './decimal.js';
import type { Entry, Market, Token, WireSide } from './market.js';
import type { Side } from './book.js';

/** Per-entry overrides used by faults: other levels for the hash/best texts, another size text. */
export interface EntryView {
  entry: Entry;
  bids?: Side;
  asks?: Side;
  priceText?: string;
  sizeText?: string;
}

/**
 * `price_change` (current format): `market, price_changes[], timestamp, event_type`. Each entry carries
 * the hash (with `ts`) and best bid/ask of its token's book after the change.
 */
export function priceChangeText(market: Market, entries: readonly (Entry | EntryView)[], ts: number): string {
  let out = `{"market":"${market.conditionId}","price_changes":[`;
  for (let i = 0; i < entries.length; i++) {
    const v: EntryView = 'entry' in entries[i]! ? (entries[i] as EntryView) : { entry: entries[i] as Entry };
    const e = v.entry;
    const t = e.token;
    const bids = v.bids ?? t.bids;
    const asks = v.asks ?? t.asks;
    const hash = bids === t.bids && asks === t.asks && ts === t.ts ? t.hash() : t.hashAt(ts, bids, asks);
    out +=
      `${i === 0 ? '' : ','}{"asset_id":"${t.id}","price":"${v.priceText ?? priceText(e.price)}",` +
      `"size":"${v.sizeText ?? sizeText(e.size)}","side":"${e.side}","hash":"${hash}",` +
      `"best_bid":"${t.bestBidText(bids)}","best_ask":"${t.bestAskText(asks)}"}`;
  }
  return `${out}],"timestamp":"${ts}","event_type":"price_change"}`;
}

/** `book` sent after a trade: `market, asset_id, bids, asks, hash, timestamp, event_type`. */
export function tradeBookText(t: Token): string {
  return (
    `{"market":"${t.market.conditionId}","asset_id":"${t.id}","bids":[${t.bids.wire()}],"asks":[${t.asks.wire()}],` +
    `"hash":"${t.hash()}","timestamp":"${t.ts}","event_type":"book"}`
  );
}

/** `last_trade_price`. */
export function lastTradeText(
  t: Token,
  price: number,
  size: number,
  side: WireSide,
  ts: number,
  txHash: string,
): string {
  return (
    `{"market":"${t.market.conditionId}","asset_id":"${t.id}","price":"${priceText(price)}","size":"${sizeText(size)}",` +
    `"fee_rate_bps":"0","side":"${side}","timestamp":"${ts}","event_type":"last_trade_price","transaction_hash":"${txHash}"}`
  );
}

/** `best_bid_ask` (custom-feature connections only): `market, asset_id, best_bid, best_ask, spread, timestamp, event_type`. */
export function bestBidAskText(t: Token, ts: number): string {
  const settling = t.market.settling;
  const b = t.bids.best();
  const a = t.asks.best();
  const bu = b >= 0 ? b : settling ? 0 : -1;
  const au = a >= 0 ? a : settling ? PRICE_SCALE : -1;
  const spread = bu >= 0 && au >= 0 ? priceText(Math.abs(au - bu)) : '';
  return (
    `{"market":"${t.market.conditionId}","asset_id":"${t.id}","best_bid":"${t.bestBidText()}","best_ask":"${t.bestAskText()}",` +
    `"spread":"${spread}","timestamp":"${ts}","event_type":"best_bid_ask"}`
  );
}

/** `tick_size_change`. */
export function tickSizeChangeText(t: Token, oldTick: number, newTick: number, ts: number): string {
  return (
    `{"market":"${t.market.conditionId}","asset_id":"${t.id}","old_tick_size":"${priceText(oldTick)}",` +
    `"new_tick_size":"${priceText(newTick)}","timestamp":"${ts}","event_type":"tick_size_change"}`
  );
}

/** `market_resolved` (custom-feature connections subscribed to the market). */
export function marketResolvedText(m: Market, winner: Token, ts: number): string {
  return (
    `{"id":"${m.id}","market":"${m.conditionId}","assets_ids":["${m.yes.id}","${m.no.id}"],` +
    `"winning_asset_id":"${winner.id}","winning_outcome":"${winner.outcome}","event_message":null,` +
    `"timestamp":"${ts}","event_type":"market_resolved","tags":["Simulated"]}`
  );
}

/** REST `/book` summary: the hash key order (docs/PROTOCOL.md 3.1). */
export function restBookText(t: Token): string {
  const m = t.market;
  return (
    `{"market":"${m.conditionId}","asset_id":"${t.id}","timestamp":"${t.ts}","hash":"${t.hash()}",` +
    `"bids":[${t.bids.wire()}],"asks":[${t.asks.wire()}],"min_order_size":"${m.minOrderSize}",` +
    `"tick_size":"${m.tickText()}","neg_risk":${m.negRisk},"last_trade_price":"${priceText(t.ltp)}"}`
  );
}
