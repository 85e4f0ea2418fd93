/**
 * JsWriter: the pure-TypeScript writer of the book table. Implements docs/DESIGN.md section 5
 * exactly like the Rust writer (native/core); test/differential.test.ts compares them.
 *
 * Where section 5 leaves room, both writers follow the rules of docs/DESIGN.md section 5.8.
 */
import { Buffer } from 'node:buffer';
import { bookHash } from '../../protocol/hash.js';
import {
  C,
  F_CROSSED,
  F_DISABLED,
  F_DIVERGED,
  F_HAS_BOOK,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  MAX_CONNECTIONS,
  SIDE_BUY,
  SIDE_SELL,
  SIDE_UNKNOWN,
} from '../../table/layout.js';
import { decValue, scanDecimal, scanPrice } from './decimal.js';
import { Status, type FullBook, type Writer } from '../../table/writer.js';
import { ConfigError, invalidArgument } from '../../errors.js';
import { isControlBytes, isControlText } from '../../protocol/control.js';
import {
  BookFields,
  DeltaBatch,
  INVALID,
  isObject,
  namedTokens,
  serverLevel,
  validateBook,
  validateDeltas,
  type Obj,
} from './events.js';
import { Side } from './side.js';
import { TableWriter } from './table.js';
import { readSlot } from './inspect.js';
import { NO_LEVEL, SlotState } from './slot-state.js';

export interface JsWriterOptions {
  /** How long a top-of-book mismatch may last before the token is reset, ms. Default 1000. */
  graceMs?: number;
}

/** One decoder for all byte frames: strict UTF-8 (invalid bytes are bad JSON), BOM kept (as for text). */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(u: Uint8Array): string | null {
  try {
    return decoder.decode(u);
  } catch {
    // A view on a SharedArrayBuffer is refused by some runtimes: copy it once.
    try {
      return decoder.decode(u.slice());
    } catch {
      return null;
    }
  }
}

export class JsWriter implements Writer {
  private readonly t: TableWriter;
  private readonly c: Float64Array;
  private readonly graceMs: number;
  private readonly slots: (SlotState | undefined)[];
  /** Bound token id -> slot. */
  private readonly ids = new Map<string, number>();
  /** Tokens marked for resync, in marking order, once each. */
  private resync = new Set<string>();
  /** Tokens with MISMATCH, and a lower bound of their deadlines. */
  private readonly mismatched = new Set<SlotState>();
  private minDeadline = Infinity;
  /** Tokens with a pending hash check. */
  private readonly pending: SlotState[] = [];

  /** Frame stamp (never 0) and the tokens the current frame touched, in first-touch order. */
  private frame = 0;
  private readonly touched: SlotState[] = [];
  private nTouched = 0;

  // Scratch space for validation.
  private spareBids = new Side();
  private spareAsks = new Side();
  private readonly fields = new BookFields();
  private readonly batch = new DeltaBatch();
  private readonly names: string[] = [];

  constructor(sab: ArrayBufferLike, opts: JsWriterOptions = {}) {
    this.t = new TableWriter(sab);
    this.c = this.t.counters;
    const g = opts.graceMs ?? 1000;
    if (typeof g !== 'number' || !(g >= 0)) throw new ConfigError('graceMs', g, 'a number of ms >= 0');
    this.graceMs = g;
    this.slots = new Array(this.t.capacity);
  }

  // ---------------------------------------------------------------- slots

  private slot(slot: number): SlotState {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.t.capacity) {
      throw invalidArgument('range', `polybook: slot ${slot} is out of range 0..${this.t.capacity - 1}`);
    }
    let st = this.slots[slot];
    if (st === undefined) {
      st = new SlotState(slot);
      this.t.load(st);
      this.slots[slot] = st;
    }
    return st;
  }

  private bound(slot: number): SlotState | null {
    const st = this.slot(slot);
    return st.id === null ? null : st;
  }

  private forget(st: SlotState): void {
    if (st.id !== null && this.ids.get(st.id) === st.slot) this.ids.delete(st.id);
    st.id = null;
    this.untrack(st);
    st.clearBinding();
  }

  bind(tokenId: string, slot: number, conn = 0): void {
    checkConn(conn);
    const st = this.slot(slot);
    this.forget(st);
    st.id = String(tokenId);
    this.ids.set(st.id, slot);
    st.flags = F_SUBSCRIBED;
    st.conn = conn;
    st.gen = (st.gen + 1) | 0;
    st.lastUpdate = 0;
    st.exchTs = NaN;
    st.sequence = 0;
    st.updates = 0;
    st.tickSize = NaN;
    st.clearLastTrade();
    this.t.publish(st);
  }

  unbind(slot: number): void {
    const st = this.slot(slot);
    this.forget(st);
    st.flags = 0;
    st.gen = (st.gen + 1) | 0;
    this.t.publish(st);
  }

  assign(slot: number, conn: number): void {
    checkConn(conn);
    const st = this.slot(slot);
    if (st.conn === conn) return;
    st.conn = conn;
    this.t.publish(st);
  }

  confirm(conn: number, sentAtMs: number): void {
    checkConn(conn);
    if (conn === 0) return;
    const conf = this.t.confirmed;
    if (sentAtMs > conf[conn]) conf[conn] = sentAtMs;
  }

  setDisabled(slot: number, disabled: boolean): void {
    const st = this.slot(slot);
    const flags = disabled ? st.flags | F_DISABLED : st.flags & ~F_DISABLED;
    if (flags === st.flags) return;
    st.flags = flags;
    this.t.publish(st);
  }

  setMeta(slot: number, minOrderSize: string, negRisk: boolean): void {
    const st = this.bound(slot);
    if (st === null) return;
    st.snapshot();
    st.setMeta(String(minOrderSize), negRisk === true);
    // A token command, not a book change: published without `sequence` + 1 (section 5.8 rule 6).
    if (st.changed()) this.t.publish(st);
  }

  invalidate(slot: number, _nowMs: number): void {
    const st = this.bound(slot);
    if (st === null || (st.flags & F_SUBSCRIBED) === 0) return;
    this.c[C.invalidations] += 1;
    if (st.flags & (F_READY | F_MISMATCH | F_HAS_BOOK)) {
      st.snapshot();
      this.reset(st, false);
      this.commit(st);
    } else if ((st.flags & F_SETTLED) === 0) {
      this.resync.add(st.id!);
    }
  }

  diverge(slot: number, _nowMs: number): void {
    const st = this.bound(slot);
    // A settled token has no book to get back; an unsubscribed one is not served anyway.
    if (st === null || (st.flags & (F_SUBSCRIBED | F_SETTLED)) !== F_SUBSCRIBED) return;
    st.snapshot();
    this.reset(st, false);
    st.flags |= F_DIVERGED;
    this.commit(st);
  }

  takeResync(): string[] {
    if (this.resync.size === 0) return [];
    const out = [...this.resync];
    this.resync = new Set();
    return out;
  }

  fullBook(slot: number): FullBook | null {
    const st = this.slot(slot);
    if (st.id === null || (st.flags & F_READY) === 0) return null;
    return { bids: st.bids.texts(), asks: st.asks.texts() };
  }

  settle(slot: number, _nowMs: number): void {
    const st = this.bound(slot);
    if (st === null || (st.flags & F_SUBSCRIBED) === 0) return;
    st.snapshot();
    this.settleSlot(st);
    this.commit(st);
  }

  /** SETTLED, not ready, book emptied, no pending check; `settled` + 1. The caller publishes. */
  private settleSlot(st: SlotState): void {
    this.untrack(st);
    st.flags = (st.flags | F_SETTLED) & ~(F_READY | F_MISMATCH);
    st.bids.clear();
    st.asks.clear();
    st.pendingHash = null;
    this.c[C.settled] += 1;
  }

  /** The status bits `ingest` and `tick` answer; `before`: the publication count when the call began. */
  private status(badFrame: boolean, before: number): number {
    return (
      (this.resync.size > 0 ? Status.resync : 0) |
      (badFrame ? Status.badFrame : 0) |
      (this.t.publications !== before ? Status.published : 0)
    );
  }

  // ---------------------------------------------------------------- state changes

  /** Section 5.3: empty book, READY and MISMATCH cleared (HAS_BOOK stays), marked for resync. */
  private reset(st: SlotState, crossed: boolean): void {
    st.bids.clear();
    st.asks.clear();
    this.untrack(st);
    st.flags &= ~(F_READY | F_MISMATCH);
    if (crossed) st.flags |= F_CROSSED;
    st.pendingHash = null;
    // A settled token is never refetched: there is no book to get.
    if ((st.flags & F_SETTLED) === 0) this.resync.add(st.id!);
  }

  /** Clears MISMATCH bookkeeping (not the flag). */
  private untrack(st: SlotState): void {
    if (st.flags & F_MISMATCH) this.mismatched.delete(st);
  }

  private touch(st: SlotState): void {
    if (st.touched !== this.frame) {
      st.touched = this.frame;
      st.snapshot();
      this.touched[this.nTouched++] = st;
    }
  }

  /** Publishes the slot, sequence + 1, if anything about it changed since its snapshot. */
  private commit(st: SlotState): void {
    if (!st.changed()) return;
    st.sequence += 1;
    this.t.publish(st);
  }

  private setPending(st: SlotState, hash: string | null, ts: string): void {
    // An empty hash carries nothing to verify.
    st.pendingHash = st.hasMeta && hash !== '' ? hash : null;
    if (st.pendingHash !== null) {
      st.pendingTs = ts;
      if (!st.pendingQueued) {
        st.pendingQueued = true;
        this.pending.push(st);
      }
    }
  }

  /** Installs the validated book in the spare sides into `st` (WS book and REST book). */
  private installBook(st: SlotState, f: BookFields, nowMs: number): void {
    const b = st.bids;
    st.bids = this.spareBids;
    this.spareBids = b;
    const a = st.asks;
    st.asks = this.spareAsks;
    this.spareAsks = a;
    this.untrack(st);
    st.flags = (st.flags | F_READY | F_HAS_BOOK) & ~(F_CROSSED | F_MISMATCH | F_DIVERGED);
    // A book replaces what earlier entries of this frame said about the top of book.
    st.bboFrame = -1;
    if (f.tickOk) {
      st.tickSize = f.tick;
      st.tickText = f.tickText;
    }
    if (f.ltpOk) {
      // A book names the last trade's price only: size, side and time are another trade's when it moved.
      if (f.ltp !== st.lastTrade) st.clearLastTrade();
      st.lastTrade = f.ltp;
      st.ltpText = f.ltpText;
    }
    st.exchTs = f.ts;
    st.setMarket(f.market);
    st.updates += 1;
    st.lastUpdate = nowMs;
  }

  /** Whether both sides are non-empty and best bid >= best ask. */
  private static crossed(st: SlotState): boolean {
    return st.bids.n > 0 && st.asks.n > 0 && st.bids.bestKey() >= -st.asks.bestKey();
  }

  /** Resets every MISMATCH token whose deadline has passed, in slot order (desync). */
  private expire(nowMs: number): void {
    let due: SlotState[] | null = null;
    let min = Infinity;
    for (const st of this.mismatched) {
      if (st.deadline <= nowMs) {
        due ??= [];
        due.push(st);
      } else if (st.deadline < min) min = st.deadline;
    }
    this.minDeadline = min;
    if (due === null) return;
    due.sort((x, y) => x.slot - y.slot);
    for (const st of due) {
      st.snapshot();
      this.reset(st, false);
      this.c[C.desyncs] += 1;
      this.commit(st);
    }
  }

  tick(nowMs: number): number {
    const before = this.t.publications;
    if (this.mismatched.size !== 0 && this.minDeadline <= nowMs) this.expire(nowMs);
    const c = this.c;
    for (let i = 0; i < this.pending.length; i++) {
      const st = this.pending[i];
      st.pendingQueued = false;
      const hash = st.pendingHash;
      st.pendingHash = null;
      if (hash === null || st.id === null || !st.hasMeta || (st.flags & F_READY) === 0) continue;
      const ours = bookHash({
        market: st.market,
        assetId: st.id,
        timestamp: st.pendingTs,
        bids: st.bids.texts(),
        asks: st.asks.texts(),
        minOrderSize: st.minOrderSize,
        tickSize: st.tickText,
        negRisk: st.negRisk,
        lastTradePrice: st.ltpText,
      });
      c[C.hashChecks] += 1;
      if (ours !== hash) c[C.hashMismatches] += 1;
    }
    this.pending.length = 0;
    return this.status(false, before);
  }

  // ---------------------------------------------------------------- ingest

  ingest(frame: string | Uint8Array, nowMs: number): number {
    const before = this.t.publications;
    const c = this.c;
    c[C.frames] += 1;
    this.frame = (this.frame + 1) | 0 || 1;
    this.nTouched = 0;
    try {
      if (this.mismatched.size !== 0 && this.minDeadline <= nowMs) this.expire(nowMs);
      let text: string;
      if (typeof frame === 'string') {
        c[C.bytes] += Buffer.byteLength(frame, 'utf8');
        if (isControlText(frame)) {
          c[C.controlFrames] += 1;
          return this.status(false, before);
        }
        text = frame;
      } else if (frame instanceof Uint8Array) {
        c[C.bytes] += frame.byteLength;
        if (isControlBytes(frame)) {
          c[C.controlFrames] += 1;
          return this.status(false, before);
        }
        const s = decode(frame);
        if (s === null) {
          c[C.badJson] += 1;
          return this.status(true, before);
        }
        text = s;
      } else {
        c[C.badJson] += 1;
        return this.status(true, before);
      }
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        c[C.badJson] += 1;
        return this.status(true, before);
      }
      if (Array.isArray(v)) {
        c[C.events] += v.length;
        for (let i = 0; i < v.length; i++) this.event(v[i], nowMs);
      } else if (isObject(v)) {
        c[C.events] += 1;
        this.event(v, nowMs);
      } else {
        c[C.badEvent] += 1;
      }
    } catch {
      // Not reachable by design (every input is validated); never let it escape.
      c[C.badEvent] += 1;
    } finally {
      this.endOfFrame(nowMs);
    }
    return this.status(false, before);
  }

  private event(ev: unknown, nowMs: number): void {
    if (!isObject(ev)) {
      this.c[C.badEvent] += 1;
      return;
    }
    const type = ev.event_type;
    if (typeof type !== 'string') {
      this.c[C.badEvent] += 1;
      return;
    }
    switch (type) {
      case 'price_change':
        return this.onPriceChange(ev, nowMs);
      case 'book':
        return this.onBook(ev, nowMs);
      case 'last_trade_price':
        return this.onLastTrade(ev, nowMs);
      case 'tick_size_change':
        return this.onTickSize(ev, nowMs);
      case 'best_bid_ask':
        if (typeof ev.asset_id !== 'string') return this.reject(type, ev, C.badEvent);
        this.c[C.bestBidAsk] += 1;
        return;
      case 'new_market':
        this.c[C.newMarkets] += 1;
        return;
      case 'market_resolved':
        return this.onResolved(ev);
      default:
        this.c[C.unknownEvents] += 1;
    }
  }

  /** A rejected event: its counter, and every subscribed token it names is reset. */
  private reject(type: string, ev: Obj, counter: number): void {
    this.c[counter] += 1;
    const names = this.names;
    namedTokens(type, ev, names);
    for (let i = 0; i < names.length; i++) {
      const slot = this.ids.get(names[i]);
      if (slot === undefined) continue;
      const st = this.slots[slot]!;
      if ((st.flags & F_SUBSCRIBED) === 0) continue;
      this.touch(st);
      this.reset(st, false);
    }
    names.length = 0;
  }

  private onBook(ev: Obj, nowMs: number): void {
    const f = this.fields;
    const r = validateBook(ev, this.spareBids, this.spareAsks, f, false);
    if (r !== 0) {
      this.c[C.snapshotsRejected] += 1;
      return this.reject('book', ev, r);
    }
    const slot = this.ids.get(f.assetId);
    if (slot === undefined) {
      this.c[C.ignored] += 1;
      return;
    }
    const st = this.slots[slot]!;
    this.touch(st);
    this.installBook(st, f, nowMs);
    this.c[C.snapshotsApplied] += 1;
    this.setPending(st, f.hash, f.tsText);
  }

  private onPriceChange(ev: Obj, nowMs: number): void {
    const b = this.batch;
    const r = validateDeltas(ev, this.ids, b);
    if (r !== 0) return this.reject('price_change', ev, r);
    const c = this.c;
    const current = b.current;
    for (let i = 0; i < b.n; i++) {
      const slot = b.slot[i];
      if (slot < 0) {
        c[C.ignored] += 1;
        continue;
      }
      const st = this.slots[slot]!;
      if ((st.flags & F_READY) === 0) {
        c[C.deltasWithoutBook] += 1;
        continue;
      }
      this.touch(st);
      const side = b.ask[i] ? st.asks : st.bids;
      if (b.zero[i]) side.remove(b.key[i]);
      else side.set(b.key[i], b.size[i], b.ptext[i], b.stext[i]);
      c[C.deltasApplied] += 1;
      st.updates += 1;
      st.lastUpdate = nowMs;
      st.exchTs = b.ts;
      if (current) {
        st.bboFrame = this.frame;
        st.srvBid = b.bb[i];
        st.srvAsk = b.ba[i];
        this.setPending(st, b.hash[i], b.tsText);
      } else {
        st.pendingHash = null;
      }
    }
  }

  private onTickSize(ev: Obj, nowMs: number): void {
    const id = ev.asset_id;
    if (typeof id !== 'string') return this.reject('tick_size_change', ev, C.badEvent);
    const text = ev.new_tick_size;
    if (!scanDecimal(text)) return this.reject('tick_size_change', ev, C.badDecimal);
    const slot = this.ids.get(id);
    if (slot === undefined) {
      this.c[C.ignored] += 1;
      return;
    }
    const st = this.slots[slot]!;
    const tick = decValue();
    this.touch(st);
    st.tickSize = tick;
    st.tickText = text as string;
    this.c[C.tickSizeChanges] += 1;
    if (st.flags & F_READY) st.lastUpdate = nowMs;
  }

  private onLastTrade(ev: Obj, nowMs: number): void {
    const id = ev.asset_id;
    if (typeof id !== 'string') return this.reject('last_trade_price', ev, C.badEvent);
    const text = ev.price;
    if (!scanPrice(text)) return this.reject('last_trade_price', ev, C.badDecimal);
    const slot = this.ids.get(id);
    if (slot === undefined) {
      this.c[C.ignored] += 1;
      return;
    }
    const st = this.slots[slot]!;
    const price = decValue();
    this.touch(st);
    st.lastTrade = price;
    st.ltpText = text as string;
    // Optional fields (section 5.8 rule 4): absent or invalid is unknown.
    st.lastTradeSize = scanDecimal(ev.size) ? decValue() : NaN;
    st.lastTradeTs = scanDecimal(ev.timestamp) ? decValue() : NaN;
    const side = ev.side;
    st.lastTradeSide = side === 'BUY' ? SIDE_BUY : side === 'SELL' ? SIDE_SELL : SIDE_UNKNOWN;
    this.c[C.lastTrades] += 1;
    if (st.flags & F_READY) st.lastUpdate = nowMs;
  }

  private onResolved(ev: Obj): void {
    const a = ev.assets_ids;
    if (!Array.isArray(a)) return this.reject('market_resolved', ev, C.badEvent);
    for (let i = 0; i < a.length; i++) {
      if (typeof a[i] !== 'string') return this.reject('market_resolved', ev, C.badEvent);
    }
    for (let i = 0; i < a.length; i++) {
      const slot = this.ids.get(a[i] as string);
      if (slot === undefined) continue;
      const st = this.slots[slot]!;
      this.touch(st);
      this.settleSlot(st);
    }
  }

  /** The server top of book of the token's last applied entry, when both values are valid. */
  private srvBid = NO_LEVEL;
  private srvAsk = NO_LEVEL;
  private bboKnown(st: SlotState): boolean {
    // Best bid 0 / best ask 1 are empty sides (docs/DESIGN.md section 5.8 rule 7).
    this.srvBid = serverLevel(st.srvBid);
    if (this.srvBid === INVALID) return false;
    if (this.srvBid === 0) this.srvBid = NO_LEVEL;
    this.srvAsk = serverLevel(st.srvAsk);
    if (this.srvAsk === 1e9) this.srvAsk = NO_LEVEL;
    return this.srvAsk !== INVALID;
  }

  /** Section 5.4, per touched token in first-touch order, then one publish each. */
  private endOfFrame(nowMs: number): void {
    const c = this.c;
    const list = this.touched;
    for (let i = 0; i < this.nTouched; i++) {
      const st = list[i];
      if (JsWriter.crossed(st)) {
        this.reset(st, true);
        c[C.crossedResets] += 1;
      } else if ((st.flags & F_READY) !== 0 && st.bboFrame === this.frame && this.bboKnown(st)) {
        const ourBid = st.bids.n > 0 ? st.bids.bestKey() : NO_LEVEL;
        const ourAsk = st.asks.n > 0 ? -st.asks.bestKey() : NO_LEVEL;
        if (ourBid === this.srvBid && ourAsk === this.srvAsk) {
          if (st.flags & F_MISMATCH) {
            this.untrack(st);
            st.flags &= ~F_MISMATCH;
            c[C.mismatchesResolved] += 1;
          }
        } else {
          c[C.bboMismatches] += 1;
          if ((st.flags & F_MISMATCH) === 0) {
            st.flags |= F_MISMATCH;
            st.deadline = nowMs + this.graceMs;
            this.mismatched.add(st);
            if (st.deadline < this.minDeadline) this.minDeadline = st.deadline;
          }
        }
      }
      this.commit(st);
      list[i] = undefined as unknown as SlotState;
    }
    this.nTouched = 0;
  }

  // ---------------------------------------------------------------- diagnostics

  /**
   * @internal For tests: the first slot whose published fields or levels differ from the
   * writer's own state (an unpublished change), or null when the table is up to date.
   */
  checkPublished(): string | null {
    const sab = this.t.i32.buffer;
    const depth = this.t.depth;
    for (const st of this.slots) {
      if (st === undefined) continue;
      const p = readSlot(sab, st.slot);
      const top = (side: Side, sign: number) => {
        const out: [number, number][] = [];
        for (let i = 0, w = side.n - 1; i < depth && w >= 0; i++, w--)
          out.push([(sign * side.keys[w]) / 1e9, side.sizes[w]]);
        return out;
      };
      const want = {
        seq: st.seq,
        flags: st.flags,
        conn: st.conn,
        gen: st.gen,
        lastUpdate: st.lastUpdate,
        exchTs: st.exchTs,
        sequence: st.sequence,
        updates: st.updates,
        tickSize: st.tickSize,
        lastTrade: st.lastTrade,
        lastTradeSize: st.lastTradeSize,
        lastTradeTs: st.lastTradeTs,
        lastTradeSide: st.lastTradeSide,
        minOrderSize: st.minOrderValue,
        negRisk: st.negRiskValue,
        marketVersion: st.marketVersion,
        market: st.marketText,
        bidLevels: st.bids.n,
        askLevels: st.asks.n,
        bids: top(st.bids, 1),
        asks: top(st.asks, -1),
      };
      for (const k of Object.keys(want) as (keyof typeof want)[]) {
        const a = JSON.stringify(want[k]);
        const b = JSON.stringify(p[k]);
        if (a !== b || (!Object.is(want[k], p[k]) && typeof want[k] === 'number')) {
          return `slot ${st.slot}: ${k} is ${a} in the writer but ${b} in the table`;
        }
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- REST

  restBook(json: string, nowMs: number): void {
    const c = this.c;
    let v: unknown;
    try {
      v = JSON.parse(json);
    } catch {
      c[C.badJson] += 1;
      return;
    }
    if (!isObject(v)) {
      c[C.badEvent] += 1;
      return;
    }
    const f = this.fields;
    const r = validateBook(v, this.spareBids, this.spareAsks, f, true);
    if (r !== 0) {
      c[r] += 1;
      c[C.snapshotsRejected] += 1;
      return;
    }
    const slot = this.ids.get(f.assetId);
    if (slot === undefined) {
      c[C.restSkipped] += 1;
      return;
    }
    const st = this.slots[slot]!;
    st.snapshot();
    if (f.minOrderSize !== null && f.negRisk !== null) st.setMeta(f.minOrderSize, f.negRisk);
    if ((st.flags & F_READY) !== 0 && !(f.ts > st.exchTs)) {
      c[C.restSkipped] += 1;
      // The meta may still have changed what a read returns.
      this.commit(st);
      return;
    }
    this.installBook(st, f, nowMs);
    st.pendingHash = null;
    c[C.restApplied] += 1;
    if (JsWriter.crossed(st)) {
      this.reset(st, true);
      c[C.crossedResets] += 1;
    }
    this.commit(st);
  }
}

function checkConn(conn: number): void {
  if (!Number.isInteger(conn) || conn < 0 || conn >= MAX_CONNECTIONS) {
    throw invalidArgument('range', `polybook: connection index ${conn} is out of range 0..${MAX_CONNECTIONS - 1}`);
  }
}
