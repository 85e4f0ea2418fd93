/**
 * The conventions Node users expect of long-lived objects and slow calls: `await using` disposes
 * the cache, the feed, the worker feed and the simulator; an AbortSignal cancels `BookCache.start`,
 * `cache.warmup()` and `cache.acquire()` with the signal's reason and leaves nothing running; a
 * stop ends the warmups still running.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BookCache } from '../src/cache/book-cache.js';
import { SubscriptionManager } from '../src/feed/manager.js';
import { WorkerFeed, startWorkerFeed } from '../src/feed/worker.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { BookStore } from '../src/table/store.js';
import { BACKENDS, FAST_FEED, waitFor } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The error `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** Whether `p` is still pending after every callback queued so far ran. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const r = await Promise.race([
    p.then(
      () => null,
      () => null,
    ),
    new Promise((res) => setImmediate(() => res(marker))),
  ]);
  return r === marker;
}

async function simulator(): Promise<Simulator> {
  const sim = await startSimulator({ markets: 4, seed: 3, rate: 0 });
  cleanups.push(() => sim.close());
  return sim;
}

const stopped = expect.objectContaining({ code: 'POLYBOOK_STOPPED' });

describe.each(BACKENDS)('await using (%s backend)', (backend) => {
  it('disposes the cache, the feed, the worker feed and the simulator at the end of the block', async () => {
    let sim!: Simulator;
    let cache!: BookCache;
    let feed!: SubscriptionManager;
    let worker!: WorkerFeed;
    let initialWarmup!: Promise<unknown>;
    {
      await using s = await startSimulator({ markets: 2, seed: 1, rate: 0 });
      // A warmup that cannot complete before its (long) timeout: only the stop ends it.
      await using c = await BookCache.start({
        backend,
        url: s.url,
        universe: [...s.tokens, 'no-such-token'],
        warmupMinReadyFraction: 1,
        warmupTimeoutMs: 3_600_000,
        feed: FAST_FEED,
      });
      initialWarmup = c.warmup();
      await using f = new SubscriptionManager(new BookStore({ backend, clock: 'precise' }), { url: s.url });
      f.start([s.tokens[0]]);
      await using w = await startWorkerFeed({ backend, url: s.url, universe: [s.tokens[1]] });
      [sim, cache, feed, worker] = [s, c, f, w];
      await waitFor(() => c.store.readyCount() === s.tokens.length, 'cache');
      await waitFor(() => w.store.readyCount() === 1, 'worker');
    }
    // Disposed in reverse order, each with its stop()/close().
    expect(() => worker.add(['x'])).toThrow(stopped);
    expect(() => feed.add(['x'])).toThrow(stopped);
    expect(() => cache.acquire(['x'])).toThrow(stopped);
    expect(() => sim.step()).toThrow(stopped);
    expect(await rejection(initialWarmup)).toEqual(stopped);
    expect(cache.tradingEnabled).toBe(false);
  });
});

describe('AbortSignal on BookCache.start', () => {
  it('an aborted signal rejects with its reason before anything starts', async () => {
    const fetch = vi.fn();
    const reason = new Error('shutting down');
    const e = await rejection(
      BookCache.start({ universe: { top: 5 }, http: { fetch }, signal: AbortSignal.abort(reason), worker: true }),
    );
    expect(e).toBe(reason);
    expect(fetch).not.toHaveBeenCalled();
  });

  it('aborting during discovery cancels the request in flight and rejects with the reason', async () => {
    let requestSignal: AbortSignal | undefined;
    let onRequest!: () => void;
    const requested = new Promise<void>((resolve) => {
      onRequest = resolve;
    });
    const fetch = vi.fn((_url: unknown, init?: RequestInit) => {
      requestSignal = init?.signal ?? undefined;
      onRequest();
      return new Promise<Response>((_, reject) =>
        requestSignal?.addEventListener('abort', () => reject(requestSignal?.reason)),
      );
    });
    const ac = new AbortController();
    const start = BookCache.start({
      universe: { top: 5 },
      http: { fetch: fetch as typeof globalThis.fetch },
      gammaUrl: 'http://gamma.test',
      signal: ac.signal,
    });
    await requested;
    ac.abort();
    const e = await rejection(start);
    expect(e).toBe(ac.signal.reason);
    expect((e as Error).name).toBe('AbortError');
    expect(requestSignal?.aborted).toBe(true);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it.each(BACKENDS)(
    'aborting while the worker starts rejects with the reason once the worker has stopped (%s)',
    async (backend) => {
      const stop = vi.spyOn(WorkerFeed.prototype, 'stop');
      const ac = new AbortController();
      const start = startWorkerFeed({ backend, url: 'ws://127.0.0.1:9/ws/market', signal: ac.signal });
      ac.abort('enough');
      expect(await rejection(start)).toBe('enough');
      expect(stop).toHaveBeenCalledTimes(1);
      // stop() resolves only after the worker exited; it had resolved before start rejected.
      expect(await pending(stop.mock.results[0]!.value as Promise<void>)).toBe(false);
    },
  );
});

describe.each(BACKENDS)('AbortSignal on warmup and acquire (%s backend)', (backend) => {
  async function cache(universe: string[], warmupTimeoutMs = 3_600_000): Promise<BookCache> {
    const sim = await simulator();
    const c = await BookCache.start({
      backend,
      url: sim.url,
      universe,
      warmupMinReadyFraction: 1,
      warmupTimeoutMs,
      feed: FAST_FEED,
    });
    cleanups.push(() => c.stop());
    return c;
  }

  it('cache.warmup({ signal }) cancels this wait only; the warmup goes on for the others', async () => {
    const c = await cache(['no-such-token']);
    const ac = new AbortController();
    const mine = c.warmup({ signal: ac.signal });
    const others = c.warmup();
    ac.abort();
    expect(await rejection(mine)).toBe(ac.signal.reason);
    expect(await pending(others)).toBe(true);
    expect(await rejection(c.warmup({ signal: AbortSignal.abort('already') }))).toBe('already');
    await c.stop();
    expect(await rejection(others)).toEqual(stopped);
  });

  it('cache.acquire({ signal }) rejects with the reason and gives back its references, disabling nothing', async () => {
    const sim = await simulator();
    const c = await cache([]);
    await c.warmup();
    const [held, fresh] = sim.tokens;
    await c.acquire([held!]);
    const ac = new AbortController();
    const acquiring = c.acquire([held!, fresh!, 'no-such-token'], { signal: ac.signal });
    expect(c.refCount(held!)).toBe(2);
    expect(c.store.has('no-such-token')).toBe(true);
    ac.abort();
    expect(await rejection(acquiring)).toBe(ac.signal.reason);
    expect(c.refCount(held!)).toBe(1);
    expect(c.refCount(fresh!)).toBe(0);
    expect(c.store.has(fresh!)).toBe(false);
    expect(c.store.has('no-such-token')).toBe(false);
    expect(c.store.state(held!)?.disabled).toBe(false);
    // The cancelled warmup's watch is gone too: only the feed's own work remains.
    expect((c as unknown as { hub: { size: number } }).hub.size).toBe(0);
    expect(await rejection(c.acquire([fresh!], { signal: AbortSignal.abort('no') }))).toBe('no');
    expect(c.refCount(fresh!)).toBe(0);
  });

  it('a stop ends the acquire warmups still running with POLYBOOK_STOPPED; any number may run', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const c = await cache([]);
    await c.warmup();
    const acquiring = Array.from({ length: 12 }, (_, i) => c.acquire([`no-such-token-${i}`]));
    await c.stop();
    for (const a of acquiring) expect(await rejection(a)).toEqual(stopped);
    // Warnings are emitted on the next tick: let them arrive.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});
