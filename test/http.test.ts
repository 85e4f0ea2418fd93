/**
 * The REST layer's HTTP client over loopback: retries on 429 and 5xx honouring Retry-After (seconds,
 * HTTP date, `retry_after_seconds`), typed errors for an unreachable server and for error statuses,
 * the User-Agent, timeouts, aborts, the documented budgets and the counters per purpose.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient, USER_AGENT, VERSION, networkFailure, retryAfterMs } from '../src/rest/http.js';
import { RATE_LIMITS, RateBudget } from '../src/rest/budget.js';
import { restUrlsFor } from '../src/rest/urls.js';
import { HttpError, NetworkError, PolybookError } from '../src/errors.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback server answering each request with the next scripted reply (the last one repeats). */
async function scripted(
  replies: ((res: ServerResponse) => void)[],
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      replies[Math.min(seen.length - 1, replies.length - 1)]!(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const reply =
  (status: number, body: string, headers: Record<string, string> = {}) =>
  (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A client on a manual clock whose waits are recorded and advance the clock instead of sleeping. */
function recordingClient(extra: ConstructorParameters<typeof HttpClient>[0] = {}) {
  const slept: number[] = [];
  let t = 0;
  const client = new HttpClient({
    random: () => 1,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    ...extra,
  });
  return { client, slept };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('HttpClient', () => {
  it('sends an explicit User-Agent and JSON headers; POST carries a JSON body', async () => {
    const s = await scripted([reply(200, '[]')]);
    cleanups.push(() => s.close());
    const { client } = recordingClient();
    const r = await client.json(`${s.url}/books`, { purpose: 'warmup', api: 'clob', json: [{ token_id: '1' }] });
    expect(r).toEqual({ status: 200, body: [] });
    expect(USER_AGENT).toBe(`polybook/${VERSION}`);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.seen[0]).toMatchObject({
      method: 'POST',
      url: '/books',
      body: '[{"token_id":"1"}]',
      headers: { 'user-agent': USER_AGENT, accept: 'application/json', 'content-type': 'application/json' },
    });
  });

  it('retries a 429 after the Retry-After seconds, then returns the 200', async () => {
    const s = await scripted([
      reply(429, '{"error":"Too Many Requests"}', { 'retry-after': '2' }),
      reply(200, '{"ok":true}'),
    ]);
    cleanups.push(() => s.close());
    const { client, slept } = recordingClient();
    const r = await client.json(`${s.url}/markets/keyset`, { purpose: 'discovery', api: 'gamma' });
    expect(r.body).toEqual({ ok: true });
    expect(s.seen).toHaveLength(2);
    // The budget waits out the Retry-After for every request to this API on this host.
    expect(slept).toEqual([2000]);
    expect(client.stats().discovery).toEqual({
      requests: 2,
      retries: 1,
      errors: 0,
      rateLimited: 1,
      throttledMs: 2000,
    });
  });

  it('honours Retry-After as an HTTP date and the body retry_after_seconds', async () => {
    const at = new Date(Date.now() + 5000).toUTCString();
    const s = await scripted([
      reply(429, '{}', { 'retry-after': at }),
      reply(503, '{"error":"busy","retry_after_seconds":3}'),
      reply(200, '{}'),
    ]);
    cleanups.push(() => s.close());
    const { client, slept } = recordingClient({ limits: false });
    await client.request(`${s.url}/book?token_id=1`, { purpose: 'warmup', api: 'clob' });
    expect(s.seen).toHaveLength(3);
    expect(slept).toHaveLength(2);
    expect(slept[0]).toBeGreaterThan(3000); // the date has a 1 s resolution
    expect(slept[0]).toBeLessThanOrEqual(5000);
    expect(slept[1]).toBe(3000);
  });

  it('retries a 5xx with exponential backoff; gives up with an HttpError carrying the status and body', async () => {
    const s = await scripted([reply(502, '<html>502 Bad Gateway</html>')]);
    cleanups.push(() => s.close());
    const { client, slept } = recordingClient({ retries: 3, backoff: { initialMs: 100, maxMs: 250 }, limits: false });
    const err = await client.request(`${s.url}/events/keyset`, { purpose: 'discovery', api: 'gamma' }).catch((e) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toBeInstanceOf(PolybookError);
    expect(err).toMatchObject({ code: 'POLYBOOK_HTTP', status: 502, attempts: 4 });
    expect(err.body).toContain('502 Bad Gateway');
    expect(err.message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/events\/keyset: HTTP 502 <html>502 Bad Gateway/);
    expect(slept).toEqual([100, 200, 250]);
    expect(client.stats().discovery).toMatchObject({ requests: 4, retries: 3, errors: 1 });
  });

  it("a request's own retries override the client's: 0 fails on the first 5xx", async () => {
    const s = await scripted([reply(503, '{"error":"busy"}')]);
    cleanups.push(() => s.close());
    const { client, slept } = recordingClient({ retries: 3, limits: false });
    const err = await client
      .request(`${s.url}/books`, { purpose: 'audit', api: 'clob', json: [], retries: 0 })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'POLYBOOK_HTTP', status: 503, attempts: 1 });
    expect(slept).toEqual([]);
    expect(client.stats().audit).toMatchObject({ requests: 1, retries: 0, errors: 1 });
  });

  it('does not retry a 4xx, and returns an accepted status as an answer', async () => {
    const s = await scripted([reply(404, '{"error":"market not found"}')]);
    cleanups.push(() => s.close());
    const { client, slept } = recordingClient();
    const err = await client.request(`${s.url}/markets/0x1`, { purpose: 'discovery', api: 'clob' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'POLYBOOK_HTTP', status: 404, attempts: 1 });
    const ok = await client.json(`${s.url}/markets/0x1`, { purpose: 'discovery', api: 'clob', accept: [404] });
    expect(ok).toEqual({ status: 404, body: { error: 'market not found' } });
    expect(slept).toEqual([]);
  });

  it('a Retry-After longer than maxRetryAfterMs fails at once', async () => {
    const s = await scripted([reply(429, '{}', { 'retry-after': '600' })]);
    cleanups.push(() => s.close());
    const { client, slept } = recordingClient({ maxRetryAfterMs: 60_000 });
    const err = await client.request(`${s.url}/book`, { purpose: 'warmup', api: 'clob' }).catch((e) => e);
    expect(err).toMatchObject({ status: 429, attempts: 1 });
    expect(err.message).toMatch(/retry after 600 s/);
    expect(slept).toEqual([]);
  });

  it('an unreachable server (a closed port) gives a NetworkError, distinct from an HTTP error, after one retry', async () => {
    const port = await closedPort();
    const { client, slept } = recordingClient({ backoff: { initialMs: 10 } });
    const err = await client
      .request(`http://127.0.0.1:${port}/markets/keyset`, { purpose: 'discovery', api: 'gamma' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).not.toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ code: 'POLYBOOK_NETWORK', failure: 'refused', attempts: 2 });
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).toMatch(/POLYBOOK_GAMMA_URL/);
    expect(slept).toEqual([10]);
  });

  it('classifies DNS, routing and reset failures from the error codes of the cause chain', () => {
    const wrap = (code: string) =>
      Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
    expect(networkFailure(wrap('ENOTFOUND'))).toBe('dns');
    expect(networkFailure(wrap('EAI_AGAIN'))).toBe('dns');
    expect(networkFailure(wrap('ECONNREFUSED'))).toBe('refused');
    expect(networkFailure(wrap('ENETUNREACH'))).toBe('unreachable');
    expect(networkFailure(wrap('UND_ERR_CONNECT_TIMEOUT'))).toBe('timeout');
    expect(networkFailure(wrap('ECONNRESET'))).toBe('reset');
    expect(networkFailure(new Error('other'))).toBe('reset');
  });

  it('times out an attempt that gets no answer, retries it, then gives a NetworkError (timeout)', async () => {
    const s = await scripted([() => {}]); // never answers
    cleanups.push(() => s.close());
    const { client } = recordingClient({ timeoutMs: 50, retries: 1, limits: false });
    const err = await client.request(`${s.url}/book`, { purpose: 'warmup', api: 'clob' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'POLYBOOK_NETWORK', failure: 'timeout', attempts: 2 });
    expect(s.seen).toHaveLength(2);
  });

  it('an abort ends the request and its retries with the signal reason', async () => {
    const s = await scripted([reply(503, '{}')]);
    cleanups.push(() => s.close());
    const ac = new AbortController();
    const client = new HttpClient({
      limits: false,
      sleep: async () => {
        ac.abort(new Error('stopped'));
        throw ac.signal.reason;
      },
    });
    await expect(
      client.request(`${s.url}/book`, { purpose: 'warmup', api: 'clob', signal: ac.signal }),
    ).rejects.toThrow('stopped');
    expect(s.seen).toHaveLength(1);
  });

  it('a 2xx body that is not JSON is an HttpError', async () => {
    const s = await scripted([reply(200, '<html>maintenance</html>')]);
    cleanups.push(() => s.close());
    const err = await new HttpClient()
      .json(`${s.url}/markets/keyset`, { purpose: 'discovery', api: 'gamma' })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'POLYBOOK_HTTP', status: 200 });
    expect(err.message).toMatch(/not JSON.*maintenance/);
  });

  it('rejects bad options with the option named', () => {
    expect(() => new HttpClient({ timeoutMs: 0 })).toThrow(/http\.timeoutMs/);
    expect(() => new HttpClient({ retries: -1 })).toThrow(/http\.retries/);
    expect(() => new HttpClient({ userAgent: '' })).toThrow(/http\.userAgent/);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds, HTTP dates and retry_after_seconds; null without a hint', () => {
    const now = Date.parse('2026-10-04T12:00:00Z');
    expect(retryAfterMs('3', '', now)).toBe(3000);
    expect(retryAfterMs('0.5', '', now)).toBe(500);
    expect(retryAfterMs('Sun, 04 Oct 2026 12:00:07 GMT', '', now)).toBe(7000);
    expect(retryAfterMs('Sun, 04 Oct 2026 11:00:00 GMT', '', now)).toBe(0);
    expect(retryAfterMs(null, '{"error":"slow down","retry_after_seconds":4}', now)).toBe(4000);
    expect(retryAfterMs(null, '{"error":"x"}', now)).toBeNull();
    expect(retryAfterMs('soon', '<html>', now)).toBeNull();
  });
});

describe('RateBudget', () => {
  it('keeps the documented per-endpoint limit per host: 500 POST /books per 10 s, the 501st waits', async () => {
    let t = 0;
    const waits: number[] = [];
    const budget = new RateBudget(
      RATE_LIMITS,
      () => t,
      async (ms) => {
        waits.push(ms);
        t += ms;
      },
    );
    const books = new URL('http://127.0.0.1:1/books');
    for (let i = 0; i < 500; i++) expect(await budget.take(books, 'clob')).toBe(0);
    expect(await budget.take(books, 'clob')).toBe(20); // 500 per 10 s: one every 20 ms
    // Another endpoint of the same host is not held back by /books...
    expect(await budget.take(new URL('http://127.0.0.1:1/book'), 'clob')).toBe(0);
    // ...and another host has its own budgets.
    for (let i = 0; i < 500; i++) expect(await budget.take(new URL('http://127.0.0.2:1/books'), 'clob')).toBe(0);
    // Gamma /markets (300) and /events (500) share the listing budget (900).
    const gamma = new URL('http://127.0.0.1:2/markets/keyset');
    for (let i = 0; i < 300; i++) await budget.take(gamma, 'gamma');
    expect(await budget.take(gamma, 'gamma')).toBeGreaterThan(0);
    expect(waits.length).toBeGreaterThan(0);
  });

  it('a pause (Retry-After of a 429) holds every request to that API on that host', async () => {
    let t = 0;
    const budget = new RateBudget(
      RATE_LIMITS,
      () => t,
      async (ms) => {
        t += ms;
      },
    );
    const u = new URL('http://127.0.0.1:1/markets/keyset');
    budget.pause(u, 'gamma', 1500);
    expect(await budget.take(new URL('http://127.0.0.1:1/events/keyset'), 'gamma')).toBe(1500);
    expect(await budget.take(new URL('http://127.0.0.1:1/book'), 'clob')).toBe(0);
  });
});

describe('restUrlsFor', () => {
  it("follows the feed URL: Polymarket's REST for Polymarket's feed, else the feed's origin", () => {
    expect(restUrlsFor(undefined)).toEqual({
      gammaUrl: 'https://gamma-api.polymarket.com',
      clobUrl: 'https://clob.polymarket.com',
    });
    expect(restUrlsFor('wss://ws-subscriptions-clob.polymarket.com/ws/market')).toEqual(restUrlsFor(undefined));
    expect(restUrlsFor('ws://127.0.0.1:8765/ws/market')).toEqual({
      gammaUrl: 'http://127.0.0.1:8765',
      clobUrl: 'http://127.0.0.1:8765',
    });
    expect(restUrlsFor('wss://relay.example:9443/x')).toEqual({
      gammaUrl: 'https://relay.example:9443',
      clobUrl: 'https://relay.example:9443',
    });
  });
});
