/**
 * The writer's private state of one slot: the mirror of the published slot fields, the
 * full-depth book with its exact texts, and the bookkeeping of the ingest rules.
 */
import { Side } from './side.js';

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

  constructor(readonly slot: number) {}

  /** Remembers the published fields, to tell later whether anything about the slot changed. */
  snapshot(): void {
    this.flags0 = this.flags;
    this.lastUpdate0 = this.lastUpdate;
    this.exchTs0 = this.exchTs;
    this.updates0 = this.updates;
    this.tickSize0 = this.tickSize;
    this.lastTrade0 = this.lastTrade;
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
      !Object.is(this.lastTrade, this.lastTrade0)
    );
  }

  /** Clears the per-binding state (book, texts, meta, pending checks). */
  clearBinding(): void {
    this.bids.clear();
    this.asks.clear();
    this.market = '';
    this.tickText = '';
    this.ltpText = '';
    this.hasMeta = false;
    this.minOrderSize = '';
    this.negRisk = false;
    this.pendingHash = null;
    this.pendingTs = '';
    this.deadline = 0;
    this.touched = 0;
    this.bboFrame = 0;
  }
}
