/**
 * A slower strategy: wakes on book changes (watch, no polling) and on a 200 ms timer, reads full
 * books with `Staleness.fast15m` for its 15-minute markets and `Staleness.longStrategy` for the
 * others, and counts what it could act on.
 *
 *   npx tsx examples/slow-strategy.ts     # against the built-in simulator, ~3 s
 */
import { pathToFileURL } from 'node:url';
import { Staleness } from 'polybook';
import { formatReasons, sharedCache, type Shared } from './shared-cache.js';

export async function runSlowStrategy(s: Shared, durationMs: number): Promise<void> {
  const { cache, markets } = s;
  await cache.acquire(markets);
  const tokens = markets.flatMap((m) => m.tokens);
  // Pretend the first half are 15-minute markets.
  const fast = new Set(markets.slice(0, Math.ceil(markets.length / 2)).flatMap((m) => m.tokens));
  let changes = 0;
  const unwatch = cache.watch(tokens, (c) => (changes += c.versions));
  let evaluations = 0;
  let acted = 0;
  const skipped: Record<string, number> = {};
  const before = cache.metrics().store.misses;
  const evaluate = () => {
    for (const t of tokens) {
      evaluations++;
      const book = cache.get(t, fast.has(t) ? Staleness.fast15m : Staleness.longStrategy);
      if (book === null) continue; // skip: the reason is counted by the cache
      // Depth-weighted mid over the served levels.
      let w = 0;
      let v = 0;
      for (const l of [...book.bids, ...book.asks]) {
        w += l.size;
        v += l.price * l.size;
      }
      if (w > 0 && v / w > 0) acted++;
    }
  };
  const timer = setInterval(evaluate, 200);
  await new Promise((r) => setTimeout(r, durationMs));
  clearInterval(timer);
  unwatch();
  cache.release(tokens);
  const after = cache.metrics().store.misses;
  for (const k of Object.keys(after) as (keyof typeof after)[]) skipped[k] = after[k] - before[k];
  console.log(
    `[slow-strategy] ${durationMs} ms: changes watched=${changes} evaluations=${evaluations} acted=${acted} ` +
      `skipped=${evaluations - acted} (cache misses in the window, all readers: ${formatReasons(skipped)})`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await sharedCache();
  await runSlowStrategy(s, Number(process.env.EXAMPLE_MS ?? 3000));
  await s.close();
}
