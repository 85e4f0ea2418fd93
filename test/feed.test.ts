/**
 * SubscriptionManager against the local simulator over loopback sockets, on both backends:
 * subscription frames, sharding, scale, every fault, backoff, watchdogs, resync, confirmation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { BookStore } from '../src/table/store.js';
import { Miss } from '../src/table/metrics.js';
import { Backoff } from '../src/feed/backoff.js';
import { SubscriptionManager, type DisconnectedEvent, type FeedGroup } from '../src/feed/manager.js';
import type { FeedOptions } from '../src/feed/options.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.js';
import { BACKENDS, FAST_FEED as FAST, matchesSim, waitFor } from './helpers.js';
import { bookProblem } from '../src/simulator/check.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 15_000 });

// ---------------------------------------------------------------- helpers

/** Polls `cond` until it holds (bounded); fails with `what` otherwise. */

/** Resolves with the first event matching `pred`. */
function nextEvent<T>(
  on: (fn: (e: T) => void) => () => void,
  pred: (e: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error('timed out waiting for an event'));
    }, timeoutMs);
    const off = on((e) => {
      if (!pred(e)) return;
      clearTimeout(t);
      off();
      resolve(e);
    });
  });
}

function disconnects(
  feed: SubscriptionManager,
  pred?: (e: DisconnectedEvent) => boolean,
  timeoutMs?: number,
): Promise<DisconnectedEvent> {
  return nextEvent<DisconnectedEvent>(
    (fn) => {
      feed.on('disconnected', fn);
      return () => feed.off('disconnected', fn);
    },
    pred,
    timeoutMs,
  );
}

function groupsOf(sim: Simulator): FeedGroup[] {
  return sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] }));
}

/** Stops the simulator's flow, then waits until every (non-settled) token is served and equals the truth. */
async function expectAllMatch(
  store: BookStore,
  sim: Simulator,
  tokens: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  sim.setRate(0);
  const live = tokens.filter((t) => !sim.book(t).settled);
  let bad: string[] = [];
  try {
    await waitFor(
      () => {
        bad = live.filter((t) => !matchesSim(store, sim, t));
        return bad.length === 0;
      },
      'every book served and equal to the simulator',
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${bad.length} differ, e.g. ${JSON.stringify(store.state(bad[0]))}`);
  }
}

interface Rig {
  sim: Simulator;
  store: BookStore;
  feed: SubscriptionManager;
}

const rigs: Rig[] = [];
const servers: WebSocketServer[] = [];

async function rig(
  backend: 'js' | 'native',
  simOptions: SimulatorOptions,
  feedOptions: FeedOptions = {},
  start = true,
): Promise<Rig> {
  const sim = await startSimulator({ seed: 7, rate: 200, ...simOptions });
  const store = new BookStore({ backend, clock: 'precise', capacity: 4096, graceMs: 300 });
  const feed = new SubscriptionManager(store, { ...FAST, url: sim.url, ...feedOptions });
  const r = { sim, store, feed };
  rigs.push(r);
  if (start) feed.start(groupsOf(sim));
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.feed.stop();
    r.store.close();
    await r.sim.close();
  }
  for (const s of servers.splice(0)) await new Promise<void>((res) => s.close(() => res()));
});

/** A bare WebSocket server that records what the client sends and answers PING. */
async function recordingServer(): Promise<{
  url: string;
  frames: { conn: number; text: string }[];
  sockets: WebSocket[];
}> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(wss);
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const frames: { conn: number; text: string }[] = [];
  const sockets: WebSocket[] = [];
  wss.on('connection', (ws) => {
    const conn = sockets.push(ws);
    ws.on('message', (d) => {
      const text = d.toString();
      if (text === 'PING') ws.send('PONG');
      else frames.push({ conn, text });
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws/market`, frames, sockets };
}

// ---------------------------------------------------------------- backoff (pure)

describe('Backoff', () => {
  it('grows exponentially to the cap, with jitter below the base, and resets', () => {
    let r = 0;
    const b = new Backoff({ minMs: 100, maxMs: 30_000, jitter: 0.5, resetAfterMs: 10_000 }, () => r);
    const delays = Array.from({ length: 12 }, () => b.next());
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
    b.reset();
    r = 1; // the most jitter: half the base, never below minMs
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([100, 100, 200, 400]);
    r = 0.5;
    expect(b.next()).toBe(1200); // base 1600, 25% off
    b.connected(9_999); // a short connection does not reset
    expect(b.attempt).toBe(5);
    b.connected(10_000); // a healthy period does
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(100);
  });

  it('rejects bad settings', () => {
    expect(() => new Backoff({ minMs: 100, maxMs: 50 })).toThrow(/maxMs/);
    expect(() => new Backoff({ jitter: 2 })).toThrow(/jitter/);
  });
});

// ---------------------------------------------------------------- per backend

describe.each(BACKENDS)('SubscriptionManager (%s backend)', (backend) => {
  it('sends the documented subscription frames and understands text replies', async () => {
    const srv = await recordingServer();
    const store = new BookStore({ backend, clock: 'precise', capacity: 64 });
    const logged: string[] = [];
    const feed = new SubscriptionManager(store, {
      ...FAST,
      url: srv.url,
      maxTokensPerConnection: 4,
      customFeatures: true,
      logger: { warn: (m) => logged.push(m), debug: (m) => logged.push(m) },
    });
    rigs.push({ sim: { close: async () => {} } as Simulator, store, feed });
    feed.start([
      { market: 'm1', tokens: ['a1', 'a2'] },
      { market: 'm2', tokens: ['b1', 'b2'] },
      'c',
      { tokens: ['d1', 'd2', 'd3'] },
    ]);
    await waitFor(() => srv.frames.length >= 2, 'two first frames');
    const first = srv.frames.map((f) => JSON.parse(f.text));
    for (const f of first) {
      expect(Object.keys(f)).toEqual(['assets_ids', 'type', 'initial_dump', 'custom_feature_enabled']);
      expect(f).toMatchObject({ type: 'market', initial_dump: true, custom_feature_enabled: true });
    }
    expect(first.map((f) => f.assets_ids).sort()).toEqual(
      [
        ['a1', 'a2', 'b1', 'b2'],
        ['c', 'd1', 'd2', 'd3'],
      ].sort(),
    );
    expect(feed.connectionOf('a1')).toBe(feed.connectionOf('a2'));
    expect(feed.connectionOf('d1')).toBe(feed.connectionOf('d3'));
    for (const t of ['a1', 'c', 'd3']) expect(store.state(t)?.conn).toBe(feed.connectionOf(t));

    // Later changes: operation frames, flag repeated, no `type`.
    const cConn = srv.frames.find((f) => f.text.includes('"c"'))!.conn;
    feed.remove(['c']);
    await waitFor(() => srv.frames.length >= 3, 'unsubscribe frame');
    expect(JSON.parse(srv.frames[2].text)).toEqual({
      operation: 'unsubscribe',
      assets_ids: ['c'],
      custom_feature_enabled: true,
    });
    expect(srv.frames[2].conn).toBe(cConn);
    expect(store.has('c')).toBe(false);
    feed.add(['e']);
    await waitFor(() => srv.frames.length >= 4, 'subscribe frame');
    expect(JSON.parse(srv.frames[3].text)).toEqual({
      operation: 'subscribe',
      assets_ids: ['e'],
      custom_feature_enabled: true,
    });
    expect(srv.frames[3].conn).toBe(cConn);

    // Control replies are counted and logged, never ingested.
    const frames0 = store.counter('frames');
    for (const ws of srv.sockets) {
      ws.send('NO NEW ASSETS');
      ws.send('INVALID OPERATION');
      ws.send('INVALID MESSAGE');
    }
    await waitFor(() => feed.stats().controlReplies === 6, 'six control replies');
    expect(store.counter('frames')).toBe(frames0);
    expect(store.counter('badJson')).toBe(0);
    expect(logged.filter((m) => m.includes('INVALID')).length).toBe(4);
    await waitFor(() => feed.stats().lastPongLatencyMs >= 0, 'a PONG');
    expect(feed.stats()).toMatchObject({ connections: 2, open: 2, tokens: 8 });
  });

  it('shards under the cap with the tokens of a market together, and serves every book', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 30 }, { maxTokensPerConnection: 7 });
    await waitFor(() => store.readyCount() === 60, 'all 60 tokens ready');
    expect(feed.stats().connections).toBe(10);
    const perConn = new Map<number, number>();
    for (const m of sim.markets) {
      const c = feed.connectionOf(m.yes)!;
      expect(feed.connectionOf(m.no)).toBe(c);
      perConn.set(c, (perConn.get(c) ?? 0) + 2);
    }
    for (const n of perConn.values()) expect(n).toBeLessThanOrEqual(7);
    const sc = sim.connections();
    expect(sc.count).toBe(10);
    for (const c of sc.connections) expect(c.tokens).toBeLessThanOrEqual(7);
    expect(sc.connections.every((c) => c.customFeatureEnabled === false)).toBe(true);
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('subscribes 2,000 tokens across several connections and all become ready', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 1000, rate: 300 });
    await waitFor(() => store.readyCount() === 2000, '2000 tokens ready', 20_000);
    const st = feed.stats();
    expect(st.connections).toBe(10);
    expect(st.open).toBe(10);
    expect(st.tokens).toBe(2000);
    expect(sim.stats().snapshotBooks).toBe(2000);
    await expectAllMatch(store, sim, sim.tokens, 15_000);
  });

  it('drop: invalidates at once, reconnects, recovers', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 6 }, { maxTokensPerConnection: 4 });
    await waitFor(() => store.readyCount() === 12, 'ready');
    const victim = sim.markets[0].yes;
    const conn = feed.connectionOf(victim)!;
    const mates = feed.tokensOf(conn);
    let servedAtDisconnect = -1;
    let eventConn = 0;
    feed.once('disconnected', (e) => {
      // Synchronous with the disconnect: every token of the connection is already unservable.
      eventConn = e.conn;
      servedAtDisconnect = mates.filter((t) => store.get(t, 1e12) !== null).length;
    });
    sim.inject('drop', { tokenId: victim });
    await waitFor(() => servedAtDisconnect >= 0, 'disconnect seen');
    expect(eventConn).toBe(conn);
    expect(servedAtDisconnect).toBe(0);
    await waitFor(() => store.readyCount() === 12, 'ready again');
    expect(feed.stats().reconnects).toBeGreaterThanOrEqual(1);
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('close1013: reconnects and splits the connection over two', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 6 }, { maxTokensPerConnection: 6 });
    await waitFor(() => store.readyCount() === 12, 'ready');
    expect(feed.stats().connections).toBe(2);
    const victim = sim.markets[0].yes;
    const before = feed.tokensOf(feed.connectionOf(victim)!);
    expect(before.length).toBe(6);
    const ev = disconnects(feed);
    sim.inject('close1013', { tokenId: victim });
    expect((await ev).code).toBe(1013);
    await waitFor(() => store.readyCount() === 12 && feed.stats().open === 3, 'ready on three connections');
    expect(feed.stats().slowConsumerCloses).toBe(1);
    const after = new Set(before.map((t) => feed.connectionOf(t)));
    expect(after.size).toBe(2);
    for (const m of sim.markets) expect(feed.connectionOf(m.yes)).toBe(feed.connectionOf(m.no));
    for (const t of before) expect(store.state(t)!.conn).toBe(feed.connectionOf(t));
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('stall: the silence watchdog probes, then reconnects; books recover', async () => {
    // Busy stall detection off (test/stall.test.ts covers it): the silence watchdog alone.
    const { sim, store, feed } = await rig(
      backend,
      { markets: 4, rate: 100 },
      { silenceTimeoutMs: 400, hardStaleMs: 500, stallFactor: 0 },
    );
    await waitFor(() => store.readyCount() === 8, 'ready');
    const victim = sim.markets[0].yes;
    const ev = disconnects(feed);
    sim.inject('stall', { tokenId: victim });
    // With PING still answered, only the watchdog can tell: it must fire and name itself.
    expect((await ev).reason).toBe('silence');
    await waitFor(() => store.readyCount() === 8, 'ready again');
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('a quiet connection is probed, not dropped, by the silence watchdog', async () => {
    const { sim, store, feed } = await rig(
      backend,
      { markets: 2, rate: 0 },
      { silenceTimeoutMs: 200, hardStaleMs: 1000 },
    );
    await waitFor(() => store.readyCount() === 4, 'ready');
    const r0 = feed.stats().resubscriptions;
    await waitFor(() => feed.stats().resubscriptions >= r0 + 3, 'three probes');
    expect(feed.stats().reconnects).toBe(0);
    expect(store.readyCount()).toBe(4);
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('deaf: PONG timeout reconnects; books recover', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 4, rate: 200 }, { pongTimeoutMs: 600 });
    await waitFor(() => store.readyCount() === 8, 'ready');
    const ev = disconnects(feed);
    sim.inject('deaf', { tokenId: sim.markets[0].yes });
    expect((await ev).reason).toBe('pong timeout');
    await waitFor(() => store.readyCount() === 8, 'ready again');
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('malformed frames: unparseable ones resubscribe the connection, bad decimals the token', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 4 });
    await waitFor(() => store.readyCount() === 8, 'ready');
    for (const variant of ['garbage', 'json', 'decimal'] as const) {
      const r0 = feed.stats().resubscriptions;
      expect(sim.inject('malformed', { tokenId: sim.markets[1].no, variant })).toBe(1);
      await waitFor(() => feed.stats().resubscriptions > r0, `resubscription after ${variant}`);
      await waitFor(() => store.readyCount() === 8, `ready after ${variant}`);
    }
    expect(store.counter('badJson')).toBeGreaterThanOrEqual(2);
    expect(store.counter('badDecimal')).toBeGreaterThanOrEqual(1);
    expect(feed.stats().badFrames).toBeGreaterThanOrEqual(2);
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('crossed: the book is never served crossed, then resynced by resubscription', async () => {
    const { sim, store, feed } = await rig(backend, { markets: 4, rate: 50 });
    await waitFor(() => store.readyCount() === 8, 'ready');
    const t = sim.markets[2].yes;
    const r0 = feed.stats().resubscriptions;
    sim.inject('crossed', { tokenId: t });
    await waitFor(() => store.counter('crossedResets') >= 1, 'crossed reset');
    await waitFor(() => feed.stats().resubscriptions > r0, 'resubscription');
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('duplicate and out-of-order frames leave books correct', async () => {
    const { sim, store } = await rig(backend, { markets: 4, rate: 200 });
    await waitFor(() => store.readyCount() === 8, 'ready');
    for (let i = 0; i < 5; i++) {
      sim.inject('duplicate');
      sim.inject('outOfOrder');
      await new Promise((r) => setTimeout(r, 20));
    }
    await expectAllMatch(store, sim, sim.tokens);
  });

  it('settle: market_resolved settles; a 1000 close settles the rest and is not reconnected', async () => {
    const { sim, store, feed } = await rig(
      backend,
      { markets: 4 },
      { maxTokensPerConnection: 4, customFeatures: true },
    );
    await waitFor(() => store.readyCount() === 8, 'ready');
    const [m0, m1] = sim.markets;
    expect(feed.connectionOf(m0.yes)).toBe(feed.connectionOf(m1.yes));
    const conn = feed.connectionOf(m0.yes)!;
    sim.settle(m0.conditionId);
    await waitFor(() => store.state(m0.yes)!.settled && store.state(m0.no)!.settled, 'market_resolved applied');
    expect(store.get(m0.yes, 1e12)).toBeNull();
    const ev = disconnects(feed);
    sim.inject('settle', { tokenId: m1.yes });
    const e = await ev;
    expect(e).toMatchObject({ conn, code: 1000, reconnectInMs: null });
    expect(store.state(m1.no)!.settled).toBe(true);
    expect(feed.stats()).toMatchObject({ settledCloses: 1, connections: 1, reconnects: 0 });
    expect(feed.connectionOf(m1.no)).toBeUndefined();
    await waitFor(() => sim.connections().count === 1, 'the settled socket stays closed');
    await expectAllMatch(store, sim, [sim.markets[2].yes, sim.markets[2].no, sim.markets[3].yes, sim.markets[3].no]);
  });

  it('checks every read under random faults: nothing from before a disconnect, nothing crossed', async () => {
    const { sim, store, feed } = await rig(
      backend,
      { markets: 8, rate: 400 },
      { maxTokensPerConnection: 4, silenceTimeoutMs: 300, hardStaleMs: 600, pongTimeoutMs: 600 },
    );
    await waitFor(() => store.readyCount() === 16, 'ready');
    const tokens = [...sim.tokens];
    // The sequence of each token's book when its disconnect was seen: a later read must be newer.
    const floor = new Map<string, number>();
    /** Connection of each token as of the last round of reads (a 1013 split moves tokens before the event). */
    const lastConn = new Map<string, number | undefined>();
    const problems: string[] = [];
    let disconnectsSeen = 0;
    feed.on('disconnected', (e) => {
      disconnectsSeen++;
      for (const t of tokens) {
        if (lastConn.get(t) !== e.conn && feed.connectionOf(t) !== e.conn) continue;
        const st = store.state(t)!;
        if (st.ready) problems.push(`ready after its disconnect: ${t}`);
        floor.set(t, st.sequence);
      }
    });
    const handles = tokens.map((t) => store.handle(t));
    let reads = 0;
    let served = 0;
    const faults = ['drop', 'close1013', 'crossed', 'malformed', 'duplicate', 'stall', 'deaf', 'outOfOrder'] as const;
    const end = Date.now() + 3500;
    let k = 0;
    let nextFault = Date.now();
    while (Date.now() < end) {
      if (Date.now() >= nextFault) {
        const f = faults[k++ % faults.length];
        sim.inject(f, { tokenId: tokens[(k * 5) % tokens.length] });
        nextFault = Date.now() + 150;
      }
      for (let i = 0; i < tokens.length; i++) {
        lastConn.set(tokens[i], feed.connectionOf(tokens[i]));
        reads++;
        const b = store.get(tokens[i], 1e12);
        if (b) {
          served++;
          const p = bookProblem(b);
          if (p) problems.push(`${p}: ${tokens[i]}`);
          const fl = floor.get(tokens[i]);
          if (fl !== undefined && !(b.sequence > fl)) problems.push(`pre-disconnect book served: ${tokens[i]}`);
        }
        const h = handles[i];
        if (h.top(1e12) && !Number.isNaN(h.bidPrice) && !Number.isNaN(h.askPrice) && !(h.bidPrice < h.askPrice)) {
          problems.push(`crossed top: ${tokens[i]}`);
        }
      }
      // Let the sockets run: each turn of the loop is one round of reads.
      await new Promise((r) => setImmediate(r));
    }
    expect(problems).toEqual([]);
    expect(disconnectsSeen).toBeGreaterThan(3);
    expect(served).toBeGreaterThan(1000);
    expect(reads).toBeGreaterThan(served);
    // Stalled and deaf sockets are recycled by the watchdogs (a healed stall would have lost data silently).
    await waitFor(() => sim.connections().connections.every((c) => !c.stalled && !c.deaf), 'faulty sockets recycled');
    await waitFor(() => store.readyCount() === 16, 'all ready after the faults', 15_000);
    await expectAllMatch(store, sim, tokens);
  });

  it('reconnect backoff grows while connections fail at once, and resets after a healthy period', async () => {
    const { sim, store, feed } = await rig(
      backend,
      { markets: 1, rate: 50 },
      { backoff: { minMs: 20, maxMs: 160, jitter: 0, resetAfterMs: 400 } },
    );
    await waitFor(() => store.readyCount() === 2, 'ready');
    await new Promise((r) => setTimeout(r, 450)); // a healthy period
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const ev = disconnects(feed);
      sim.inject('drop');
      delays.push((await ev).reconnectInMs!);
      await waitFor(() => feed.stats().open === 1, 'reopened');
    }
    expect(delays).toEqual([20, 40, 80, 160, 160]);
    await waitFor(() => store.readyCount() === 2, 'ready');
    await new Promise((r) => setTimeout(r, 450)); // healthy again: the next drop reconnects fast
    const ev = disconnects(feed);
    sim.inject('drop');
    expect((await ev).reconnectInMs).toBe(20);
  });

  it('resubscribes after a desync (changes lost while stalled, top of book disagrees with the server)', async () => {
    // No timer-driven flow: changes are generated with step(), so what is lost is deterministic.
    const { sim, store, feed } = await rig(
      backend,
      { markets: 2, rate: 0 },
      { silenceTimeoutMs: 0, hardStaleMs: 60_000 },
    );
    await waitFor(() => store.readyCount() === 4, 'ready');
    const r0 = feed.stats().resubscriptions;
    expect(sim.inject('stall', { tokenId: sim.markets[0].yes })).toBe(1);
    sim.step(300); // lost: a stalled connection drops data
    sim.heal();
    sim.step(50);
    await waitFor(() => store.counter('desyncs') + store.counter('crossedResets') > 0, 'a desync detected');
    await waitFor(() => feed.stats().resubscriptions > r0, 'a resubscription');
    expect(store.counter('bboMismatches')).toBeGreaterThan(0);
    expect(feed.stats().reconnects).toBe(0);
    // Resynced books agree with the server again at the top.
    await waitFor(
      () =>
        sim.tokens.every((t) => {
          const b = store.get(t, 1e12);
          const s = sim.book(t);
          return (
            b !== null &&
            b.bestBid === (s.bestBid === '' ? null : Number(s.bestBid)) &&
            b.bestAsk === (s.bestAsk === '' ? null : Number(s.bestAsk))
          );
        }),
      'tops agree',
    );
  });

  it('confirmation: a quiet book stays fresh on a healthy connection while a stalled connection ages', async () => {
    const { sim, store, feed } = await rig(
      backend,
      { markets: 2, rate: 0 },
      { maxTokensPerConnection: 2, confirmIntervalMs: 100, hardStaleMs: 1500, pongTimeoutMs: 60_000 },
    );
    await waitFor(() => store.readyCount() === 4, 'ready');
    const [a, b] = sim.markets.map((m) => m.yes);
    expect(feed.connectionOf(a)).not.toBe(feed.connectionOf(b));
    const maxStale = 400;
    const ha = store.handle(a);
    const hb = store.handle(b);
    // Quiet (no data at all) for 3x maxStale: PONGs keep both fresh.
    const t0 = Date.now();
    while (Date.now() - t0 < 3 * maxStale) {
      expect(ha.top(maxStale)).toBe(true);
      expect(hb.top(maxStale)).toBe(true);
      expect(ha.ageMs).toBeLessThan(maxStale);
      await new Promise((r) => setTimeout(r, 25));
    }
    // b's connection stalls completely (no data, no PONG): its book ages out; a's does not.
    sim.inject('stall', { tokenId: b });
    sim.inject('deaf', { tokenId: b });
    const stalledAt = Date.now();
    await waitFor(() => !hb.top(maxStale), 'b stale', 5000, 5);
    expect(hb.missReason).toBe(Miss.stale);
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(maxStale - 200);
    expect(store.state(b)!.ready).toBe(true); // still held, just not confirmed current
    expect(ha.top(maxStale)).toBe(true);
    // hardStaleMs later, the unconfirmed connection is recycled and b is served again.
    const e = await disconnects(feed, undefined, 8000);
    expect(e.reason).toBe('unconfirmed');
    await waitFor(() => hb.top(maxStale), 'b fresh again');
    expect(ha.top(maxStale)).toBe(true);
  });

  it('emits newMarket events parsed only from frames that mention new_market', async () => {
    const srv = await recordingServer();
    const store = new BookStore({ backend, clock: 'precise', capacity: 16 });
    const feed = new SubscriptionManager(store, { ...FAST, url: srv.url, customFeatures: true });
    rigs.push({ sim: { close: async () => {} } as Simulator, store, feed });
    const seen: unknown[] = [];
    feed.on('newMarket', (e) => seen.push(e));
    feed.start(['x']);
    await waitFor(() => srv.sockets.length === 1 && srv.frames.length === 1, 'connected');
    const nm = { event_type: 'new_market', market: '0xabc', assets_ids: ['1', '2'], question: 'Q?' };
    srv.sockets[0].send(JSON.stringify(nm));
    srv.sockets[0].send(JSON.stringify([{ event_type: 'last_trade_price', asset_id: 'x', price: '0.5' }, nm]));
    await waitFor(() => seen.length === 2, 'two newMarket events');
    expect(seen[0]).toEqual(nm);
    expect(store.counter('newMarkets')).toBe(2);
  });
});
