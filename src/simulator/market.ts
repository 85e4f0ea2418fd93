/**
 * A binary market: its YES and NO tokens, their two mirrored books and how they evolve.
 * Every change is applied as a mirror pair: token BUY at p <-> other token SELL at 1 - p, same
 * absolute size, so the NO book is always the exact mirror of the YES book and neither is crossed.
 */
import { bookHashRaw } from '../protocol/hash.js';
import { Side } from './book.js';
import { PRICE_SCALE, priceText } from './decimal.js';
import type { Rng } from './random.js';

export type WireSide = 'BUY' | 'SELL';

/** One `price_changes` entry: the absolute size now at (token, side, price). */
export interface Entry {
  token: Token;
  side: WireSide;
  price: number;
  size: number;
}

export interface Trade {
  /** The token whose resting level was hit. */
  token: Token;
  /** The taker's side on `token`. */
  takerSide: WireSide;
  price: number;
  size: number;
}

/** What one simulated change did to a market (already applied). */
export interface Change {
  market: Market;
  entries: Entry[];
  trade?: Trade;
  /** Tokens whose best bid or best ask moved. */
  topChanged: Token[];
}

export class Token {
  readonly bids = new Side(true);
  readonly asks = new Side(false);
  /** Exchange time (ms) of the book's last change. */
  ts = 0;
  /** Last trade price, price units. */
  ltp = 0;
  other!: Token;
  private hashCache: string | null = null;
  private openingCache: string | null = null;

  constructor(
    readonly id: string,
    readonly outcome: 'Yes' | 'No',
    readonly market: Market,
  ) {}

  side(side: WireSide): Side {
    return side === 'BUY' ? this.bids : this.asks;
  }

  /** Drops cached hash and texts after any change to the book or its metadata. */
  touch(): void {
    this.hashCache = null;
    this.openingCache = null;
  }

  /** Hash of the current book at its own timestamp (docs/PROTOCOL.md 2.9, via src/protocol/hash.ts). */
  hash(): string {
    if (this.hashCache === null) this.hashCache = this.hashAt(this.ts);
    return this.hashCache;
  }

  /** Hash of the given (or current) levels with another timestamp. */
  hashAt(ts: number, bids: Side = this.bids, asks: Side = this.asks): string {
    const m = this.market;
    return bookHashRaw({
      market: m.conditionId,
      assetId: this.id,
      timestamp: String(ts),
      bidsJson: bids.wire(),
      asksJson: asks.wire(),
      minOrderSize: m.minOrderSize,
      tickSize: m.tickText(),
      negRisk: m.negRisk,
      lastTradePrice: priceText(this.ltp),
    });
  }

  /** `best_bid` text: "" for an empty side ("0" once the market is settling). */
  bestBidText(bids: Side = this.bids): string {
    const b = bids.best();
    return b >= 0 ? priceText(b) : this.market.settling ? '0' : '';
  }

  /** `best_ask` text: "" for an empty side ("1" once the market is settling). */
  bestAskText(asks: Side = this.asks): string {
    const a = asks.best();
    return a >= 0 ? priceText(a) : this.market.settling ? '1' : '';
  }

  /** The opening-snapshot `book` event (key order of docs/PROTOCOL.md 2.2). */
  openingText(): string {
    if (this.openingCache === null) {
      const m = this.market;
      this.openingCache =
        `{"market":"${m.conditionId}","asset_id":"${this.id}","timestamp":"${this.ts}","hash":"${this.hash()}",` +
        `"bids":[${this.bids.wire()}],"asks":[${this.asks.wire()}],"tick_size":"${m.tickText()}",` +
        `"event_type":"book","last_trade_price":"${priceText(this.ltp)}"}`;
    }
    return this.openingCache;
  }
}

export interface MarketSpec {
  index: number;
  id: string;
  conditionId: string;
  yesId: string;
  noId: string;
  tick: number;
  minOrderSize: string;
  negRisk: boolean;
}

const TRADE_SHARE = 0.08;

export class Market {
  readonly index: number;
  readonly id: string;
  readonly conditionId: string;
  readonly minOrderSize: string;
  readonly negRisk: boolean;
  readonly yes: Token;
  readonly no: Token;
  /** Tick size, price units. */
  tick: number;
  settling = false;
  settled = false;
  private readonly minCents: number;

  constructor(spec: MarketSpec) {
    this.index = spec.index;
    this.id = spec.id;
    this.conditionId = spec.conditionId;
    this.minOrderSize = spec.minOrderSize;
    this.negRisk = spec.negRisk;
    this.tick = spec.tick;
    this.minCents = Math.max(1, Math.round(Number(spec.minOrderSize) * 100));
    this.yes = new Token(spec.yesId, 'Yes', this);
    this.no = new Token(spec.noId, 'No', this);
    this.yes.other = this.no;
    this.no.other = this.yes;
  }

  tickText(): string {
    return priceText(this.tick);
  }

  /** Sets (token, side, price) to `size` and the mirror level on the other token. BUY entry first. */
  applyPair(token: Token, side: WireSide, price: number, size: number, ts: number): Entry[] {
    const other = token.other;
    const otherSide: WireSide = side === 'BUY' ? 'SELL' : 'BUY';
    token.side(side).set(price, size);
    other.side(otherSide).set(PRICE_SCALE - price, size);
    token.ts = ts;
    other.ts = ts;
    token.touch();
    other.touch();
    const a: Entry = { token, side, price, size };
    const b: Entry = { token: other, side: otherSide, price: PRICE_SCALE - price, size };
    return side === 'BUY' ? [a, b] : [b, a];
  }

  /** Level-count band per side for this tick: [low, high]. */
  private depthBand(): [number, number] {
    const prices = PRICE_SCALE / this.tick - 1;
    const lo = Math.max(1, Math.min(20, Math.floor(prices / 4)));
    const hi = Math.max(lo + 1, Math.min(60, Math.floor(prices / 2)));
    return [lo, hi];
  }

  /** A random order size in cents, at least the minimum order size. */
  orderSize(rng: Rng): number {
    const shares = Math.exp(Math.log(5) + rng.float() * Math.log(4000));
    const cents = rng.chance(0.5) ? Math.round(shares) * 100 : Math.round(shares * 100);
    return Math.max(cents, this.minCents);
  }

  /** Fills both books from scratch: a realistic depth of 20-60 levels per side where the tick allows. */
  populate(rng: Rng, baseTs: number): void {
    const tick = this.tick;
    const steps = PRICE_SCALE / tick;
    const margin = tick >= 100 ? Math.ceil(steps * 0.12) : Math.ceil(steps * 0.03);
    const [lo, hi] = this.depthBand();
    const spread = rng.chance(0.6) ? 1 : 1 + rng.int(3);
    const bidTicks = Math.min(rng.range(margin, steps - margin), steps - 1 - spread);
    const bestBid = bidTicks * tick;
    const bestAsk = bestBid + spread * tick;
    this.fillSide(this.yes.bids, 'BUY', bestBid, tick, rng.range(lo, hi), rng);
    this.fillSide(this.yes.asks, 'SELL', bestAsk, PRICE_SCALE - tick, rng.range(lo, hi), rng);
    // Mirror into NO.
    for (let i = 0; i < this.yes.bids.length; i++)
      this.no.asks.set(PRICE_SCALE - this.yes.bids.px[i]!, this.yes.bids.sz[i]!);
    for (let i = 0; i < this.yes.asks.length; i++)
      this.no.bids.set(PRICE_SCALE - this.yes.asks.px[i]!, this.yes.asks.sz[i]!);
    this.yes.ltp = rng.chance(0.5) ? bestBid : bestAsk;
    this.no.ltp = PRICE_SCALE - this.yes.ltp;
    const ts = baseTs - rng.int(120_000);
    this.yes.ts = ts;
    this.no.ts = ts;
    this.yes.touch();
    this.no.touch();
  }

  private fillSide(side: Side, kind: WireSide, best: number, extreme: number, depth: number, rng: Rng): void {
    const tick = this.tick;
    const maxOff = Math.abs(extreme - best) / tick;
    const want = Math.min(depth, maxOff + 1);
    const offs: number[] = [];
    let off = 0;
    while (offs.length < want && off <= maxOff) {
      offs.push(off);
      const left = want - offs.length;
      if (left === 0) break;
      const room = maxOff - off;
      if (offs.length < 8) off += rng.chance(0.7) ? 1 : 2;
      else off += 1 + rng.int(Math.max(1, Math.floor((2 * room) / left) - 1));
    }
    if (offs[offs.length - 1] !== maxOff && rng.chance(0.8)) {
      if (offs.length >= want) offs.pop();
      offs.push(maxOff);
    }
    const dir = kind === 'BUY' ? -1 : 1;
    for (let i = 0; i < offs.length; i++) {
      const o = offs[i]!;
      const price = best + dir * o * tick;
      let cents: number;
      if (o === maxOff && maxOff > 0)
        cents = rng.range(100_000, 10_000_000) * 100 + (rng.chance(0.5) ? rng.int(100) : 0);
      else cents = this.orderSize(rng) * (1 + rng.int(i < 5 ? 3 : 8));
      side.set(price, cents);
    }
  }

  /** One random order-book change (placement, cancel/reduce or trade), applied at `ts`. */
  evolve(rng: Rng, ts: number): Change {
    const token = rng.chance(0.5) ? this.yes : this.no;
    const side: WireSide = rng.chance(0.5) ? 'BUY' : 'SELL';
    const r = rng.float();
    const own = token.side(side);
    const [lo, hi] = this.depthBand();
    const before = [this.yes.bids.best(), this.yes.asks.best()];
    let entries: Entry[];
    let trade: Trade | undefined;
    const pPlace = own.length < lo ? 0.8 : own.length >= hi ? 0.25 : 0.58;
    if (r < TRADE_SHARE && own.length > 0) {
      const i = own.length - 1;
      const price = own.px[i]!;
      const cur = own.sz[i]!;
      let left = own.length > lo && rng.chance(0.35) ? 0 : Math.floor(cur * rng.float());
      if (left === 0 && own.length <= lo) left = Math.max(1, Math.floor(cur / 2));
      if (left >= cur) left = cur - 1;
      entries = this.applyPair(token, side, price, left, ts);
      trade = { token, takerSide: side === 'BUY' ? 'SELL' : 'BUY', price, size: cur - left };
      token.ltp = price;
      token.other.ltp = PRICE_SCALE - price;
    } else if (r < TRADE_SHARE + pPlace * (1 - TRADE_SHARE) || own.length === 0) {
      entries = this.place(token, side, rng, ts, own.length >= hi);
    } else {
      entries = this.cancel(token, side, rng, ts, own.length > lo);
    }
    const after = [this.yes.bids.best(), this.yes.asks.best()];
    const topChanged = before[0] !== after[0] || before[1] !== after[1] ? [this.yes, this.no] : [];
    const change: Change = { market: this, entries, topChanged };
    if (trade) change.trade = trade;
    return change;
  }

  private place(token: Token, side: WireSide, rng: Rng, ts: number, full: boolean): Entry[] {
    const tick = this.tick;
    const own = token.side(side);
    const opp = token.side(side === 'BUY' ? 'SELL' : 'BUY');
    const buy = side === 'BUY';
    const ob = opp.best();
    // Allowed prices: [lowest, highest] on the tick grid, never touching the opposite side.
    const lowest = buy ? tick : ob >= 0 ? ob + tick : tick;
    const highest = buy ? (ob >= 0 ? ob - tick : PRICE_SCALE - tick) : PRICE_SCALE - tick;
    const sb = own.best();
    if (full || lowest > highest) {
      if (own.length === 0) return this.applyPair(token, side, buy ? highest : lowest, this.orderSize(rng), ts);
      const i = own.length - 1 - Math.min(rng.geometric(0.3), own.length - 1);
      return this.applyPair(token, side, own.px[i]!, own.sz[i]! + this.orderSize(rng), ts);
    }
    let ref = sb >= 0 ? sb : Math.round(token.ltp / tick) * tick;
    let price: number;
    const gap = sb >= 0 && ob >= 0 ? Math.abs(ob - sb) / tick : 0;
    if (gap > 1 && rng.chance(0.15)) price = sb + (buy ? 1 : -1) * tick * (1 + rng.int(gap - 1));
    else {
      if (sb < 0) ref = buy ? Math.min(ref, highest) : Math.max(ref, lowest);
      price = ref + (buy ? -1 : 1) * tick * rng.geometric(0.2);
    }
    price = Math.min(Math.max(Math.round(price / tick) * tick, lowest), highest);
    return this.applyPair(token, side, price, own.sizeAt(price) + this.orderSize(rng), ts);
  }

  private cancel(token: Token, side: WireSide, rng: Rng, ts: number, mayRemove: boolean): Entry[] {
    const own = token.side(side);
    const i = own.length - 1 - Math.min(rng.geometric(0.25), own.length - 1);
    const price = own.px[i]!;
    const cur = own.sz[i]!;
    let size = mayRemove && rng.chance(0.5) ? 0 : cur - Math.floor(cur * 0.9 * rng.float());
    if (size === cur) size = cur + this.orderSize(rng);
    if (size < 0) size = 1;
    return this.applyPair(token, side, price, size, ts);
  }

  /** YES levels (side, price) that are not on the grid of `tick`. */
  offGrid(tick: number): [WireSide, number][] {
    const out: [WireSide, number][] = [];
    for (const p of this.yes.bids.px) if (p % tick !== 0) out.push(['BUY', p]);
    for (const p of this.yes.asks.px) if (p % tick !== 0) out.push(['SELL', p]);
    return out;
  }
}
