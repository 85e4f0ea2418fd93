/**
 * A book server in its own process, for the benchmark suite (src/bench/server.ts):
 * `server-child <json options | @file>` starts `BookServer.start(options)`, waits until every book of its
 * universe is ready, prints one JSON line `{ "ready": true, ... }`, and stops cleanly on SIGTERM
 * (or when its parent goes away).
 */
import { BookServer, type BookServerOptions } from '../server/server.js';
import { readArg } from './harness.js';

const options = readArg<BookServerOptions>(process.argv[2]);
const server = await BookServer.start({ ...options, warmupMinReadyFraction: 1, warmupTimeoutMs: 60_000 });
const r = await server.cache.warmup();
console.log(
  JSON.stringify({
    ready: true,
    tokens: r.total,
    readyTokens: r.ready,
    elapsedMs: r.elapsedMs,
    rssBytes: process.memoryUsage().rss,
  }),
);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Never outlive the suite: an orphan is adopted by another parent.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop();
}, 500);
