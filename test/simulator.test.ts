import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { bookHash } from '../src/protocol/hash.js';
import type { Simulator, SimulatorOptions } from '../src/simulator/index.js';
import { afterTest, simulator } from './rig.js';

// ------------------------------------------------------------------ helpers

const OPENING_KEYS = [
  'market',
  'asset_id',
  'timestamp',
  'hash',
  'bids',
  'asks',
  'tick_size',
  'event_type',
  'last_trade_price',
];
const TRADE_BOOK_KEYS = ['market', 'asset_id', 'bids', 'asks', 'hash', 'timestamp', 'event_type'];
const PRICE_CHANGE_KEYS = ['market', 'price_changes', 'timestamp', 'event_type'];
const ENTRY_KEYS = ['asset_id', 'price', 'size', 'side', 'hash', 'best_bid', 'best_ask'];
const DECIMAL = /^\d+(\.\d+)?$/;
const WAIT_MS = 10_000; // failure guard only: every wait below resolves on a message or event

interface Closed {
  code: number;
  reason: string;
}

/** A test client that queues every message so the test can await them in order. */
class Client {
  private readonly queue: string[] = [];
  private waiter: (() => void) | null = null;
  readonly closed: Promise<Closed>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.queue.push(data.toString('utf8'));
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.closed.then(() => this.waiter?.());
  }

  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url, { maxPayload: 64 << 20 });
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  send(msg: string | object): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Sends the first (type) subscription frame and returns the parsed snapshot array. */
  async subscribe(ids: readonly string[], custom = false): Promise<any[]> {
    this.send({ assets_ids: ids, type: 'market', initial_dump: true, custom_feature_enabled: custom });
    return JSON.parse(await this.next());
  }

  async next(): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    while (this.queue.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a message');
      if (Date.now() > deadline) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, WAIT_MS);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
    return this.queue.shift()!;
  }

  /** Messages up to and including the first one that `stop` accepts. */
  async until(stop: (m: string) => boolean): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (stop(m)) return out;
    }
  }

  /** Everything already sent before this call: PING, then messages up to the PONG (excluded). */
  async drain(): Promise<string[]> {
    this.send('PING');
    return (await this.until((m) => m === 'PONG')).slice(0, -1);
  }

  /** Takes every queued message. */
  rest(): string[] {
    return this.queue.splice(0);
  }

  close(): void {
    this.ws.terminate();
  }
}

type Levels = Map<string, string>;
interface LocalBook {
  bids: Levels;
  asks: Levels;
}

const sorted = (m: Levels, ascending: boolean): [string, string][] =>
  [...m.entries()].sort((a, b) => (ascending ? Number(a[0]) - Number(b[0]) : Number(b[0]) - Number(a[0])));
const best = (m: Levels, bid: boolean): string => {
  const l = sorted(m, !bid);
  return l.length ? l[0]![0] : '';
};
const fromWire = (levels: { price: string; size: string }[]): Levels => new Map(levels.map((l) => [l.price, l.size]));

/** A minimal client-side book table: snapshots, price_change deltas, tick sizes and trade prices. */
class LocalBooks {
  readonly books = new Map<string, LocalBook>();
  readonly tick = new Map<string, string>();
  readonly ltp = new Map<string, string>();

  apply(event: any): void {
    switch (event.event_type) {
      case 'book':
        this.books.set(event.asset_id, { bids: fromWire(event.bids), asks: fromWire(event.asks) });
        if (event.tick_size !== undefined) this.tick.set(event.asset_id, event.tick_size);
        if (event.last_trade_price !== undefined) this.ltp.set(event.asset_id, event.last_trade_price);
        break;
      case 'price_change':
        for (const e of event.price_changes) {
          const b = this.books.get(e.asset_id);
          if (!b) continue;
          const side = e.side === 'BUY' ? b.bids : b.asks;
          if (e.size === '0') side.delete(e.price);
          else side.set(e.price, e.size);
        }
        break;
      case 'tick_size_change':
        this.tick.set(event.asset_id, event.new_tick_size);
        break;
      case 'last_trade_price':
        this.ltp.set(event.asset_id, event.price);
        break;
    }
  }

  wire(token: string): { bids: [string, string][]; asks: [string, string][] } {
    const b = this.books.get(token)!;
    return { bids: sorted(b.bids, true), asks: sorted(b.asks, false) };
  }

  hash(sim: Simulator, market: string, token: string, timestamp: string): string {
    const info = sim.token(token)!;
    const w = this.wire(token);
    return bookHash({
      market,
      assetId: token,
      timestamp,
      bids: w.bids,
      asks: w.asks,
      minOrderSize: info.minOrderSize,
      tickSize: this.tick.get(token)!,
      negRisk: info.negRisk,
      lastTradePrice: this.ltp.get(token)!,
    });
  }
}

function verifyOpeningHash(sim: Simulator, b: any): void {
  const info = sim.token(b.asset_id)!;
  const expected = bookHash({
    market: b.market,
    assetId: b.asset_id,
    timestamp: b.timestamp,
    bids: b.bids.map((l: any) => [l.price, l.size]),
    asks: b.asks.map((l: any) => [l.price, l.size]),
    minOrderSize: info.minOrderSize,
    tickSize: b.tick_size,
    negRisk: info.negRisk,
    lastTradePrice: b.last_trade_price,
  });
  expect(b.hash).toBe(expected);
}

/** A simulator with no flow of its own (tests drive it), closed after the test. */
function sim(options: SimulatorOptions = {}): Promise<Simulator> {
  return simulator({ rate: 0, snapshotDelayMs: 5, tickChangeRate: 0, ...options });
}

/** A raw protocol client, closed after the test (before its simulator). */
async function client(s: Simulator): Promise<Client> {
  const c = await Client.open(s.url);
  afterTest(() => c.close());
  return c;
}

/** A clock that advances 1 ms per reading: every timestamp differs, runs are repeatable. */
function counterClock(start = 1_791_000_000_000): () => number {
  let t = start;
  return () => t++;
}

// ------------------------------------------------------------------ tests

describe('simulator: universe and opening snapshot', () => {
  it('generates deterministic ids of the right shape and exposes metadata', async () => {
    const s = await sim({ markets: 4, seed: 42 });
    expect(s.tokens).toHaveLength(8);
    expect(new Set(s.tokens).size).toBe(8);
    for (const id of s.tokens) expect(id).toMatch(/^[1-9]\d{76,77}$/);
    for (const m of s.markets) {
      expect(m.conditionId).toMatch(/^0x[0-9a-f]{64}$/);
      expect(m.tokens).toEqual([m.yes, m.no]);
      expect(m.minOrderSize).toBe('5');
      expect(typeof m.negRisk).toBe('boolean');
      expect(s.token(m.yes)).toMatchObject({ conditionId: m.conditionId, outcome: m.outcomes[0], complement: m.no });
      expect(s.token(m.no)).toMatchObject({ outcome: m.outcomes[1] });
      expect(m.question.length).toBeGreaterThan(10);
      expect(m.slug).toMatch(/^[a-z0-9-]+$/);
    }
    const again = await sim({ markets: 4, seed: 42 });
    expect(again.tokens).toEqual(s.tokens);
    expect(again.markets.map((m) => m.conditionId)).toEqual(s.markets.map((m) => m.conditionId));
    const other = await sim({ markets: 4, seed: 43 });
    expect(other.tokens).not.toEqual(s.tokens);
    expect(s.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws\/market$/);
  });

  it('answers the first frame with one array of opening books in wire order with verifiable hashes', async () => {
    const s = await sim({ markets: 6, seed: 7 });
    const c = await client(s);
    const unknown = '1'.repeat(77);
    const snap = await c.subscribe([...s.tokens, unknown]);
    expect(Array.isArray(snap)).toBe(true);
    expect(snap).toHaveLength(12);
    expect(snap.map((b) => b.asset_id)).toEqual(s.tokens);
    for (const b of snap) {
      expect(Object.keys(b)).toEqual(OPENING_KEYS);
      expect(b.event_type).toBe('book');
      expect(b.market).toBe(s.token(b.asset_id)!.conditionId);
      expect(b.timestamp).toMatch(/^\d{13}$/);
      expect(b.hash).toMatch(/^[0-9a-f]{40}$/);
      expect(b.bids.length + b.asks.length).toBeGreaterThanOrEqual(20);
      for (const l of [...b.bids, ...b.asks]) {
        expect(Object.keys(l)).toEqual(['price', 'size']);
        expect(l.price).toMatch(DECIMAL);
        expect(l.size).toMatch(DECIMAL);
        expect(l.price).not.toMatch(/\.\d*0$/); // no trailing zeros, like the exchange
      }
      const bp = b.bids.map((l: any) => Number(l.price));
      const ap = b.asks.map((l: any) => Number(l.price));
      for (let i = 1; i < bp.length; i++) expect(bp[i]).toBeGreaterThan(bp[i - 1]);
      for (let i = 1; i < ap.length; i++) expect(ap[i]).toBeLessThan(ap[i - 1]);
      expect(bp.at(-1)!).toBeLessThan(ap.at(-1)!); // best bid = bids[last] < best ask = asks[last]
      verifyOpeningHash(s, b);
      const truth = s.book(b.asset_id);
      expect(b.bids.map((l: any) => [l.price, l.size])).toEqual(truth.bids);
      expect(b.asks.map((l: any) => [l.price, l.size])).toEqual(truth.asks);
      expect(b.hash).toBe(truth.hash);
      expect(b.tick_size).toBe(truth.tickSize);
      expect(b.last_trade_price).toBe(truth.lastTradePrice);
    }
    // The NO book mirrors the YES book.
    const [yes, no] = [snap[0], snap[1]];
    expect(no.asks.map((l: any) => [(1 - Number(l.price)).toFixed(4), l.size])).toEqual(
      yes.bids.map((l: any) => [Number(l.price).toFixed(4), l.size]),
    );
    expect(no.bids.map((l: any) => [(1 - Number(l.price)).toFixed(4), l.size])).toEqual(
      yes.asks.map((l: any) => [Number(l.price).toFixed(4), l.size]),
    );
  });

  it('answers a subscription of only unknown tokens with []', async () => {
    const s = await sim({ markets: 1 });
    const c = await client(s);
    expect(await c.subscribe(['123', 'not-a-token'])).toEqual([]);
  });

  it('rejects upgrades on other paths with 404', async () => {
    const s = await sim({ markets: 1 });
    const err = await new Promise<Error>((resolve) => {
      const ws = new WebSocket(s.url.replace('/ws/market', '/ws/'));
      ws.once('error', resolve);
    });
    expect(err.message).toMatch(/404/);
  });

  it('serves REST /book with the hash key order, 404 for settled tokens', async () => {
    const s = await sim({ markets: 2 });
    const [id] = s.tokens;
    const res = await fetch(`${s.httpUrl}/book?token_id=${id}`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(Object.keys(body)).toEqual([
      'market',
      'asset_id',
      'timestamp',
      'hash',
      'bids',
      'asks',
      'min_order_size',
      'tick_size',
      'neg_risk',
      'last_trade_price',
    ]);
    expect(body.hash).toBe(s.book(id!).hash);
    s.settle(id!);
    const gone = await fetch(`${s.httpUrl}/book?token_id=${id}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: 'No orderbook exists for the requested token id' });
  });

  it('serves the per-token facts clob-client asks before signing: tick size (a number), neg risk, fee rate', async () => {
    const s = await sim({ markets: 2, tickSize: '0.001' });
    const [id] = s.tokens;
    const get = async (path: string) => {
      const res = await fetch(`${s.httpUrl}${path}`);
      return { status: res.status, text: await res.text() };
    };
    expect(await get(`/tick-size?token_id=${id}`)).toEqual({ status: 200, text: '{"minimum_tick_size":0.001}\n' });
    expect(await get(`/neg-risk?token_id=${id}`)).toEqual({
      status: 200,
      text: `{"neg_risk":${s.token(id!)!.negRisk}}\n`,
    });
    expect(await get(`/fee-rate?token_id=${id}`)).toEqual({ status: 200, text: '{"base_fee":0}\n' });
    s.setTickSize(s.token(id!)!.conditionId, '0.01');
    expect(JSON.parse((await get(`/tick-size?token_id=${id}`)).text)).toEqual({ minimum_tick_size: 0.01 });
    expect(await get('/tick-size?token_id=123')).toEqual({ status: 404, text: '{"error":"market not found"}\n' });
    expect(await get('/neg-risk')).toEqual({ status: 400, text: '{"error":"Invalid token id"}\n' });
  });
});

describe('simulator: subscription protocol', () => {
  it('replies INVALID OPERATION, NO NEW ASSETS, INVALID MESSAGE and sends books for new assets', async () => {
    const s = await sim({ markets: 3 });
    const c = await client(s);
    const [a, b, d] = s.tokens;
    expect((await c.subscribe([a!])).map((x) => x.asset_id)).toEqual([a]);
    c.send({ assets_ids: [b], type: 'market' });
    expect(await c.next()).toBe('INVALID OPERATION');
    c.send({ operation: 'subscribe', assets_ids: [a] });
    expect(await c.next()).toBe('NO NEW ASSETS');
    c.send('this is not json');
    expect(await c.next()).toBe('INVALID MESSAGE');
    c.send({ operation: 'subscribe', assets_ids: [a, b, d] });
    const added = JSON.parse(await c.next());
    expect(added.map((x: any) => x.asset_id)).toEqual([b, d]);
    for (const x of added) expect(Object.keys(x)).toEqual(OPENING_KEYS);
    expect(s.connections()).toMatchObject({ count: 1, connections: [{ id: 1, tokens: 3 }] });
    c.send({ operation: 'unsubscribe', assets_ids: [b, d] });
    expect(await c.drain()).toEqual([]); // unsubscribe has no reply
    expect(s.connections().connections[0]!.tokens).toBe(1);
  });

  it('queues PONG behind the data already sent on that socket', async () => {
    const s = await sim({ markets: 5 });
    const c = await client(s);
    await c.subscribe(s.tokens);
    const before = s.stats();
    s.step(3000); // queued synchronously, megabytes of frames
    c.send('PING');
    const msgs = await c.until((m) => m === 'PONG');
    const changes = msgs.filter((m) => m.includes('"event_type":"price_change"'));
    expect(changes).toHaveLength(3000);
    expect(msgs.at(-1)).toBe('PONG');
    const after = s.stats();
    expect(after.pingsAnswered - before.pingsAnswered).toBe(1);
    expect(after.framesSent - before.framesSent).toBe(msgs.length);
  });

  it('gives no snapshot beyond maxTokensPerConnection, only later updates', async () => {
    const s = await sim({ markets: 4, maxTokensPerConnection: 5 });
    const c = await client(s);
    const snap = await c.subscribe(s.tokens.slice(0, 6));
    expect(snap.map((b) => b.asset_id)).toEqual(s.tokens.slice(0, 5));
    c.send({ operation: 'subscribe', assets_ids: s.tokens.slice(6) });
    expect(await c.next()).toBe('[]');
    expect(s.connections().connections[0]!.tokens).toBe(8);
    // Updates still arrive for the tokens that got no snapshot.
    s.step(200);
    const seen = new Set<string>();
    for (const m of await c.drain()) {
      const e = JSON.parse(m);
      if (e.event_type === 'price_change') for (const x of e.price_changes) seen.add(x.asset_id);
    }
    for (const id of s.tokens.slice(5)) expect(seen.has(id)).toBe(true);
  });

  it('gives no snapshot at all to a frame naming more than maxTokensPerFrame tokens', async () => {
    const s = await sim({ markets: 3, maxTokensPerFrame: 4 });
    const c = await client(s);
    c.send({ assets_ids: s.tokens, type: 'market', initial_dump: true });
    expect(await c.drain()).toEqual([]);
    expect(s.connections().connections[0]!.tokens).toBe(6);
  });

  it('sends best_bid_ask only to custom-feature connections', async () => {
    const s = await sim({ markets: 2 });
    const plain = await client(s);
    const custom = await client(s);
    await plain.subscribe(s.tokens, false);
    await custom.subscribe(s.tokens, true);
    s.step(300);
    const p = (await plain.drain()).map((m) => JSON.parse(m));
    const q = (await custom.drain()).map((m) => JSON.parse(m));
    expect(p.some((e) => e.event_type === 'best_bid_ask')).toBe(false);
    const bba = q.filter((e) => e.event_type === 'best_bid_ask');
    expect(bba.length).toBeGreaterThan(0);
    expect(Object.keys(bba[0])).toEqual([
      'market',
      'asset_id',
      'best_bid',
      'best_ask',
      'spread',
      'timestamp',
      'event_type',
    ]);
    // Everything else is identical on both sockets.
    expect(q.filter((e) => e.event_type !== 'best_bid_ask')).toEqual(p);
  });
});

describe('simulator: live activity', () => {
  it('emits mirrored price_change pairs that rebuild sim.book() exactly, with verifiable hashes', async () => {
    const s = await sim({ markets: 4, seed: 5, clock: counterClock() });
    const c = await client(s);
    const local = new LocalBooks();
    for (const b of await c.subscribe(s.tokens)) local.apply(b);
    s.step(1500);
    const msgs = (await c.drain()).map((m) => JSON.parse(m));
    let pending: { market: string; entries: any[]; timestamp: string } | null = null;
    const checkPending = () => {
      // A price_change hash includes the trade price that last_trade_price announces just after it.
      if (!pending) return;
      for (const e of pending.entries)
        expect(local.hash(s, pending.market, e.asset_id, pending.timestamp)).toBe(e.hash);
      pending = null;
    };
    let trades = 0;
    for (const e of msgs) {
      if (e.event_type === 'price_change') {
        checkPending();
        expect(Object.keys(e)).toEqual(PRICE_CHANGE_KEYS);
        expect(e.price_changes).toHaveLength(2);
        const [x, y] = e.price_changes;
        for (const entry of e.price_changes) expect(Object.keys(entry)).toEqual(ENTRY_KEYS);
        const market = s.markets.find((m) => m.conditionId === e.market)!;
        expect(new Set([x.asset_id, y.asset_id])).toEqual(new Set(market.tokens));
        expect(x.side).toBe('BUY');
        expect(y.side).toBe('SELL');
        expect(Math.round((Number(x.price) + Number(y.price)) * 1e6)).toBe(1e6);
        expect(x.size).toBe(y.size);
        local.apply(e);
        for (const entry of e.price_changes) {
          const b = local.books.get(entry.asset_id)!;
          expect(entry.best_bid).toBe(best(b.bids, true));
          expect(entry.best_ask).toBe(best(b.asks, false));
          expect(Number(entry.best_bid)).toBeLessThan(Number(entry.best_ask)); // never crossed
        }
        pending = { market: e.market, entries: e.price_changes, timestamp: e.timestamp };
      } else if (e.event_type === 'book') {
        expect(Object.keys(e)).toEqual(TRADE_BOOK_KEYS);
        expect(pending!.entries.find((x: any) => x.asset_id === e.asset_id).hash).toBe(e.hash);
        expect(e.timestamp).toBe(pending!.timestamp);
        local.apply(e);
      } else if (e.event_type === 'last_trade_price') {
        trades++;
        expect(e.size).toMatch(DECIMAL);
        local.apply(e);
      } else throw new Error(`unexpected ${e.event_type}`);
    }
    checkPending();
    expect(trades).toBeGreaterThan(0);
    for (const id of s.tokens) {
      const truth = s.book(id);
      expect(local.wire(id)).toEqual({ bids: truth.bids, asks: truth.asks });
      expect(local.ltp.get(id)).toBe(truth.lastTradePrice);
    }
  });

  it('announces tick size changes and cancels off-grid levels when the tick gets coarser', async () => {
    const s = await sim({ markets: 1, tickSize: '0.01', clock: counterClock() });
    const c = await client(s);
    const local = new LocalBooks();
    for (const b of await c.subscribe(s.tokens)) local.apply(b);
    const cond = s.markets[0]!.conditionId;
    s.setTickSize(cond, '0.001');
    s.step(400);
    s.setTickSize(cond, '0.01');
    const msgs = (await c.drain()).map((m) => JSON.parse(m));
    const ticks = msgs.filter((e) => e.event_type === 'tick_size_change');
    expect(ticks.map((e) => [e.asset_id, e.old_tick_size, e.new_tick_size])).toEqual([
      [s.tokens[0], '0.01', '0.001'],
      [s.tokens[1], '0.01', '0.001'],
      [s.tokens[0], '0.001', '0.01'],
      [s.tokens[1], '0.001', '0.01'],
    ]);
    for (const e of msgs) local.apply(e);
    for (const id of s.tokens) {
      const truth = s.book(id);
      expect(truth.tickSize).toBe('0.01');
      for (const [p] of [...truth.bids, ...truth.asks]) expect(Math.round(Number(p) * 1e4) % 100).toBe(0);
      expect(local.wire(id)).toEqual({ bids: truth.bids, asks: truth.asks });
      expect(local.hash(s, cond, id, truth.timestamp)).toBe(truth.hash);
    }
  });

  it('is deterministic from the seed: same subscription, same frames', async () => {
    const run = async () => {
      const s = await sim({ markets: 5, seed: 99, clock: counterClock() });
      const c = await client(s);
      const snap = await c.subscribe(s.tokens, true);
      s.step(500);
      return { snap, frames: await c.drain(), books: s.tokens.map((t) => s.book(t)) };
    };
    const a = await run();
    const b = await run();
    expect(b.snap).toEqual(a.snap);
    expect(b.frames).toEqual(a.frames);
    expect(b.books).toEqual(a.books);
    expect(a.frames.length).toBeGreaterThan(500);
  });

  it('generates changes on its own at the configured rate', async () => {
    const s = await sim({ markets: 3, rate: 2000 });
    const c = await client(s);
    await c.subscribe(s.tokens);
    const msgs = await c.until((m) => m.includes('"price_change"'));
    expect(JSON.parse(msgs.at(-1)!).event_type).toBe('price_change');
    s.setRate(0);
    expect(s.stats().changes).toBeGreaterThan(0);
  });

  it('serves 2,000 tokens over 4 connections at tens of thousands of frames', async () => {
    const s = await sim({ markets: 1000, seed: 3 });
    const cs = await Promise.all([0, 1, 2, 3].map(() => client(s)));
    const snaps = await Promise.all(cs.map((c, i) => c.subscribe(s.tokens.slice(i * 500, i * 500 + 500), i === 0)));
    expect(snaps.map((x) => x.length)).toEqual([500, 500, 500, 500]);
    expect(s.connections().connections.map((x) => x.tokens)).toEqual([500, 500, 500, 500]);
    const before = s.stats().framesSent;
    for (let i = 0; i < 10; i++) s.step(2000);
    const got = await Promise.all(cs.map((c) => c.drain()));
    const total = got.reduce((n, g) => n + g.length, 0);
    expect(total).toBeGreaterThan(20_000);
    expect(s.stats().framesSent - before).toBe(total + 4); // + the 4 PONGs
  }, 30_000);
});

describe('simulator: faults', () => {
  async function subscribed(options: SimulatorOptions = {}): Promise<{ s: Simulator; c: Client; snap: any[] }> {
    const s = await sim({ markets: 3, clock: counterClock(), ...options });
    const c = await client(s);
    const snap = await c.subscribe(s.tokens, true);
    return { s, c, snap };
  }

  it('drop: the socket ends without a close frame', async () => {
    const { s, c } = await subscribed();
    expect(s.inject('drop')).toBe(1);
    expect((await c.closed).code).toBe(1006);
  });

  it('close1013: slow consumer close', async () => {
    const { s, c } = await subscribed();
    s.inject('close1013', { connection: 1 });
    expect(await c.closed).toEqual({ code: 1013, reason: 'slow consumer: send buffer full' });
  });

  it('closes a connection whose send buffer exceeds maxBufferedBytes with 1013', async () => {
    const { s, c } = await subscribed({ maxBufferedBytes: 64 * 1024, markets: 3 });
    c.ws.pause();
    for (let i = 0; i < 50 && s.stats().slowConsumerCloses === 0; i++) s.step(2000);
    c.ws.resume();
    expect((await c.closed).code).toBe(1013);
  });

  it('stall: PING is answered but no data flows until heal()', async () => {
    const { s, c } = await subscribed();
    s.inject('stall');
    s.step(100);
    expect(await c.drain()).toEqual([]);
    expect(s.connections().connections[0]!.stalled).toBe(true);
    s.heal();
    s.step(100);
    expect((await c.drain()).length).toBeGreaterThan(0);
  });

  it('deaf: data flows but PING is not answered', async () => {
    const { s, c } = await subscribed();
    s.inject('deaf');
    s.step(20);
    c.send('PING');
    c.send('garbage to get a reply');
    const msgs = await c.until((m) => m === 'INVALID MESSAGE');
    expect(msgs.filter((m) => m.includes('price_change')).length).toBe(20);
    expect(msgs).not.toContain('PONG');
    s.heal(1);
    expect(await c.drain()).toEqual([]);
  });

  it('freeze (one token): its updates stop while its book changes (REST shows it), other tokens and PONG go on; a resubscription ends it', async () => {
    const { s, c } = await subscribed({ markets: 2 });
    const [a, b] = s.markets;
    const frozen = a!.yes;
    expect(s.inject('freeze', { tokenId: frozen })).toBe(1);
    expect(s.connections().connections[0]!.frozen).toBe(1);
    const before = s.book(frozen).timestamp;
    s.step(60);
    const msgs = (await c.drain()).map((m) => JSON.parse(m));
    const named = (e: any): string[] =>
      e.event_type === 'price_change' ? e.price_changes.map((x: any) => x.asset_id) : [e.asset_id];
    const ids = msgs.flatMap((e) => (Array.isArray(e) ? e.flatMap(named) : named(e)));
    expect(ids).not.toContain(frozen);
    // Its complement (same market, same frames) and the other market keep flowing.
    expect(ids).toContain(a!.no);
    expect(ids).toContain(b!.yes);
    expect(s.book(frozen).timestamp).not.toBe(before);
    const rest = (await (await fetch(`${s.httpUrl}/book?token_id=${frozen}`)).json()) as { timestamp: string };
    expect(rest.timestamp).toBe(s.book(frozen).timestamp);
    // Subscribed afresh: its current book comes, and its updates flow again.
    c.send({ operation: 'unsubscribe', assets_ids: [frozen] });
    c.send({ operation: 'subscribe', assets_ids: [frozen] });
    const snap = (await c.until((m) => m.startsWith('['))).at(-1)!;
    expect(JSON.parse(snap).map((x: any) => x.timestamp)).toEqual([s.book(frozen).timestamp]);
    expect(s.connections().connections[0]!.frozen).toBe(0);
    expect(s.stats().faultsInjected.freeze).toBe(1);
  });

  it('freeze (a quiet connection): nothing but PONG until heal(); a new subscription on it is not frozen', async () => {
    const { s, c } = await subscribed({ markets: 2 });
    expect(s.inject('freeze', { connection: 1 })).toBe(1);
    expect(s.connections().connections[0]!.frozen).toBe(4);
    s.step(40);
    expect(await c.drain()).toEqual([]);
    s.heal(1);
    s.step(40);
    expect((await c.drain()).length).toBeGreaterThan(0);
  });

  it('malformed: garbage text, broken JSON and bad decimals', async () => {
    const { s, c, snap } = await subscribed();
    const token = snap[0].asset_id;
    s.inject('malformed', { variant: 'garbage' });
    s.inject('malformed', { variant: 'json', tokenId: token });
    s.inject('malformed', { variant: 'decimal', tokenId: token });
    const [garbage, json, decimal] = await c.drain();
    expect(() => JSON.parse(garbage!)).toThrow();
    expect(() => JSON.parse(json!)).toThrow();
    const e = JSON.parse(decimal!);
    expect(e.event_type).toBe('price_change');
    const entry = e.price_changes[0];
    expect(entry.asset_id).toBe(token);
    expect(DECIMAL.test(entry.price) && DECIMAL.test(entry.size)).toBe(false);
    expect(s.stats().faultsInjected.malformed).toBe(3);
  });

  it('crossed: one price_change crosses the book with consistent best_bid/best_ask; the true book stays clean', async () => {
    const { s, c, snap } = await subscribed();
    const local = new LocalBooks();
    for (const b of snap) local.apply(b);
    const token = s.tokens[2]!;
    expect(s.inject('crossed', { tokenId: token })).toBe(1);
    const [frame] = await c.drain();
    const e = JSON.parse(frame!);
    expect(e.event_type).toBe('price_change');
    local.apply(e);
    for (const entry of e.price_changes) {
      const b = local.books.get(entry.asset_id)!;
      expect(entry.best_bid).toBe(best(b.bids, true));
      expect(entry.best_ask).toBe(best(b.asks, false));
      expect(Number(entry.best_bid)).toBeGreaterThanOrEqual(Number(entry.best_ask));
      expect(local.hash(s, e.market, entry.asset_id, e.timestamp)).toBe(entry.hash);
    }
    const truth = s.book(token);
    expect(Number(truth.bestBid)).toBeLessThan(Number(truth.bestAsk));
  });

  it('duplicate: the previous frame is sent again byte for byte', async () => {
    const { s, c } = await subscribed();
    s.step(1);
    const first = await c.drain();
    s.inject('duplicate');
    const again = await c.drain();
    expect(again).toEqual([first.at(-1)]);
  });

  it('outOfOrder: the next price_change is stamped in the past, its hashes still verify', async () => {
    const { s, c, snap } = await subscribed({ markets: 1 });
    const local = new LocalBooks();
    for (const b of snap) local.apply(b);
    s.step(5);
    const first = (await c.drain()).map((m) => JSON.parse(m));
    for (const e of first) local.apply(e);
    const lastTs = Math.max(...first.map((e) => Number(e.timestamp)));
    s.inject('outOfOrder');
    s.step(1);
    const next = (await c.drain()).map((m) => JSON.parse(m));
    const pc = next.find((e) => e.event_type === 'price_change');
    expect(Number(pc.timestamp)).toBeLessThan(lastTs);
    for (const e of next) local.apply(e);
    for (const entry of pc.price_changes)
      expect(local.hash(s, pc.market, entry.asset_id, pc.timestamp)).toBe(entry.hash);
  });

  it('settle: size-0 burst to best_bid "0"/best_ask "1", market_resolved, then close 1000', async () => {
    const s = await sim({ markets: 2, clock: counterClock() });
    const [yes, no, other] = s.tokens;
    const custom = await client(s);
    const plain = await client(s);
    const mixed = await client(s);
    await custom.subscribe([yes!, no!], true);
    await plain.subscribe([yes!], false);
    await mixed.subscribe([no!, other!], true);
    const cond = s.markets[0]!.conditionId;
    expect(s.inject('settle', { tokenId: yes })).toBe(3);

    const msgs = (await custom.until((m) => m.includes('market_resolved'))).map((m) => JSON.parse(m));
    const changes = msgs.filter((e) => e.event_type === 'price_change');
    expect(changes.length).toBeGreaterThan(10);
    for (const e of changes) for (const x of e.price_changes) expect(x.size).toBe('0');
    const lastChange = changes.at(-1)!;
    for (const x of lastChange.price_changes) expect([x.best_bid, x.best_ask]).toEqual(['0', '1']);
    const resolved = msgs.at(-1)!;
    expect(resolved).toMatchObject({ market: cond, assets_ids: [yes, no], event_type: 'market_resolved' });
    expect([yes, no]).toContain(resolved.winning_asset_id);
    expect(await custom.closed).toEqual({ code: 1000, reason: 'all subscribed assets resolved' });

    // The plain socket gets the burst, no market_resolved, then the close.
    expect(await plain.closed).toEqual({ code: 1000, reason: 'all subscribed assets resolved' });
    const plainMsgs = plain.rest().map((x) => JSON.parse(x));
    expect(plainMsgs.length).toBeGreaterThan(10);
    expect(plainMsgs.every((e) => e.event_type === 'price_change')).toBe(true);

    // A socket with a token of another market stays open.
    const m = (await mixed.until((x) => x.includes('market_resolved'))).map((x) => JSON.parse(x));
    expect(m.at(-1).event_type).toBe('market_resolved');
    expect(await mixed.drain()).toEqual([]);
    expect(s.book(yes!)).toMatchObject({ bids: [], asks: [], bestBid: '0', bestAsk: '1', settled: true });
    // Settled tokens are left out of later snapshots.
    const late = await client(s);
    expect(await late.subscribe([yes!, no!])).toEqual([]);
  });

  it('injects random faults from the seed at faultRate', async () => {
    const { s } = await subscribed({ faults: ['duplicate', 'malformed'], faultRate: 0.5 });
    s.step(100);
    const f = s.stats().faultsInjected;
    expect(f.duplicate + f.malformed).toBeGreaterThan(20);
  });
});
