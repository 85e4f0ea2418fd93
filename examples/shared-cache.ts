/**
 * One BookCache shared by several strategies in one process.
 *
 * By default it starts the built-in simulator (a local exchange speaking Polymarket's market
 * channel) and subscribes its markets; with `POLYBOOK_WS_URL` set it connects there instead, with
 * the universe from `POLYBOOK_TOKENS` (comma-separated token ids).
 *
 *   npx tsx examples/shared-cache.ts      # both example strategies on one cache, ~3 s
 *
 * Environment: EXAMPLE_MS (run time, default 3000), EXAMPLE_WORKER=1 (ingest in a worker),
 * EXAMPLE_FAULTS=0 (no injected simulator faults), plus everything `fromEnv()` reads.
 */
import { pathToFileURL } from 'node:url';
import { BookCache, fromEnv, type MarketGroup, type Simulator, startSimulator } from 'polybook';

export interface Shared {
  cache: BookCache;
  /** Markets (YES/NO token pairs) available to strategies. */
  markets: MarketGroup[];
  sim: Simulator | null;
  close(): Promise<void>;
}

let shared: Promise<Shared> | undefined;

/** The process-wide cache (started on first use, warm when this resolves). */
export function sharedCache(): Promise<Shared> {
  shared ??= (async () => {
    const env = fromEnv();
    let sim: Simulator | null = null;
    let markets: MarketGroup[];
    if (env.url === undefined) {
      sim = await startSimulator({ markets: 8, seed: 42, rate: 30 });
      markets = sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] }));
      env.url = sim.url;
    } else {
      const ids = (process.env.POLYBOOK_TOKENS ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (ids.length === 0) throw new Error('set POLYBOOK_TOKENS=<id>,<id>,... with POLYBOOK_WS_URL');
      markets = [];
      for (let i = 0; i < ids.length; i += 2) markets.push({ tokens: ids.slice(i, i + 2) });
    }
    const cache = await BookCache.start({
      ...env,
      universe: markets,
      worker: process.env.EXAMPLE_WORKER === '1',
      feed: { confirmIntervalMs: 100 },
    });
    const w = await cache.warmup();
    console.log(
      `[cache] ${cache.store.backend} backend${cache.worker ? ' (worker ingestion)' : ''}, ` +
        `warm: ${w.ready}/${w.total} ready in ${w.elapsedMs.toFixed(0)} ms${w.timedOut ? ' (timed out)' : ''}` +
        (w.disabled.length ? `, ${w.disabled.length} disabled` : ''),
    );
    const timers: NodeJS.Timeout[] = [];
    if (sim && process.env.EXAMPLE_FAULTS !== '0') {
      // Show the skip path: the exchange stops answering PINGs for a second (quiet books go
      // stale), then drops the connection (books are not ready until the feed reconnects).
      const s = sim;
      timers.push(
        setTimeout(() => {
          console.log('[sim] PINGs unanswered for 1 s');
          s.inject('deaf');
        }, 1000),
      );
      timers.push(setTimeout(() => s.heal(), 2000));
      timers.push(
        setTimeout(() => {
          console.log('[sim] connection dropped');
          s.inject('drop');
        }, 2300),
      );
    }
    return {
      cache,
      markets,
      sim,
      async close() {
        for (const t of timers) clearTimeout(t);
        await cache.stop();
        await sim?.close();
      },
    };
  })();
  return shared;
}

/** Prints skip reasons as `stale=3 not_ready=1`. */
export function formatReasons(r: Record<string, number>): string {
  const parts = Object.entries(r)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`);
  return parts.length ? parts.join(' ') : 'none';
}

/** Both example strategies on the one cache. */
async function main(): Promise<void> {
  const { runLatencyArb } = await import('./latency-arb.js');
  const { runSlowStrategy } = await import('./slow-strategy.js');
  const s = await sharedCache();
  const ms = Number(process.env.EXAMPLE_MS ?? 3000);
  await Promise.all([runLatencyArb(s, ms), runSlowStrategy(s, ms)]);
  const m = s.cache.metrics().summary();
  console.log(
    `[cache] reads=${m.reads} hit rate=${(m.hitRate * 100).toFixed(1)}% mean age=${m.meanAgeMs.toFixed(1)} ms ` +
      `frames=${m.frames} snapshots=${m.snapshots} deltas=${m.deltas} reconnects=${m.feed?.reconnects ?? 0} restCalls=${m.restCalls}`,
  );
  await s.close();
}

// Not a top-level await: the strategies import this module, which must finish evaluating first.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
