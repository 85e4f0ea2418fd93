/**
 * The book server's benchmarks (docs/SERVER.md), run by the suite next to the rows they compare with:
 *
 * - attached reads: `handle.top()` and `get()` in a process attached to a server's table against
 *   the same reads of a store in its own process, each in a fresh child process (src/bench/reads-child.ts),
 *   alternated; the server's table is written by this process.
 * - frame to visible in an attached reader: a consumer for src/bench/e2e.ts whose feed runs in a
 *   book server in another process (src/bench/server-child.ts).
 * - restart: a strategy process connecting to a warm server with 10,000 tokens, from its own start
 *   to its first served read, against the same process starting cold with its own feed
 *   (src/bench/restart-child.ts).
 * - memory: a server's resident set with 50,000 tokens and real books (src/bench/memory-child.ts, kind `server`).
 */
import type { BackendName } from '../backend/index.js';
import type { MarketGroup } from '../cache/universe.js';
import { BookStore } from '../table/store.js';
import { initTable } from '../table/layout.js';
import { ServerMemory } from '../server/memory.js';
import { TokenDirectory } from '../server/directory.js';
import type { Sampled } from './harness.js';
import { benchChild, benchSpawn, benchWorker, fileArg, waitFor } from './harness.js';
import { storeConsumer, type Consumer, type Sim } from './e2e.js';
import { BOOK100, NO_BOOK, YES, NO } from './fixtures.js';

/**
 * One attached-read row: a task, where the store lives, over the child runs. `medianNs`/`p99Ns`
 * are those of the least disturbed run (the lowest median: on a shared machine load only adds
 * time); `ratio` (attached rows) is the median over the alternated pairs of attached / in-process.
 */
export interface AttachedReadRow extends Sampled {
  task: 'top' | 'get';
  mode: 'local' | 'attached';
  /** Median of each child run alone, ns, in run order. */
  runMediansNs: number[];
  /** Attached rows: median over runs of (attached median / in-process median of the same alternation). */
  ratio?: number;
}

/** A strategy's start: to its first served read. */
export interface RestartRow {
  mode: 'connect' | 'cold';
  tokens: number;
  /** From the process's start (Node's own start-up included), ms. */
  sinceProcessMs: number;
  /** From the `connect`/`start` call, ms. */
  sinceCallMs: number;
  /** Tokens served by the first sweep over the universe. */
  servedFirstSweep: number;
}

/** Every server figure of a run. */
export interface ServerBench {
  reads: AttachedReadRow[];
  restart: RestartRow[];
}

let serial = 0;
const benchName = (tag: string) => `bench-${process.pid}-${tag}-${++serial}`;

/**
 * Attached `top`/`get` against a store of its own process: each in fresh child processes,
 * alternated `runs` times, samples pooled.
 */
export async function runAttachedReads(quick: boolean, log: (s: string) => void): Promise<AttachedReadRow[]> {
  const name = benchName('reads');
  const capacity = 1024;
  const memory = ServerMemory.create(name, capacity, 20);
  initTable(memory.buffer, capacity, 20);
  memory.stamp(1);
  const stopTicker = memory.startTicker();
  memory.publish();
  const store = new BookStore({ table: memory.buffer, backend: 'native', clock: 'coarse' });
  store.directory = new TokenDirectory(memory.buffer, memory.region.directory, capacity);
  try {
    store.subscribe([YES, NO]);
    store.ingest(BOOK100);
    store.ingest(NO_BOOK);
    const pooled = new Map<string, { row: AttachedReadRow; medians: number[]; n: number; p99: number[] }>();
    const runs = quick ? 1 : 5;
    for (let r = 0; r < runs; r++) {
      for (const mode of ['local', 'attached'] as const) {
        const rows = (await benchChild('reads-child', [mode, name, String(quick)])) as (Sampled & {
          task: 'top' | 'get';
          mode: 'local' | 'attached';
        })[];
        for (const x of rows) {
          const key = `${x.task}/${x.mode}`;
          const p = pooled.get(key) ?? {
            row: { task: x.task, mode: x.mode, medianNs: 0, p99Ns: 0, samples: 0, batch: x.batch, runMediansNs: [] },
            medians: [],
            n: 0,
            p99: [],
          };
          p.medians.push(x.medianNs);
          p.p99.push(x.p99Ns);
          p.n += x.samples;
          pooled.set(key, p);
        }
      }
    }
    const rows: AttachedReadRow[] = [];
    for (const p of pooled.values()) {
      const best = p.medians.indexOf(Math.min(...p.medians));
      rows.push({ ...p.row, medianNs: p.medians[best], p99Ns: p.p99[best], samples: p.n, runMediansNs: p.medians });
    }
    for (const r of rows) {
      if (r.mode !== 'attached') continue;
      const local = rows.find((x) => x.task === r.task && x.mode === 'local');
      if (!local) continue;
      const ratios = r.runMediansNs.map((m, i) => m / local.runMediansNs[i]).sort((a, b) => a - b);
      r.ratio = ratios[Math.floor(ratios.length / 2)];
    }
    for (const r of rows)
      log(
        `  ${r.mode.padEnd(8)} ${r.task} best run ${r.medianNs.toFixed(1)} ns (runs ${r.runMediansNs.map((x) => x.toFixed(1)).join(', ')}), p99 ${r.p99Ns.toFixed(1)} ns${r.ratio ? `, ${(r.ratio * 100).toFixed(0)}% of in-process` : ''}\n`,
      );
    return rows;
  } finally {
    store.close();
    stopTicker();
    memory.retire();
    memory.close();
  }
}

/** A book server in a child process, on `url`, with `groups`; resolves once every book is ready. */
async function serverChild(
  name: string,
  url: string,
  groups: MarketGroup[],
  backend: BackendName,
  capacity: number,
): Promise<{ stop: () => Promise<void>; ready: { rssBytes: number } }> {
  const child = benchSpawn('server-child', [
    fileArg({ name, url, universe: groups, backend, capacity, maxDepth: 20, stateFile: false }),
  ]);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ready = await new Promise<{ rssBytes: number }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    void exited.then(() => reject(new Error(`bench server child exited before it was ready: ${err.slice(-2000)}`)));
  });
  return {
    ready,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The e2e consumer of a book server: the feed in another process, this process attached to its table. */
export function attachedConsumer(backend: BackendName): (sim: Sim) => Promise<Consumer> {
  return async (sim) => {
    const name = benchName(`e2e-${backend}`);
    const server = await serverChild(name, sim.url, sim.groups, backend, 256);
    const store = BookStore.attach(name);
    const tokens = sim.groups.flatMap((g) => g.tokens);
    if (!(await waitFor(() => store.readyCount() === tokens.length, 20_000))) {
      store.close();
      await server.stop();
      throw new Error(`e2e (server-${backend}): only ${store.readyCount()} of ${tokens.length} books ready`);
    }
    return storeConsumer(sim, store, async () => {
      store.close();
      await server.stop();
    });
  };
}

/**
 * A strategy restarting against a warm server, and the same strategy starting cold, with
 * `markets` markets (two tokens each) on the simulator (a live one in a worker thread, as the
 * warmup rows use).
 */
export async function runRestart(markets: number, log: (s: string) => void): Promise<RestartRow[]> {
  const w = benchWorker('live-sim-worker', { markets, seed: 11 });
  const sim = await new Promise<{ url: string; groups: MarketGroup[] }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  const capacity = sim.groups.length * 2 + 16;
  const name = benchName('restart');
  const args = fileArg({ name, url: sim.url, groups: sim.groups, capacity });
  const rows: RestartRow[] = [];
  try {
    const server = await serverChild(name, sim.url, sim.groups, 'native', capacity);
    try {
      rows.push((await benchChild('restart-child', ['connect', args])) as RestartRow);
    } finally {
      await server.stop();
    }
    rows.push((await benchChild('restart-child', ['cold', args])) as RestartRow);
  } finally {
    w.postMessage({ type: 'close' });
    await new Promise((r) => setTimeout(r, 50));
    await w.terminate();
  }
  for (const r of rows)
    log(
      `  ${r.mode.padEnd(8)} ${r.tokens} tokens: first served read ${r.sinceProcessMs.toFixed(0)} ms after the process started (${r.sinceCallMs.toFixed(0)} ms after the call), ${r.servedFirstSweep} served by the first sweep\n`,
    );
  return rows;
}
