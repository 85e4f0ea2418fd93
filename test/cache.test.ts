/**
 * BookCache: the disabled switch, staleness presets through the cache (manual clock), hard cap,
 * acquire/release refcounts, runtime additions on open connections, following new markets,
 * eviction on settlement, worker mode, metrics and the Prometheus exposition.
 */
import { describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { BookCache } from '../src/cache/book-cache.js';
import { fromEnv } from '../src/cache/env.js';
import { Staleness } from '../src/cache/staleness.js';
import { preciseNow } from '../src/table/clock.js';
import { BACKENDS, ManualClock, bookFrame, localStore, waitFor } from './helpers.js';
import { afterTest, simulator, startCache } from './rig.js';

function once<T>(emitter: { once(ev: string, fn: (v: T) => void): unknown }, ev: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for '${ev}'`)), timeoutMs);
    emitter.once(ev, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

/** Nothing listens here: a cache pointed at it must never need it. */
const NOWHERE = 'ws://127.0.0.1:9/ws/market';

describe('the disabled switch (POLYBOOK_ENABLED=0)', () => {
  it('opens no socket, and every read misses with reason disabled (counted)', async () => {
    const sim = await simulator({ markets: 2, seed: 1, rate: 0 });
    const cache = await startCache({
      ...fromEnv({ POLYBOOK_ENABLED: '0' }),
      url: sim.url,
      universe: sim.tokens,
    });
    expect(cache.enabled).toBe(false);
    expect(cache.tradingEnabled).toBe(false);
    expect(await cache.warmup()).toMatchObject({ ready: 0, total: 0, timedOut: false, disabled: [] });
    expect(cache.get(sim.tokens[0])).toBeNull();
    expect(cache.get(sim.tokens[1], Staleness.latencyArb)).toBeNull();
    const h = cache.handle(sim.tokens[0]);
    expect(h.top(Staleness.fast15m)).toBe(false);
    expect(h.missReason).toBe('disabled');
    expect(await cache.acquire([sim.tokens[2]])).toMatchObject({ total: 0 });
    const s = cache.metrics().summary();
    expect(s.missesByReason.disabled).toBe(3);
    expect(s.reads).toBe(3);
    expect(s.enabled).toBe(false);
    expect(s.feed).toBeNull();
    expect(cache.prometheus()).toContain('polybook_reads_total{result="disabled"} 3');
    expect(cache.prometheus()).toContain('polybook_enabled 0');

    // An enabled cache on the same simulator connects: the only connection it ever accepted.
    const on = await startCache({ backend: 'js', url: sim.url, universe: sim.tokens, warmupMinReadyFraction: 1 });
    await on.warmup();
    expect(sim.stats().connectionsAccepted).toBe(1);
  });

  it('rejects invalid options before opening anything', async () => {
    await expect(BookCache.start({ url: 'http://127.0.0.1/ws' })).rejects.toThrow(/url/);
    await expect(BookCache.start({ rest: { url: 'ftp://x' } })).rejects.toThrow(/rest\.url/);
    await expect(BookCache.start({ feed: { confirmIntervalMs: 1 } })).rejects.toThrow(/confirmIntervalMs/);
    await expect(BookCache.start({ universe: [42 as unknown as string] })).rejects.toThrow(/universe/);
    await expect(BookCache.start({ worker: 'yes' as unknown as boolean })).rejects.toThrow(/worker/);
  });

  it('is on by default', async () => {
    expect(fromEnv({}).enabled).toBe(true);
    const cache = await startCache({ backend: 'js', url: NOWHERE });
    expect(cache.enabled).toBe(true);
  });
});

describe.each(BACKENDS)('BookCache (%s)', (backend) => {
  it('staleness presets change what is served; the hard limit caps every request', async () => {
    const clock = new ManualClock(preciseNow());
    const cache = await startCache({ backend, url: NOWHERE, clock: clock.now });
    expect(await cache.warmup()).toMatchObject({ total: 0, fraction: 1, timedOut: false });
    expect(cache.tradingEnabled).toBe(true);
    const T = 'tok-preset';
    cache.store.subscribe([T]);
    localStore(cache).ingest(bookFrame(T, [['0.40', '10']], [['0.60', '10']]), clock.t);
    const h = cache.handle(T);
    const served = (ms?: number) => cache.get(T, ms) !== null;

    clock.advance(200);
    expect([served(Staleness.latencyArb), served(Staleness.fast15m), served(Staleness.longStrategy), served()]).toEqual(
      [true, true, true, true],
    );
    expect(h.top(Staleness.latencyArb)).toBe(true);
    expect([h.bidPrice, h.askPrice, h.ageMs]).toEqual([0.4, 0.6, 200]);

    clock.advance(100); // age 300
    expect(served(Staleness.latencyArb)).toBe(false);
    expect(served(Staleness.latencyArbMs(400))).toBe(true);
    expect(h.top(Staleness.latencyArb)).toBe(false);
    expect(h.missReason).toBe('stale');
    expect(served(Staleness.fast15m)).toBe(true);

    clock.advance(1700); // age 2000
    expect(served(Staleness.fast15m)).toBe(false);
    expect(served()).toBe(false); // default 1500
    expect(served(Staleness.longStrategy)).toBe(true);
    expect(served(Staleness.custom(2500))).toBe(true);

    clock.advance(4000); // age 6000
    expect(served(Staleness.longStrategy)).toBe(false);
    expect(served(60_000)).toBe(false); // capped at hardStaleMs 5000
    expect(h.top(60_000)).toBe(false);
    const m = cache.metrics().store;
    expect(m.misses.stale).toBe(7);
    expect(m.hits).toBe(9);
  });

  it('a larger hard limit and default are honoured', async () => {
    const clock = new ManualClock(preciseNow());
    const cache = await startCache({
      backend,
      url: NOWHERE,
      clock: clock.now,
      hardStaleMs: 10_000,
      defaultMaxStaleMs: 8000,
    });
    await cache.warmup();
    cache.store.subscribe(['t']);
    localStore(cache).ingest(bookFrame('t', [['0.40', '10']], [['0.60', '10']]), clock.t);
    clock.advance(7000);
    expect(cache.get('t')).not.toBeNull();
    expect(cache.get('t', 60_000)).not.toBeNull();
    clock.advance(3500);
    expect(cache.get('t', 60_000)).toBeNull();
  });

  it('acquire/release are reference-counted; tokens are added on the open connection and removed at zero', async () => {
    const sim = await simulator({ markets: 3, seed: 21, rate: 50 });
    const [m0, m1] = sim.markets;
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [{ market: m0.conditionId, tokens: [...m0.tokens] }],
      warmupMinReadyFraction: 1,
    });
    await cache.warmup();
    expect(cache.refCount(m0.yes)).toBe(1);
    const added: string[][] = [];
    const removed: string[][] = [];
    cache.on('added', (ids) => added.push(ids));
    cache.on('removed', (ids) => removed.push(ids));

    const g1 = { market: m1.conditionId, tokens: [...m1.tokens] };
    const ra = await cache.acquire([g1]); // strategy A
    expect(ra).toMatchObject({ ready: 2, total: 2, timedOut: false });
    const rb = await cache.acquire([g1]); // strategy B: nothing new to subscribe
    expect(rb.total).toBe(0);
    expect(added).toEqual([[...m1.tokens]]);
    expect(cache.refCount(m1.yes)).toBe(2);
    expect(cache.get(m1.yes)).not.toBeNull();
    let fs = cache.metrics().feed!;
    expect(fs.connections).toBe(1); // added on the open connection
    expect(fs.open).toBe(1);
    expect(fs.tokens).toBe(4);
    expect(sim.stats().connectionsAccepted).toBe(1);

    const h = cache.handle(m1.no);
    expect(h.top(Staleness.fast15m)).toBe(true);
    cache.release(m1.tokens); // A
    expect(cache.refCount(m1.yes)).toBe(1);
    expect(cache.store.has(m1.yes)).toBe(true);
    expect(cache.get(m1.yes)).not.toBeNull();
    cache.release(m1.tokens); // B: last reference
    expect(cache.refCount(m1.yes)).toBe(0);
    expect(cache.store.has(m1.yes)).toBe(false);
    expect(removed).toEqual([[...m1.tokens]]);
    expect(cache.get(m1.yes)).toBeNull();
    expect(h.top(Staleness.fast15m)).toBe(false);
    expect(h.missReason).toBe('not_subscribed');
    fs = cache.metrics().feed!;
    expect(fs.tokens).toBe(2);
    cache.release(['never-held']);
    cache.release(m1.tokens); // extra releases are no-ops
    expect(cache.tokens().sort()).toEqual([...m0.tokens].sort());

    // Acquired again: the old handle follows the token to its new slot.
    await cache.acquire([g1]);
    expect(h.top(Staleness.fast15m)).toBe(true);
    expect(cache.refCount(m1.no)).toBe(1);
  });

  it('evicts settled tokens and reuses their slots', async () => {
    const sim = await simulator({ markets: 3, seed: 31, rate: 50 });
    const [m0, m1, m2] = sim.markets;
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [m0, m1].map((m) => ({ market: m.conditionId, tokens: [...m.tokens] })),
      warmupMinReadyFraction: 1,
      sweepIntervalMs: 20,
    });
    await cache.warmup();
    const oldSlots = m0.tokens.map((t) => cache.store.handle(t).slot).sort();
    const evicted = once<string[]>(cache, 'evicted');
    sim.settle(m0.conditionId);
    expect((await evicted).sort()).toEqual([...m0.tokens].sort());
    for (const t of m0.tokens) {
      expect(cache.store.has(t)).toBe(false);
      expect(cache.refCount(t)).toBe(0);
      expect(cache.wasEvicted(t)).toBe(true);
      expect(cache.get(t)).toBeNull();
    }
    expect(cache.get(m1.yes)).not.toBeNull();
    expect(cache.metrics().cache.evicted).toBe(2);
    expect(cache.metrics().feed!.tokens).toBe(2);
    // Memory reused: the next market takes the freed slots.
    await cache.acquire([{ market: m2.conditionId, tokens: [...m2.tokens] }]);
    expect(m2.tokens.map((t) => cache.store.handle(t).slot).sort()).toEqual(oldSlots);
    expect(cache.get(m2.yes)).not.toBeNull();
  });

  it('evicts the tokens of a connection closed as resolved (custom features off)', async () => {
    const sim = await simulator({ markets: 2, seed: 32, rate: 50 });
    const [m0, m1] = sim.markets;
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [m0, m1].map((m) => ({ market: m.conditionId, tokens: [...m.tokens] })),
      warmupMinReadyFraction: 1,
      sweepIntervalMs: 60_000, // only the close triggers the sweep here
      feed: { customFeatures: false, maxTokensPerConnection: 2 },
    });
    await cache.warmup();
    expect(cache.metrics().feed!.connections).toBe(2);
    const evicted = once<string[]>(cache, 'evicted');
    sim.settle(m0.conditionId);
    expect((await evicted).sort()).toEqual([...m0.tokens].sort());
    expect(cache.store.has(m0.yes)).toBe(false);
    expect(cache.get(m1.yes)).not.toBeNull();
    expect(cache.metrics().feed!).toMatchObject({ connections: 1, settledCloses: 1 });
  });

  it('runs ingestion in a worker; reads, metrics and the Prometheus text on the main thread', async () => {
    const sim = await simulator({ markets: 2, seed: 41, rate: 100 });
    const cache = await startCache({
      backend,
      worker: true,
      url: sim.url,
      universe: sim.tokens,
      warmupMinReadyFraction: 1,
    });
    expect(await cache.warmup()).toMatchObject({ ready: 4, timedOut: false });
    expect(cache.store.backend).toBe(backend);
    for (const t of sim.tokens) expect(cache.get(t)).not.toBeNull();
    const h = cache.handle(sim.tokens[0]);
    expect(h.top(Staleness.fast15m)).toBe(true);
    const m = await cache.metricsAsync();
    expect(m.feed).toMatchObject({ connections: 1, open: 1, tokens: 4 });
    expect(m.feed!.messages).toBeGreaterThan(0);
    const s = m.summary();
    expect(s.hits).toBe(5);
    expect(s.snapshots).toBeGreaterThanOrEqual(4);
    // The synchronous stats are those the worker last published (every health interval).
    await waitFor(() => cache.metrics().feed!.open === 1, 'published worker stats', 5000);
    expect(cache.prometheus()).toMatch(/^polybook_ws_open_connections 1$/m);
  });

  it('metrics: summary with feed stats; Prometheus exposition with conventional names and units', async () => {
    const sim = await simulator({ markets: 2, seed: 51, rate: 100 });
    const cache = await startCache({ backend, url: sim.url, universe: sim.tokens, warmupMinReadyFraction: 1 });
    await cache.warmup();
    for (let i = 0; i < 10; i++) cache.get(sim.tokens[0]);
    cache.get('not-a-token');
    const s = cache.metrics().summary();
    expect(s).toMatchObject({ reads: 11, hits: 10, enabled: true, tradingEnabled: true, tokens: 4, restCalls: 0 });
    expect(s.missesByReason.not_subscribed).toBe(1);
    expect(s.feed).toMatchObject({ connections: 1, open: 1, tokens: 4, reconnects: 0 });
    expect(s.warmup).toMatchObject({ ready: 4 });

    const text = cache.prometheus();
    expect(text.endsWith('\n')).toBe(true);
    // Every line is a comment or a well-formed sample.
    for (const line of text.trimEnd().split('\n')) {
      expect(line).toMatch(
        /^(# (HELP|TYPE) [a-z_:][a-z0-9_:]* .+|[a-z_:][a-z0-9_:]*(\{([a-z_]+="[^"]*",?)+\})? (-?[0-9.e+-]+|\+Inf|NaN))$/,
      );
    }
    // Each family declared once.
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types.map((l) => l.split(' ')[2])).size).toBe(types.length);
    expect(text).toContain('polybook_reads_total{result="hit"} 10');
    expect(text).toContain('polybook_reads_total{result="not_subscribed"} 1');
    expect(text).toContain('# TYPE polybook_served_age_seconds histogram');
    expect(text).toContain('polybook_served_age_seconds_bucket{le="0.001"}');
    expect(text).toContain('polybook_served_age_seconds_bucket{le="+Inf"} 10');
    expect(text).toContain('polybook_served_age_seconds_count 10');
    expect(text).toMatch(/^polybook_writer_snapshots_applied_total [1-9]/m);
    expect(text).toContain('# TYPE polybook_writer_desyncs_total counter');
    expect(text).toContain('polybook_ws_reconnects_total 0');
    expect(text).toContain('polybook_ws_open_connections 1');
    expect(text).toMatch(/^polybook_ws_last_pong_latency_seconds /m);
    // Rates are left to rate(): no gauge per second.
    expect(text).not.toMatch(/per_second/);
    expect(text).toContain('polybook_ws_resubscriptions_total');
    expect(text).toContain('polybook_rest_calls_total 0');
    expect(text).toContain('polybook_trading_enabled 1');
  });

  it('follows new_market events that match the filter', async () => {
    const mini = await miniExchange();
    afterTest(() => mini.close());
    const cache = await startCache({
      backend,
      url: mini.url,
      universe: ['1001'],
      warmupMinReadyFraction: 1,
      followNewMarkets: (ev) => typeof ev.slug === 'string' && ev.slug.startsWith('btc-'),
    });
    await cache.warmup();
    expect(mini.firstFrame()).toMatchObject({ type: 'market', custom_feature_enabled: true });
    const followed = once(cache, 'newMarket');
    mini.broadcastNewMarket({ slug: 'eth-up', market: '0xeth', assets_ids: ['2001', '2002'] });
    mini.broadcastNewMarket({ slug: 'btc-up', market: '0xbtc', assets_ids: ['3001', '3002'] });
    await followed;
    await waitFor(() => cache.get('3001') !== null && cache.get('3002') !== null, 'the new market books', 5000);
    expect(cache.store.has('2001')).toBe(false);
    expect(cache.refCount('3001')).toBe(1);
    expect(cache.metrics().cache.newMarketsFollowed).toBe(1);
    expect(mini.subscribedOps()).toEqual([['3001', '3002']]);
  });
});

/** A tiny market-channel server that broadcasts new_market events and serves books for any token. */
async function miniExchange() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/ws/market' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const sockets = new Set<WebSocket>();
  const frames: unknown[] = [];
  const ops: string[][] = [];
  const books = (ids: string[]) => `[${ids.map((id) => bookFrame(id, [['0.40', '10']], [['0.60', '10']])).join(',')}]`;
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === 'PING') return void ws.send('PONG');
      const msg = JSON.parse(text) as { type?: string; operation?: string; assets_ids: string[] };
      frames.push(msg);
      if (msg.type === 'market') ws.send(books(msg.assets_ids));
      else if (msg.operation === 'subscribe') {
        ops.push(msg.assets_ids);
        ws.send(books(msg.assets_ids));
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws/market`,
    firstFrame: () => frames[0],
    subscribedOps: () => ops,
    broadcastNewMarket(ev: Record<string, unknown>) {
      const text = JSON.stringify({ event_type: 'new_market', question: '?', timestamp: String(Date.now()), ...ev });
      for (const s of sockets) s.send(text);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.terminate();
        wss.close(() => r());
      }),
  };
}
