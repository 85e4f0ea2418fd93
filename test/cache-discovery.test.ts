/**
 * BookCache on a discovered universe, over loopback against the simulator, on both backends:
 * each universe form (slugs, markets, tokens, tag, top N), `cache.market(tokenId)`, the metadata
 * given to the store (server-hash checks on), markets in the hydration window added once their
 * books exist, a 429 during start, and the HTTP counters per purpose.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BookCache } from '../src/cache/book-cache.js';
import { fromEnv } from '../src/cache/env.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.js';
import { BACKENDS, waitFor } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function sim(o: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({ rate: 0, seed: 3, markets: 10, ...o });
  cleanups.push(() => s.close());
  return s;
}

describe.each(BACKENDS)('BookCache on a discovered universe (%s)', (backend) => {
  it('starts from { slugs }, { markets }, { tokens }, { tag } and { top, by }; REST follows the feed URL', async () => {
    const s = await sim();
    const event = s.markets.find((m) => m.eventSlug !== m.slug)!.eventSlug;
    const members = s.markets.filter((m) => m.eventSlug === event);
    const byVolume = [...s.markets].sort((a, b) => b.volume24h - a.volume24h);
    const byLiquidity = [...s.markets].sort((a, b) => b.liquidity - a.liquidity);
    const forms = [
      { universe: { slugs: [event] }, want: members },
      { universe: { markets: [s.markets[1]!.conditionId] }, want: [s.markets[1]!] },
      { universe: { tokens: [s.markets[2]!.no] }, want: [s.markets[2]!] },
      { universe: { top: 3 }, want: byVolume.slice(0, 3) },
      { universe: { top: 2, by: 'liquidity' as const }, want: byLiquidity.slice(0, 2) },
    ];
    for (const f of forms) {
      // No gammaUrl/clobUrl: the REST base URLs follow the feed URL (the simulator's origin).
      const cache = await BookCache.start({ backend, url: s.url, universe: f.universe, warmupMinReadyFraction: 1 });
      try {
        const want = f.want.flatMap((m) => m.tokens);
        expect(await cache.warmup()).toMatchObject({ ready: want.length, total: want.length, timedOut: false });
        expect(cache.tokens().sort()).toEqual([...want].sort());
        expect(
          cache
            .markets()
            .map((m) => m.conditionId)
            .sort(),
        ).toEqual(f.want.map((m) => m.conditionId).sort());
        for (const m of f.want) {
          expect(cache.get(m.yes)).not.toBeNull();
          expect(cache.market(m.no)).toMatchObject({
            outcome: m.outcomes[1],
            market: { conditionId: m.conditionId, question: m.question, tickSizeText: m.tickSize, negRisk: m.negRisk },
          });
        }
        expect(cache.metrics().http.discovery!.requests).toBeGreaterThan(0);
      } finally {
        await cache.stop();
      }
    }
    const tagged = await BookCache.start({ backend, url: s.url, universe: { tag: 'crypto' } });
    cleanups.push(() => tagged.stop());
    expect(tagged.markets().length).toBeGreaterThan(0);
    expect(tagged.markets().every((m) => m.tags.includes('crypto'))).toBe(true);
    // Token ids given directly: no discovery, no market description.
    const plain = await BookCache.start({ backend, url: s.url, universe: [s.markets[0]!.yes] });
    cleanups.push(() => plain.stop());
    expect(plain.market(s.markets[0]!.yes)).toBeNull();
    expect(plain.metrics().http).toEqual({});
  });

  it("discovered markets' min_order_size and neg_risk turn the server-hash check on", async () => {
    const s = await sim({ rate: 300 });
    const cache = await BookCache.start({ backend, url: s.url, universe: { top: 4 }, warmupMinReadyFraction: 1 });
    cleanups.push(() => cache.stop());
    await cache.warmup();
    await waitFor(() => cache.store.counter('hashChecks') >= 20, 'hash checks', 10_000);
    expect(cache.store.counter('hashMismatches')).toBe(0);
    // Without metadata (token ids given directly, no REST) there is nothing to check the hash with.
    const plain = await BookCache.start({ backend, url: s.url, universe: [...s.markets[0]!.tokens] });
    cleanups.push(() => plain.stop());
    await plain.warmup();
    await waitFor(() => plain.store.counter('deltasApplied') > 20, 'some deltas', 10_000);
    expect(plain.store.counter('hashChecks')).toBe(0);
  });

  it('a market in the hydration window is not followed until its books exist, then added', async () => {
    const s = await sim({ markets: 6, hydratingMarkets: 1 });
    const fresh = s.markets.at(-1)!;
    const cache = await BookCache.start({
      backend,
      url: s.url,
      universe: { markets: s.markets.map((m) => m.conditionId) },
      hydration: { retryMs: 20, timeoutMs: 60_000 },
      warmupMinReadyFraction: 1,
    });
    cleanups.push(() => cache.stop());
    // Warmup is about the markets whose books exist; the new one waits.
    expect(await cache.warmup()).toMatchObject({ ready: 10, total: 10, timedOut: false });
    expect(cache.pendingMarkets().map((m) => m.conditionId)).toEqual([fresh.conditionId]);
    expect(cache.tokens()).not.toContain(fresh.yes);
    expect(cache.metrics().cache.pendingMarkets).toBe(1);
    const hydrated = new Promise<unknown[]>((r) => cache.once('hydrated', r));
    s.hydrate(fresh.conditionId);
    expect((await hydrated).map((m: any) => m.conditionId)).toEqual([fresh.conditionId]);
    await waitFor(() => cache.get(fresh.yes) !== null && cache.get(fresh.no) !== null, 'the new market books', 10_000);
    expect(cache.market(fresh.yes)).toMatchObject({ outcome: fresh.outcomes[0] });
    expect(cache.pendingMarkets()).toEqual([]);
  });
});

describe('BookCache on a discovered universe, worker mode', () => {
  it("the markets' metadata reaches the worker's writer: hash checks run there", async () => {
    const s = await sim({ rate: 300 });
    const cache = await BookCache.start({ worker: true, url: s.url, universe: { top: 3 }, warmupMinReadyFraction: 1 });
    cleanups.push(() => cache.stop());
    expect((await cache.warmup()).ready).toBe(6);
    expect(cache.market(cache.tokens()[0]!)).not.toBeNull();
    await waitFor(() => cache.store.counter('hashChecks') >= 20, 'hash checks in the worker', 10_000);
    expect(cache.store.counter('hashMismatches')).toBe(0);
  });
});

describe('BookCache discovery failures', () => {
  it('one 429 during start is retried (Retry-After honoured) and counted; an unknown slug fails start clearly', async () => {
    const s = await sim();
    s.failRest({ status: 429, retryAfterS: 0, path: '/markets/keyset' });
    const cache = await BookCache.start({ backend: 'js', url: s.url, universe: { top: 2 } });
    cleanups.push(() => cache.stop());
    expect(cache.tokens()).toHaveLength(4);
    expect(cache.metrics().http.discovery).toMatchObject({ rateLimited: 1, retries: 1, errors: 0 });
    expect(cache.prometheus()).toMatch(/polybook_http_retries_total\{purpose="discovery"\} 1/);
    await expect(BookCache.start({ backend: 'js', url: s.url, universe: { slugs: ['no-such-slug'] } })).rejects.toThrow(
      /slug "no-such-slug": no open event or market has it/,
    );
    await expect(BookCache.start({ backend: 'js', url: s.url, universe: { discover: true } as never })).rejects.toThrow(
      /universe\.discover/,
    );
    await expect(
      BookCache.start({ backend: 'js', url: s.url, universe: { top: 1 }, gammaUrl: 'ftp://x' }),
    ).rejects.toThrow(/gammaUrl/);
  });

  it('POLYBOOK_GAMMA_URL / POLYBOOK_CLOB_URL override the URLs that follow the feed', async () => {
    const s = await sim();
    const env = fromEnv({ POLYBOOK_GAMMA_URL: `${s.httpUrl}/`, POLYBOOK_CLOB_URL: s.httpUrl });
    expect(env).toMatchObject({ gammaUrl: s.httpUrl, clobUrl: s.httpUrl });
    // The feed is elsewhere (nothing listens): discovery still reaches the simulator.
    const cache = await BookCache.start({
      ...env,
      backend: 'js',
      url: 'ws://127.0.0.1:9/ws/market',
      universe: { top: 1 },
      warmupTimeoutMs: 0,
    });
    cleanups.push(() => cache.stop());
    expect(cache.markets()).toHaveLength(1);
    expect(() => fromEnv({ POLYBOOK_CLOB_URL: 'clob.polymarket.com' })).toThrow(/POLYBOOK_CLOB_URL/);
  });

  it('switched off, a discovery universe makes no request', async () => {
    const s = await sim();
    const cache = await BookCache.start({ enabled: false, url: s.url, universe: { top: 3 } });
    cleanups.push(() => cache.stop());
    expect(s.stats().restRequests).toBe(0);
    expect(cache.market(s.tokens[0]!)).toBeNull();
  });
});
