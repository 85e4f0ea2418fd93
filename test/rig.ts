/**
 * The test rig of the feed and cache tests: a simulator, a store and a feed (in this thread, in a
 * worker, or behind a BookCache), a bare recording server, and the waits they share. Everything a
 * rig starts is stopped after the test that started it (vitest `onTestFinished`, last started first
 * stopped), so a failing test leaves nothing running.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { onTestFinished } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BackendName } from '../src/backend/index.js';
import { BookCache, type BookCacheOptions } from '../src/cache/book-cache.js';
import { SubscriptionManager, type DisconnectedEvent, type FeedGroup } from '../src/feed/manager.js';
import type { FeedOptions } from '../src/feed/options.js';
import { startWorkerFeed, type WorkerFeed, type WorkerFeedOptions } from '../src/feed/worker.js';
import { startSimulator, type MarketInfo, type Simulator, type SimulatorOptions } from '../src/simulator/index.js';
import { BookStore, type BookStoreOptions } from '../src/table/store.js';
import type { BookTable } from '../src/table/book-table.js';
import type { BookView } from '../src/table/book-view.js';
import { FAST_FEED, matchesSim, waitFor } from './helpers.js';

/** Runs `fn` after the current test, pass or fail (the last one registered runs first). */
export function afterTest(fn: () => unknown): void {
  onTestFinished(async () => {
    await fn();
  });
}

/**
 * A simulator in its own worker thread (started through the feed's tsx bootstrap), so that the
 * test's thread can block or spin while it keeps sending; closed after the test. `markets` is the
 * feed's universe.
 */
export async function remoteSimulator(options: SimulatorOptions): Promise<{ url: string; markets: FeedGroup[] }> {
  const code = `
    import { parentPort } from 'node:worker_threads';
    const { startSimulator } = await import(${JSON.stringify(new URL('../src/simulator/index.ts', import.meta.url).href)});
    const sim = await startSimulator(${JSON.stringify(options)});
    parentPort.postMessage({ url: sim.url, markets: sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] })) });
    parentPort.once('message', async () => { await sim.close(); parentPort.close(); });
  `;
  const w = new Worker(new URL('../src/feed/ts-worker-bootstrap.mjs', import.meta.url), {
    argv: [`data:text/javascript,${encodeURIComponent(code)}`],
  });
  afterTest(async () => {
    const exited = once(w, 'exit');
    w.postMessage('close');
    await exited;
  });
  const [info] = (await once(w, 'message')) as [{ url: string; markets: FeedGroup[] }];
  return info;
}

/** A simulator, closed after the test. */
export async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(options);
  afterTest(() => sim.close());
  return sim;
}

/** The simulator's markets as a universe (for a feed or a cache). */
export function groupsOf(sim: { readonly markets: readonly MarketInfo[] }): { market: string; tokens: string[] }[] {
  return sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] }));
}

/** The rig's store: precise clock (tests measure ages), room for a few thousand tokens, a short mismatch grace. */
const STORE: BookStoreOptions = { clock: 'precise', capacity: 4096, graceMs: 300 };

/** A store and an in-thread feed on `url` ({@link FAST_FEED} under `feed`), not started; stopped after the test. */
export function feedOn(
  backend: BackendName,
  url: string,
  feed: FeedOptions = {},
  store: BookStoreOptions = {},
): { store: BookStore; feed: SubscriptionManager } {
  const s = new BookStore({ ...STORE, ...store, backend });
  const f = new SubscriptionManager(s, { ...FAST_FEED, url, ...feed });
  afterTest(async () => {
    await f.stop();
    s.close();
  });
  return { store: s, feed: f };
}

export interface FeedRigOptions {
  /** Simulator options over `{ seed: 7, rate: 200 }`. */
  sim?: SimulatorOptions;
  /** Feed options over {@link FAST_FEED}. */
  feed?: FeedOptions;
  /** Store options over the rig's (precise clock, capacity 4096, graceMs 300). */
  store?: BookStoreOptions;
  /** Subscribe every market of the simulator now. Default true. */
  start?: boolean;
  /** Then wait until every token's book is ready. Default false. */
  ready?: boolean;
}

export interface FeedRig {
  sim: Simulator;
  store: BookStore;
  feed: SubscriptionManager;
}

/** A simulator and an in-thread feed on it, subscribed to every market unless `start: false`. */
export async function feedRig(backend: BackendName, o: FeedRigOptions = {}): Promise<FeedRig> {
  const sim = await simulator({ seed: 7, rate: 200, ...o.sim });
  const { store, feed } = feedOn(backend, sim.url, o.feed, o.store);
  if (o.start !== false) feed.start(groupsOf(sim));
  if (o.ready) await waitFor(() => store.readyCount() === sim.tokens.length, 'every token ready');
  return { sim, store, feed };
}

/**
 * A feed in a worker thread ({@link FAST_FEED}, precise clock, under `options`), stopped after the
 * test. `backend` undefined: the default selection.
 */
export async function workerFeed(backend: BackendName | undefined, options: WorkerFeedOptions): Promise<WorkerFeed> {
  const feed = await startWorkerFeed({ ...FAST_FEED, clock: 'precise', ...options, backend });
  afterTest(() => feed.stop());
  return feed;
}

/** A simulator (over `{ seed: 11, rate: 200 }`) and a worker feed subscribed to every market. */
export async function workerRig(
  backend: BackendName | undefined,
  o: { sim?: SimulatorOptions; feed?: WorkerFeedOptions } = {},
): Promise<{ sim: Simulator; feed: WorkerFeed; store: BookTable }> {
  const sim = await simulator({ seed: 11, rate: 200, ...o.sim });
  const feed = await workerFeed(backend, { url: sim.url, universe: groupsOf(sim), ...o.feed });
  return { sim, feed, store: feed.store };
}

/** A started BookCache, stopped after the test. */
export async function startCache(options: BookCacheOptions): Promise<BookCache> {
  const cache = await BookCache.start(options);
  afterTest(() => cache.stop());
  return cache;
}

/** Resolves with the next `disconnected` event matching `pred` (bounded). */
export function nextDisconnect(
  feed: {
    on(ev: 'disconnected', fn: (e: DisconnectedEvent) => void): unknown;
    off(ev: 'disconnected', fn: (e: DisconnectedEvent) => void): unknown;
  },
  pred: (e: DisconnectedEvent) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<DisconnectedEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      feed.off('disconnected', on);
      reject(new Error('timed out waiting for a disconnected event'));
    }, timeoutMs);
    const on = (e: DisconnectedEvent): void => {
      if (!pred(e)) return;
      clearTimeout(t);
      feed.off('disconnected', on);
      resolve(e);
    };
    feed.on('disconnected', on);
  });
}

/** Stops the simulator's flow, then waits until every (non-settled) token is served and equals the truth. */
export async function expectAllMatch(
  store: BookView,
  sim: Simulator,
  tokens: readonly string[] = sim.tokens,
  timeoutMs = 10_000,
): Promise<void> {
  sim.setRate(0);
  const live = tokens.filter((t) => !sim.book(t).settled);
  let bad: string[] = [];
  try {
    await waitFor(
      () => {
        bad = live.filter((t) => !matchesSim(store, sim, t));
        return bad.length === 0;
      },
      'every book served and equal to the simulator',
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${bad.length} differ, e.g. ${JSON.stringify(store.state(bad[0]))}`);
  }
}

/** A bare WebSocket server on loopback that answers PING and records every other frame. */
export interface RecordingServer {
  url: string;
  /** Frames received (PING aside), with the 1-based number of the socket they came on. */
  frames: { conn: number; text: string }[];
  /** Accepted sockets, in order. */
  sockets: WebSocket[];
}

/** A {@link RecordingServer}, closed after the test. */
export async function recordingServer(): Promise<RecordingServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  afterTest(() => new Promise<void>((r) => wss.close(() => r())));
  await once(wss, 'listening');
  const srv: RecordingServer = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws/market`,
    frames: [],
    sockets: [],
  };
  wss.on('connection', (ws) => {
    const conn = srv.sockets.push(ws);
    ws.on('message', (d) => {
      const text = d.toString();
      if (text === 'PING') ws.send('PONG');
      else srv.frames.push({ conn, text });
    });
  });
  return srv;
}
