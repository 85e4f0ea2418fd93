/**
 * A strategy process starting, for the restart rows (src/bench/server.ts):
 * `restart-child <connect|cold> <json | @file>`. `connect`: `BookCache.connect(name, { universe })` to a
 * warm book server; `cold`: `BookCache.start({ url, universe })` with its own feed and warmup.
 * Either way it reads every token until one is served, and prints when (ms since this process
 * started, and since the call), and how many of the universe were served by the first full sweep.
 */
import { BookCache } from '../cache/book-cache.js';
import type { MarketGroup } from '../cache/universe.js';
import { readArg } from './harness.js';

const [mode, arg] = process.argv.slice(2);
const o = readArg<{ name: string; url: string; groups: MarketGroup[]; capacity: number }>(arg);
const tokens = o.groups.flatMap((g) => g.tokens);
const called = performance.now();
const cache =
  mode === 'connect'
    ? await BookCache.connect(o.name, { universe: o.groups })
    : await BookCache.start({ url: o.url, universe: o.groups, capacity: o.capacity, warmupTimeoutMs: 60_000 });
const sweep = () => tokens.reduce((n, t) => n + (cache.get(t) !== null ? 1 : 0), 0);
let served = sweep();
while (served === 0) {
  await new Promise((r) => setImmediate(r));
  served = sweep();
}
const firstMs = performance.now();
console.log(
  JSON.stringify({
    mode,
    tokens: tokens.length,
    sinceProcessMs: firstMs,
    sinceCallMs: firstMs - called,
    servedFirstSweep: served,
  }),
);
await cache.stop();
process.exit(0);
