/**
 * Warmup: completes at the threshold, times out, disables exactly the tokens without a book,
 * gates reads until done, reports progress; tokens added later warm on their own.
 */
import { describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { WatchHub } from '../src/cache/watch.js';
import { WarmupManager, type WarmupProgress } from '../src/cache/warmup.js';
import type { Simulator } from '../src/simulator/index.js';
import { BACKENDS, ManualClock, bookFrame, waitFor } from './helpers.js';
import { afterTest, simulator, startCache } from './rig.js';

/** Fake token ids the simulator does not know: they never get a book. */
const UNKNOWN = ['11111111111111111111', '22222222222222222222'];

describe.each(BACKENDS)('WarmupManager over a store (%s)', (backend) => {
  function setup(tokens: string[]) {
    const clock = new ManualClock();
    const store = new BookStore({ backend, clock: clock.now, capacity: 32 });
    afterTest(() => store.close());
    const hub = new WatchHub({ table: store.table, slotOf: (id) => (store.has(id) ? store.handle(id).slot : -1) });
    afterTest(() => hub.close());
    store.subscribe(tokens);
    return { store, hub, clock };
  }
  const book = (id: string) => bookFrame(id, [['0.4', '1']], [['0.6', '1']]);

  it('completes exactly when the ready fraction reaches the minimum, disabling the rest', async () => {
    const tokens = ['a', 'b', 'c', 'd', 'e'];
    const { store, hub, clock } = setup(tokens);
    const progress: WarmupProgress[] = [];
    const wm = new WarmupManager(store, hub, tokens, {
      minReadyFraction: 0.6,
      timeoutMs: 60_000,
      onProgress: (p) => progress.push(p),
    });
    let done = false;
    const p = wm.run().then((r) => {
      done = true;
      return r;
    });
    expect(progress.at(-1)).toMatchObject({ ready: 0, total: 5, fraction: 0 });
    store.ingest(book('a'), clock.t);
    await waitFor(() => progress.at(-1)!.ready === 1);
    store.ingest(book('b'), clock.t);
    await waitFor(() => progress.at(-1)!.ready === 2);
    expect(done).toBe(false); // 0.4 < 0.6
    store.ingest(book('c'), clock.t);
    const r = await p;
    expect(r).toMatchObject({ ready: 3, total: 5, fraction: 0.6, timedOut: false, disabled: ['d', 'e'] });
    expect(progress.map((x) => x.ready)).toEqual([0, 1, 2, 3, 3]);
    expect(wm.result).toBe(r);
    // Disabled for the session: even a book arriving now is not served.
    store.ingest(book('d'), clock.t);
    expect(store.get('d', 1000)).toBeNull();
    expect(store.metrics().misses.disabled).toBe(1);
    expect(store.get('a', 1000)).not.toBeNull();
  });

  it('times out, reporting and disabling the tokens without a book', async () => {
    const tokens = ['a', 'b', 'c', 'd'];
    const { store, hub, clock } = setup(tokens);
    store.ingest(book('b'), clock.t);
    const t0 = performance.now();
    const r = await new WarmupManager(store, hub, tokens, { minReadyFraction: 0.9, timeoutMs: 150 }).run();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(149);
    expect(r).toMatchObject({ ready: 1, total: 4, fraction: 0.25, timedOut: true, disabled: ['a', 'c', 'd'] });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(149);
    for (const t of ['a', 'c', 'd']) expect(store.state(t)!.disabled).toBe(true);
    expect(store.state('b')!.disabled).toBe(false);
  });

  it('an empty set is warm at once; a set already ready completes without waiting', async () => {
    const { store, hub, clock } = setup(['a']);
    expect(await new WarmupManager(store, hub, [], { timeoutMs: 60_000 }).run()).toMatchObject({
      ready: 0,
      total: 0,
      fraction: 1,
      timedOut: false,
      disabled: [],
    });
    store.ingest(book('a'), clock.t);
    expect(await new WarmupManager(store, hub, ['a'], { minReadyFraction: 1, timeoutMs: 60_000 }).run()).toMatchObject({
      ready: 1,
      fraction: 1,
      timedOut: false,
    });
  });

  it('can leave slow tokens enabled', async () => {
    const { store, hub } = setup(['a']);
    const r = await new WarmupManager(store, hub, ['a'], { timeoutMs: 10, disableNotReady: false }).run();
    expect(r).toMatchObject({ timedOut: true, disabled: [] });
    expect(store.state('a')!.disabled).toBe(false);
  });

  it('rejects bad settings', () => {
    const { store, hub } = setup([]);
    expect(() => new WarmupManager(store, hub, [], { minReadyFraction: 1.2 })).toThrow(/warmupMinReadyFraction/);
    expect(() => new WarmupManager(store, hub, [], { timeoutMs: -1 })).toThrow(/warmupTimeoutMs/);
  });
});

describe.each(BACKENDS)('BookCache warmup against the simulator (%s)', (backend) => {
  let sim: Simulator;

  it('completes at the threshold and disables exactly the tokens the simulator does not know', async () => {
    sim = await simulator({ markets: 4, seed: 3, rate: 50 });
    const progress: WarmupProgress[] = [];
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [...sim.tokens, ...UNKNOWN],
      warmupMinReadyFraction: 0.8, // 8 of 10
      warmupTimeoutMs: 20_000,
      onWarmupProgress: (p) => progress.push(p),
    });
    const events: WarmupProgress[] = [];
    cache.on('warmupProgress', (p) => events.push(p));
    const r = await cache.warmup();
    expect(r).toMatchObject({ ready: 8, total: 10, fraction: 0.8, timedOut: false });
    expect(r.disabled.sort()).toEqual([...UNKNOWN].sort());
    expect(r.elapsedMs).toBeLessThan(20_000);
    expect(progress.at(-1)).toMatchObject({ ready: 8, total: 10 });
    expect(progress[0]).toMatchObject({ total: 10 });
    expect(cache.tradingEnabled).toBe(true);
    expect(cache.get(sim.tokens[0])).not.toBeNull();
    expect(cache.get(UNKNOWN[0])).toBeNull();
    const m = cache.metrics().summary();
    expect(m.missesByReason.disabled).toBe(1);
    expect(m.warmup).toEqual(r);
  });

  it('gates reads until warmup completes (not_ready), then times out and disables the unknown tokens', async () => {
    sim = await simulator({ markets: 2, seed: 4, rate: 50 });
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [...sim.tokens, ...UNKNOWN],
      warmupMinReadyFraction: 1,
      warmupTimeoutMs: 400,
    });
    expect(cache.tradingEnabled).toBe(false);
    // Even once the known books are in, nothing is served before warmup completes.
    await waitFor(() => cache.store.readyCount() === 4, 'the books', 5000);
    expect(cache.get(sim.tokens[0])).toBeNull();
    const h = cache.handle(sim.tokens[1]);
    expect(h.top(1500)).toBe(false);
    expect(h.missReason).toBe('not_ready');
    expect(cache.metrics().store.misses.not_ready).toBe(2);
    const r = await cache.warmup();
    expect(r).toMatchObject({ ready: 4, total: 6, timedOut: true });
    expect(r.disabled.sort()).toEqual([...UNKNOWN].sort());
    expect(r.elapsedMs).toBeGreaterThanOrEqual(399);
    expect(cache.tradingEnabled).toBe(true);
    expect(cache.get(sim.tokens[0])).not.toBeNull();
    expect(h.top(1500)).toBe(true);
    expect(h.missReason).toBeNull();
    expect(cache.get(UNKNOWN[1])).toBeNull();
    expect(cache.handle(UNKNOWN[0]).top(1500)).toBe(false);
    expect(cache.metrics().store.misses.disabled).toBe(2);
  });

  it('tokens added later warm on their own, with their own readiness', async () => {
    sim = await simulator({ markets: 4, seed: 5, rate: 50 });
    const first = sim.markets.slice(0, 2).flatMap((m) => m.tokens);
    const later = sim.markets[2].tokens;
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: first,
      warmupMinReadyFraction: 1,
      warmupTimeoutMs: 20_000,
    });
    await cache.warmup();
    expect(cache.get(later[0])).toBeNull();
    const r = await cache.acquire([{ market: sim.markets[2].conditionId, tokens: [...later] }, UNKNOWN[0]], {
      timeoutMs: 500,
    });
    expect(r).toMatchObject({ ready: 2, total: 3, timedOut: true, disabled: [UNKNOWN[0]] });
    expect(cache.tradingEnabled).toBe(true);
    expect(cache.get(later[0])).not.toBeNull();
    expect(cache.get(later[1])).not.toBeNull();
    expect(cache.get(first[0])).not.toBeNull();
    expect(cache.metrics().cache.addedAtRuntime).toBe(3);
  }, 20_000);
});
