/**
 * A latency-arbitrage loop: every tick it reads the top of book of each market's YES and NO
 * tokens through pre-resolved handles with `Staleness.latencyArb` (250 ms), and trades only when
 * both books are fresh; otherwise it skips the tick and counts why.
 *
 *   npx tsx examples/latency-arb.ts       # against the built-in simulator, ~3 s
 */
import { pathToFileURL } from 'node:url';
import { setImmediate as yieldToFeed } from 'node:timers/promises';
import { MISS_NAMES, type MissName, Staleness } from 'polybook';
import { formatReasons, sharedCache, type Shared } from './shared-cache.js';

export async function runLatencyArb(s: Shared, durationMs: number): Promise<void> {
  const { cache, markets } = s;
  // Hold our universe for as long as we run (shared caches reference-count it).
  await cache.acquire(markets);
  const pairs = markets
    .filter((m) => m.tokens.length === 2)
    .map((m) => [cache.handle(m.tokens[0]), cache.handle(m.tokens[1])] as const);
  const budget = Staleness.latencyArb;
  const skipped = Object.fromEntries(MISS_NAMES.map((n) => [n, 0])) as Record<MissName, number>;
  let ticks = 0;
  let traded = 0;
  let edges = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    for (const [yes, no] of pairs) {
      ticks++;
      if (!yes.top(budget)) {
        skipped[yes.missReason!]++;
        continue;
      }
      if (!no.top(budget)) {
        skipped[no.missReason!]++;
        continue;
      }
      traded++;
      // Buying YES and NO below 1 in total locks a profit at settlement.
      if (yes.askPrice + no.askPrice < 1) edges++;
    }
    // In-thread ingestion shares this thread: let the feed run between passes.
    await yieldToFeed();
  }
  cache.release(markets.flatMap((m) => m.tokens));
  console.log(
    `[latency-arb] ${durationMs} ms, budget ${budget} ms: ticks=${ticks} traded=${traded} (edges seen=${edges}) ` +
      `skipped=${ticks - traded} by reason: ${formatReasons(skipped)}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await sharedCache();
  await runLatencyArb(s, Number(process.env.EXAMPLE_MS ?? 3000));
  await s.close();
}
