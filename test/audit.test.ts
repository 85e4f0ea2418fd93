/**
 * The auditor (src/audit/, docs/FEED.md "Audits"): over loopback against the simulator's `freeze`
 * fault and a REST stand-in, on both backends, with the feed in this thread and in a worker.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type { BookCache, BookCacheOptions } from '../src/cache/book-cache.js';
import type { DisconnectedEvent } from '../src/feed/manager.js';
import { ConfigError } from '../src/errors.js';
import { AUDIT_DEFAULTS, coveragePeriodMs, detectionBoundMs, resolveAudit } from '../src/audit/options.js';
import { restAudit } from '../src/audit/compare.js';
import { DEFAULT_WS_URL } from '../src/feed/options.js';
import { isPolymarketFeed } from '../src/rest/urls.js';
import { BookStore } from '../src/table/store.js';
import { renderDashboard } from '../src/tools/dashboard.js';
import type { Simulator } from '../src/simulator/index.js';
import { BACKENDS, bookFrame, matchesSim, waitFor } from './helpers.js';
import { afterTest, expectAllMatch, groupsOf, simulator, startCache } from './rig.js';

const MODES = [
  ['main thread', false],
  ['worker', true],
] as const;

/** A quick audit: 20 requests a second over a few tokens, a short grace. */
const QUICK = { requestsPerSecond: 20, tokensPerRequest: 10, graceMs: 250 };

/** Feed options for these tests: no watchdog but the auditor finds a frozen token. */
const FEED = {
  confirmIntervalMs: 100,
  silenceTimeoutMs: 0,
  stallFactor: 0,
  backoff: { minMs: 20, maxMs: 200, jitter: 0 },
};

async function auditedCache(sim: Simulator, o: Partial<BookCacheOptions>): Promise<BookCache> {
  const cache = await startCache({
    url: sim.url,
    universe: groupsOf(sim),
    warmupMinReadyFraction: 1,
    clock: 'precise',
    feed: FEED,
    ...o,
  });
  await cache.warmup();
  return cache;
}

/** Changes the market of `tokens` until each token's true book has moved past its timestamp now. */
function changeBooks(sim: Simulator, tokens: readonly string[]): void {
  const before = new Map(tokens.map((t) => [t, sim.book(t).timestamp]));
  for (let i = 0; i < 100 && tokens.some((t) => sim.book(t).timestamp === before.get(t)); i++) sim.step(5);
  for (const t of tokens) expect(sim.book(t).timestamp, t).not.toBe(before.get(t));
}

describe('audit settings', () => {
  it('on by default with Polymarket feed only; the option wins over POLYBOOK_AUDIT', () => {
    expect(isPolymarketFeed(DEFAULT_WS_URL)).toBe(true);
    expect(isPolymarketFeed('ws://127.0.0.1:9/ws/market')).toBe(false);
    expect(resolveAudit(undefined, undefined, true)).toEqual(AUDIT_DEFAULTS);
    expect(resolveAudit(undefined, undefined, false)).toBeNull();
    expect(resolveAudit(undefined, true, false)).toEqual(AUDIT_DEFAULTS);
    expect(resolveAudit(false, true, true)).toBeNull();
    expect(resolveAudit({ graceMs: 500 }, false, false)).toEqual({ ...AUDIT_DEFAULTS, graceMs: 500 });
  });

  it.each([
    [{ requestsPerSecond: 0 }, 'audit.requestsPerSecond'],
    [{ requestsPerSecond: 26 }, 'audit.requestsPerSecond'],
    [{ tokensPerRequest: 501 }, 'audit.tokensPerRequest'],
    [{ tokensPerRequest: 2.5 }, 'audit.tokensPerRequest'],
    [{ graceMs: -1 }, 'audit.graceMs'],
    [{ quarantineAfter: -1 }, 'audit.quarantineAfter'],
    [{ every: 5 }, 'audit.every'],
    ['yes', 'audit'],
  ])('%j is rejected naming %s', (o, name) => {
    let e: unknown;
    try {
      resolveAudit(o, undefined, false);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).variable).toBe(name);
  });

  it('the coverage period and the detection bound follow from the budget', () => {
    // 2,000 tokens at one 50-id request per second: one pass in 40 s.
    expect(coveragePeriodMs(2000, AUDIT_DEFAULTS)).toBe(40_000);
    expect(coveragePeriodMs(2001, AUDIT_DEFAULTS)).toBe(41_000);
    // Plus one request interval, the request timeout and the grace.
    expect(detectionBoundMs(2000, AUDIT_DEFAULTS)).toBe(40_000 + 1000 + 5000 + 3000);
  });

  it('compares REST books best first, zero sizes dropped; a malformed one is not compared', () => {
    const lv = (p: string, s: string) => ({ price: p, size: s });
    const book = (o: object) => ({ asset_id: '1', timestamp: '100', bids: [], asks: [], ...o });
    expect(
      restAudit(
        book({ bids: [lv('0.4', '5'), lv('0.45', '0'), lv('0.5', '1')], asks: [lv('0.7', '2'), lv('0.6', '3')] }),
      ),
    ).toEqual({ ts: 100, bids: [0.5, 1, 0.4, 5], asks: [0.6, 3, 0.7, 2] });
    expect(restAudit(book({ timestamp: 100 }))).toBeNull();
    expect(restAudit(book({ bids: [lv('0.5', '1'), lv('0.4', '1')] }))).toBeNull(); // not wire order
    expect(restAudit(book({ asks: [lv('1.5', '1')] }))).toBeNull();
    expect(restAudit(book({ bids: 'none' }))).toBeNull();
  });
});

describe.each(BACKENDS)('diverge through the store (%s)', (backend) => {
  it('a diverged token misses `diverged` at once, is marked for resync, and is served again after a book', () => {
    const store = new BookStore({ backend, clock: 'precise' });
    afterTest(() => store.close());
    store.subscribe(['a', 'b'], 1);
    store.ingest(bookFrame('a', [['0.4', '1']], [['0.6', '1']]));
    store.ingest(bookFrame('b', [['0.4', '1']], [['0.6', '1']]));
    const h = store.handle('a');
    expect(h.top(1e9)).toBe(true);
    store.diverge(['a']);
    expect(h.top(1e9)).toBe(false);
    expect(h.missReason).toBe('diverged');
    expect(store.get('a', 1e9)).toBeNull();
    expect(store.metrics().misses.diverged).toBe(2);
    expect(store.state('a')).toMatchObject({ ready: false, diverged: true, hasBook: true });
    expect(store.get('b', 1e9)).not.toBeNull();
    expect(store.takeResync()).toEqual(['a']);
    store.ingest(bookFrame('a', [['0.41', '1']], [['0.6', '1']]));
    expect(h.top(1e9)).toBe(true);
    expect(store.state('a')!.diverged).toBe(false);
  });
});

describe.each(BACKENDS)('the auditor (%s)', (backend) => {
  describe.each(MODES)('feed in the %s', (_mode, worker) => {
    it('catches a frozen quiet token, stops serving it at once, and refetches it', async () => {
      // A long snapshot delay keeps the refetch visible: reads miss `diverged` until it arrives.
      const sim = await simulator({ markets: 2, seed: 5, rate: 0, snapshotDelayMs: 400 });
      const cache = await auditedCache(sim, { backend, worker, audit: QUICK });
      const [m0] = sim.markets;
      const frozen = m0!.yes;
      expect(sim.inject('freeze', { tokenId: frozen })).toBe(1);
      changeBooks(sim, [frozen]);
      const h = cache.handle(frozen);
      await waitFor(() => !h.top() && h.missReason === 'diverged', 'the frozen token not served, reason diverged');
      await waitFor(() => matchesSim(cache.store, sim, frozen), 'the token refetched and equal to the exchange');
      // Its complement kept flowing and was never reset.
      expect(matchesSim(cache.store, sim, m0!.no)).toBe(true);
      const m = await cache.metricsAsync();
      expect(m.audit).toMatchObject({ enabled: 1, freezes: 1, divergences: 0, quarantines: 0, failures: 0 });
      expect(m.audit.tokensAudited).toBeGreaterThan(4);
      expect(m.feed!.resubscriptions).toBeGreaterThanOrEqual(1);
      // Every REST request the exchange answered came from the auditor (one may be on its way): none from the reads.
      expect(sim.stats().restRequests).toBeLessThanOrEqual(m.http.audit!.requests);
      expect(m.audit.connections).toEqual([{ conn: 1, cleanAgeMs: expect.any(Number), recentFreezes: 1 }]);
      expect(cache.prometheus()).toMatch(/polybook_audit_freezes_total 1\n/);
      expect(renderDashboard(cache, 'sim', 0, 1000, [])).toMatch(
        /\nHealth .* audit [\d,]+ checked, 1 frozen, 0 diverged, 0 quarantined, 0 failed; pass [\d.]+ s, oldest clean [\d.]+ s\n/,
      );
      expect(cache.prometheus()).toMatch(/polybook_http_requests_total\{purpose="audit"\} [1-9]/);
    });

    it('quarantines a frozen connection while another stays up', async () => {
      const sim = await simulator({ markets: 4, seed: 9, rate: 0 });
      const cache = await auditedCache(sim, {
        backend,
        worker,
        audit: QUICK,
        feed: { ...FEED, maxTokensPerConnection: 4 },
      });
      const conn1 = sim.tokens.filter((t) => cache.store.state(t)!.conn === 1);
      expect(conn1).toHaveLength(4);
      const gone: DisconnectedEvent[] = [];
      cache.on('disconnected', (e) => gone.push(e));
      // Every subscription of connection 1 stops delivering; PONGs and connection 2 go on.
      for (const t of conn1) sim.inject('freeze', { tokenId: t });
      changeBooks(sim, sim.tokens);
      await waitFor(() => gone.length > 0, 'a reconnect');
      await expectAllMatch(cache.store, sim);
      expect(gone).toEqual([expect.objectContaining({ conn: 1, reason: 'quarantine', tokens: 4 })]);
      // In worker mode the counters come with the worker's next stats: ask for them.
      const a = (await cache.metricsAsync()).audit;
      expect(a.quarantines).toBe(1);
      expect(a.freezes).toBeGreaterThanOrEqual(3);
    });
  });

  it('catches one frozen token on a busy connection whose other tokens keep flowing', async () => {
    const sim = await simulator({ markets: 3, seed: 6, rate: 150 });
    const found: string[] = [];
    const logger = {
      warn: (_m: string, ctx?: { event?: string; tokenId?: string }) => {
        if (ctx?.event === 'audit.freeze' && ctx.tokenId) found.push(ctx.tokenId);
      },
    };
    // A longer grace: on a busy stream every REST answer is a little ahead of the book held.
    const cache = await auditedCache(sim, {
      backend,
      audit: { ...QUICK, graceMs: 1000 },
      feed: { ...FEED, stallFactor: 10, logger },
    });
    const frozen = sim.markets[1]!.no;
    sim.inject('freeze', { tokenId: frozen });
    await waitFor(() => found.includes(frozen), 'the frozen token found');
    await waitFor(() => cache.get(frozen) !== null, 'served again after its refetch');
    const m = cache.metrics();
    expect(m.audit.freezes).toBeGreaterThanOrEqual(1);
    expect(m.feed!.stalls).toBe(0);
    expect(m.feed!.reconnects).toBe(0);
    sim.setRate(0);
    await expectAllMatch(cache.store, sim);
  });

  it('never resets a book for a REST answer older than it; a newer equal one is clean; a different one at the same timestamp diverges', async () => {
    const sim = await simulator({ markets: 2, seed: 3, rate: 0 });
    const rest = await restStandIn(sim);
    const cache = await auditedCache(sim, { backend, clobUrl: rest.url, audit: QUICK });
    const [target, ...others] = sim.tokens;
    // Older and different: proves nothing.
    rest.mode = 'older';
    await rest.requests(3);
    let a = cache.metrics().audit;
    expect(a.restBehind).toBe(a.tokensAudited);
    expect(a.restBehind).toBeGreaterThanOrEqual(4);
    // Newer and equal: clean.
    rest.mode = 'newerEqual';
    await rest.requests(3);
    a = cache.metrics().audit;
    expect(a).toMatchObject({ freezes: 0, divergences: 0 });
    for (const t of sim.tokens) expect(matchesSim(cache.store, sim, t)).toBe(true);
    expect(cache.metrics().store.misses.diverged).toBe(0);
    // The same timestamp, a different book (one token): a divergence; the others stay served.
    rest.mode = 'sameTimestampDifferent';
    rest.only = target;
    await waitFor(() => cache.metrics().audit.divergences > 0, 'a divergence');
    expect(cache.metrics().audit.freezes).toBe(0);
    for (const t of others) expect(cache.store.state(t)!.diverged).toBe(false);
    rest.only = undefined;
    rest.mode = 'newerEqual';
    await waitFor(() => matchesSim(cache.store, sim, target!), 'the diverged token refetched');
  });

  it('never runs when switched off, whatever the environment says', async () => {
    afterTest(() => vi.unstubAllEnvs());
    const sim = await simulator({ markets: 2, seed: 4, rate: 50 });
    vi.stubEnv('POLYBOOK_AUDIT', '');
    const byDefault = await auditedCache(sim, { backend });
    vi.stubEnv('POLYBOOK_AUDIT', '1');
    const off = await auditedCache(sim, { backend, audit: false, worker: true });
    const onByEnv = await auditedCache(sim, { backend });
    // The cache on by the environment audits; the other two, on the same exchange, never do.
    await waitFor(() => onByEnv.metrics().audit.audits >= 3, 'three audits');
    for (const c of [byDefault, off]) {
      const m = c.metrics();
      expect(m.audit).toMatchObject({ enabled: 0, audits: 0, tokensAudited: 0 });
      expect(m.http.audit).toBeUndefined();
      expect(c.prometheus()).toContain('polybook_audit_enabled 0\n');
      expect(renderDashboard(c, 'sim', 0, 1000, [])).toMatch(/\nHealth .* audit off\n/);
    }
    expect(sim.stats().restRequests).toBeLessThanOrEqual(onByEnv.metrics().http.audit!.requests);
  });
});

type Mode = 'truth' | 'older' | 'newerEqual' | 'sameTimestampDifferent';

/**
 * A CLOB stand-in on loopback answering `POST /books` from the simulator's true books, altered by
 * `mode` (for `only` that token, or all).
 */
async function restStandIn(
  sim: Simulator,
): Promise<{ url: string; mode: Mode; only: string | undefined; requests(n: number): Promise<void> }> {
  let served = 0;
  const state = {
    url: '',
    mode: 'truth' as Mode,
    only: undefined as string | undefined,
    requests: async (n: number) => {
      const target = served + n;
      await waitFor(() => served >= target, `${n} more REST requests`);
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const ids = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token_id: string }[]).map((x) => x.token_id);
      const books = ids.map((id) => {
        const b = sim.book(id);
        const mode = state.only === undefined || state.only === id ? state.mode : 'truth';
        const ts = Number(b.timestamp);
        const levels = (l: [string, string][]) => l.map(([price, size]) => ({ price, size }));
        // A different book: the best bid's size doubled (or a bid where there is none).
        const bids = levels(b.bids);
        const different =
          bids.length === 0
            ? [{ price: '0.01', size: '1' }]
            : bids.map((l, i) => (i === bids.length - 1 ? { ...l, size: String(Number(l.size) * 2) } : l));
        const [timestamp, bidLevels] =
          mode === 'older'
            ? [ts - 1000, different]
            : mode === 'newerEqual'
              ? [ts + 1000, bids]
              : mode === 'sameTimestampDifferent'
                ? [ts, different]
                : [ts, bids];
        return {
          market: '0x',
          asset_id: id,
          timestamp: String(timestamp),
          hash: '',
          bids: bidLevels,
          asks: levels(b.asks),
        };
      });
      served++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(books));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  afterTest(() => new Promise<void>((r) => server.close(() => r())));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
