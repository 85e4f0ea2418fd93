/**
 * Differential testing against a reference model (docs/RELIABILITY.md).
 *
 * A small model of docs/DESIGN.md section 5, written for this test and kept obviously correct
 * rather than fast: per token two plain Maps (exact price value -> [price text, size text]),
 * flags as booleans, decimals checked with a regular expression and BigInt. Long random message
 * sequences from a seeded "exchange" (valid snapshots and deltas with the right best_bid/best_ask),
 * passed through a faulty channel (drops, duplicates, reordering, malformed frames, crossed books,
 * unknown tokens, settlements, disconnects, resubscriptions, grace-period expiry), go into a store
 * on each backend and into the model. After every message, every counter, every token's state,
 * full-depth book (exact texts), served view and the resync list must agree.
 *
 * The model covers the current-format `price_change`, `book`, `market_resolved`, control frames
 * and every kind of rejection; the legacy formats, tick size, last trade and hash checks are
 * covered by test/differential.test.ts (writer against writer) and the unit tests.
 */
import { describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { Status } from '../src/table/writer.js';
import { COUNTERS, type CounterName } from '../src/table/layout.js';
import { BACKENDS } from './helpers.js';

// ------------------------------------------------------------------ the model

/** DESIGN 5.1: exact value of a decimal string as an integer number of 1e-9 units, or null. */
function parseDecimalKey(s: string): bigint | null {
  if (!/^[0-9]*\.?[0-9]*$/.test(s) || !/[0-9]/.test(s)) return null;
  const [int, frac = ''] = s.split('.');
  if (frac.length > 9) return null;
  if (BigInt(int + frac) > 2n ** 53n - 1n) return null;
  return BigInt(int || '0') * 10n ** 9n + BigInt(`${frac}000000000`.slice(0, 9));
}
const keys = new Map<string, bigint | null>();
/** {@link parseDecimalKey}, remembered per text (the texts repeat), null for anything but a string. */
function decimalKey(s: unknown): bigint | null {
  if (typeof s !== 'string') return null;
  let k = keys.get(s);
  if (k === undefined) {
    k = parseDecimalKey(s);
    keys.set(s, k);
  }
  return k;
}
const ONE = 10n ** 9n;
const isPrice = (s: unknown) => {
  const k = decimalKey(s);
  return k !== null && k > 0n && k < ONE;
};

type Levels = Map<bigint, [price: string, size: string]>;

const maxKey = (m: Levels): bigint | undefined => {
  let best: bigint | undefined;
  for (const k of m.keys()) if (best === undefined || k > best) best = k;
  return best;
};
const minKey = (m: Levels): bigint | undefined => {
  let best: bigint | undefined;
  for (const k of m.keys()) if (best === undefined || k < best) best = k;
  return best;
};

interface MTok {
  id: string;
  ready: boolean;
  hasBook: boolean;
  crossed: boolean;
  mismatch: boolean;
  settled: boolean;
  deadline: number;
  bids: Levels;
  asks: Levels;
  updates: number;
  exchTs: number;
  lastUpdate: number;
  /** best_bid / best_ask of the last applied price_change entry of the current frame (raw), or null. */
  bbo: { bid: unknown; ask: unknown } | null;
}

const CONTROL = new Set(['PONG', 'PING', 'NO NEW ASSETS', 'INVALID OPERATION', 'INVALID MESSAGE', '[]']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Model {
  /** Slot -> token (slots are allocated lowest first, like the store). */
  private readonly slots: (MTok | undefined)[] = [];
  private readonly byId = new Map<string, MTok>();
  private resync = new Set<string>();
  readonly c = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Record<CounterName, number>;

  constructor(private readonly graceMs: number) {}

  subscribe(id: string): void {
    if (this.byId.has(id)) return;
    let slot = this.slots.indexOf(undefined);
    if (slot < 0) slot = this.slots.length;
    const t: MTok = {
      id,
      ready: false,
      hasBook: false,
      crossed: false,
      mismatch: false,
      settled: false,
      deadline: 0,
      bids: new Map(),
      asks: new Map(),
      updates: 0,
      exchTs: NaN,
      lastUpdate: 0,
      bbo: null,
    };
    this.slots[slot] = t;
    this.byId.set(id, t);
  }

  unsubscribe(id: string): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.byId.delete(id);
    this.slots[this.slots.indexOf(t)] = undefined;
  }

  token(id: string): MTok | undefined {
    return this.byId.get(id);
  }

  /** Tokens waiting for resync (not taken). */
  pendingResync(): string[] {
    return [...this.resync];
  }

  takeResync(): string[] {
    const out = [...this.resync];
    this.resync = new Set();
    return out;
  }

  /** DESIGN 5.3. */
  private reset(t: MTok, crossed: boolean): void {
    t.bids.clear();
    t.asks.clear();
    t.ready = false;
    t.mismatch = false;
    if (crossed) t.crossed = true;
    if (!t.settled) this.resync.add(t.id);
  }

  invalidate(id: string): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.c.invalidations++;
    if (t.ready || t.mismatch || t.hasBook) this.reset(t, false);
    else if (!t.settled) this.resync.add(t.id);
  }

  /** Grace periods that ended: reset in slot order. */
  private expire(now: number): void {
    for (const t of this.slots) {
      if (t?.mismatch && t.deadline <= now) {
        this.reset(t, false);
        this.c.desyncs++;
      }
    }
  }

  tick(now: number): number {
    this.expire(now);
    return this.status(false);
  }

  /** The status bits the writers answer (src/table/writer.ts `Status`). */
  private status(badFrame: boolean): number {
    return (this.resync.size > 0 ? Status.resync : 0) | (badFrame ? Status.badFrame : 0);
  }

  ingest(frame: string | Uint8Array, now: number): number {
    this.c.frames++;
    this.c.bytes += typeof frame === 'string' ? Buffer.byteLength(frame, 'utf8') : frame.byteLength;
    this.expire(now);
    let text: string;
    try {
      text = typeof frame === 'string' ? frame : utf8.decode(frame);
    } catch {
      this.c.badJson++;
      return this.status(true);
    }
    if (CONTROL.has(text.replace(/^[ \t\n\f\r]+|[ \t\n\f\r]+$/g, ''))) {
      this.c.controlFrames++;
      return this.status(false);
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      this.c.badJson++;
      return this.status(true);
    }
    if (!isObj(v) && !Array.isArray(v)) {
      this.c.badEvent++;
      return this.status(false);
    }
    const events = Array.isArray(v) ? v : [v];
    this.c.events += events.length;
    const touched = new Set<MTok>();
    for (const t of this.byId.values()) t.bbo = null;
    for (const ev of events) this.event(ev, now, touched);
    // DESIGN 5.4, per touched token in first-touch order.
    for (const t of touched) {
      const bestBid = maxKey(t.bids) ?? null;
      const bestAsk = minKey(t.asks) ?? null;
      if (bestBid !== null && bestAsk !== null && bestBid >= bestAsk) {
        this.reset(t, true);
        this.c.crossedResets++;
        continue;
      }
      if (!t.ready || t.bbo === null) continue;
      const srv = (x: unknown, empty: bigint): bigint | 'none' | 'invalid' => {
        if (x === '') return 'none';
        const k = decimalKey(x);
        return k === null ? 'invalid' : k === empty ? 'none' : k;
      };
      const sb = srv(t.bbo.bid, 0n);
      const sa = srv(t.bbo.ask, ONE);
      if (sb === 'invalid' || sa === 'invalid') continue;
      if ((bestBid ?? 'none') === sb && (bestAsk ?? 'none') === sa) {
        if (t.mismatch) {
          t.mismatch = false;
          this.c.mismatchesResolved++;
        }
      } else {
        this.c.bboMismatches++;
        if (!t.mismatch) {
          t.mismatch = true;
          t.deadline = now + this.graceMs;
        }
      }
    }
    return this.status(false);
  }

  /** Counts a rejected event and resets every subscribed token it names. */
  private reject(counter: CounterName, named: unknown[], touched: Set<MTok>): void {
    this.c[counter]++;
    for (const id of named) {
      const t = typeof id === 'string' ? this.byId.get(id) : undefined;
      if (!t) continue;
      touched.add(t);
      this.reset(t, false);
    }
  }

  private event(ev: unknown, now: number, touched: Set<MTok>): void {
    if (!isObj(ev) || typeof ev.event_type !== 'string') {
      this.c.badEvent++;
      return;
    }
    const ts = decimalKey(ev.timestamp) === null ? NaN : parseFloat(ev.timestamp as string);
    switch (ev.event_type) {
      case 'book': {
        const problem = this.checkBook(ev);
        if (problem) {
          this.c.snapshotsRejected++;
          return this.reject(problem, [ev.asset_id], touched);
        }
        const t = this.byId.get(ev.asset_id as string);
        if (!t) {
          this.c.ignored++;
          return;
        }
        touched.add(t);
        t.bids = new Map();
        t.asks = new Map();
        for (const [side, levels] of [
          [t.bids, ev.bids],
          [t.asks, ev.asks],
        ] as [Levels, { price: string; size: string }[]][]) {
          for (const l of levels) if (decimalKey(l.size) !== 0n) side.set(decimalKey(l.price)!, [l.price, l.size]);
        }
        t.ready = true;
        t.hasBook = true;
        t.crossed = false;
        t.mismatch = false;
        t.bbo = null;
        t.updates++;
        t.lastUpdate = now;
        t.exchTs = ts;
        this.c.snapshotsApplied++;
        return;
      }
      case 'price_change': {
        const pcs = ev.price_changes;
        if (!Array.isArray(pcs))
          throw new Error('the model has no legacy price_change formats; the generator must not make them');
        const named = pcs.filter(isObj).map((e) => e.asset_id);
        for (const e of pcs) {
          if (!isObj(e) || typeof e.asset_id !== 'string') return this.reject('badEvent', named, touched);
          if (!isPrice(e.price) || decimalKey(e.size) === null) return this.reject('badDecimal', named, touched);
          if (e.side !== 'BUY' && e.side !== 'SELL') return this.reject('badEvent', named, touched);
        }
        for (const e of pcs as Record<string, string>[]) {
          const t = this.byId.get(e.asset_id);
          if (!t) {
            this.c.ignored++;
            continue;
          }
          if (!t.ready) {
            this.c.deltasWithoutBook++;
            continue;
          }
          touched.add(t);
          const side = e.side === 'BUY' ? t.bids : t.asks;
          if (decimalKey(e.size) === 0n) side.delete(decimalKey(e.price)!);
          else side.set(decimalKey(e.price)!, [e.price, e.size]);
          this.c.deltasApplied++;
          t.updates++;
          t.lastUpdate = now;
          t.exchTs = ts;
          t.bbo = { bid: e.best_bid, ask: e.best_ask };
        }
        return;
      }
      case 'market_resolved': {
        const ids = ev.assets_ids;
        if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string'))
          return this.reject('badEvent', Array.isArray(ids) ? ids : [], touched);
        for (const id of ids as string[]) {
          const t = this.byId.get(id);
          if (!t) continue;
          touched.add(t);
          t.settled = true;
          t.ready = false;
          t.mismatch = false;
          t.bids.clear();
          t.asks.clear();
          this.c.settled++;
        }
        return;
      }
      case 'tick_size_change':
      case 'last_trade_price':
      case 'best_bid_ask':
      case 'new_market':
        throw new Error(`the model does not cover ${ev.event_type}; the generator must not make it`);
      default:
        this.c.unknownEvents++;
    }
  }

  /** The counter that rejects a `book` event, or null when it is valid (first problem wins). */
  private checkBook(ev: Record<string, unknown>): CounterName | null {
    if (typeof ev.asset_id !== 'string' || !Array.isArray(ev.bids) || !Array.isArray(ev.asks)) return 'badEvent';
    for (const [levels, ask] of [
      [ev.bids, false],
      [ev.asks, true],
    ] as [unknown[], boolean][]) {
      let prev: bigint | null = null;
      for (const l of levels) {
        if (!isObj(l)) return 'badEvent';
        if (!isPrice(l.price) || decimalKey(l.size) === null) return 'badDecimal';
        const k = decimalKey(l.price)!;
        // Wire order: bids strictly ascending, asks strictly descending.
        if (prev !== null && (ask ? !(k < prev) : !(k > prev))) return 'unorderedLevels';
        prev = k;
      }
    }
    return null;
  }

  /** What the store should show for a token: state, full book (wire order) and the served view. */
  view(id: string, depth: number): unknown {
    const t = this.byId.get(id);
    if (!t) return null;
    /** Wire order: bids ascending, asks descending by price. */
    const wire = (m: Levels, ask: boolean) =>
      [...m.entries()].sort(([a], [b]) => (ask ? (a > b ? -1 : 1) : a < b ? -1 : 1)).map(([, l]) => l);
    const bids = wire(t.bids, false);
    const asks = wire(t.asks, true);
    /** Best first, `depth` levels, as numbers. */
    const best = (w: [string, string][]) =>
      [...w]
        .reverse()
        .slice(0, depth)
        .map(([p, s]) => [parseFloat(p), parseFloat(s)]);
    const served = t.ready && !t.mismatch && !t.settled;
    return {
      state: {
        ready: t.ready,
        hasBook: t.hasBook,
        crossed: t.crossed,
        mismatch: t.mismatch,
        settled: t.settled,
        updates: t.updates,
        exch: Number.isNaN(t.exchTs) ? null : t.exchTs,
        lastUpdate: t.lastUpdate,
      },
      full: t.ready ? { bids, asks } : null,
      served: served ? { bids: best(bids), asks: best(asks) } : null,
    };
  }
}

/** The same view, read from a store. */
function storeView(s: BookStore, id: string): unknown {
  const st = s.state(id);
  if (!st) return null;
  const b = s.get(id, Infinity);
  return {
    state: {
      ready: st.ready,
      hasBook: st.hasBook,
      crossed: st.crossed,
      mismatch: st.mismatch,
      settled: st.settled,
      updates: st.updates,
      exch: st.exchangeTimestamp,
      lastUpdate: st.lastUpdate,
    },
    full: s.fullBook(id),
    served: b ? { bids: b.bids.map((l) => [l.price, l.size]), asks: b.asks.map((l) => [l.price, l.size]) } : null,
  };
}

// ------------------------------------------------------------------ the exchange and the channel

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['1001', '1002', '2001', '2002', '3001', 'x-not-a-number'];
const UNKNOWN = '71321045679252212594626385532706912750332728571942532289631379312455583992563';
const SIZES = ['1', '2.5', '10', '100.25', '0.000000001', '9007199254740991', '13354.28', '5.', '007'];
const BAD_DECIMALS: unknown[] = [
  '-0.5',
  '1e-2',
  '',
  ' 0.5',
  '0.5.1',
  'abc',
  0.5,
  null,
  '1',
  '0',
  '0.1234567891',
  '99999999999999999999',
];

/** Texts of the price `cents / 100`: canonical and the aliases that are the same level. */
function priceText(cents: number, r: () => number): string {
  const base = (cents / 100).toFixed(2);
  const forms = [base, base, base, `${base}0`, base.slice(1), String(cents / 100)];
  return forms[Math.floor(r() * forms.length)];
}

/** The exchange: true books, valid frames. Bids 0.39..0.50, asks 0.51..0.62 (12 levels a side at most), so never crossed. */
class Exchange {
  readonly books = new Map<string, { bids: Levels; asks: Levels }>();
  ts = 1_791_125_000_000;

  constructor(private readonly r: () => number) {
    for (const id of TOKENS) {
      const b = { bids: new Map(), asks: new Map() } as { bids: Levels; asks: Levels };
      for (let i = 0; i < 6; i++) this.set(b, 'BUY', 39 + Math.floor(r() * 12), SIZES[i % 4]);
      for (let i = 0; i < 6; i++) this.set(b, 'SELL', 51 + Math.floor(r() * 12), SIZES[i % 4]);
      this.books.set(id, b);
    }
  }

  private set(b: { bids: Levels; asks: Levels }, side: 'BUY' | 'SELL', cents: number, size: string): string {
    const p = priceText(cents, this.r);
    const m = side === 'BUY' ? b.bids : b.asks;
    if (decimalKey(size) === 0n) m.delete(decimalKey(p)!);
    else m.set(decimalKey(p)!, [p, size]);
    return p;
  }

  private stamp(): string {
    this.ts += 1 + Math.floor(this.r() * 5);
    return this.r() < 0.02 ? 'x' : String(this.ts);
  }

  /** Server best_bid / best_ask texts ("" for an empty side; now and then "0"/"1" as while settling). */
  private top(id: string): { best_bid: string; best_ask: string } {
    const b = this.books.get(id)!;
    const hi = maxKey(b.bids);
    const lo = minKey(b.asks);
    const alt = this.r() < 0.1;
    return {
      best_bid: hi === undefined ? (alt ? '0' : '') : alt ? (Number(hi) / 1e9).toString() : b.bids.get(hi)![0],
      best_ask: lo === undefined ? (alt ? '1' : '') : alt ? (Number(lo) / 1e9).toString() : b.asks.get(lo)![0],
    };
  }

  book(id: string): Record<string, unknown> {
    const b = this.books.get(id) ?? { bids: new Map(), asks: new Map() };
    const wire = (m: Levels, ask: boolean) =>
      [...m.entries()]
        .sort(([a], [c]) => (ask ? (a > c ? -1 : 1) : a < c ? -1 : 1))
        .map(([, [price, size]]) => ({ price, size }));
    return {
      event_type: 'book',
      market: '0xm',
      asset_id: id,
      timestamp: this.stamp(),
      hash: 'h',
      bids: wire(b.bids, false),
      asks: wire(b.asks, true),
    };
  }

  /** A valid price_change of 1-3 entries, applied to the truth. */
  change(): Record<string, unknown> {
    const n = 1 + Math.floor(this.r() * 3);
    const entries: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const id = TOKENS[Math.floor(this.r() * TOKENS.length)];
      const b = this.books.get(id)!;
      const side = this.r() < 0.5 ? 'BUY' : 'SELL';
      const cents = side === 'BUY' ? 39 + Math.floor(this.r() * 12) : 51 + Math.floor(this.r() * 12);
      const size = this.r() < 0.3 ? (this.r() < 0.8 ? '0' : '0.000') : SIZES[Math.floor(this.r() * SIZES.length)];
      const price = this.set(b, side, cents, size);
      const e: Record<string, unknown> = { asset_id: id, price, size, side, hash: 'h', ...this.top(id) };
      const q = this.r();
      if (q < 0.03) delete e.best_bid;
      else if (q < 0.05) e.best_ask = 0.5;
      entries.push(e);
    }
    return { market: '0xm', price_changes: entries, timestamp: this.stamp(), event_type: 'price_change' };
  }

  /** A price_change that crosses `id`'s book (not applied to the truth), with the top of book it implies. */
  crossed(id: string): Record<string, unknown> {
    const b = this.books.get(id)!;
    const lo = minKey(b.asks);
    const cents = lo === undefined ? 60 : Number(lo / 10_000_000n) + Math.floor(this.r() * 3);
    const price = (Math.min(cents, 99) / 100).toFixed(2);
    return {
      market: '0xm',
      price_changes: [
        {
          asset_id: id,
          price,
          size: '3',
          side: 'BUY',
          best_bid: price,
          best_ask: lo === undefined ? '' : b.asks.get(lo)![0],
        },
      ],
      timestamp: this.stamp(),
      event_type: 'price_change',
    };
  }
}

/** One malformed frame, built from a valid one or from scratch. */
function malformed(r: () => number, ex: Exchange, id: string): string | Uint8Array {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const valid = () => JSON.stringify(r() < 0.5 ? ex.book(id) : ex.change());
  switch (Math.floor(r() * 14)) {
    case 0: {
      const t = valid();
      return t.slice(0, 1 + Math.floor(r() * (t.length - 2)));
    }
    case 1: {
      const b = ex.book(id) as { bids: { price: unknown; size: unknown }[]; asks: unknown[] };
      const l = b.bids[0] ?? { price: '0.1', size: '1' };
      if (r() < 0.5) l.price = pick(BAD_DECIMALS);
      else l.size = pick(BAD_DECIMALS);
      if (!b.bids.length) b.bids.push(l);
      return JSON.stringify(b);
    }
    case 2: {
      const c = ex.change() as { price_changes: Record<string, unknown>[] };
      const e = c.price_changes[Math.floor(r() * c.price_changes.length)];
      const f = pick(['price', 'size', 'side', 'asset_id']);
      e[f] =
        f === 'side' ? pick(['buy', 'HOLD', 1, null]) : f === 'asset_id' ? pick([7, null, {}]) : pick(BAD_DECIMALS);
      return JSON.stringify(c);
    }
    case 3: {
      const b = ex.book(id) as { bids: unknown[] };
      b.bids.reverse(); // wire order broken (unless it has one level)
      if (b.bids.length < 2)
        b.bids = [
          { price: '0.2', size: '1' },
          { price: '0.1', size: '1' },
        ];
      return JSON.stringify(b);
    }
    case 4:
      return JSON.stringify({ ...ex.book(id), bids: { price: '0.1', size: '1' } });
    case 5:
      return pick(['PONG', ' PING\n', 'NO NEW ASSETS', 'INVALID OPERATION', '[]', '[ ]', '\t[]\r\n']);
    case 6:
      return pick(['<html>502 Bad Gateway</html>', 'undefined', '', 'null', '7', '"x"', '{', 'pong']);
    case 7:
      return JSON.stringify({ event_type: pick(['order_filled', 'BOOK', '', 'price-change']), asset_id: id });
    case 8:
      return JSON.stringify({ asset_id: id, bids: [], asks: [] });
    case 9:
      return valid().replace(/"(0\.\d+)"/, 'NaN');
    case 10:
      return Uint8Array.from([0x7b, 0xff, 0x7d]);
    case 11:
      return '['.repeat(2000) + ']'.repeat(2000);
    case 12:
      return JSON.stringify({ event_type: 'market_resolved', assets_ids: [id, 5] });
    default:
      return `{"event_type":"book","asset_id":"${UNKNOWN}","asset_id":${JSON.stringify(id)},"bids":[],"asks":[{"price":"0.9","size":"1"}]}`;
  }
}

// ------------------------------------------------------------------ the run

interface Totals {
  messages: number;
  comparisons: number;
  counters: Record<CounterName, number>;
}

class Divergence extends Error {}

const show = (frame: string | Uint8Array) =>
  typeof frame === 'string'
    ? frame.length > 400
      ? `${frame.slice(0, 400)}…`
      : frame
    : `bytes ${Buffer.from(frame).toString('hex').slice(0, 80)}`;

/**
 * One seeded run of `steps` steps over the model and `stores`. Throws a Divergence naming the step
 * and what differs.
 */
function run(seed: number, steps: number, stores: { name: string; store: BookStore }[]): Totals {
  const r = prng(seed);
  const model = new Model(graceOf(seed));
  const ex = new Exchange(r);
  let now = 1_000_000;
  let messages = 0;
  let comparisons = 0;
  const history: (string | Uint8Array)[] = [];
  let held: string | null = null;
  /** Snapshots the "feed" will deliver at a later step (resync), and settled tokens to re-add. */
  const due: { at: number; id: string; kind: 'book' | 'rebind' }[] = [];
  const subscribe = (id: string) => {
    model.subscribe(id);
    for (const s of stores) s.store.subscribe([id]);
  };
  for (const id of TOKENS) subscribe(id);
  for (const id of TOKENS) due.push({ at: 0, id, kind: 'book' });

  /** The last operations, for the message of a divergence. */
  const recent: string[] = [];
  const log = (s: string) => {
    recent.push(`${s.slice(0, 240)} @${now}`);
    if (recent.length > 12) recent.shift();
  };
  const trace = () => `\n  last operations:\n    ${recent.join('\n    ')}`;
  const ids = [...TOKENS, UNKNOWN];
  const depth = stores[0].store.maxDepth;
  const compare = (step: number, what: string) => {
    const where = () => `seed ${seed}, step ${step} (${what})${trace()}`;
    const want = ids.map((id) => JSON.stringify(model.view(id, depth)));
    for (const { name, store } of stores) {
      const w = store.metrics().writer;
      for (const n of COUNTERS) {
        if (w[n] !== model.c[n])
          throw new Divergence(`${where()}: ${name} counter ${n} = ${w[n]}, model ${model.c[n]}`);
      }
      ids.forEach((id, i) => {
        const got = JSON.stringify(storeView(store, id));
        comparisons++;
        if (got !== want[i])
          throw new Divergence(`${where()}: ${name} token ${id}\n  store ${got}\n  model ${want[i]}`);
      });
    }
  };
  const deliver = (frame: string | Uint8Array, step: number) => {
    const asBytes = typeof frame === 'string' && r() < 0.2 ? Buffer.from(frame, 'utf8') : frame;
    log(`ingest ${show(frame)}`);
    const want = model.ingest(asBytes, now);
    for (const { name, store } of stores) {
      // The model does not track publications: the writers' `published` bit is compared between them elsewhere (test/differential.test.ts).
      const got = store.ingest(asBytes, now) & ~Status.published;
      if (got !== want)
        throw new Divergence(
          `seed ${seed}, step ${step}: ${name} ingest returned ${got}, model ${want} (model resync: ${model.pendingResync().join(', ')}); frame ${show(frame)}${trace()}`,
        );
    }
    messages++;
    history.push(frame);
    if (history.length > 50) history.shift();
    compare(step, show(frame));
  };

  for (let step = 0; step < steps; step++) {
    now += r() < 0.05 ? 400 + Math.floor(r() * 1500) : Math.floor(r() * 40);
    // The feed's part: deliver snapshots for resynced tokens, re-add settled ones.
    for (let i = 0; i < due.length; i++) {
      const d = due[i];
      if (d.at > step) continue;
      due.splice(i--, 1);
      if (d.kind === 'rebind') {
        log(`rebind ${d.id}`);
        model.unsubscribe(d.id);
        for (const s of stores) s.store.unsubscribe([d.id]);
        subscribe(d.id);
        due.push({ at: step + 1, id: d.id, kind: 'book' });
      } else if (model.token(d.id)) {
        deliver(JSON.stringify(ex.book(d.id)), step);
      }
    }
    const id = TOKENS[Math.floor(r() * TOKENS.length)];
    const x = r();
    if (x < 0.02) {
      log(`invalidate ${id}`);
      model.invalidate(id);
      for (const s of stores) s.store.invalidate([id], now);
      compare(step, `invalidate ${id}`);
    } else if (x < 0.05) {
      log('tick');
      const want = model.tick(now);
      for (const { name, store } of stores) {
        const got = store.tick(now) & ~Status.published;
        if (got !== want)
          throw new Divergence(`seed ${seed}, step ${step}: ${name} tick returned ${got}, model ${want}`);
      }
      compare(step, `tick ${now}`);
    } else if (x < 0.57) {
      const frame = JSON.stringify(
        r() < 0.85 ? ex.change() : [ex.change(), ex.book(id), ex.change()].slice(0, 1 + Math.floor(r() * 3)),
      );
      const y = r();
      if (y < 0.05) {
        // dropped: the truth moved on without us
      } else if (y < 0.1 && held === null) {
        held = frame; // delivered after the next one (reordered)
      } else {
        deliver(frame, step);
        if (held !== null) {
          deliver(held, step);
          held = null;
        }
      }
    } else if (x < 0.65) {
      deliver(JSON.stringify(ex.book(id)), step);
    } else if (x < 0.73) {
      if (history.length) deliver(history[Math.floor(r() * history.length)], step); // duplicate, recent or old
    } else if (x < 0.88) {
      deliver(malformed(r, ex, id), step);
    } else if (x < 0.92) {
      deliver(JSON.stringify(ex.crossed(id)), step);
    } else if (x < 0.94) {
      const c = ex.change() as { price_changes: { asset_id: string }[] };
      for (const e of c.price_changes) if (r() < 0.7) e.asset_id = UNKNOWN;
      deliver(JSON.stringify(c), step);
    } else if (x < 0.945) {
      deliver(JSON.stringify({ event_type: 'market_resolved', market: '0xm', assets_ids: [id, UNKNOWN] }), step);
      due.push({ at: step + 20 + Math.floor(r() * 30), id, kind: 'rebind' });
    } else {
      deliver(
        JSON.stringify(
          [ex.book(id), ex.change(), ex.crossed(TOKENS[Math.floor(r() * TOKENS.length)])].slice(
            0,
            1 + Math.floor(r() * 3),
          ),
        ),
        step,
      );
    }
    // The resync list, as the feed takes it; refetch those tokens a few steps later.
    const want = model.takeResync();
    for (const { name, store } of stores) {
      const got = store.takeResync();
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw new Divergence(
          `seed ${seed}, step ${step}: ${name} takeResync ${JSON.stringify(got)}, model ${JSON.stringify(want)}`,
        );
    }
    for (const t of want) if (model.token(t)) due.push({ at: step + 1 + Math.floor(r() * 4), id: t, kind: 'book' });
  }
  return { messages, comparisons, counters: { ...model.c } };
}

const graceOf = (seed: number) => [0, 300, 1000][seed % 3];

function makeStores(graceMs: number): { name: string; store: BookStore }[] {
  return BACKENDS.map((backend) => ({
    name: backend,
    store: new BookStore({ backend, clock: 'precise', capacity: 16, maxDepth: 4, graceMs }),
  }));
}

const SEEDS = [1, 2, 3, 4, 5, 6];
/** Steps per seed (about 1.1 messages each; REFERENCE_STEPS=20000 for a longer local run). */
const STEPS = Number(process.env.REFERENCE_STEPS ?? 3000);

describe('differential: both backends against the reference model', () => {
  it(`${SEEDS.length} seeds x ${STEPS} steps of valid, duplicated, reordered, dropped and malformed messages`, () => {
    const totals = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Record<CounterName, number>;
    let messages = 0;
    let comparisons = 0;
    let seeds = 0;
    try {
      for (const seed of SEEDS) {
        const stores = makeStores(graceOf(seed));
        try {
          const t = run(seed, STEPS, stores);
          messages += t.messages;
          comparisons += t.comparisons;
          seeds++;
          for (const n of COUNTERS) totals[n] += t.counters[n];
        } finally {
          for (const s of stores) s.store.close();
        }
      }
    } finally {
      // The counts go to the CI log, also when a seed fails (then they cover the seeds that passed).
      console.log(
        `reference model: ${messages} messages over ${seeds} of ${SEEDS.length} seeds, ${comparisons} token comparisons (${BACKENDS.join(' + ')} vs model); ` +
          Object.entries(totals)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
      );
    }
    expect(messages).toBeGreaterThan(SEEDS.length * STEPS * 0.8);
    // The sequences reach every rule the model covers.
    for (const n of [
      'snapshotsApplied',
      'snapshotsRejected',
      'deltasApplied',
      'deltasWithoutBook',
      'crossedResets',
      'bboMismatches',
      'mismatchesResolved',
      'desyncs',
      'badJson',
      'badEvent',
      'badDecimal',
      'unorderedLevels',
      'unknownEvents',
      'ignored',
      'settled',
      'invalidations',
      'controlFrames',
    ] as const) {
      expect(totals[n], n).toBeGreaterThan(0);
    }
  }, 120_000);

  it.each(BACKENDS)(
    '%s: a level is removed or replaced by any text of its price (found by the run above)',
    (backend) => {
      for (const text of ['0.30', '0.3', '0.300', '.30', '.3', '0.300000000']) {
        const store = new BookStore({ backend, clock: () => 1, capacity: 2 });
        try {
          store.subscribe(['T']);
          const book = {
            event_type: 'book',
            asset_id: 'T',
            bids: [
              { price: '0.20', size: '1' },
              { price: '0.30', size: '5' },
              { price: '0.40', size: '1' },
            ],
            asks: [{ price: '0.6', size: '1' }],
          };
          const change = (size: string) =>
            JSON.stringify({
              event_type: 'price_change',
              timestamp: '2',
              price_changes: [{ asset_id: 'T', price: text, size, side: 'BUY', best_bid: '0.40', best_ask: '0.6' }],
            });
          store.ingest(JSON.stringify(book));
          store.ingest(change('7'));
          expect(store.fullBook('T')!.bids, `set at ${text}`).toEqual([
            ['0.20', '1'],
            [text, '7'],
            ['0.40', '1'],
          ]);
          store.ingest(change('0'));
          expect(store.fullBook('T')!.bids, `removed at ${text}`).toEqual([
            ['0.20', '1'],
            ['0.40', '1'],
          ]);
          store.ingest(JSON.stringify(book));
          store.ingest(change('0'));
          expect(store.fullBook('T')!.bids, `removed at ${text} after a snapshot`).toEqual([
            ['0.20', '1'],
            ['0.40', '1'],
          ]);
        } finally {
          store.close();
        }
      }
    },
  );

  it('catches a backend that deviates, and says where', () => {
    // A store whose writer loses one frame in 500: the comparison must fail at that frame.
    let n = 0;
    class Lossy extends BookStore {
      override ingest(f: string | Uint8Array, now: number): number {
        return ++n % 500 === 0 ? this.tick(now) : super.ingest(f, now);
      }
    }
    const lossy = new Lossy({ backend: 'js', graceMs: graceOf(7), clock: 'precise', capacity: 16, maxDepth: 4 });
    try {
      expect(() => run(7, 2000, [{ name: 'lossy', store: lossy }])).toThrow(
        /^seed 7, step \d+ .*: lossy (counter|token|ingest)/s,
      );
    } finally {
      lossy.close();
    }
  });
});
