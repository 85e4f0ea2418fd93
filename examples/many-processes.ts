/**
 * Many strategies, one feed: a book server and two strategy processes reading its books
 * (docs/SERVER.md). Linux, native addon.
 *
 *   npx tsx examples/many-processes.ts      # a server on the built-in simulator, two strategies, ~4 s
 *
 * The same file plays every role: without arguments it starts the server (on the simulator) and
 * spawns itself twice as `strategy <n>`. Each strategy connects, asks for its own markets, quotes
 * from handles, and follows changes; the server holds each strategy's tokens for it and releases
 * them when the strategy exits. Environment: EXAMPLE_MS (run time, default 4000).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BookCache, BookServer, type MarketGroup, Staleness, startSimulator } from 'polybook';

const NAME = `example-${process.pid}`;
const RUN_MS = Number(process.env.EXAMPLE_MS ?? 4000);

/** A strategy process: its own markets, held on the server while it runs. */
async function strategy(n: number, name: string, markets: MarketGroup[]): Promise<void> {
  const cache = await BookCache.connect(name, { universe: markets });
  const tokens = markets.flatMap((m) => m.tokens);
  const handles = tokens.map((t) => cache.handle(t));
  let quotes = 0;
  let changes = 0;
  const stop = cache.watch(tokens, () => changes++);
  const end = performance.now() + RUN_MS / 2;
  while (performance.now() < end) {
    for (const h of handles) if (h.top(Staleness.latencyArb)) quotes++;
    await new Promise((r) => setTimeout(r, 10));
  }
  stop();
  const s = cache.metrics().summary();
  console.log(
    `strategy ${n}: ${tokens.length} tokens, ${quotes} quotes, ${changes} changes seen, hit rate ${(s.hitRate * 100).toFixed(1)}%, server generation ${cache.server?.generation}`,
  );
  await cache.stop();
}

async function main(): Promise<void> {
  const [role, arg, name, json] = process.argv.slice(2);
  if (role === 'strategy') return strategy(Number(arg), name, JSON.parse(json) as MarketGroup[]);

  const sim = await startSimulator({ markets: 6, seed: 42, rate: 60 });
  const markets = sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] }));
  // The server follows the first two markets itself; the strategies ask for theirs.
  await using server = await BookServer.start({
    name: NAME,
    url: sim.url,
    universe: markets.slice(0, 2),
    stateFile: false,
  });
  await server.cache.warmup();
  console.log(`server "${NAME}": ${server.cache.tokens().length} tokens, ${server.tablePath}`);
  const self = fileURLToPath(import.meta.url);
  const children = [1, 2].map((n) => {
    const mine = markets.slice(2 * n, 2 * n + 2);
    return spawn(process.execPath, [...process.execArgv, self, 'strategy', String(n), NAME, JSON.stringify(mine)], {
      stdio: 'inherit',
    });
  });
  const until = performance.now() + 20_000;
  const holding = () => server.clients().filter((c) => c.tokens > 0).length;
  while (holding() < 2 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  console.log(`server: ${server.cache.tokens().length} tokens while ${server.clients().length} strategies run`);
  await Promise.all(children.map((c) => once(c, 'exit')));
  console.log(`server: ${server.cache.tokens().length} tokens once they exited`);
  await sim.close();
}

await main();
