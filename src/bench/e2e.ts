/**
 * End-to-end latency and main-thread behaviour with ingestion in a worker (`startWorkerFeed`).
 *
 * Threads of one process: the sender (src/bench/sim-worker.ts: the simulator's recorded frames,
 * written to the socket at 20,000 changes/s), the feed worker, which ingests them into the shared
 * table, and the main thread, which spins over reads of every token of the universe (staleness
 * checked). Configurations, interleaved in rounds (every one sees the same kinds of disturbance):
 *
 * - `feed`: the main thread spins over `store.get()`; when a read returns a book whose exchange
 *   timestamp is BASE + k for the first time, it notes the time: latency(k) = that time - sent[k]
 *   (the sender's time right after writing change k to its socket; both on `preciseNow()`, the
 *   host's monotonic clock, which all threads share).
 * - `floor`: the same sender, rate and spinning main thread with a bare `ws` client in the worker
 *   (src/bench/floor-worker.ts: no JSON parsing, no table): this machine's loopback, wake-up and
 *   scheduling latency, which any worker-based design pays.
 * - `split`: the `feed` loop with the feed worker instrumented (src/bench/probe-worker.ts: its
 *   writer logs when each frame's ingest returned), and each first sighting also noting the slot's
 *   `lastUpdate` (the receive time the feed passed to ingest): latency by stage, sender write ->
 *   socket read in the worker -> ingested and published -> first seen by the reader.
 * - `strategy-get`, `strategy-handle`: a strategy reading depth 20 of every changed book, with
 *   `get()` (every level of the new Book) or with a handle's `book()` and level getters;
 *   main-thread GCs per second, loop pauses and reads per second, against the same loop idle.
 * - `server`: the `feed` loop over a table attached from a book server in another process (its
 *   main thread ingests the same sender's frames; src/bench/server.ts).
 *
 * Every configuration measures main-thread pauses: the gap between the starts of consecutive
 * sweeps, under load and, as a control, with the feed connected but no traffic. A sweep reads the
 * clock once (`performance.now()`, which allocates a 16-byte number on Node 20: the idle control
 * has the same cost, so GCs beyond it are the reads').
 */
import type { Worker } from 'node:worker_threads';
import { PerformanceObserver } from 'node:perf_hooks';
import { startWorkerFeed, type WorkerFeed } from '../feed/worker.js';
import type { BackendName } from '../backend/index.js';
import type { MarketGroup } from '../cache/universe.js';
import { BookTable } from '../table/book-table.js';
import type { BookView } from '../table/book-view.js';
import { createTable } from '../table/layout.js';
import { SlotHeader } from '../table/view.js';
import { forwardingWriter } from '../table/writer.js';
import { benchWorker, pct, waitFor, wallNow } from './harness.js';
import {
  CTL_DONE,
  CTL_SENT,
  PROBE_ENTRIES,
  PROBE_HEAD,
  SENT_OFFSET,
  probeBytes,
  probeViews,
  simBufferBytes,
  type SimWorkerData,
} from './sim-protocol.js';

/** Exchange timestamp base: change k is stamped BASE + k. */
const BASE = 1_800_000_000_000;
const MAX_STALE_MS = 5000;
export const E2E_RATE = 20_000;
const MARKETS = 25;
/** Published depth of the feed's table (`maxDepth`). */
const DEPTH = 20;

/** What a configuration's main thread does; see the module comment. */
export type E2eKind = 'floor' | 'feed' | 'split' | 'strategy-get' | 'strategy-handle' | 'server';

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

/** p50 / p99 / p99.9 of one stage of the latency split, µs. */
export interface StageStats {
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

/** The latency split by stage (`split` rows), over the changes whose stages were all known. */
export interface SplitStats {
  /** Changes with every stage known (first seen in their own version, its frame found in the log). */
  samples: number;
  /** Sender's write -> the feed worker's socket read (the receive time the feed passes to ingest). */
  transport: StageStats;
  /** Socket read -> ingest returned: parsed, applied, published. */
  ingest: StageStats;
  /** Published -> first seen by the main thread's read loop. */
  read: StageStats;
  /** The three together (sender's write -> first seen), same changes. */
  total: StageStats;
}

export interface E2eRow extends LatencyStats {
  kind: E2eKind;
  backend: BackendName | 'floor';
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
  /**
   * Main-thread GCs (PerformanceObserver 'gc') in the measured phases and in the idle controls,
   * and per second. The loop's own clock read allocates a 16-byte number per sweep in both: GCs
   * caused by the reads are those beyond `idleGcs / pauseIdle.iterations` per sweep.
   */
  gcs: number;
  idleGcs: number;
  gcsPerSec: number;
  idleGcsPerSec: number;
  /** Total main-thread GC time in the measured phases, ms. */
  gcMs: number;
  /** Book reads (`get()` / `book()` calls) per second in the measured phases. */
  readsPerSec: number;
  /** Reads that found a changed book and read all its levels, per second. */
  depthReadsPerSec: number;
  /** `split` rows only. */
  split?: SplitStats;
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

/** Reads a consumer made in one spin. */
interface Counts {
  /** Book reads (`get()` / `book()` calls). */
  reads: number;
  /** Reads that found a changed book and read all its levels. */
  depthReads: number;
}

/** One configuration's consumer: sweeps reads until `stop()`, noting first sightings in `seen`. */
export interface Consumer {
  /** Whether it notes first sightings (latency); strategy consumers only read. */
  readonly latency: boolean;
  spin(seen: Float64Array | null, gaps: GapHistogram, stop: () => boolean, counts: Counts): void;
  /** `split` consumers: the stage samples of changes first..last (after the measured phase). */
  stages?(first: number, last: number, seen: Float64Array): StageSamples;
  close(): Promise<void>;
}

interface StageSamples {
  transport: number[];
  ingest: number[];
  read: number[];
  total: number[];
}

/**
 * Marks every change of market `mk` from `fromK` to `ts - BASE` that is not seen yet as seen at
 * `now` (a change overwritten before a sweep reached it counts as visible when its successor is
 * first read).
 */
function markSeen(seen: Float64Array, market: Int32Array, mk: number, fromK: number, ts: number, now: number): void {
  const hi = Math.min(ts - BASE, seen.length - 1);
  for (let k = Math.max(1, fromK); k <= hi; k++) if (seen[k] === 0 && market[k] === mk) seen[k] = now;
}

/**
 * The feed in a worker (`startWorkerFeed`). `feed`: the main thread sweeps `get()` over every token
 * and notes first sightings; `strategy-get` / `strategy-handle`: it reads every level of each
 * changed book, through the new Book of `get()` or through a handle's `book()` and getters.
 */
async function feedConsumer(
  sim: Sim,
  backend: BackendName,
  kind: 'feed' | 'strategy-get' | 'strategy-handle',
): Promise<Consumer> {
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
  const n = tokens.length;
  const close = async () => {
    const m = store.metrics().writer;
    await feed.stop();
    if (m.desyncs || m.crossedResets || m.badJson || m.badEvent || m.bboMismatches) {
      throw new Error(`e2e (${backend}): the feed left its happy path: ${JSON.stringify(m)}`);
    }
  };
  if (kind === 'strategy-handle') {
    const handles = tokens.map((t) => store.handle(t));
    return {
      latency: false,
      spin(_seen, gaps, stop, counts) {
        const lastSeq = new Float64Array(n).fill(-1);
        let reads = 0;
        let depthReads = 0;
        let levels = 0;
        let prev = performance.now();
        for (;;) {
          for (let i = 0; i < n; i++) {
            const h = handles[i];
            reads++;
            if (!h.book(MAX_STALE_MS) || h.sequence === lastSeq[i]) continue;
            lastSeq[i] = h.sequence;
            depthReads++;
            // The strategy's use of the book: every level (counted, so nothing is boxed).
            for (let k = 0; k < h.bidDepth; k++) if (h.bidPriceAt(k) * h.bidSizeAt(k) > 0) levels++;
            for (let k = 0; k < h.askDepth; k++) if (h.askPriceAt(k) * h.askSizeAt(k) > 0) levels++;
          }
          const t = performance.now();
          gaps.add(t - prev);
          prev = t;
          if (stop()) break;
        }
        counts.reads += reads;
        counts.depthReads += depthReads;
        if (levels < depthReads) throw new Error('e2e: depth reads found empty books');
      },
      close,
    };
  }
  if (kind === 'strategy-get') {
    return {
      latency: false,
      spin(_seen, gaps, stop, counts) {
        // The last book read per token: kept, as a strategy comparing with its previous book would.
        const lastBook: unknown[] = new Array(n).fill(null);
        let reads = 0;
        let depthReads = 0;
        let levels = 0;
        let prev = performance.now();
        for (;;) {
          for (let i = 0; i < n; i++) {
            const b = store.get(tokens[i], MAX_STALE_MS);
            reads++;
            if (b === null || b === lastBook[i]) continue;
            lastBook[i] = b;
            depthReads++;
            const bids = b.bids;
            const asks = b.asks;
            for (let k = 0; k < bids.length; k++) if (bids[k].price * bids[k].size > 0) levels++;
            for (let k = 0; k < asks.length; k++) if (asks[k].price * asks[k].size > 0) levels++;
          }
          const t = performance.now();
          gaps.add(t - prev);
          prev = t;
          if (stop()) break;
        }
        counts.reads += reads;
        counts.depthReads += depthReads;
        if (levels < depthReads) throw new Error('e2e: depth reads found empty books');
      },
      close,
    };
  }
  return storeConsumer(sim, store, close);
}

/**
 * The `feed` read loop over `store` (a worker feed's, or a table attached from a book server):
 * sweeps `get()` over every token of the universe and notes first sightings.
 */
export function storeConsumer(sim: Sim, store: BookView, close: () => Promise<void>): Consumer {
  const tokens = sim.groups.flatMap((g) => g.tokens);
  const n = tokens.length;
  const marketOfToken = Int32Array.from(tokens, (_, i) => i >> 1);
  const market = sim.market;
  return {
    latency: true,
    spin(seen, gaps, stop, counts) {
      const last = new Float64Array(n);
      for (let i = 0; i < n; i++) last[i] = store.get(tokens[i], MAX_STALE_MS)?.timestamp ?? NaN;
      let reads = 0;
      let prev = performance.now();
      for (;;) {
        for (let i = 0; i < n; i++) {
          const b = store.get(tokens[i], MAX_STALE_MS);
          reads++;
          if (b !== null) {
            const ts = b.timestamp as number;
            if (ts !== last[i]) {
              if (seen !== null) markSeen(seen, market, marketOfToken[i], last[i] - BASE + 1, ts, wallNow());
              last[i] = ts;
            }
          }
        }
        const t = performance.now();
        gaps.add(t - prev);
        prev = t;
        if (stop()) break;
      }
      counts.reads += reads;
    },
    close,
  };
}

/**
 * The latency split: the feed's ingest path in an instrumented worker (probe-worker.ts) writing
 * the table this thread reads. The read loop is the `feed` one; on a first sighting it also reads
 * the slot's header (one seqlock read): when that version still carries the timestamp just seen,
 * its `lastUpdate` is the receive time of the frame that published it, which the worker's log
 * maps to the time that frame's ingest returned.
 */
async function splitConsumer(sim: Sim, backend: BackendName): Promise<Consumer> {
  const tokens = sim.groups.flatMap((g) => g.tokens);
  const table = createTable(256, DEPTH);
  // Slots in the order the worker's manager subscribes them (the same order: one connection).
  // This side only reads: the worker owns the writes, so commands made here go nowhere.
  const store = new BookTable(
    table,
    forwardingWriter(() => {}),
    backend,
  );
  store.subscribe(tokens);
  const probe = new SharedArrayBuffer(probeBytes());
  const { head, log } = probeViews(probe);
  const worker = benchWorker('probe-worker', { table, backend, url: sim.url, groups: sim.groups, probe });
  const stopWorker = async () => {
    const exit = new Promise((r) => worker.once('exit', r));
    worker.postMessage('close');
    await Promise.race([exit, new Promise((r) => setTimeout(r, 3000))]);
    await worker.terminate();
    store.close();
  };
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  if (!(await waitFor(() => store.readyCount() === tokens.length, 20_000))) {
    await stopWorker();
    throw new Error(`e2e split (${backend}): only ${store.readyCount()} of ${tokens.length} books ready after 20 s`);
  }
  const n = tokens.length;
  const slots = Int32Array.from(tokens, (t) => store.slotOf(t));
  const marketOfToken = Int32Array.from(tokens, (_, i) => i >> 1);
  const market = sim.market;
  /** Per change k: the receive time of the frame that published the version first seen with k, 0 if unknown. */
  let recvOf = new Float64Array(sim.changes + 2);
  const header = new SlotHeader();
  const reader = store.reader;
  return {
    latency: true,
    spin(seen, gaps, stop, counts) {
      if (seen !== null) recvOf = new Float64Array(seen.length);
      const last = new Float64Array(n);
      for (let i = 0; i < n; i++) last[i] = store.get(tokens[i], MAX_STALE_MS)?.timestamp ?? NaN;
      let reads = 0;
      let prev = performance.now();
      for (;;) {
        for (let i = 0; i < n; i++) {
          const b = store.get(tokens[i], MAX_STALE_MS);
          reads++;
          if (b !== null) {
            const ts = b.timestamp as number;
            if (ts !== last[i]) {
              if (seen !== null) {
                const now = wallNow();
                const k = ts - BASE;
                if (k > 0 && k < seen.length && seen[k] === 0) {
                  const h = reader.header(slots[i], header);
                  if (h.exchTs === ts) recvOf[k] = h.lastUpdate;
                }
                markSeen(seen, market, marketOfToken[i], last[i] - BASE + 1, ts, now);
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
      counts.reads += reads;
    },
    stages(first, last, seen) {
      const logged = Atomics.load(head, PROBE_HEAD);
      const doneAt = new Map<number, number>();
      for (let i = Math.max(0, logged - PROBE_ENTRIES); i < logged; i++) {
        const j = i & (PROBE_ENTRIES - 1);
        doneAt.set(log[2 * j], log[2 * j + 1]);
      }
      const out: StageSamples = { transport: [], ingest: [], read: [], total: [] };
      for (let k = first; k <= last; k++) {
        if (market[k] < 0 || !(seen[k] > 0) || !(sim.sent[k] > 0) || recvOf[k] === 0) continue;
        const recv = recvOf[k];
        const done = doneAt.get(recv);
        if (done === undefined) continue;
        out.transport.push((recv - sim.sent[k]) * 1000);
        out.ingest.push((done - recv) * 1000);
        out.read.push((seen[k] - done) * 1000);
        out.total.push((seen[k] - sim.sent[k]) * 1000);
      }
      return out;
    },
    close: stopWorker,
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
    latency: true,
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
  /** Main-thread GCs and their time in the measured phases; GCs in the idle controls, and their length (s). */
  gcs: number;
  gcMs: number;
  idleGcs: number;
  idleS: number;
  counts: Counts;
  stages: StageSamples;
}

function newPool(): Pool {
  return {
    lat: [],
    roundP50: [],
    roundP99: [],
    gaps: new GapHistogram(),
    idle: new GapHistogram(),
    sent: 0,
    seen: 0,
    frames: 0,
    wallS: 0,
    gcs: 0,
    gcMs: 0,
    idleGcs: 0,
    idleS: 0,
    counts: { reads: 0, depthReads: 0 },
    stages: { transport: [], ingest: [], read: [], total: [] },
  };
}

/** One segment: connect, idle control, warm-up traffic, measured traffic. */
async function segment(
  sim: Sim,
  consumer: () => Promise<Consumer>,
  p: Phases,
  rate: number,
  pool: Pool,
  idleMs = p.idleMs,
): Promise<void> {
  sim.rewind();
  const c = await consumer();
  const gcs: { start: number; ms: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    const idle = new GapHistogram();
    const idleStart = performance.now();
    const idleEnd = idleStart + idleMs;
    c.spin(null, idle, () => performance.now() > idleEnd, { reads: 0, depthReads: 0 });
    const idleStop = performance.now();
    pool.idle.merge(idle);
    const done = () => Atomics.load(sim.ctl, CTL_DONE) === 1;
    sim.run(rate, Math.round(rate * p.warmS));
    let finished = sim.done();
    c.spin(null, new GapHistogram(), done, { reads: 0, depthReads: 0 });
    const framesBefore = (await finished).framesSent;
    const first = Atomics.load(sim.ctl, CTL_SENT) + 1;
    const seen = new Float64Array(sim.changes + 2);
    const gaps = new GapHistogram();
    sim.run(rate, Math.round(rate * p.measureS));
    finished = sim.done();
    const t0 = performance.now();
    // After the last send, keep reading until the last change is visible (a backlog counts), at most 2 s.
    let doneAt = 0;
    c.spin(
      c.latency ? seen : null,
      gaps,
      () => {
        if (!done()) return false;
        if (doneAt === 0) doneAt = performance.now();
        return !c.latency || seen[Atomics.load(sim.ctl, CTL_SENT)] > 0 || performance.now() - doneAt > 2000;
      },
      pool.counts,
    );
    const t1 = performance.now();
    pool.wallS += ((doneAt || t1) - t0) / 1000;
    pool.frames += (await finished).framesSent - framesBefore;
    await new Promise((r) => setImmediate(r)); // GC entries are delivered asynchronously
    for (const g of gcs) {
      if (g.start >= t0 && g.start <= t1) {
        pool.gcs++;
        pool.gcMs += g.ms;
      } else if (g.start >= idleStart && g.start <= idleStop) pool.idleGcs++;
    }
    pool.idleS += (idleStop - idleStart) / 1000;
    const last = Atomics.load(sim.ctl, CTL_SENT);
    if (c.latency) {
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
    }
    if (c.stages) {
      const st = c.stages(first, last, seen);
      for (const key of ['transport', 'ingest', 'read', 'total'] as const) pool.stages[key].push(...st[key]);
    }
    pool.gaps.merge(gaps);
  } finally {
    obs.disconnect();
    await c.close();
  }
}

function stageStats(samples: number[]): StageStats {
  const s = Float64Array.from(samples).sort();
  return { p50Us: pct(s, 0.5), p99Us: pct(s, 0.99), p999Us: pct(s, 0.999) };
}

interface Config {
  kind: E2eKind;
  backend: BackendName | 'floor';
  make: () => Promise<Consumer>;
  /** Length of the idle control, ms (default the phases'). */
  idleMs?: number;
}

/**
 * The configurations of a run: the floor, then for every backend the feed, its latency split, and
 * both strategies, then each book server. The strategies' idle control is as long as their
 * measured phase: their GC counts are compared per sweep.
 */
function configurations(sim: Sim, backends: BackendName[], p: Phases, servers: E2eServer[]): Config[] {
  const out: Config[] = [{ kind: 'floor', backend: 'floor', make: () => floorConsumer(sim) }];
  for (const b of backends) out.push({ kind: 'feed', backend: b, make: () => feedConsumer(sim, b, 'feed') });
  for (const b of backends) out.push({ kind: 'split', backend: b, make: () => splitConsumer(sim, b) });
  for (const kind of ['strategy-get', 'strategy-handle'] as const)
    for (const b of backends)
      out.push({ kind, backend: b, make: () => feedConsumer(sim, b, kind), idleMs: p.measureS * 1000 });
  for (const s of servers) out.push({ kind: 'server', backend: s.backend, make: () => s.consumer(sim) });
  return out;
}

/** A book server of a backend, its feed in another process, read from this one (src/bench/server.ts). */
export interface E2eServer {
  backend: BackendName;
  consumer: (sim: Sim) => Promise<Consumer>;
}

/** Runs every configuration, interleaved in rounds; one row each, samples pooled over rounds. */
export async function runE2e(
  sim: Sim,
  backends: BackendName[],
  quick: boolean,
  log: (s: string) => void,
  rate = E2E_RATE,
  servers: E2eServer[] = [],
): Promise<E2eRow[]> {
  const p = phases(quick);
  const configs = configurations(sim, backends, p, servers);
  const pools = configs.map(() => newPool());
  for (let r = 0; r < p.rounds; r++) {
    for (let i = 0; i < configs.length; i++) await segment(sim, configs[i].make, p, rate, pools[i], configs[i].idleMs);
  }
  const rows: E2eRow[] = [];
  for (let i = 0; i < configs.length; i++) {
    const { kind, backend } = configs[i];
    const pool = pools[i];
    const s = Float64Array.from(pool.lat).sort();
    const row: E2eRow = {
      kind,
      backend,
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
      maxUs: s.length ? s[s.length - 1] : Number.NaN,
      roundP50Us: pool.roundP50,
      roundP99Us: pool.roundP99,
      pause: pool.gaps.stats(),
      pauseIdle: pool.idle.stats(),
      gcs: pool.gcs,
      idleGcs: pool.idleGcs,
      gcsPerSec: pool.gcs / pool.wallS,
      idleGcsPerSec: pool.idleGcs / pool.idleS,
      gcMs: pool.gcMs,
      readsPerSec: pool.counts.reads / pool.wallS,
      depthReadsPerSec: pool.counts.depthReads / pool.wallS,
    };
    if (kind === 'split') {
      row.split = {
        samples: pool.stages.total.length,
        transport: stageStats(pool.stages.transport),
        ingest: stageStats(pool.stages.ingest),
        read: stageStats(pool.stages.read),
        total: stageStats(pool.stages.total),
      };
    }
    const name = `${kind} ${backend}`.padEnd(22);
    const gaps = `loop gaps p99.9 ${row.pause.p999Us.toFixed(1)} µs, max ${row.pause.maxUs.toFixed(0)} µs (idle ${row.pauseIdle.p999Us.toFixed(1)} µs)`;
    const gc = `${row.gcs} GCs in ${row.pause.iterations} sweeps (idle ${row.idleGcs} in ${row.pauseIdle.iterations})`;
    if (kind.startsWith('strategy'))
      log(
        `  ${name} ${(row.depthReadsPerSec / 1000).toFixed(1)}k depth reads/s, ${(row.readsPerSec / 1e6).toFixed(2)}M reads/s; ${gc}; ${gaps}\n`,
      );
    else if (row.split)
      log(
        `  ${name} ${row.split.samples} changes split: transport p50 ${row.split.transport.p50Us.toFixed(1)} / p99 ${row.split.transport.p99Us.toFixed(1)} µs, ` +
          `ingest p50 ${row.split.ingest.p50Us.toFixed(1)} / p99 ${row.split.ingest.p99Us.toFixed(1)} µs, read p50 ${row.split.read.p50Us.toFixed(1)} / p99 ${row.split.read.p99Us.toFixed(1)} µs\n`,
      );
    else
      log(
        `  ${name} ${row.seen}/${row.sent} changes seen (${row.framesPerSec.toFixed(0)} frames/s), p50 ${row.p50Us.toFixed(1)} µs, ` +
          `p99 ${row.p99Us.toFixed(1)} µs, p99.9 ${row.p999Us.toFixed(1)} µs; ${gaps}; ${gc}\n`,
      );
    rows.push(row);
  }
  return rows;
}
