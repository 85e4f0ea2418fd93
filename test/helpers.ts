import type { BookView } from '../src/table/book-view.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { BackendName } from '../src/backend/index.js';
import type { FeedOptions } from '../src/feed/options.js';
import type { Simulator } from '../src/simulator/index.js';
import { BookStore } from '../src/table/store.js';
import type { BookCache } from '../src/cache/book-cache.js';

/** Every behaviour runs on both backends; native must load (CI builds it), never skipped. */
export const BACKENDS: BackendName[] = ['js', 'native'];

export const FIXTURES = fileURLToPath(new URL('../fixtures/polymarket/', import.meta.url));

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export function fixture<T = any>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

/** A manual clock for deterministic staleness tests. */
export class ManualClock {
  constructor(public t = 1_000_000) {}
  now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/** Builds a `book` frame with levels given best-first (converted to wire order, worst first). */
export function bookFrame(
  assetId: string,
  bids: [string, string][],
  asks: [string, string][],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    event_type: 'book',
    market: '0xmarket',
    asset_id: assetId,
    timestamp: '1791125296863',
    hash: '0',
    bids: [...bids].reverse().map(([price, size]) => ({ price, size })),
    asks: [...asks].reverse().map(([price, size]) => ({ price, size })),
    ...extra,
  });
}

/** A current-format price_change frame. */
export function priceChange(
  entries: {
    asset_id: string;
    price: string;
    size: string;
    side: 'BUY' | 'SELL';
    best_bid?: string;
    best_ask?: string;
    hash?: string;
  }[],
  timestamp = '1791125296999',
): string {
  return JSON.stringify({ market: '0xmarket', price_changes: entries, timestamp, event_type: 'price_change' });
}

/** Polls `cond` until it holds (a bounded wait on an observable condition, not a sleep). */
export async function waitFor(cond: () => boolean, what = 'condition', timeoutMs = 10_000, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Fast feed options for tests: short pings and watchdogs, quick reconnects, no silence watchdog. */
export const FAST_FEED: FeedOptions = {
  confirmIntervalMs: 100,
  hardStaleMs: 1500,
  silenceTimeoutMs: 0,
  pongTimeoutMs: 5000,
  healthIntervalMs: 50,
  backoff: { minMs: 20, maxMs: 200, jitter: 0 },
};

/** Whether the served book equals the simulator's true book (top `maxDepth` levels, both sides). */
export function matchesSim(store: BookView, sim: Simulator, token: string): boolean {
  const b = store.get(token, 1e12);
  if (!b) return false;
  const s = sim.book(token);
  const bids = [...s.bids].reverse().slice(0, store.maxDepth);
  const asks = [...s.asks].reverse().slice(0, store.maxDepth);
  return (
    b.bids.length === bids.length &&
    b.asks.length === asks.length &&
    bids.every(([p, z], i) => b.bids[i].price === Number(p) && b.bids[i].size === Number(z)) &&
    asks.every(([p, z], i) => b.asks[i].price === Number(p) && b.asks[i].size === Number(z))
  );
}

/** The store of a cache whose feed runs on this thread (its writer's queries are here). */
export function localStore(cache: BookCache): BookStore {
  if (!(cache.store instanceof BookStore)) throw new Error('the cache runs its feed in a worker');
  return cache.store;
}
