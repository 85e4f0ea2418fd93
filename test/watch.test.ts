/**
 * Watch (docs/DESIGN.md section 7): event-driven, one notification per published version,
 * only for watched tokens, coalescing documented; works when ingestion runs in a worker.
 */
import type { BookView } from '../src/table/book-view.js';
import { describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { WatchHub, changesIterator, type BookChange } from '../src/cache/watch.js';
import { BookCache } from '../src/cache/book-cache.js';
import { H_EPOCH, H_WATCHERS, HEADER_BYTES, slotBytes } from '../src/table/layout.js';
import type { Simulator } from '../src/simulator/index.js';
import { BACKENDS, ManualClock, bookFrame, fixture, priceChange, waitFor } from './helpers.js';
import { WebSocketServer } from 'ws';
import { afterTest, simulator, startCache } from './rig.js';

/** Lets the event loop turn `n` times (to show nothing happens without a change; not a synchronisation). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

function slotSeq(store: BookView, tokenId: string): number {
  const slot = store.handle(tokenId).slot;
  const i32 = new Int32Array(store.table);
  return Atomics.load(i32, HEADER_BYTES / 4 + (slot * slotBytes(store.maxDepth)) / 4);
}

function header(store: BookView, off: number): number {
  return Atomics.load(new Int32Array(store.table), off / 4);
}

const A = 'tok-a';
const B = 'tok-b';
const C = 'tok-c';
const D = 'tok-d';

function setup(backend: 'js' | 'native') {
  const clock = new ManualClock();
  const store = new BookStore({ backend, clock: clock.now, capacity: 16 });
  afterTest(() => store.close());
  const errors: unknown[] = [];
  const hub = new WatchHub({ table: store.table, slotOf: (id) => (store.has(id) ? store.handle(id).slot : -1) }, (e) =>
    errors.push(e),
  );
  afterTest(() => hub.close());
  store.subscribe([A, B, C]);
  return { store, hub, clock, errors };
}

const book = (id: string, bid = '0.40') => bookFrame(id, [[bid, '10']], [['0.60', '10']]);
const delta = (id: string, size: string) =>
  priceChange([{ asset_id: id, price: '0.40', size, side: 'BUY', best_bid: '0.4', best_ask: '0.6' }]);

describe.each(BACKENDS)('watch on the writer thread (%s)', (backend) => {
  it('fires exactly once per change, only for watched tokens', async () => {
    const { store, hub, clock } = setup(backend);
    const events: BookChange[] = [];
    hub.watch([A, B], (c) => events.push(c));
    expect(header(store, H_WATCHERS)).toBe(1);

    store.ingest(book(A), clock.t);
    await waitFor(() => events.length === 1);
    expect(events[0]).toMatchObject({ tokenId: A, versions: 1, ready: true, sequence: 1 });

    // A change of an unwatched token wakes the hub but notifies nobody.
    const w = hub.wakeups;
    store.ingest(book(C), clock.t);
    await waitFor(() => hub.wakeups > w);
    expect(events).toHaveLength(1);

    // One frame touching both watched tokens: one notification each.
    store.ingest(book(B), clock.t);
    await waitFor(() => events.length === 2);
    store.ingest(
      priceChange([
        { asset_id: A, price: '0.41', size: '5', side: 'BUY', best_bid: '0.41', best_ask: '0.6' },
        { asset_id: B, price: '0.41', size: '5', side: 'BUY', best_bid: '0.41', best_ask: '0.6' },
      ]),
      clock.t,
    );
    await waitFor(() => events.length === 4);
    expect(
      events
        .slice(2)
        .map((e) => e.tokenId)
        .sort(),
    ).toEqual([A, B]);

    // Twenty spaced changes: twenty notifications, one version each, in order.
    for (let i = 0; i < 20; i++) {
      store.ingest(delta(A, String(20 + i)), clock.t);
      await waitFor(() => events.length === 5 + i, `change ${i}`, 5000);
    }
    const forA = events.filter((e) => e.tokenId === A);
    expect(forA).toHaveLength(22);
    expect(forA.every((e) => e.versions === 1)).toBe(true);
    for (let i = 1; i < forA.length; i++) expect(forA[i].version).toBe(forA[i - 1].version + 2);
    expect(forA.at(-1)!.version).toBe(slotSeq(store, A));
    expect(forA.at(-1)!.sequence).toBe(store.state(A)!.sequence);

    // Nothing more without a change, and no polling: idle turns cause no wake-up.
    const idle = hub.wakeups;
    await turns(50);
    expect(hub.wakeups).toBe(idle);
    expect(events).toHaveLength(24);
  });

  it('coalesces versions published between two wake-ups into one notification that counts them', async () => {
    const { store, hub, clock } = setup(backend);
    store.ingest(book(A), clock.t);
    const start = slotSeq(store, A);
    const events: BookChange[] = [];
    hub.watch([A], (c) => events.push(c));
    store.ingest(delta(A, '11'), clock.t);
    store.ingest(delta(A, '12'), clock.t);
    store.ingest(delta(A, '13'), clock.t);
    await waitFor(() => events.length === 1);
    await turns(10);
    expect(events).toHaveLength(1);
    expect(events[0].versions).toBe(3);
    expect(events[0].version).toBe(start + 6);
  });

  it('reports state changes too (reset, disabled) and not a change made before watching', async () => {
    const { store, hub, clock } = setup(backend);
    store.ingest(book(A), clock.t);
    const events: BookChange[] = [];
    hub.watch([A], (c) => events.push(c));
    await turns(10);
    expect(events).toHaveLength(0);
    store.invalidate([A], clock.t);
    await waitFor(() => events.length === 1);
    expect(events[0].ready).toBe(false);
  });

  it('unsubscribing stops notifications and releases the watcher count (the writer stops notifying)', async () => {
    const { store, hub, clock } = setup(backend);
    const events: BookChange[] = [];
    const un1 = hub.watch([A], (c) => events.push(c));
    const un2 = hub.watch([A], (c) => events.push(c));
    expect(header(store, H_WATCHERS)).toBe(1); // one hub, one watcher however many watches
    store.ingest(book(A), clock.t);
    await waitFor(() => events.length === 2); // both watches
    un1();
    un1();
    store.ingest(delta(A, '1'), clock.t);
    await waitFor(() => events.length === 3);
    un2();
    expect(header(store, H_WATCHERS)).toBe(0);
    const epoch = header(store, H_EPOCH);
    store.ingest(delta(A, '2'), clock.t);
    expect(header(store, H_EPOCH)).toBe(epoch);
    await turns(10);
    expect(events).toHaveLength(3);
  });

  it('a throwing callback does not stop the others', async () => {
    const { store, hub, clock, errors } = setup(backend);
    const events: BookChange[] = [];
    hub.watch([A], () => {
      throw new Error('boom');
    });
    hub.watch([A], (c) => events.push(c));
    store.ingest(book(A), clock.t);
    await waitFor(() => events.length === 1);
    expect(errors).toHaveLength(1);
  });

  it('follows a token added to the table after the watch started', async () => {
    const { store, hub, clock } = setup(backend);
    const events: BookChange[] = [];
    hub.watch([D], (c) => events.push(c));
    store.subscribe([D]);
    hub.refresh();
    store.ingest(book(D), clock.t);
    await waitFor(() => events.length === 1);
    expect(events[0].tokenId).toBe(D);
  });

  it('changes(): an async iterator; break unsubscribes', async () => {
    const { store, hub, clock } = setup(backend);
    const it = changesIterator(hub, [A, B]);
    const seen: string[] = [];
    store.ingest(book(A), clock.t);
    const consumer = (async () => {
      for await (const c of it) {
        seen.push(c.tokenId);
        if (seen.length === 1) store.ingest(book(B), clock.t);
        if (seen.length === 2) store.ingest(delta(A, '7'), clock.t);
        if (seen.length === 3) break;
      }
    })();
    await consumer;
    expect(seen).toEqual([A, B, A]);
    expect(header(store, H_WATCHERS)).toBe(0);
  });

  it('changes(): an abort signal ends the iteration', async () => {
    const { hub } = setup(backend);
    const ac = new AbortController();
    const it = changesIterator(hub, [A], { signal: ac.signal });
    const p = it.next();
    ac.abort();
    expect(await p).toEqual({ value: undefined, done: true });
  });
});

describe.each(BACKENDS)('watch with ingestion in a worker (%s)', (backend) => {
  let sim: Simulator;

  it('notifies the main thread once per published version', async () => {
    sim = await simulator({ markets: 3, seed: 11, rate: 0, snapshotDelayMs: 0 });
    const cache = await startCache({
      backend,
      worker: true,
      url: sim.url,
      universe: sim.tokens,
      warmupMinReadyFraction: 1,
    });
    expect(cache.worker).toBe(true);
    const r = await cache.warmup();
    expect(r.ready).toBe(6);

    const start = new Map(sim.tokens.map((t) => [t, slotSeq(cache.store, t)]));
    const events: BookChange[] = [];
    const un = cache.watch(sim.tokens, (c) => events.push(c));
    const caughtUp = () =>
      sim.tokens.every((t) => {
        const b = cache.get(t, 60_000);
        const s = sim.book(t);
        return (
          b !== null &&
          b.bestBid === (s.bestBid === '' ? null : Number(s.bestBid)) &&
          b.bestAsk === (s.bestAsk === '' ? null : Number(s.bestAsk))
        );
      });
    for (let i = 0; i < 25; i++) {
      const n = events.length;
      sim.step(1);
      await waitFor(() => events.length > n && caughtUp(), `step ${i}`, 5000);
    }
    // Quiescent: every published version was reported exactly once.
    await waitFor(
      () =>
        sim.tokens.every((t) => {
          const evs = events.filter((e) => e.tokenId === t);
          const sum = evs.reduce((s, e) => s + e.versions, 0);
          return sum === (slotSeq(cache.store, t) - start.get(t)!) / 2;
        }),
      'all versions reported',
      5000,
    );
    for (const t of sim.tokens) {
      const evs = events.filter((e) => e.tokenId === t);
      for (let i = 1; i < evs.length; i++) expect(evs[i].version).toBeGreaterThan(evs[i - 1].version);
      if (evs.length > 0) expect(evs.at(-1)!.version).toBe(slotSeq(cache.store, t));
    }
    expect(events.length).toBeGreaterThanOrEqual(25);
    un();

    // And the async iterator from the main thread.
    const it = cache.changes(sim.tokens);
    sim.step(1);
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(sim.tokens).toContain(first.value.tokenId);
    await it.return!();
  });
});

/** A market-channel server that accepts subscriptions and never sends anything. */
async function silentExchange(): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/ws/market' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/ws/market`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

describe.each(BACKENDS)('watch in worker mode (%s)', (backend) => {
  it('a watcher hears a REST-warmed book and an invalidation, with no later frame', async () => {
    const ex = await silentExchange();
    afterTest(() => ex.close());
    const rest = fixture<{ asset_id: string }>('rest_book_legacy_2024-10.json');
    const T = rest.asset_id;
    // Nothing else may touch the token meanwhile: no watchdog recycles the silent connection.
    const cache = await BookCache.start({
      backend,
      worker: true,
      url: ex.url,
      universe: [T],
      warmupTimeoutMs: 600_000,
      hardStaleMs: 600_000,
      defaultMaxStaleMs: 1000,
      feed: { silenceTimeoutMs: 0, pongTimeoutMs: 600_000 },
    });
    afterTest(() => cache.stop());
    const changes: BookChange[] = [];
    cache.watch([T], (c) => changes.push(c));
    // The socket never sends a frame: only the commands below, applied in the worker, change the book.
    cache.store.restBook(JSON.stringify(rest));
    await waitFor(() => changes.some((c) => c.ready), 'the REST book woke the watcher');
    expect(cache.store.state(T)).toMatchObject({ ready: true });
    const n = changes.length;
    cache.store.invalidate([T]);
    await waitFor(() => changes.length > n && !changes.at(-1)!.ready, 'the invalidation woke the watcher');
    expect(cache.store.state(T)).toMatchObject({ ready: false });
  });
});
