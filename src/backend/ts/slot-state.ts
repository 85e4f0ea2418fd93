/**
 * The writer's private state of one slot: the mirror of the published slot fields, the
 * full-depth book with its exact texts, and the bookkeeping of the ingest rules.
 */
import { Side } from './side.js';
import { decValue, scanDecimal } from './decimal.js';
import { MARKET_BYTES, NEG_RISK_NO, NEG_RISK_UNKNOWN, NEG_RISK_YES, SIDE_UNKNOWN } from '../../table/layout.js';

/** Key of an empty side (server `""`, or our book without levels). */
export const NO_LEVEL = -1;

export class SlotState {
  /** Token id bound to the slot, or null. */
  id: string | null = null;

  // Mirror of the published slot fields (docs/DESIGN.md section 2).
  seq = 0;
  flags = 0;
  conn = 0;
  gen = 0;
  lastUpdate = 0;
  exchTs = 0;
  sequence = 0;
  updates = 0;
  tickSize = 0;
  lastTrade = 0;
  lastTradeSize = 0;
  lastTradeTs = 0;
  lastTradeSide = SIDE_UNKNOWN;
  /** The published market text ('' = none) and its version (docs/DESIGN.md section 2). */
  marketText = '';
  marketVersion = 0;

  bids = new Side();
  asks = new Side();

  /** Exact texts for the hash: `market` of the last book, tick size, last trade price ('' = unknown). */
  market = '';
  tickText = '';
  ltpText = '';

  /** Hash verification meta (setMeta or REST). */
  hasMeta = false;
  minOrderSize = '';
  negRisk = false;
  /** The published meta: the minimum order size's value (NaN: none, or not a decimal) and `NEG_RISK_*`. */
  minOrderValue = NaN;
  negRiskValue = NEG_RISK_UNKNOWN;
  /** Server hash to verify at the next tick, and the exchange timestamp text it goes with. */
  pendingHash: string | null = null;
  pendingTs = '';
  /** Whether the slot is in the writer's pending-hash list. */
  pendingQueued = false;

  /** MISMATCH grace deadline (ms). */
  deadline = 0;

  /** Frame stamp of the last frame that touched the token (dedupes the touched list). */
  touched = 0;
  /** Frame stamp of the server top of book recorded by the last applied current-format entry (0 = none). */
  bboFrame = 0;
  /** That entry's best_bid and best_ask, as sent. */
  srvBid: unknown = '';
  srvAsk: unknown = '';

  // Published fields as they were when the current change began (see snapshot()).
  private flags0 = 0;
  private lastUpdate0 = 0;
  private exchTs0 = 0;
  private updates0 = 0;
  private tickSize0 = 0;
  private lastTrade0 = 0;
  private lastTradeSize0 = 0;
  private lastTradeTs0 = 0;
  private lastTradeSide0 = 0;
  private minOrder0 = 0;
  private negRisk0 = 0;
  private marketVersion0 = 0;

  constructor(readonly slot: number) {}

  /** Remembers the published fields, to tell later whether anything about the slot changed. */
  snapshot(): void {
    this.flags0 = this.flags;
    this.lastUpdate0 = this.lastUpdate;
    this.exchTs0 = this.exchTs;
    this.updates0 = this.updates;
    this.tickSize0 = this.tickSize;
    this.lastTrade0 = this.lastTrade;
    this.lastTradeSize0 = this.lastTradeSize;
    this.lastTradeTs0 = this.lastTradeTs;
    this.lastTradeSide0 = this.lastTradeSide;
    this.minOrder0 = this.minOrderValue;
    this.negRisk0 = this.negRiskValue;
    this.marketVersion0 = this.marketVersion;
  }

  /** Whether a published field or level differs from the snapshot (bit for bit: NaN = NaN, 0 != -0). */
  changed(): boolean {
    return (
      this.flags !== this.flags0 ||
      this.bids.changed() ||
      this.asks.changed() ||
      !Object.is(this.lastUpdate, this.lastUpdate0) ||
      !Object.is(this.exchTs, this.exchTs0) ||
      !Object.is(this.updates, this.updates0) ||
      !Object.is(this.tickSize, this.tickSize0) ||
      !Object.is(this.lastTrade, this.lastTrade0) ||
      !Object.is(this.lastTradeSize, this.lastTradeSize0) ||
      !Object.is(this.lastTradeTs, this.lastTradeTs0) ||
      this.lastTradeSide !== this.lastTradeSide0 ||
      !Object.is(this.minOrderValue, this.minOrder0) ||
      this.negRiskValue !== this.negRisk0 ||
      this.marketVersion !== this.marketVersion0
    );
  }

  /** Stores the meta of the hash check and publishes the minimum order size and the neg-risk flag. */
  setMeta(minOrderSize: string, negRisk: boolean): void {
    this.hasMeta = true;
    this.minOrderSize = minOrderSize;
    this.minOrderValue = scanDecimal(minOrderSize) ? decValue() : NaN;
    this.negRisk = negRisk;
    this.negRiskValue = negRisk ? NEG_RISK_YES : NEG_RISK_NO;
  }

  /** Sets the market text of the hash and the published one (version + 1 when the published text changes). */
  setMarket(text: string): void {
    this.market = text;
    const t = publishableMarket(text);
    if (t !== this.marketText) {
      this.marketText = t;
      this.marketVersion = (this.marketVersion + 1) | 0;
    }
  }

  /** Clears the last trade (price, size, side, time). */
  clearLastTrade(): void {
    this.lastTrade = NaN;
    this.lastTradeSize = NaN;
    this.lastTradeTs = NaN;
    this.lastTradeSide = SIDE_UNKNOWN;
  }

  /** Clears the per-binding state (book, texts, meta, pending checks). */
  clearBinding(): void {
    this.bids.clear();
    this.asks.clear();
    this.setMarket('');
    this.tickText = '';
    this.ltpText = '';
    this.hasMeta = false;
    this.minOrderSize = '';
    this.negRisk = false;
    this.minOrderValue = NaN;
    this.negRiskValue = NEG_RISK_UNKNOWN;
    this.pendingHash = null;
    this.pendingTs = '';
    this.deadline = 0;
    this.touched = 0;
    this.bboFrame = 0;
  }
}

/** The market text as the slot keeps it: up to MARKET_BYTES printable ASCII characters, else '' (none). */
export function publishableMarket(text: string): string {
  if (text.length > MARKET_BYTES) return '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return '';
  }
  return text;
}
