/**
 * Limits and safety (docs/RELIABILITY.md "Limits"): the socket's frame limit, bounded queues with
 * counted policies, loopback-only listeners, no run-time code evaluation.
 */
import type { BookView } from '../src/table/book-view.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { BookStore } from '../src/table/store.js';
import { BookCache } from '../src/cache/book-cache.js';
import { SubscriptionManager, type DisconnectedEvent } from '../src/feed/manager.js';
import { MAX_FRAME_BYTES, resolveFeedOptions } from '../src/feed/options.js';
import { startWorkerFeed, type WorkerFeed } from '../src/feed/worker.js';
import { WORKER_QUEUE_LIMIT } from '../src/feed/worker-protocol.js';
import { WatchHub, changesIterator } from '../src/cache/watch.js';
import { startSimulator, DEFAULT_OVERSIZED_BYTES, type Simulator } from '../src/simulator/index.js';
import { ConfigError } from '../src/errors.js';
import { BACKENDS, FAST_FEED as FAST, bookFrame, waitFor } from './helpers.js';

vi.setConfig({ testTimeout: 60_000 });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function rig(
  backend: 'js' | 'native',
  maxFrameBytes?: number,
): Promise<{ sim: Simulator; store: BookStore; feed: SubscriptionManager }> {
  const sim = await startSimulator({ seed: 3, markets: 4, rate: 100 });
  const store = new BookStore({ backend, clock: 'precise', capacity: 64 });
  const feed = new SubscriptionManager(store, { ...FAST, url: sim.url, ...(maxFrameBytes ? { maxFrameBytes } : {}) });
  cleanups.push(async () => {
    await feed.stop();
    store.close();
    await sim.close();
  });
  feed.start(sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] })));
  await waitFor(() => store.readyCount() === 8, 'all 8 tokens ready');
  return { sim, store, feed };
}

function nextDisconnect(feed: {
  once(ev: 'disconnected', fn: (e: DisconnectedEvent) => void): unknown;
}): Promise<DisconnectedEvent> {
  return new Promise((resolve) => feed.once('disconnected', resolve));
}

/** Every token served again with the simulator's exact top of book (flow stopped first). */
async function recovered(sim: Simulator, store: BookView): Promise<void> {
  sim.setRate(0);
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
    'every book served and equal to the simulator at the top',
  );
}

describe.each(BACKENDS)('frame limit (%s backend)', (backend) => {
  it('a frame over the default 16 MiB limit closes the connection with 1009; the feed reconnects and recovers', async () => {
    expect(resolveFeedOptions({}).maxFrameBytes).toBe(MAX_FRAME_BYTES);
    expect(DEFAULT_OVERSIZED_BYTES).toBe(MAX_FRAME_BYTES + 1);
    const { sim, store, feed } = await rig(backend);
    const frames0 = store.counter('frames');
    const ev = nextDisconnect(feed);
    const servedAtDisconnect: number[] = [];
    feed.once('disconnected', () =>
      servedAtDisconnect.push(sim.tokens.filter((t) => store.get(t, 1e12) !== null).length),
    );
    expect(sim.inject('oversized')).toBe(1);
    const e = await ev;
    expect(e).toMatchObject({ code: 1009, reason: 'frame too large' });
    expect(e.reconnectInMs).not.toBeNull();
    expect(servedAtDisconnect).toEqual([0]); // invalidated before the event
    expect(feed.stats().oversizedFrames).toBe(1);
    await recovered(sim, store);
    expect(feed.stats().reconnects).toBe(1);
    // The oversized frame never reached the store.
    expect(store.counter('badJson')).toBe(0);
    expect(store.counter('frames')).toBeGreaterThan(frames0);
  });

  it('maxFrameBytes: a frame of exactly the limit is ingested, one byte more is refused', async () => {
    const { sim, store, feed } = await rig(backend, 64 * 1024);
    sim.setRate(0); // only our frames from now on, once what was sent before has arrived:
    await waitFor(() => feed.stats().messages === sim.stats().framesSent, 'every frame sent so far received');
    const events0 = store.counter('events');
    const frames0 = store.counter('frames');
    sim.inject('oversized', { bytes: 64 * 1024 }); // `[` + spaces + `]`: an empty array, accepted
    await waitFor(() => store.counter('frames') === frames0 + 1, 'the frame at the limit ingested');
    expect(store.counter('bytes')).toBeGreaterThanOrEqual(64 * 1024);
    expect(store.counter('events')).toBe(events0); // an empty array carries no event
    expect(feed.stats()).toMatchObject({ oversizedFrames: 0, reconnects: 0 });
    const ev = nextDisconnect(feed);
    sim.inject('oversized', { bytes: 64 * 1024 + 1 });
    expect((await ev).code).toBe(1009);
    expect(feed.stats().oversizedFrames).toBe(1);
    await recovered(sim, store);
  });
});

describe('frame limit in worker mode', () => {
  it('maxFrameBytes reaches the worker; the oversized frame is counted and the books recover', async () => {
    const sim = await startSimulator({ seed: 5, markets: 2, rate: 50 });
    const feed: WorkerFeed = await startWorkerFeed({
      ...FAST,
      url: sim.url,
      maxFrameBytes: 64 * 1024,
      clock: 'precise',
      universe: sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] })),
    });
    cleanups.push(async () => {
      await feed.stop();
      await sim.close();
    });
    await waitFor(() => feed.store.readyCount() === 4, 'ready');
    const ev = nextDisconnect(feed);
    sim.inject('oversized', { bytes: 64 * 1024 + 1 });
    expect(await ev).toMatchObject({ code: 1009, reason: 'frame too large' });
    expect((await feed.fetchStats()).oversizedFrames).toBe(1);
    await recovered(sim, feed.store);
  });

  it('rejects a limit outside 1 KiB .. 256 MiB', () => {
    expect(() => resolveFeedOptions({ maxFrameBytes: 10 })).toThrow(ConfigError);
    expect(() => resolveFeedOptions({ maxFrameBytes: 2 ** 31 })).toThrow(/maxFrameBytes/);
  });
});

describe('bounded queues', () => {
  it('worker to main thread: past WORKER_QUEUE_LIMIT unhandled messages, log lines are dropped and counted; the feed goes on', async () => {
    // A bare server that floods one connection with control replies (each one a warn log line in the worker).
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    const sockets: import('ws').WebSocket[] = [];
    wss.on('connection', (ws) => {
      sockets.push(ws);
      ws.on('message', (d) => {
        if (d.toString() === 'PING') ws.send('PONG');
      });
    });
    let logged = 0;
    const feed = await startWorkerFeed({
      ...FAST,
      // This thread (which also runs the test server) will not answer PINGs for a while.
      hardStaleMs: 30_000,
      pongTimeoutMs: 30_000,
      url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws/market`,
      clock: 'precise',
      universe: ['tok'],
      logger: { warn: () => logged++ },
    });
    cleanups.push(() => feed.stop());
    await waitFor(() => sockets.length === 1 && feed.stats().open === 1, 'connected');
    const N = WORKER_QUEUE_LIMIT + 5000;
    for (let i = 0; i < N; i++) sockets[0].send('INVALID MESSAGE');
    // This thread now falls behind on purpose: it runs no event loop turn until the worker has
    // handled every reply (read from the shared stats block, which the worker refreshes).
    const end = Date.now() + 20_000;
    while (feed.stats().controlReplies < N && Date.now() < end) {
      /* busy: the consumer is not consuming */
    }
    expect(feed.stats().controlReplies).toBe(N);
    expect(feed.stats().workerQueued).toBeGreaterThanOrEqual(WORKER_QUEUE_LIMIT);
    await waitFor(() => feed.stats().workerQueued === 0, 'the main thread caught up');
    const s = await feed.fetchStats();
    expect(s.workerDropped).toBeGreaterThanOrEqual(N - WORKER_QUEUE_LIMIT);
    expect(logged).toBeLessThanOrEqual(WORKER_QUEUE_LIMIT);
    expect(logged + s.workerDropped).toBe(N);
    expect(s.workerOpsQueued).toBe(0);
    // The feed still works: a book arrives and is served.
    sockets[0].send(bookFrame('tok', [['0.4', '10']], [['0.6', '10']]));
    await waitFor(() => feed.store.get('tok', 1e12) !== null, 'book served after the flood');
  });

  it('changes(): a consumer that falls behind holds one entry per token; the merged versions are counted', async () => {
    const store = new BookStore({ backend: 'js', clock: 'precise', capacity: 8 });
    cleanups.push(() => store.close());
    store.subscribe(['a', 'b']);
    const hub = new WatchHub({ table: store.table, slotOf: (id) => store.slotOf(id) });
    cleanups.push(() => hub.close());
    const it = changesIterator(hub, ['a', 'b']);
    // The consumer does not call next() while 2 x 500 versions are published, hub wake-ups in between.
    for (let i = 0; i < 500; i++) {
      store.ingest(bookFrame('a', [['0.4', String(i + 1)]], [['0.6', '1']]));
      store.ingest(bookFrame('b', [['0.3', String(i + 1)]], [['0.7', '1']]));
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => hub.delivered + hub.coalesced >= 1000, 'every version accounted for');
    const got = [(await it.next()).value!, (await it.next()).value!];
    expect(got.map((c) => c.tokenId).sort()).toEqual(['a', 'b']);
    // Two notifications carry all 1000 versions; the rest were merged (coalesced), none lost, none queued.
    expect(got[0].versions + got[1].versions).toBe(1000);
    expect(hub.coalesced).toBe(998);
    await it.return!();
  });

  it('the cache exposes the queue counters in its metrics and Prometheus output', async () => {
    const cache = await BookCache.start({ universe: [], warmupTimeoutMs: 0 });
    cleanups.push(() => cache.stop());
    const text = cache.prometheus();
    for (const name of [
      'polybook_watch_notifications_total',
      'polybook_watch_coalesced_versions_total',
      'polybook_ws_oversized_frames_total',
      'polybook_ws_protocol_errors_total',
      'polybook_ws_stalls_total',
      'polybook_ws_internal_errors_total',
      'polybook_worker_dropped_total',
    ]) {
      expect(text).toMatch(new RegExp(`^${name} 0$`, 'm'));
    }
    expect(text).toMatch(/^polybook_worker_queued_messages 0$/m);
    expect(text).toMatch(/^polybook_worker_queued_operations 0$/m);
    expect(cache.metrics().summary()).toMatchObject({ watchNotifications: 0, watchCoalesced: 0 });
  });
});

describe('listeners and code', () => {
  it('the simulator listens on loopback only, 127.0.0.1 by default', async () => {
    const sim = await startSimulator({ markets: 1, rate: 0 });
    cleanups.push(() => sim.close());
    expect(sim.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws\/market$/);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      await expect(startSimulator({ host, markets: 1, rate: 0 })).rejects.toThrow(/loopback only/);
    }
  });

  it('no run-time code evaluation anywhere in src/ (eval, new Function, vm, Worker eval, string timers)', () => {
    const root = fileURLToPath(new URL('../src/', import.meta.url));
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|mjs|cjs|js)$/.test(f)) files.push(p);
      }
    };
    walk(root);
    expect(files.length).toBeGreaterThan(50);
    const banned: [string, RegExp][] = [
      ['eval(', /\beval\s*\(/],
      ['new Function', /\bnew\s+Function\s*\(/],
      ['Function(', /(^|[^.\w])Function\s*\(/],
      ['node:vm', /['"](node:)?vm['"]/],
      ['Worker eval', /\beval\s*:\s*true\b/],
      ['string timer', /\bset(Timeout|Interval|Immediate)\s*\(\s*['"`]/],
    ];
    const hits: string[] = [];
    for (const f of files) {
      const lines = readFileSync(f, 'utf8').split('\n');
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
        for (const [name, re] of banned)
          if (re.test(code)) hits.push(`${f.slice(root.length)}:${i + 1} ${name}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });
});
