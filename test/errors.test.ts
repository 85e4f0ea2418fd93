/**
 * Errors with a stable `code`: docs/ERRORS.md is the rendering of ERROR_CODES, and each code is
 * what the documented failure throws.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, PolybookError, ConfigError, type ErrorCode } from '../src/errors.js';
import { BookStore } from '../src/table/store.js';
import { SubscriptionManager } from '../src/feed/manager.js';
import { startWorkerFeed } from '../src/feed/worker.js';
import { BookCache } from '../src/cache/book-cache.js';
import { discover } from '../src/discovery/queries.js';
import { RestRefusedError, RestWarmupClient } from '../src/cache/rest.js';
import { fromEnv } from '../src/cache/env.js';
import { readRecording, RecordingError } from '../src/tools/recording.js';
import { startSimulator } from '../src/simulator/index.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The error `fn` throws (or its promise rejects with). */
async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

function expectCode(e: unknown, code: ErrorCode, cls: abstract new (...a: never[]) => Error = PolybookError): void {
  expect(e).toBeInstanceOf(cls);
  expect((e as { code?: unknown }).code).toBe(code);
}

describe('error codes', () => {
  it('docs/ERRORS.md lists exactly ERROR_CODES, in order, and the README links it', () => {
    const doc = readFileSync(new URL('../docs/ERRORS.md', import.meta.url), 'utf8');
    const rows = doc.split('\n').filter((l) => /^\| `POLYBOOK_/.test(l));
    expect(rows).toEqual(Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`));
    expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain('(docs/ERRORS.md)');
  });

  it('POLYBOOK_CONFIG: ConfigError names the variable, the value and what is allowed', async () => {
    const e = await caught(() => fromEnv({ POLYBOOK_MAX_DEPTH: '0' }));
    expectCode(e, 'POLYBOOK_CONFIG', ConfigError);
    expect(e).toMatchObject({ variable: 'POLYBOOK_MAX_DEPTH', value: '0', allowed: 'an integer from 1 to 1000' });
    expectCode(await caught(() => new BookStore({ capacity: 0 })), 'POLYBOOK_CONFIG', ConfigError);
    expectCode(await caught(() => startSimulator({ markets: 0 })), 'POLYBOOK_CONFIG', ConfigError);
  });

  it('POLYBOOK_INVALID_ARGUMENT: a built-in TypeError or RangeError carrying the code', async () => {
    const store = new BookStore({ backend: 'js', capacity: 2, clock: 'precise' });
    const bad = await caught(() => store.subscribe([42 as unknown as string]));
    expectCode(bad, 'POLYBOOK_INVALID_ARGUMENT', TypeError);
    expect((bad as Error).message).toBe('polybook: token ids are non-empty strings, got 42');
    const sim = await startSimulator({ markets: 1, rate: 0 });
    cleanups.push(() => sim.close());
    expectCode(await caught(() => sim.setRate(-1)), 'POLYBOOK_INVALID_ARGUMENT', RangeError);
  });

  it('POLYBOOK_CAPACITY: a full table, a market larger than a connection', async () => {
    const store = new BookStore({ backend: 'js', capacity: 1, clock: 'precise' });
    store.subscribe(['a']);
    expectCode(await caught(() => store.subscribe(['b'])), 'POLYBOOK_CAPACITY');
    const feed = new SubscriptionManager(new BookStore({ backend: 'js', clock: 'precise' }), {
      url: 'ws://127.0.0.1:9/ws/market',
      maxTokensPerConnection: 1,
    });
    cleanups.push(() => feed.stop());
    feed.start();
    expectCode(await caught(() => feed.add([{ market: 'm', tokens: ['a', 'b'] }])), 'POLYBOOK_CAPACITY');
  });

  it('POLYBOOK_INVALID_STATE and POLYBOOK_STOPPED: out-of-order calls and calls after stop', async () => {
    const feed = new SubscriptionManager(new BookStore({ backend: 'js', clock: 'precise' }), {
      url: 'ws://127.0.0.1:9/ws/market',
    });
    expectCode(await caught(() => feed.add(['a'])), 'POLYBOOK_INVALID_STATE');
    feed.start();
    expectCode(await caught(() => feed.start()), 'POLYBOOK_INVALID_STATE');
    await feed.stop();
    expectCode(await caught(() => feed.add(['a'])), 'POLYBOOK_STOPPED');

    const cache = await BookCache.start({ enabled: false });
    await cache.stop();
    expectCode(await caught(() => cache.acquire(['a'])), 'POLYBOOK_STOPPED');

    const sim = await startSimulator({ markets: 1, rate: 0 });
    await sim.close();
    expectCode(await caught(() => sim.step()), 'POLYBOOK_STOPPED');
    expect(sim.stats()).toBeDefined(); // reads stay allowed
  });

  it('POLYBOOK_WORKER_START, POLYBOOK_WORKER_EXITED and POLYBOOK_STOPPED of the worker feed', async () => {
    // The worker's own store refuses the option: the worker reports it and exits.
    const failed = await caught(() => startWorkerFeed({ backend: 'js', graceMs: -1 }));
    expectCode(failed, 'POLYBOOK_WORKER_START');
    expect((failed as Error).message).toMatch(/failed to start: invalid graceMs=-1/);

    const feed = await startWorkerFeed({ backend: 'js', url: 'ws://127.0.0.1:9/ws/market' });
    cleanups.push(() => feed.stop());
    const worker = (feed as unknown as { worker: { terminate(): Promise<number> } }).worker;
    await worker.terminate();
    expectCode(await caught(() => feed.fetchStats()), 'POLYBOOK_WORKER_EXITED');
    expectCode(await caught(() => feed.add(['a'])), 'POLYBOOK_WORKER_EXITED');
    await feed.stop();
    expectCode(await caught(() => feed.add(['a'])), 'POLYBOOK_STOPPED');
  });

  it('POLYBOOK_HTTP, POLYBOOK_NETWORK and POLYBOOK_DISCOVERY: an error status, no answer, a selection naming nothing', async () => {
    const quick = { retries: 0, limits: false as const };
    const status = await caught(() =>
      discover(
        { top: 1 },
        {
          gammaUrl: 'http://gamma.test',
          clobFallback: false,
          http: { ...quick, fetch: async () => new Response('busy', { status: 503 }) },
        },
      ),
    );
    expectCode(status, 'POLYBOOK_HTTP');
    expect((status as Error).message).toMatch(/GET http:\/\/gamma\.test\/.*HTTP 503 busy/);
    const down = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    });
    const network = await caught(() =>
      discover(
        { top: 1 },
        {
          gammaUrl: 'http://gamma.test',
          clobFallback: false,
          http: {
            ...quick,
            fetch: async () => {
              throw down;
            },
          },
        },
      ),
    );
    expectCode(network, 'POLYBOOK_NETWORK');
    expect((network as Error).cause).toBe(down);
    const none = await caught(() =>
      discover(
        { slugs: ['no-such-market'] },
        {
          gammaUrl: 'http://gamma.test',
          clobFallback: false,
          checkBooks: false,
          // Gamma knows no such slug: empty lists everywhere.
          http: {
            ...quick,
            fetch: async (url: string | URL | Request) => {
              const u = String(url);
              const body = u.includes('/events/keyset')
                ? '{"events":[]}'
                : u.includes('/markets/keyset')
                  ? '{"markets":[]}'
                  : '[]';
              return new Response(`${body}\n`);
            },
          },
        },
      ),
    );
    expectCode(none, 'POLYBOOK_DISCOVERY');
    expect((none as Error).message).toMatch(/no-such-market/);
  });

  it('POLYBOOK_REST_REFUSED and POLYBOOK_RECORDING keep their classes', async () => {
    const client = new RestWarmupClient({ fetch: async () => new Response('[]') });
    client.close();
    expectCode(await caught(() => client.fetchBooks({ restBook() {}, setMeta() {} }, ['a'])), 'POLYBOOK_REST_REFUSED');
    expect(await caught(() => client.fetchBooks({ restBook() {}, setMeta() {} }, ['a']))).toBeInstanceOf(
      RestRefusedError,
    );
    const e = await caught(() => readRecording('/nonexistent/polybook.pbrec.gz'));
    expectCode(e, 'POLYBOOK_RECORDING', RecordingError);
    expect((e as Error).name).toBe('RecordingError');
  });
});
