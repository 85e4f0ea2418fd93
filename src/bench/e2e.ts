/**
 * End-to-end latency and main-thread pauses with ingestion in a worker (`startWorkerFeed`).
 *
 * Threads of one process: the sender (src/bench/sim-worker.ts: the simulator's recorded frames,
 * written to the socket at 20,000 changes/s), the feed worker, which ingests them into the shared
 * table, and the main thread, which spins over `store.get()` of every token of the universe
 * (staleness checked). When a read returns a book whose exchange timestamp is BASE + k for the
 * first time, the main thread notes the time: latency(k) = that time - sent[k] (the sender's time
 * right after writing change k to its socket; both on `preciseNow()`, the host's monotonic
 * clock, which all threads share).
 *
 * The same loop measures main-thread pauses: the gap between the starts of consecutive sweeps,
 * under load and, as a control, with the feed connected but no traffic.
 *
 * Book server (src/bench/server.ts): the same sender and rate, the feed in a book server in another
 * process (its main thread ingests), and this process attached to its table, sweeping the same reads.
 *
 * Transport floor: the same sender, rate and spinning main thread with a bare `ws` client in the
 * worker (src/bench/floor-worker.ts: no JSON parsing, no table). What it measures is this machine's
 * loopback, wake-up and scheduling latency, which any worker-based design pays.
 *
 * The machine is shared and noisy, so the measurement runs in rounds (floor, then each backend,
 * repeated) and pools the samples: every configuration sees the same kinds of disturbance.
 */
import type { Worker } from 'node:worker_threads';
import { startWorkerFeed, type WorkerFeed } from '../feed/worker.js';
import type { BookView } from '../table/book-view.js';
import type { BackendName } from '../backend/index.js';
import type { MarketGroup } from '../cache/universe.js';
import { benchWorker, pct, waitFor, wallNow } from './harness.js';
import { CTL_DONE, CTL_SENT, SENT_OFFSET, simBufferBytes, type SimWorkerData } from './sim-protocol.js';

/** Exchange timestamp base: change k is stamped BASE + k. */
const BASE = 1_800_000_000_000;
const MAX_STALE_MS = 5000;
export const E2E_RATE = 20_000;
const MARKETS = 25;
/** Published depth of the feed's table (`maxDepth`). */
const DEPTH = 20;

export interface GapStats {
  /** Loop iterations (sweeps) measured. */
  iterations: number;
  /** Mean iteration (sweep) time, µs. */
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  p9999Us: number;
  maxUs: number;
  /** Gaps over 100 µs: count, and their share of the wall time. */
  over100us: number;
  over100usTimeShare: number;
}

export interface LatencyStats {
  /**
   * Changes sent in the measured phases that change the depth-20 view (the others are not timed:
   * nothing a read returns changes), and how many of them the main thread saw.
   */
  sent: number;
  seen: number;
  /** Frames/s written during the measured phases (changes plus trade frames). */
  framesPerSec: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** What an e2e row measures: the transport floor, worker mode of a backend, or a book server of a backend read from this process. */
export type E2eConfig = BackendName | 'floor' | `server-${BackendName}`;

export interface E2eRow extends LatencyStats {
  backend: E2eConfig;
  tokens: number;
  rate: number;
  rounds: number;
  /** Share of all recorded changes that change the depth-20 view. */
  visibleShare: number;
  /** p50 and p99 of each round alone, µs (the spread shows the machine's noise over time). */
  roundP50Us: number[];
  roundP99Us: number[];
  /** Main-thread loop gaps while the worker ingests at the rate. */
  pause: GapStats;
  /** The same loop with the feed connected and no traffic (scheduler noise of this machine). */
  pauseIdle: GapStats;
}

/** Histogram of loop gaps: 0.1 µs bins up to 2 ms, larger gaps kept individually. */
class GapHistogram {
  static readonly BIN_US = 0.1;
  static readonly BINS = 20_000;
  readonly bins = new Float64Array(GapHistogram.BINS);
  readonly large: number[] = [];
  n = 0;
  sumMs = 0;
  add(gapMs: number): void {
    this.n++;
    this.sumMs += gapMs;
    const b = Math.floor((gapMs * 1000) / GapHistogram.BIN_US);
    if (b < GapHistogram.BINS) this.bins[b]++;
    else this.large.push(gapMs * 1000);
  }
  merge(o: GapHistogram): void {
    for (let i = 0; i < GapHistogram.BINS; i++) this.bins[i] += o.bins[i];
    this.large.push(...o.large);
    this.n += o.n;
    this.sumMs += o.sumMs;
  }
  quantile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.n));
    let c = 0;
    for (let i = 0; i < GapHistogram.BINS; i++) {
      c += this.bins[i];
      if (c >= rank) return (i + 1) * GapHistogram.BIN_US;
    }
    const large = [...this.large].sort((a, b) => a - b);
    return large[Math.min(large.length - 1, rank - c - 1)] ?? NaN;
  }
  stats(): GapStats {
    let overCount = 0;
    let overUs = 0;
    for (let i = Math.ceil(100 / GapHistogram.BIN_US); i < GapHistogram.BINS; i++) {
      overCount += this.bins[i];
      overUs += this.bins[i] * (i + 0.5) * GapHistogram.BIN_US;
    }
    for (const g of this.large) {
      overCount++;
      overUs += g;
    }
    return {
      iterations: this.n,
      meanUs: (this.sumMs * 1000) / this.n,
      p50Us: this.quantile(0.5),
      p99Us: this.quantile(0.99),
      p999Us: this.quantile(0.999),
      p9999Us: this.quantile(0.9999),
      maxUs: this.large.length ? Math.max(...this.large) : this.quantile(1),
      over100us: overCount,
      over100usTimeShare: overUs / 1000 / this.sumMs,
    };
  }
}

export interface Sim {
  ctl: Int32Array;
  sent: Float64Array;
  /** Market (index in `groups`) each change touched. */
  market: Int32Array;
  url: string;
  groups: MarketGroup[];
  /** Changes recorded, and how many of them change the depth-20 view (the ones timed). */
  changes: number;
  visibleChanges: number;
  run(rate: number, count: number): void;
  done(): Promise<{ framesSent: number }>;
  rewind(): void;
  close(): Promise<void>;
}

interface Phases {
  rounds: number;
  /** Per round and configuration. */
  warmS: number;
  measureS: number;
  idleMs: number;
}

function phases(quick: boolean): Phases {
  return quick
    ? { rounds: 1, warmS: 0.3, measureS: 1, idleMs: 300 }
    : { rounds: 3, warmS: 0.5, measureS: 2, idleMs: 400 };
}

/** Starts the sender worker; it records the changes one segment (warm-up + measured) needs. */
export async function startSim(quick: boolean): Promise<Sim> {
  const { warmS, measureS } = phases(quick);
  const changes = Math.ceil(E2E_RATE * (warmS + measureS)) + 100;
  const sab = new SharedArrayBuffer(simBufferBytes(changes));
  const data: SimWorkerData & { changes: number } = {
    markets: MARKETS,
    seed: 7,
    sab,
    base: BASE,
    depth: DEPTH,
    changes,
  };
  const worker: Worker = benchWorker('sim-worker', data);
  const ready = await new Promise<{ url: string; groups: MarketGroup[]; changes: number; visibleChanges: number }>(
    (resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', resolve);
    },
  );
  let pending: ((s: { framesSent: number }) => void) | null = null;
  worker.on('message', (m: { type: string; framesSent?: number }) => {
    if (m.type === 'done' && pending) pending({ framesSent: m.framesSent! });
  });
  const ctl = new Int32Array(sab, 0, 4);
  return {
    ctl,
    sent: new Float64Array(sab, SENT_OFFSET, ready.changes + 2),
    market: new Int32Array(sab, SENT_OFFSET + 8 * (ready.changes + 2), ready.changes + 2),
    url: ready.url,
    groups: ready.groups,
    changes: ready.changes,
    visibleChanges: ready.visibleChanges,
    run: (rate, count) => {
      Atomics.store(ctl, CTL_DONE, 0);
      worker.postMessage({ type: 'run', rate, count });
    },
    done: () => new Promise((r) => (pending = r)),
    rewind: () => worker.postMessage({ type: 'rewind' }),
    close: async () => {
      const exit = new Promise((r) => worker.once('exit', r));
      worker.postMessage({ type: 'close' });
      await Promise.race([exit, new Promise((r) => setTimeout(r, 3000))]);
      await worker.terminate();
    },
  };
}

/** One configuration's consumer: sweeps reads until `stop()`, noting first sightings in `seen`. */
export interface Consumer {
  spin(seen: Float64Array | null, gaps: GapHistogram, stop: () => boolean): void;
  close(): Promise<void>;
}

/** The feed in a worker (`startWorkerFeed`); the main thread sweeps `get()` over every token. */
async function feedConsumer(sim: Sim, backend: BackendName): Promise<Consumer> {
  const feed: WorkerFeed = await startWorkerFeed({
    url: sim.url,
    universe: sim.groups,
    backend,
    maxDepth: DEPTH,
    capacity: 256,
  });
  const tokens = sim.groups.flatMap((g) => g.tokens);
  if (!(await waitFor(() => feed.store.readyCount() === tokens.length, 20_000))) {
    await feed.stop();
    throw new Error(`e2e (${backend}): only ${feed.store.readyCount()} of ${tokens.length} books ready after 20 s`);
  }
  const store = feed.store;
  return storeConsumer(sim, store, async () => {
    const m = store.metrics().writer;
    await feed.stop();
    if (m.desyncs || m.crossedResets || m.badJson || m.badEvent || m.bboMismatches) {
      throw new Error(`e2e (${backend}): the feed left its happy path: ${JSON.stringify(m)}`);
    }
  });
}

/** Sweeps `get()` over every token of the universe of `store` (a worker feed's, or an attached server's). */
export function storeConsumer(sim: Sim, store: BookView, close: () => Promise<void>): Consumer {
  const tokens = sim.groups.flatMap((g) => g.tokens);
  const n = tokens.length;
  const marketOfToken = Int32Array.from(tokens, (_, i) => i >> 1);
  const market = sim.market;
  return {
    spin(seen, gaps, stop) {
      const last = new Float64Array(n);
      for (let i = 0; i < n; i++) last[i] = store.get(tokens[i], MAX_STALE_MS)?.timestamp ?? NaN;
      let prev = performance.now();
      for (;;) {
        for (let i = 0; i < n; i++) {
          const b = store.get(tokens[i], MAX_STALE_MS);
          if (b !== null) {
            const ts = b.timestamp as number;
            if (ts !== last[i]) {
              // Every change of this market up to the one read is visible now (a change overwritten
              // before a sweep reached it counts as visible when its successor is first read).
              if (seen !== null) {
                const now = wallNow();
                const mk = marketOfToken[i];
                const hi = Math.min(ts - BASE, seen.length - 1);
                for (let k = Math.max(1, last[i] - BASE + 1); k <= hi; k++)
                  if (seen[k] === 0 && market[k] === mk) seen[k] = now;
              }
              last[i] = ts;
            }
          }
        }
        const t = performance.now();
        gaps.add(t - prev);
        prev = t;
        if (stop()) break;
      }
    },
    close,
  };
}

/** The transport floor: a bare ws client in a worker publishes the last change number it received. */
async function floorConsumer(sim: Sim): Promise<Consumer> {
  const tokens = sim.groups.flatMap((g) => g.tokens);
  const latest = new Int32Array(new SharedArrayBuffer(8), 0, 1);
  const worker = benchWorker('floor-worker', { url: sim.url, tokens, sab: latest.buffer, base: BASE });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    spin(seen, gaps, stop) {
      let last = Atomics.load(latest, 0);
      let prev = performance.now();
      for (;;) {
        // 256 checks per iteration (~2 µs, like one feed sweep): a clock read per check would
        // allocate (performance.now() returns a fresh heap number in Node 20) and the main
        // thread's own scavenges would then show up as transport latency.
        for (let c = 0; c < 256; c++) {
          const k = Atomics.load(latest, 0);
          if (k !== last) {
            const t = wallNow();
            if (seen !== null) for (let j = last + 1; j <= k && j < seen.length; j++) seen[j] = t;
            last = k;
          }
        }
        const t = performance.now();
        gaps.add(t - prev);
        prev = t;
        if (stop()) break;
      }
    },
    close: async () => {
      worker.postMessage('close');
      await worker.terminate();
    },
  };
}

interface Pool {
  lat: number[];
  roundP50: number[];
  roundP99: number[];
  gaps: GapHistogram;
  idle: GapHistogram;
  sent: number;
  seen: number;
  frames: number;
  /** Time the sender took for the measured phases, s. */
  wallS: number;
}

/** One segment: connect, idle control, warm-up traffic, measured traffic. */
async function segment(
  sim: Sim,
  consumer: () => Promise<Consumer>,
  p: Phases,
  rate: number,
  pool: Pool,
): Promise<void> {
  sim.rewind();
  const c = await consumer();
  try {
    const idle = new GapHistogram();
    const idleEnd = performance.now() + p.idleMs;
    c.spin(null, idle, () => performance.now() > idleEnd);
    pool.idle.merge(idle);
    const done = () => Atomics.load(sim.ctl, CTL_DONE) === 1;
    sim.run(rate, Math.round(rate * p.warmS));
    let finished = sim.done();
    c.spin(null, new GapHistogram(), done);
    const framesBefore = (await finished).framesSent;
    const first = Atomics.load(sim.ctl, CTL_SENT) + 1;
    const seen = new Float64Array(sim.changes + 2);
    const gaps = new GapHistogram();
    sim.run(rate, Math.round(rate * p.measureS));
    finished = sim.done();
    const t0 = performance.now();
    // After the last send, keep reading until the last change is visible (a backlog counts), at most 2 s.
    let doneAt = 0;
    c.spin(seen, gaps, () => {
      if (!done()) return false;
      if (doneAt === 0) doneAt = performance.now();
      return seen[Atomics.load(sim.ctl, CTL_SENT)] > 0 || performance.now() - doneAt > 2000;
    });
    pool.wallS += ((doneAt || performance.now()) - t0) / 1000;
    pool.frames += (await finished).framesSent - framesBefore;
    const last = Atomics.load(sim.ctl, CTL_SENT);
    const lat: number[] = [];
    for (let k = first; k <= last; k++) {
      // Only changes a read can see are timed (see sim-worker.ts); the floor uses the same set.
      if (sim.market[k] < 0) continue;
      pool.sent++;
      if (seen[k] > 0 && sim.sent[k] > 0) {
        pool.seen++;
        lat.push((seen[k] - sim.sent[k]) * 1000);
      }
    }
    pool.lat.push(...lat);
    const sorted = Float64Array.from(lat).sort();
    pool.roundP50.push(pct(sorted, 0.5));
    pool.roundP99.push(pct(sorted, 0.99));
    pool.gaps.merge(gaps);
  } finally {
    await c.close();
  }
}

/** Runs the floor and every backend, interleaved in rounds; one row each, samples pooled over rounds. */
export async function runE2e(
  sim: Sim,
  backends: BackendName[],
  quick: boolean,
  log: (s: string) => void,
  rate = E2E_RATE,
  servers: { backend: BackendName; consumer: (sim: Sim) => Promise<Consumer> }[] = [],
): Promise<E2eRow[]> {
  const p = phases(quick);
  const configs: E2eConfig[] = ['floor', ...backends, ...servers.map((s) => `server-${s.backend}` as const)];
  const consumerOf = (c: E2eConfig): (() => Promise<Consumer>) => {
    if (c === 'floor') return () => floorConsumer(sim);
    const server = servers.find((s) => `server-${s.backend}` === c);
    if (server) return () => server.consumer(sim);
    return () => feedConsumer(sim, c as BackendName);
  };
  const pools = new Map(
    configs.map((c) => [
      c,
      {
        lat: [],
        roundP50: [],
        roundP99: [],
        gaps: new GapHistogram(),
        idle: new GapHistogram(),
        sent: 0,
        seen: 0,
        frames: 0,
        wallS: 0,
      } as Pool,
    ]),
  );
  for (let r = 0; r < p.rounds; r++) {
    for (const c of configs) {
      await segment(sim, consumerOf(c), p, rate, pools.get(c)!);
    }
  }
  const rows: E2eRow[] = [];
  for (const c of configs) {
    const pool = pools.get(c)!;
    const s = Float64Array.from(pool.lat).sort();
    const row: E2eRow = {
      backend: c,
      tokens: sim.groups.length * 2,
      rate,
      rounds: p.rounds,
      visibleShare: sim.visibleChanges / sim.changes,
      sent: pool.sent,
      seen: pool.seen,
      framesPerSec: pool.frames / pool.wallS,
      p50Us: pct(s, 0.5),
      p90Us: pct(s, 0.9),
      p99Us: pct(s, 0.99),
      p999Us: pct(s, 0.999),
      maxUs: s[s.length - 1],
      roundP50Us: pool.roundP50,
      roundP99Us: pool.roundP99,
      pause: pool.gaps.stats(),
      pauseIdle: pool.idle.stats(),
    };
    log(
      `  ${c.padEnd(6)} e2e ${row.seen}/${row.sent} changes seen (${row.framesPerSec.toFixed(0)} frames/s), p50 ${row.p50Us.toFixed(1)} µs, ` +
        `p99 ${row.p99Us.toFixed(1)} µs, p99.9 ${row.p999Us.toFixed(1)} µs; loop gaps p99.9 ${row.pause.p999Us.toFixed(1)} µs ` +
        `(idle ${row.pauseIdle.p999Us.toFixed(1)} µs), ${(row.pause.over100usTimeShare * 100).toFixed(2)}% of the time in gaps > 100 µs\n`,
    );
    rows.push(row);
  }
  return rows;
}
