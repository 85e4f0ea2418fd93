/**
 * Busy-connection stall detection (docs/FEED.md "Watchdogs"), on both backends, against the simulator
 * over loopback: a busy connection whose server keeps answering PING but sends no data stops being
 * confirmed at its last data plus `stallAfterMs` (reads go stale by themselves), is counted in
 * `stalls` and reconnected with fresh books; quiet connections are left to the silence watchdog.
 */
import { describe, expect, it, vi } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { BookCache } from '../src/cache/book-cache.js';
import { ConfigError } from '../src/errors.js';
import { SubscriptionManager, type DisconnectedEvent } from '../src/feed/manager.js';
import { resolveFeedOptions, type FeedOptions } from '../src/feed/options.js';
import { startWorkerFeed } from '../src/feed/worker.js';
import type { SimulatorOptions } from '../src/simulator/index.js';
import { BACKENDS, FAST_FEED, matchesSim, waitFor } from './helpers.js';
import { remoteSimulator, feedOn, feedRig, groupsOf, simulator, startCache } from './rig.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 15_000 });

/** The silence watchdog at its default (15 s), unlike the rig's fast options. */
const SILENCE_DEFAULT = { silenceTimeoutMs: 15_000 };

/** The rig's fast feed options for a cache (the cache sets hardStaleMs itself). */
const { hardStaleMs: _hardStaleMs, ...CACHE_FEED } = FAST_FEED;

/** Every token ready on a simulator (seed 7) with the silence watchdog at its default. */
function rig(backend: 'js' | 'native', sim: SimulatorOptions, feed: FeedOptions = {}) {
  return feedRig(backend, { sim, feed: { ...SILENCE_DEFAULT, ...feed }, store: { capacity: 256 }, ready: true });
}

/** The sampling cadence of the read loops below (they observe reads over a time window; nothing waits on it). */
const nextSample = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('busy-connection stall detection (%s backend)', (backend) => {
  it('a stalled busy connection stops being confirmed at its last data + stallAfterMs: its reads go stale by themselves', async () => {
    // A slow health timer (the stall watchdog runs on it), so the confirmation limit is seen alone first.
    const { sim, store, feed } = await rig(
      backend,
      { markets: 6, rate: 300 },
      { maxTokensPerConnection: 4, stallMinMs: 400, healthIntervalMs: 2000 },
    );
    const maxStale = 200;
    const victim = sim.markets[0].yes;
    const conn = feed.connectionOf(victim)!;
    const mates = feed.tokensOf(conn);
    const others = sim.tokens.filter((t) => feed.connectionOf(t) !== conn);
    expect(others.length).toBeGreaterThanOrEqual(8); // three connections of four tokens
    await waitFor(() => [1, 2, 3].every((c) => feed.liveness(c)?.busy === true), 'every connection busy');
    // 10 typical gaps, at least stallMinMs (10 x ~10 ms at this rate; more when the machine is loaded).
    const stallAfterMs = feed.liveness(conn)!.stallAfterMs;
    expect(stallAfterMs).toBeGreaterThanOrEqual(400);

    // Inject right after a health tick: the next one (the stall verdict) is 2 s away.
    let tickAt = 0;
    const tick = store.tick.bind(store);
    store.tick = (now?: number) => {
      tickAt = store.now();
      return tick(now);
    };
    const t0 = tickAt;
    await waitFor(() => tickAt > t0, 'a health tick');
    const disconnects: DisconnectedEvent[] = [];
    feed.on('disconnected', (e) => disconnects.push(e));
    const stalledAt = store.now();
    expect(sim.inject('stall', { tokenId: victim })).toBe(1);

    const hv = mates.map((t) => store.handle(t));
    const ho = others.map((t) => store.handle(t));
    let servedLate = 0;
    let staleSeenAt = NaN;
    let otherReads = 0;
    let otherServed = 0;
    while (disconnects.length === 0 && store.now() - stalledAt < 5000) {
      const live = feed.liveness(conn)!;
      const before = store.now();
      // No read of the stalled connection is served past its last data + stallAfterMs + maxStale.
      const bound = before - live.silentMs + live.stallAfterMs + maxStale;
      let served = 0;
      for (const h of hv) if (h.top(maxStale)) served++;
      if (served > 0 && before > bound) servedLate++;
      if (served === 0 && Number.isNaN(staleSeenAt) && live.open) {
        staleSeenAt = before;
        for (const h of hv) expect(h.missReason).toBe('stale'); // held (ready), not confirmed current
        expect(store.state(victim)!.ready).toBe(true);
      }
      for (const h of ho) {
        otherReads++;
        if (h.top(maxStale)) otherServed++;
      }
      await nextSample(5);
    }
    expect(servedLate).toBe(0);
    // Stale within stallAfterMs + maxStale of the stall (plus the polling slack), well before the verdict.
    expect(staleSeenAt - stalledAt).toBeLessThan(stallAfterMs + maxStale + 250);
    // Then the health timer's verdict: counted, reconnected.
    await waitFor(() => disconnects.length > 0, 'the stall verdict');
    expect(disconnects.map((e) => [e.conn, e.reason])).toEqual([[conn, 'stall']]);
    expect(feed.stats().stalls).toBe(1);
    // The other (busy, healthy) connections were served throughout and never dropped.
    expect(otherServed / otherReads).toBeGreaterThan(0.95);
    await waitFor(() => store.readyCount() === sim.tokens.length, 'ready again');
    expect(disconnects.length).toBe(1);
    expect(feed.stats()).toMatchObject({ stalls: 1, reconnects: 1 });
    // Fresh books, equal to the exchange's.
    sim.setRate(0);
    await waitFor(() => sim.tokens.every((t) => matchesSim(store, sim, t)), 'every book equal to the simulator');
  });

  it('detects the stall on the health timer, reconnects at once (no probe), and the books come back equal', async () => {
    const { sim, store, feed } = await rig(
      backend,
      { markets: 6, rate: 300 },
      { maxTokensPerConnection: 4, stallMinMs: 300 },
    );
    const victim = sim.markets[1].no;
    const conn = feed.connectionOf(victim)!;
    await waitFor(() => feed.liveness(conn)?.busy === true, 'busy');
    const stallAfterMs = feed.liveness(conn)!.stallAfterMs;
    // 10 typical gaps, at least stallMinMs (10 x ~10 ms at this rate; more when the machine is loaded).
    expect(stallAfterMs).toBeGreaterThanOrEqual(300);
    const disconnects: DisconnectedEvent[] = [];
    let servedAtDisconnect = -1;
    feed.on('disconnected', (e) => {
      disconnects.push(e);
      servedAtDisconnect = feed.tokensOf(conn).filter((t) => store.get(t, 1e12) !== null).length;
    });
    const r0 = feed.stats().resubscriptions;
    const stalledAt = store.now();
    sim.inject('stall', { tokenId: victim });
    await waitFor(() => disconnects.length > 0, 'the stall detected');
    const detectedMs = store.now() - stalledAt;
    expect(disconnects[0]).toMatchObject({ conn, reason: 'stall', code: 1006 });
    expect(servedAtDisconnect).toBe(0); // invalidated before the event
    expect(feed.stats().stalls).toBe(1);
    expect(feed.stats().resubscriptions).toBe(r0); // no silence probe first
    expect(detectedMs).toBeGreaterThanOrEqual(stallAfterMs - 100); // the last frame may precede the injection a little
    expect(detectedMs).toBeLessThan(stallAfterMs + 2000); // far from the silence watchdog's 15 s
    await waitFor(() => store.readyCount() === sim.tokens.length, 'ready again');
    expect(disconnects.map((e) => e.conn)).toEqual([conn]); // the other connections were not touched
    sim.setRate(0);
    await waitFor(() => sim.tokens.every((t) => matchesSim(store, sim, t)), 'every book equal to the simulator');
  });

  it('a quiet connection is never judged by the stall detector: served by its PONGs, and a stall is left to the silence watchdog', async () => {
    // One market every 2 s: a few frames in 5 s, far from busy.
    const { sim, store, feed } = await rig(
      backend,
      { markets: 2, rate: 0.5 },
      { stallMinMs: 400, silenceTimeoutMs: 2500, hardStaleMs: 1000 },
    );
    const conn = feed.connectionOf(sim.tokens[0])!;
    const handles = sim.tokens.map((t) => store.handle(t));
    const maxStale = 400;
    let reads = 0;
    let served = 0;
    let busySeen = false;
    const end = store.now() + 3000; // the time the busy connections above took to be detected, and more
    while (store.now() < end) {
      busySeen ||= feed.liveness(conn)!.busy;
      for (const h of handles) {
        reads++;
        if (h.top(maxStale)) served++;
      }
      await nextSample(10);
    }
    expect(busySeen).toBe(false);
    expect(feed.liveness(conn)!.stallAfterMs).toBe(2500); // silenceTimeoutMs
    // Gaps of seconds, yet confirmed by PONG all along (the confirmation limit is the silence watchdog's).
    expect(served / reads).toBeGreaterThan(0.95);
    expect(feed.stats()).toMatchObject({ stalls: 0, reconnects: 0 });
    // A stall on a quiet connection cannot be told from quiet: the silence watchdog probes, then recycles it.
    const ev = new Promise<DisconnectedEvent>((r) => feed.once('disconnected', r));
    sim.inject('stall', { tokenId: sim.tokens[0] });
    expect((await ev).reason).toBe('silence');
    expect(feed.stats().stalls).toBe(0);
    await waitFor(() => store.readyCount() === sim.tokens.length, 'ready again');
  });

  it('a busy connection that slows down adapts its threshold and stops being busy, without a false stall', async () => {
    const { sim, feed } = await rig(backend, { markets: 2, rate: 300 });
    const conn = feed.connectionOf(sim.tokens[0])!;
    await waitFor(() => feed.liveness(conn)?.busy === true, 'busy');
    expect(feed.liveness(conn)!.stallAfterMs).toBe(1000); // stallMinMs (default)
    // 3 changes/s: gaps of ~333 ms, still busy; the threshold grows with the gaps.
    sim.setRate(3);
    await waitFor(() => feed.liveness(conn)!.stallAfterMs >= 2500, 'the threshold adapted', 10_000);
    expect(feed.liveness(conn)!.busy).toBe(true);
    // 0.6 changes/s: gaps of 1.7 s (2 s at the switch), longer than stallMinMs: no stall, and busy decays.
    sim.setRate(0.6);
    await waitFor(() => feed.liveness(conn)!.busy === false, 'quiet again', 15_000);
    expect(feed.liveness(conn)!.stallAfterMs).toBe(15_000); // back to silenceTimeoutMs
    expect(feed.stats()).toMatchObject({ stalls: 0, reconnects: 0 });
  });

  it('a blocked event loop is not a stall: frames that arrived meanwhile are read before the verdict', async () => {
    // The simulator runs in its own thread, so it keeps sending while this thread is blocked.
    const remote = await remoteSimulator({ seed: 5, markets: 2, rate: 300 });
    const { store, feed } = feedOn(backend, remote.url, { ...SILENCE_DEFAULT, stallMinMs: 300 }, { capacity: 16 });
    feed.start(remote.markets);
    await waitFor(() => store.readyCount() === 4 && feed.liveness(1)?.busy === true, 'ready and busy');
    for (let i = 0; i < 3; i++) {
      // Blocked for 3x stallAfterMs: the health timer runs first when the loop resumes.
      const until = Date.now() + 900;
      while (Date.now() < until);
      // Let the loop run its timers and read what arrived meanwhile, and then some more frames.
      const seen = feed.stats().messages;
      await waitFor(() => feed.stats().messages > seen + 20, 'frames after the block');
    }
    expect(feed.stats()).toMatchObject({ stalls: 0, reconnects: 0 });
    expect(feed.liveness(1)!.busy).toBe(true);
  });

  it('stallFactor 0 turns the detector off: a busy connection is then only recycled by the silence watchdog', async () => {
    const { sim, feed } = await rig(
      backend,
      { markets: 2, rate: 300 },
      { stallFactor: 0, stallMinMs: 300, silenceTimeoutMs: 1200, hardStaleMs: 400 },
    );
    const conn = feed.connectionOf(sim.tokens[0])!;
    // More frames than make a connection busy when the detector is on.
    const seen = feed.stats().messages;
    await waitFor(() => feed.stats().messages > seen + 40, 'a flow of frames');
    expect(feed.liveness(conn)).toMatchObject({ busy: false, stallAfterMs: 1200 });
    const ev = new Promise<DisconnectedEvent>((r) => feed.once('disconnected', r));
    sim.inject('stall', { tokenId: sim.tokens[0] });
    expect((await ev).reason).toBe('silence');
    expect(feed.stats().stalls).toBe(0);
  });

  it('worker mode: the options reach the worker; the stall is counted in stats and Prometheus', async () => {
    const sim = await simulator({ seed: 9, markets: 4, rate: 300 });
    const cache = await startCache({
      url: sim.url,
      backend,
      worker: true,
      clock: 'precise',
      universe: groupsOf(sim),
      feed: { ...CACHE_FEED, ...SILENCE_DEFAULT, stallMinMs: 2000 },
    });
    await cache.warmup();
    // Busy first (the worker publishes its counters every health interval): a socket that stalls
    // before it has shown a flow is the silence watchdog's.
    await waitFor(() => (cache.metrics().feed?.messages ?? 0) > 200, 'a busy flow');
    expect(cache.prometheus()).toMatch(/^polybook_ws_stalls_total 0$/m);
    const ev = new Promise<DisconnectedEvent>((r) => cache.once('disconnected', r));
    const stalledAt = cache.store.now();
    sim.inject('stall');
    const e = await ev;
    expect(e.reason).toBe('stall');
    // stallMinMs reached the worker: not before 2 s (the default would be 1 s), far before the silence watchdog (15 s).
    expect(cache.store.now() - stalledAt).toBeGreaterThan(1900);
    expect(cache.store.now() - stalledAt).toBeLessThan(8000);
    expect((await cache.metricsAsync()).feed!.stalls).toBe(1);
    // Prometheus reads the counters the worker publishes every health interval.
    await waitFor(() => /^polybook_ws_stalls_total 1$/m.test(cache.prometheus()), 'the stall in the Prometheus output');
    await waitFor(() => cache.store.readyCount() === sim.tokens.length, 'ready again');
  });
});

describe('stall options', () => {
  it('defaults, and the default stallMinMs gives way to a shorter silenceTimeoutMs', () => {
    expect(resolveFeedOptions({})).toMatchObject({ stallFactor: 10, stallMinMs: 1000, silenceTimeoutMs: 15_000 });
    expect(resolveFeedOptions({ silenceTimeoutMs: 400 }).stallMinMs).toBe(400);
    expect(resolveFeedOptions({ silenceTimeoutMs: 0 }).stallMinMs).toBe(1000);
    expect(resolveFeedOptions({ stallFactor: 0 }).stallFactor).toBe(0);
    expect(resolveFeedOptions({ stallFactor: 2.5, stallMinMs: 250 })).toMatchObject({
      stallFactor: 2.5,
      stallMinMs: 250,
    });
  });

  it('rejects bad values with a ConfigError naming the option and what is allowed', () => {
    for (const stallFactor of [-1, 0.5, 1001, NaN, Infinity, '10' as unknown as number]) {
      expect(() => resolveFeedOptions({ stallFactor })).toThrow(ConfigError);
    }
    expect(() => resolveFeedOptions({ stallFactor: 0.5 })).toThrow(
      'polybook: invalid stallFactor=0.5: expected 0 (off) or a number from 1 to 1000',
    );
    for (const stallMinMs of [0, 9, 1.5, -100, 86_400_001, NaN]) {
      expect(() => resolveFeedOptions({ stallMinMs })).toThrow(/invalid stallMinMs/);
    }
    expect(() => resolveFeedOptions({ stallMinMs: 2000, silenceTimeoutMs: 1000 })).toThrow(
      'polybook: invalid stallMinMs=2000: expected an integer from 10 to 1000 (at most silenceTimeoutMs)',
    );
    expect(
      () => new SubscriptionManager(new BookStore({ backend: 'js', capacity: 1, clock: 'precise' }), { stallMinMs: 5 }),
    ).toThrow(ConfigError);
  });

  it('worker mode and the cache check them in the caller before anything starts', async () => {
    await expect(startWorkerFeed({ backend: 'js', stallFactor: -1 })).rejects.toThrow(/stallFactor/);
    await expect(BookCache.start({ universe: [], feed: { stallMinMs: 20_000 } })).rejects.toThrow(/stallMinMs=20000/);
  });
});
