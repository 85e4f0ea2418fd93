/**
 * REST warmup, warmup only: chunked POST /books under a token bucket, books through
 * store.restBook, meta via setMeta; the client refuses after warmup; a cache's REST counter does
 * not move on the read path or after warmup.
 */
import { describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RestRefusedError, RestWarmupClient, type RestSink } from '../src/cache/rest.js';
import { TokenBucket } from '../src/rest/budget.js';
import type { Simulator } from '../src/simulator/index.js';
import { BACKENDS, localStore, waitFor } from './helpers.js';
import { afterTest, simulator, startCache } from './rig.js';

/** Bounded wait on a condition (no sleep stands in for synchronisation). */

interface StandIn {
  url: string;
  calls: { at: number; ids: string[] }[];
  close(): Promise<void>;
}

/**
 * A local stand-in for the CLOB REST API: POST /books answers from `lookup` (unknown ids are
 * left out, as the server does), counting every call.
 */
async function restStandIn(
  lookup: (id: string) => Promise<unknown | null> | unknown | null,
  status = 200,
): Promise<StandIn> {
  const calls: StandIn['calls'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      if (req.method !== 'POST' || req.url !== '/books') {
        res.writeHead(404).end('{}');
        return;
      }
      const ids = (JSON.parse(body) as { token_id: string }[]).map((x) => x.token_id);
      calls.push({ at: performance.now(), ids });
      if (status !== 200) {
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"nope"}');
        return;
      }
      const books = [];
      for (const id of ids) {
        const b = await lookup(id);
        if (b) books.push(b);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(books));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function syntheticBook(id: string) {
  return {
    market: '0xm',
    asset_id: id,
    timestamp: '1791125296863',
    hash: 'x',
    bids: [{ price: '0.4', size: '10' }],
    asks: [{ price: '0.6', size: '10' }],
    min_order_size: '5',
    tick_size: '0.01',
    neg_risk: false,
    last_trade_price: '0.5',
  };
}

class RecordingSink implements RestSink {
  books: string[] = [];
  meta: [string, string, boolean][] = [];
  restBook(json: string): void {
    this.books.push(json);
  }
  setMeta(id: string, mos: string, nr: boolean): void {
    this.meta.push([id, mos, nr]);
  }
}

describe('TokenBucket', () => {
  it('allows a burst of `capacity`, then paces at capacity/window', async () => {
    let t = 0;
    const slept: number[] = [];
    const b = new TokenBucket(
      2,
      1000,
      () => t,
      async (ms) => {
        slept.push(ms);
        t += ms;
      },
    );
    expect(await b.take()).toBe(0);
    expect(await b.take()).toBe(0);
    expect(await b.take()).toBe(500); // one token per 500 ms
    expect(slept).toEqual([500]);
    t += 10_000;
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(true); // refilled only up to capacity
    expect(b.tryTake()).toBe(false);
  });
});

describe('RestWarmupClient', () => {
  it('fetches in chunks of 100 with the documented body, hands books and meta to the store, lists missing tokens', async () => {
    const known = new Set(Array.from({ length: 230 }, (_, i) => `t${i}`));
    const s = await restStandIn((id) => (known.has(id) ? syntheticBook(id) : null));
    afterTest(() => s.close());
    const ids = [...known, 'unknown-1', 'unknown-2'];
    const client = new RestWarmupClient({ url: s.url });
    const sink = new RecordingSink();
    const r = await client.fetchBooks(sink, ids);
    expect(s.calls.map((c) => c.ids.length)).toEqual([100, 100, 32]);
    expect(s.calls.flatMap((c) => c.ids)).toEqual(ids);
    expect(r).toMatchObject({ requested: 232, received: 230, failedRequests: 0, missing: ['unknown-1', 'unknown-2'] });
    expect(sink.books).toHaveLength(230);
    // The server's object is passed on as is (key order kept for the hash).
    expect(sink.books[0]).toBe(JSON.stringify(syntheticBook('t0')));
    expect(sink.meta[0]).toEqual(['t0', '5', false]);
    expect(client.stats.restCalls).toBe(3);
  });

  it('respects the rate limit between chunks', async () => {
    const s = await restStandIn((id) => syntheticBook(id));
    afterTest(() => s.close());
    let t = 0;
    const client = new RestWarmupClient({
      url: s.url,
      chunkSize: 10,
      rateLimit: { capacity: 2, windowMs: 10_000 },
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
    });
    await client.fetchBooks(
      new RecordingSink(),
      Array.from({ length: 40 }, (_, i) => `t${i}`),
    );
    expect(s.calls).toHaveLength(4);
    // 2 immediately, then one per 5 s.
    expect(client.stats.restThrottledMs).toBe(10_000);
  });

  it('retries a 429, then counts the failure without throwing', async () => {
    const s = await restStandIn(() => null, 429);
    afterTest(() => s.close());
    const slept: number[] = [];
    const client = new RestWarmupClient({
      url: s.url,
      http: { retries: 2, random: () => 1, backoff: { initialMs: 100 }, limits: false },
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    const r = await client.fetchBooks(new RecordingSink(), ['a', 'b']);
    expect(r.failedRequests).toBe(1);
    expect(r.errors[0]).toContain('429');
    expect(r.missing).toEqual(['a', 'b']);
    // Three attempts (two retries with backoff, no Retry-After), one failed request.
    expect(s.calls).toHaveLength(3);
    expect(slept).toEqual([100, 200]);
    expect(client.stats).toMatchObject({ restCalls: 3, restErrors: 1, restThrottledMs: 300 });
  });

  it('refuses every call once closed, without a request', async () => {
    const s = await restStandIn((id) => syntheticBook(id));
    afterTest(() => s.close());
    const client = new RestWarmupClient({ url: s.url });
    await client.fetchBooks(new RecordingSink(), ['a']);
    client.close();
    expect(client.open).toBe(false);
    await expect(client.fetchBooks(new RecordingSink(), ['a'])).rejects.toBeInstanceOf(RestRefusedError);
    await expect(client.fetchBooks(new RecordingSink(), ['b'])).rejects.toThrow(/warmup only/);
    expect(client.stats).toMatchObject({ restCalls: 1, restRefused: 2 });
    expect(s.calls).toHaveLength(1);
  });

  it('rejects bad options clearly', () => {
    expect(() => new RestWarmupClient({ url: 'ftp://x' })).toThrow(/rest\.url/);
    expect(() => new RestWarmupClient({ chunkSize: 0 })).toThrow(/rest\.chunkSize/);
  });
});

describe.each(BACKENDS)('REST during cache warmup (%s)', (backend) => {
  let sim: Simulator;

  it('seeds books the WebSocket has not sent, only during warmup; reads never call REST; calls after warmup are refused', async () => {
    // The WebSocket snapshot is held back for a minute: only REST can make the books ready.
    sim = await simulator({ markets: 3, seed: 7, rate: 0, snapshotDelayMs: 60_000 });
    // The stand-in answers with the simulator's own REST books.
    const s = await restStandIn(async (id) => {
      const res = await fetch(`${sim.httpUrl}/books`, { method: 'POST', body: JSON.stringify([{ token_id: id }]) });
      const arr = (await res.json()) as unknown[];
      return arr[0] ?? null;
    });
    afterTest(() => s.close());
    const unknown = '99999999999999999999';
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [...sim.tokens, unknown],
      rest: { url: s.url, chunkSize: 4 },
      warmupMinReadyFraction: 6 / 7,
      warmupTimeoutMs: 20_000,
    });
    let warmDone = false;
    cache.on('warmup', () => (warmDone = true));
    const r = await cache.warmup();
    expect(r.timedOut).toBe(false);
    expect(r.ready).toBe(6);
    expect(r.disabled).toEqual([unknown]);
    expect(r.rest).toMatchObject({ requested: 7, received: 6, missing: [unknown] });
    // Chunks of 4: two requests, all during warmup.
    expect(s.calls.map((c) => c.ids.length)).toEqual([4, 3]);
    expect(warmDone).toBe(true);
    const m = cache.metrics();
    expect(m.cache.restCalls).toBe(2);
    expect(m.store.writer.restApplied).toBe(6);

    // The read path: many reads, no REST.
    for (let i = 0; i < 1000; i++) for (const t of sim.tokens) cache.get(t);
    expect(cache.get(sim.tokens[0])).not.toBeNull();
    const h = cache.handle(sim.tokens[1]);
    for (let i = 0; i < 1000; i++) h.top(1500);
    expect(cache.metrics().cache.restCalls).toBe(2);
    expect(s.calls).toHaveLength(2);

    // After warmup the client refuses.
    expect(cache.restClient!.open).toBe(false);
    await expect(cache.restClient!.fetchBooks(cache.store, [sim.tokens[0]])).rejects.toBeInstanceOf(RestRefusedError);
    const after = cache.metrics().summary();
    expect(after.restCalls).toBe(2);
    expect(after.restRefused).toBe(1);
    expect(s.calls).toHaveLength(2);
    expect(cache.prometheus()).toContain('polybook_rest_calls_total 2');
  });

  it('a REST book never overwrites a newer WebSocket book', async () => {
    sim = await simulator({ markets: 2, seed: 8, rate: 0, snapshotDelayMs: 0 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // REST answers with books older than the stream's, once the WebSocket books are in.
    const s = await restStandIn(async (id) => {
      await gate;
      return sim.tokens.includes(id) ? { ...syntheticBook(id), timestamp: '1' } : null;
    });
    afterTest(() => s.close());
    const unknown = '99999999999999999999';
    const cache = await startCache({
      backend,
      url: sim.url,
      universe: [...sim.tokens, unknown], // 4/5 ready < 1: warmup waits for its timeout
      rest: { url: s.url },
      warmupMinReadyFraction: 1,
      warmupTimeoutMs: 3000,
    });
    await waitFor(() => cache.store.readyCount() === 4, 'the WebSocket books', 5000);
    const before = sim.tokens.map((t) => localStore(cache).fullBook(t));
    release();
    await waitFor(() => cache.store.counter('restSkipped') === 4, 'the REST books', 5000);
    expect(cache.store.counter('restApplied')).toBe(0);
    expect(sim.tokens.map((t) => localStore(cache).fullBook(t))).toEqual(before);
    const r = await cache.warmup();
    expect(r).toMatchObject({ ready: 4, total: 5, timedOut: true, disabled: [unknown] });
    expect(r.rest).toMatchObject({ requested: 5, received: 4, missing: [unknown] });
  });
});
