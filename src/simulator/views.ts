/** Plain-data views of markets, tokens and books for the public API. */
import { priceText } from './decimal.js';
import type { CatalogMarket } from './catalog.js';
import type { Market, Token } from './market.js';
import type { BookState, MarketInfo, TokenInfo } from './types.js';

export function marketInfo(m: Market, c: CatalogMarket): MarketInfo {
  return {
    id: m.id,
    conditionId: m.conditionId,
    yes: m.yes.id,
    no: m.no.id,
    tokens: [m.yes.id, m.no.id],
    outcomes: [m.yes.outcome, m.no.outcome],
    question: c.question,
    slug: c.slug,
    eventSlug: c.event.slug,
    volume24h: c.volume24h,
    liquidity: c.liquidity,
    minOrderSize: m.minOrderSize,
    negRisk: m.negRisk,
    tickSize: m.tickText(),
    settled: m.settled,
    hydrated: m.hydrated,
  };
}

export function tokenInfo(t: Token): TokenInfo {
  const m = t.market;
  return {
    tokenId: t.id,
    conditionId: m.conditionId,
    outcome: t.outcome,
    complement: t.other.id,
    minOrderSize: m.minOrderSize,
    negRisk: m.negRisk,
    tickSize: m.tickText(),
    lastTradePrice: priceText(t.ltp),
    settled: m.settled,
  };
}

export function bookState(t: Token): BookState {
  return {
    bids: t.bids.copyLevels(),
    asks: t.asks.copyLevels(),
    bestBid: t.bestBidText(),
    bestAsk: t.bestAskText(),
    timestamp: String(t.ts),
    hash: t.hash(),
    tickSize: t.market.tickText(),
    lastTradePrice: priceText(t.ltp),
    settled: t.market.settled,
  };
}
