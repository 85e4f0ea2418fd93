/**
 * Worker mode: the feed ingests in a worker thread, the main thread reads the shared table.
 * Both backends, real loopback sockets against the simulator.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ConnectedEvent, DisconnectedEvent } from '../src/feed/manager.js';
import { BACKENDS, matchesSim, waitFor } from './helpers.js';
import { feedRig, nextDisconnect, remoteSimulator, workerFeed, workerRig } from './rig.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 15_000 });

describe.each(BACKENDS)('worker feed (%s backend)', (backend) => {
  it('serves on the main thread the books the worker ingests; add, remove, stats, events, stop', async () => {
    const { sim, feed, store } = await workerRig(backend, { sim: { markets: 20, rate: 300 } });
    expect(feed.backend).toBe(backend);
    expect(store.backend).toBe(backend);
    const connected: ConnectedEvent[] = [];
    feed.on('connected', (e) => connected.push(e));
    await waitFor(() => store.readyCount() === 40, '40 tokens ready');
    // Every book read here equals the simulator's truth once the flow stops.
    sim.setRate(0);
    await waitFor(() => sim.tokens.every((t) => matchesSim(store, sim, t)), 'main-thread reads equal the simulator');
    // The full-depth texts come from the worker, which owns the writer.
    const full = await feed.fullBook(sim.tokens[1]);
    const truth = sim.book(sim.tokens[1]);
    expect(full).toEqual({ bids: truth.bids, asks: truth.asks });
    expect(await feed.fullBook('not-subscribed')).toBeNull();
    // Quiet books stay fresh through the worker's PONG confirmations.
    const h = store.handle(sim.tokens[0]);
    await new Promise((r) => setTimeout(r, 400));
    expect(h.top(300)).toBe(true);
    expect(h.ageMs).toBeLessThan(300);

    await waitFor(() => feed.stats().tokens === 40 && feed.stats().open === 1, 'published stats');
    const fresh = await feed.fetchStats();
    expect(fresh.messages).toBeGreaterThan(0);
    expect(fresh.lastPongLatencyMs).toBeGreaterThanOrEqual(0);

    // Remove a market, then add it back.
    const m = sim.markets[3];
    feed.remove(m.tokens);
    expect(store.has(m.yes)).toBe(false);
    expect(store.get(m.yes, 1e12)).toBeNull();
    await waitFor(() => feed.stats().tokens === 38, 'removed in the worker');
    await waitFor(() => sim.connections().connections[0]?.tokens === 38, 'unsubscribed on the socket');
    feed.add([{ market: m.conditionId, tokens: [...m.tokens] }]);
    await waitFor(() => store.get(m.yes, 1e12) !== null && store.get(m.no, 1e12) !== null, 'added back');

    // A drop: the event crosses threads, and the books come back.
    sim.setRate(300);
    const disconnected = new Promise((r) => feed.once('disconnected', r));
    sim.inject('drop');
    await disconnected;
    await waitFor(() => connected.length >= 1 && store.readyCount() === 40, 'ready again');
    await feed.stop();
    expect(store.get(sim.tokens[0], 1e12)).toBeNull(); // invalidated on stop
    await expect(feed.fetchStats()).rejects.toThrow();
  });

  it('reconnect(conn, reason) drops one connection (its tokens invalidated first), in this thread and in the worker', async () => {
    const { feed, store } = await workerRig(backend, {
      sim: { markets: 4, rate: 0 },
      feed: { maxTokensPerConnection: 4 },
    });
    await waitFor(() => store.readyCount() === 8, '8 tokens ready');
    const gone: DisconnectedEvent[] = [];
    feed.on('disconnected', (e) => gone.push(e));
    feed.reconnect(2, 'by hand');
    await waitFor(() => gone.length === 1, 'the disconnect');
    expect(gone[0]).toMatchObject({ conn: 2, reason: 'by hand', tokens: 4 });
    await waitFor(() => store.readyCount() === 8, 'ready again');
    const { feed: local } = await feedRig(backend, {
      sim: { markets: 2, rate: 0 },
      feed: { maxTokensPerConnection: 2 },
      ready: true,
    });
    expect(local.reconnect(9, 'no such connection')).toBe(false);
    const ev = nextDisconnect(local);
    expect(local.reconnect(1, 'by hand')).toBe(true);
    // Synchronous in this thread: the tokens were invalidated before the event.
    expect(local.store.state(local.tokensOf(1)[0])!.ready).toBe(false);
    expect(await ev).toMatchObject({ conn: 1, reason: 'by hand', tokens: 2 });
    expect(local.liveness(2)!.open).toBe(true);
  });

  it('a busy main-thread reader never sees a torn book (get, top, depth reads) while the worker ingests', async () => {
    // The simulator runs in its own thread, so this thread can read without ever yielding.
    const remote = await remoteSimulator({ seed: 5, markets: 10, rate: 4000 });
    const feed = await workerFeed(backend, { maxDepth: 10, url: remote.url, universe: remote.markets });
    const store = feed.store;
    await waitFor(() => store.readyCount() === 20, 'ready');
    const tokens = remote.markets.flatMap((m) => [...m.tokens]);
    const handles = tokens.map((t) => store.handle(t));
    const depthHandles = tokens.map((t) => store.handle(t));
    let depthReads = 0;
    const lastSeq = new Array<number>(tokens.length).fill(-1);
    let reads = 0;
    let changes = 0;
    const problems: string[] = [];
    const end = Date.now() + 1500;
    // Synchronous: this thread never yields, so every change seen was written by the worker meanwhile.
    while (Date.now() < end) {
      for (let i = 0; i < tokens.length; i++) {
        const h = handles[i];
        if (h.top(1e12)) {
          reads++;
          if (!Number.isNaN(h.bidPrice) && !Number.isNaN(h.askPrice) && !(h.bidPrice < h.askPrice))
            problems.push('crossed top');
          if (!(h.bidSize > 0 || Number.isNaN(h.bidPrice)) || !(h.askSize > 0 || Number.isNaN(h.askPrice)))
            problems.push('bad top size');
        }
        const d = depthHandles[i];
        if (d.book(1e12)) {
          // The same invariants on the handle's copy of the levels: one version, never torn.
          depthReads++;
          for (let k = 0; k < d.bidDepth; k++) {
            const p = d.bidPriceAt(k);
            if (!(d.bidSizeAt(k) > 0 && p > 0 && p < 1) || (k > 0 && !(p < d.bidPriceAt(k - 1))))
              problems.push(`bad depth bid ${k} seq ${d.sequence}`);
          }
          for (let k = 0; k < d.askDepth; k++) {
            const p = d.askPriceAt(k);
            if (!(d.askSizeAt(k) > 0 && p > 0 && p < 1) || (k > 0 && !(p > d.askPriceAt(k - 1))))
              problems.push(`bad depth ask ${k} seq ${d.sequence}`);
          }
          if (d.bidDepth > 0 && d.askDepth > 0 && !(d.bidPriceAt(0) < d.askPriceAt(0))) problems.push('crossed depth');
          if (d.bidDepth > 0 && (d.bidPrice !== d.bidPriceAt(0) || d.bidSize !== d.bidSizeAt(0)))
            problems.push('top != depth level 0');
        }
        const b = store.get(tokens[i], 1e12);
        if (!b) continue;
        reads++;
        if (b.sequence < lastSeq[i]) problems.push('sequence went back');
        if (b.sequence !== lastSeq[i]) changes++;
        lastSeq[i] = b.sequence;
        // Per-book invariant: strictly ordered levels, positive sizes, prices in (0,1), best = first, uncrossed.
        for (let k = 0; k < b.bids.length; k++) {
          const l = b.bids[k];
          if (!(l.size > 0 && l.price > 0 && l.price < 1) || (k > 0 && !(l.price < b.bids[k - 1].price)))
            problems.push(`bad bid ${JSON.stringify(b.bids)} seq ${b.sequence}`);
        }
        for (let k = 0; k < b.asks.length; k++) {
          const l = b.asks[k];
          if (!(l.size > 0 && l.price > 0 && l.price < 1) || (k > 0 && !(l.price > b.asks[k - 1].price)))
            problems.push(`bad ask ${JSON.stringify(b.asks)} seq ${b.sequence}`);
        }
        if (b.bestBid !== (b.bids[0]?.price ?? null) || b.bestAsk !== (b.asks[0]?.price ?? null))
          problems.push('best != first level');
        if (b.bestBid !== null && b.bestAsk !== null && !(b.bestBid < b.bestAsk)) problems.push('crossed book');
      }
      if (problems.length > 0) break;
    }
    expect(problems.slice(0, 5)).toEqual([]);
    expect(reads).toBeGreaterThan(100_000);
    expect(depthReads).toBeGreaterThan(10_000);
    expect(changes).toBeGreaterThan(100); // the worker really wrote while we read
  });
});
