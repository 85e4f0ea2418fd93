/**
 * Warmup: `BookCache.start` against the simulator (its own worker thread, live, default change
 * rate) with 10,000 tokens in 5,000 markets: time from the call until 80% and until all books are
 * ready (the cache's progress events; minimum ready fraction 1 so warmup waits for every token).
 */
import { BookCache } from '../cache/book-cache.js';
import type { BackendName } from '../backend/index.js';
import type { MarketGroup } from '../cache/universe.js';
import { benchWorker } from './harness.js';

export interface WarmupRow {
  backend: BackendName;
  /** Ingestion on the main thread (the cache's default) or in a worker. */
  worker: boolean;
  tokens: number;
  /** From the start() call, ms. */
  startMs: number;
  to80Ms: number;
  to100Ms: number;
  /** Ready at the end / total. */
  fraction: number;
  connections: number;
}

export async function runWarmup(
  backend: BackendName,
  worker: boolean,
  markets: number,
  log: (s: string) => void,
): Promise<WarmupRow> {
  const w = benchWorker('live-sim-worker', { markets, seed: 11 });
  const ready = await new Promise<{ url: string; groups: MarketGroup[] }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  const total = ready.groups.length * 2;
  let to80 = NaN;
  let to100 = NaN;
  let cache: BookCache | undefined;
  try {
    const t0 = performance.now();
    let resolveAll!: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    cache = await BookCache.start({
      universe: ready.groups,
      url: ready.url,
      backend,
      worker,
      capacity: total + 16,
      warmupMinReadyFraction: 1,
      warmupTimeoutMs: 30_000,
      onWarmupProgress: (p) => {
        const t = performance.now() - t0;
        if (p.fraction >= 0.8 && Number.isNaN(to80)) to80 = t;
        if (p.ready === p.total && Number.isNaN(to100)) {
          to100 = t;
          resolveAll();
        }
      },
    });
    const startMs = performance.now() - t0;
    const result = await Promise.race([all.then(() => cache!.warmup()), cache.warmup()]);
    const row: WarmupRow = {
      backend,
      worker,
      tokens: total,
      startMs,
      to80Ms: to80,
      to100Ms: to100,
      fraction: result.fraction,
      connections: cache.metrics().feed?.connections ?? 0,
    };
    log(
      `  ${backend.padEnd(6)} warmup ${total} tokens${worker ? ' (worker)' : ''}: 80% in ${to80.toFixed(0)} ms, all in ${to100.toFixed(0)} ms (${row.connections} connections)\n`,
    );
    return row;
  } finally {
    await cache?.stop();
    w.postMessage({ type: 'close' });
    await new Promise((r) => setTimeout(r, 50));
    await w.terminate();
  }
}
