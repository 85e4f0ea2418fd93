/**
 * Fault-injection soak (docs/RELIABILITY.md "Soak"): `npm run soak` (about 3 minutes of faults,
 * both backends, feed in this thread and in a worker) or `npm run soak -- --minutes 30 --backend native --mode worker`.
 *
 * One run per backend and feed mode, each in its own process (clean memory figures): the built-in
 * simulator with hundreds of markets at a high change rate, a BookCache on it (feed in this thread or
 * in a worker) with its auditor on (docs/FEED.md "Audits"), and
 *
 * 1. a fault phase: every `--fault-ms` one fault from the simulator's set (drops, 1013 closes,
 *    stalls, deaf sockets, heals, malformed and oversized frames, crossed books, duplicates,
 *    out-of-order stamps, settlements, bursts, frozen tokens and frozen connections) on a random
 *    connection;
 * 2. a quiet phase: no more faults (nothing healed by hand), until every live token is served
 *    again (the recovery time), then a steady period and a final comparison with the exchange.
 *
 * A reader on this thread reads every token with `cache.get(token, maxStale)` in a loop and checks
 * every served book: never crossed or out of order; never older than `maxStale` by the store clock;
 * never a book from before a disconnect of its connection after that disconnect; and its top of
 * book equal to the exchange's at the same version (the exchange reports every version's top of
 * book through the simulator's `onTopOfBook` observer, and stamps every change with a unique time).
 * Memory (RSS, heap after GC) is taken after warmup and at the end. Every frozen token is followed
 * until its frozen book stops being served (the auditor resets it, or a reconnect or resync does):
 * the time to detect it is reported and must stay within the bound of the audit budget. It prints what
 * it injected and what it observed, and exits 1 on any violation, a recovery over the bound, a frozen
 * token found late (or never), REST calls over the budget, or memory growth.
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BookCache } from '../src/cache/book-cache.js';
import { nativeAvailability, type BackendName } from '../src/backend/index.js';
import { preciseNow } from '../src/table/clock.js';
import {
  H_CONFIRMED,
  HEADER_BYTES,
  S_EXCH_TS,
  S_LAST_UPDATE,
  S_SEQUENCE,
  slotBytes,
  F_DIVERGED,
  F_READY,
} from '../src/table/layout.js';
import { detectionBoundMs, resolveAudit, type ResolvedAudit } from '../src/audit/options.js';
import { MISS_NAMES, type MissName } from '../src/table/metrics.js';
import { startSimulator, type MalformedVariant, type Simulator, type TopOfBook } from '../src/simulator/index.js';
import type { DisconnectedEvent } from '../src/feed/manager.js';
import type { Book } from '../src/table/view.js';
import type { BookView } from '../src/table/book-view.js';
import { bookProblem } from '../src/simulator/check.js';

// ------------------------------------------------------------------ options

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'both' },
    markets: { type: 'string', default: '500' },
    rate: { type: 'string', default: '2000' },
    'fault-ms': { type: 'string', default: '250' },
    'max-stale': { type: 'string', default: '1000' },
    'recovery-bound': { type: 'string', default: '60' },
    'stall-factor': { type: 'string', default: '10' },
    mode: { type: 'string', default: 'both' },
    'audit-rps': { type: 'string', default: '4' },
    'audit-ids': { type: 'string', default: '50' },
    'audit-grace': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (args.help) {
  console.log(`npm run soak -- [--minutes M] [--backend native|js|both] [--mode main|worker|both] [--markets N] [--rate R]
                    [--fault-ms MS] [--max-stale MS] [--recovery-bound S] [--stall-factor F]
                    [--audit-rps R] [--audit-ids N] [--audit-grace MS] [--seed S] [--json]

  --minutes M          minutes of fault injection in all (split between the runs); default 3
  --backend B          native, js or both (one process each, one after the other); default both
  --mode M             feed in this thread (main), in a worker, or both (one process each); default both
  --markets N          simulator markets (2 tokens each); default 500
  --rate R             simulator price changes per second; default 2000
  --fault-ms MS        one fault every MS milliseconds during the fault phase; default 250
  --max-stale MS       staleness limit of every read; default 1000
  --recovery-bound S   every live token must be served again within S seconds after the faults stop; default 60
  --stall-factor F     the feed's stallFactor (busy-connection stall detection); 0 = off, as before it existed; default 10
  --audit-rps R        the auditor's POST /books requests per second; default 4
  --audit-ids N        tokens per audit request; default 50
  --audit-grace MS     the auditor's grace for the stream to catch up with REST; default 1000
  --json               print the result as one JSON object`);
  process.exit(0);
}

const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    console.error(`soak: --${name} must be a number >= ${min}, got ${v}`);
    process.exit(2);
  }
  return n;
};
const MINUTES = num('minutes', args.minutes, 0.05);
const MARKETS = num('markets', args.markets, 1);
const RATE = num('rate', args.rate, 1);
const FAULT_MS = num('fault-ms', args['fault-ms'], 10);
const MAX_STALE = num('max-stale', args['max-stale'], 50);
const RECOVERY_BOUND_S = num('recovery-bound', args['recovery-bound'], 1);
const STALL_FACTOR = num('stall-factor', args['stall-factor'], 0);
const SEED = num('seed', args.seed, 0);
const AUDIT: ResolvedAudit = resolveAudit(
  {
    requestsPerSecond: num('audit-rps', args['audit-rps'], 0.01),
    tokensPerRequest: num('audit-ids', args['audit-ids'], 1),
    graceMs: num('audit-grace', args['audit-grace'], 0),
  },
  undefined,
  false,
)!;
type Mode = 'main' | 'worker';

// ------------------------------------------------------------------ both backends: one child each

interface Result {
  backend: BackendName;
  mode: Mode;
  date: string;
  machine: string;
  settings: Record<string, unknown>;
  injected: Record<string, number>;
  observed: {
    readsChecked: number;
    served: number;
    hitRate: number;
    misses: Record<MissName, number>;
    violations: number;
    violationSamples: string[];
    violationsByKind: Record<string, number>;
    outOfOrderReads: number;
    /** Largest time a served version had already been superseded at the exchange, ms. */
    maxExchangeLagMs: number;
    /** Percentiles of that lag over the served reads whose version was found (0: still current), ms. */
    exchangeLagP99Ms: number;
    exchangeLagP999Ms: number;
    /** Served reads whose version was found at the exchange (the lag's population). */
    readsWithKnownLag: number;
    /** Reads served more than maxStale behind the exchange (stalls: see docs/RELIABILITY.md). */
    readsBehindExchange: number;
    /** Reads of a version older than the kept history (its top could not be checked). */
    readsBeyondHistory: number;
    recoveryMs: number | null;
    recoveryBoundMs: number;
    /** Frozen tokens followed until their frozen book stopped being served. */
    frozen: FrozenReport;
    /** The auditor's counters at the end. */
    audit: Record<string, number>;
    /** Audit requests sent, per minute of the run after warmup, and the most the budget allows. */
    restCallsPerMinute: number;
    restBudgetPerMinute: number;
    /** REST requests the exchange answered, and those of the auditor (reads make none). */
    restAnswered: number;
    restByAuditor: number;
    maxRealAgeOverLimitMs: number;
    disconnects: number;
    disconnectsByReason: Record<string, number>;
    feed: Record<string, number>;
    writer: Record<string, number>;
    connectionsAtStart: number;
    connectionsAtEnd: number;
    liveTokensAtEnd: number;
    settledTokens: number;
    finalBooksEqual: number;
    finalBooksDiffer: string[];
    messagesPerSecond: number;
    changesGenerated: number;
  };
  memory: { before: Mem; after: Mem; rssMax: number; heapGrowthBytes: number };
  ok: boolean;
  failures: string[];
}

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

function runChild(childArgs: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      out += s;
      // Progress lines go through; the JSON result is the last line.
      for (const line of s.split('\n')) if (line && !line.startsWith('{')) process.stdout.write(`${line}\n`);
    });
    child.on('error', reject);
    child.on('close', () => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as Result;
        print(r);
        resolve(r);
      } catch {
        reject(new Error(`soak child failed (no result): ${out.slice(-2000)}`));
      }
    });
  });
}

// ------------------------------------------------------------------ one soak

function progress(msg: string): void {
  // Progress goes to stdout as plain lines (the parent forwards them; the JSON result is the last line).
  process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function memory(): Mem {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function settledMemory(): Promise<Mem> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  return memory();
}

/** Whether a served best price equals the exchange's wire text ("" = empty; "0"/"1" = empty while settling). */
function sameTop(served: number | null, text: string, emptyText: string): boolean {
  if (text === '' || text === emptyText) return served === null;
  return served === Number(text);
}

/** One soak on `backend` with the feed in `mode`: setup, baseline, fault phase, quiet phase, final comparison, result. */
async function soak(backend: BackendName, mode: Mode): Promise<Result> {
  const failures: string[] = [];
  const faultMs = MINUTES * 60_000;
  const run = `${backend}/${mode}`;
  progress(
    `${run}: ${MARKETS} markets (${2 * MARKETS} tokens), ${RATE} changes/s, a fault every ${FAULT_MS} ms for ${(faultMs / 1000).toFixed(0)} s, maxStale ${MAX_STALE} ms`,
  );
  const { sim, truth } = await startExchange();
  const cache = await startCache(backend, mode, sim, failures);
  // The auditor starts with the trading gate, once warmup completed.
  const auditFrom = preciseNow();
  const checks = new ReadChecks(cache.store, truth, sim.tokens, mode);
  const frozen = new FrozenTokens(cache.store, sim.tokens);
  const reader = new Reader(cache, sim, checks, frozen);

  // ---- start the flow, let it settle, take the memory baseline
  sim.setRate(RATE);
  await reader.readFor(10_000);
  const memBefore = await settledMemory();
  const connectionsAtStart = sim.connections().count;
  const msg0 = cache.metrics().feed?.messages ?? 0;
  const changes0 = sim.stats().changes;
  const t0 = preciseNow();
  progress(`${run}: baseline: rss ${mb(memBefore.rss)}, heap ${mb(memBefore.heapUsed)}; faults start`);

  // ---- fault phase
  const faults = new FaultSchedule(sim, cache.store, frozen);
  faults.start();
  const rss = new RssSampler(memBefore.rss);
  await reader.readWithProgress(run, t0, t0 + faultMs);
  faults.stop();
  const faultPhaseEnd = preciseNow();
  const messages = (cache.metrics().feed?.messages ?? 0) - msg0;
  const changes = sim.stats().changes - changes0;
  progress(`${run}: faults stop (${faults.total} injected); waiting for every live token`);

  // ---- quiet phase: recovery of every live token, then a steady period
  const recoveryMs = await reader.readUntilRecovered(faultPhaseEnd, faultPhaseEnd + RECOVERY_BOUND_S * 1000);
  if (recoveryMs === null) failures.push(`not every live token was served again within ${RECOVERY_BOUND_S} s`);
  progress(`${run}: recovered in ${fmtMs(recoveryMs)}; steady period`);
  await reader.readFor(10_000);
  const summary = cache.metrics().summary();
  // REST: the auditor's calls against its budget; every request the exchange answered is the auditor's.
  const auditMetrics = await cache.metricsAsync();
  const auditSeconds = (preciseNow() - auditFrom) / 1000;
  const restByAuditor = auditMetrics.http.audit?.requests ?? 0;
  const restAnswered = sim.stats().restRequests;
  if (restByAuditor > Math.floor(AUDIT.requestsPerSecond * auditSeconds) + 1)
    failures.push(`${restByAuditor} audit requests in ${auditSeconds.toFixed(0)} s: over the budget`);
  if (restAnswered > restByAuditor)
    failures.push(`${restAnswered - restByAuditor} REST requests not made by the auditor`);
  const boundMs = detectionBoundMs(sim.tokens.length, AUDIT);
  const frozenReport = frozen.report(boundMs);
  if (frozenReport.undetected > 0) failures.push(`${frozenReport.undetected} frozen tokens never detected`);
  if (frozenReport.late > 0)
    failures.push(`${frozenReport.late} frozen tokens detected after the bound (${boundMs} ms)`);
  const { connections: _conns, ...auditNumbers } = auditMetrics.audit;

  // ---- final: stop the flow; every live book must equal the exchange's (top maxDepth levels)
  sim.setRate(0);
  const final = await finalComparison(cache.store, sim);
  rss.stop();
  const feedStats = (await cache.metricsAsync()).feed;
  const connectionsAtEnd = sim.connections().count;
  const writer = cache.metrics().store.writer;
  // The same objects are alive as at the baseline (simulator, cache, rings), flow stopped.
  const memAfter = await settledMemory();
  await cache.stop();
  await sim.close();

  const heapGrowth = memAfter.heapUsed - memBefore.heapUsed;
  if (checks.violations > 0) failures.push(`${checks.violations} violations`);
  if (heapGrowth > Math.max(32 * 2 ** 20, memBefore.heapUsed * 0.5)) failures.push(`heap grew by ${mb(heapGrowth)}`);
  failures.push(...final.topFailures);
  return report({
    backend,
    mode,
    frozen: frozenReport,
    audit: auditNumbers,
    restCallsPerMinute: (restByAuditor * 60) / auditSeconds,
    restAnswered,
    restByAuditor,
    tokens: sim.tokens.length,
    maxDepth: cache.store.maxDepth,
    faultMs,
    injected: faults.injected,
    reads: reader.reads,
    checks,
    summary,
    recoveryMs,
    feedStats,
    writer,
    connectionsAtStart,
    connectionsAtEnd,
    final,
    messages,
    changes,
    memory: { before: memBefore, after: memAfter, rssMax: rss.max, heapGrowthBytes: heapGrowth },
    failures,
  });
}

// ------------------------------------------------------------------ setup

/** Versions of each token's top of book kept by the truth (per token, a ring). */
const KEEP = 128;
/** Exchange timestamps: every change gets its own (multiples of 1000 ms from this base). */
const BASE_TS = 1_800_000_000_000;

/**
 * The truth: the last KEEP versions of every token's top of book, with the time each became current
 * (preallocated rings, so the soak's own bookkeeping does not grow during the run), fed by the
 * simulator's `onTopOfBook` observer.
 */
class ExchangeTruth {
  private index = new Map<string, number>();
  private ringTs = new Float64Array(0);
  private ringAt = new Float64Array(0);
  private ringTop = new Int32Array(0);
  private ringOoo = new Uint8Array(0);
  private ringHead = new Int32Array(0);
  private ringCount = new Int32Array(0);
  private readonly topIds = new Map<string, number>();
  private readonly topText: string[] = [];

  /** Allocates the rings of `tokens` (their order is the token index `i` of {@link lookup}). */
  track(tokens: readonly string[]): void {
    this.index = new Map(tokens.map((t, i) => [t, i]));
    this.ringTs = new Float64Array(tokens.length * KEEP);
    this.ringAt = new Float64Array(tokens.length * KEEP);
    this.ringTop = new Int32Array(tokens.length * KEEP);
    this.ringOoo = new Uint8Array(tokens.length * KEEP);
    this.ringHead = new Int32Array(tokens.length);
    this.ringCount = new Int32Array(tokens.length);
  }

  /** The simulator's observer: one version of a token's top of book. */
  readonly onTop = (t: TopOfBook): void => {
    const i = this.index.get(t.tokenId);
    if (i === undefined) return;
    const v = `${t.bestBid}|${t.bestAsk}`;
    let id = this.topIds.get(v);
    if (id === undefined) {
      id = this.topText.length;
      this.topIds.set(v, id);
      this.topText.push(v);
    }
    const k = i * KEEP + this.ringHead[i];
    this.ringTs[k] = t.timestamp;
    this.ringAt[k] = preciseNow();
    this.ringTop[k] = id;
    this.ringOoo[k] = t.outOfOrder ? 1 : 0;
    this.ringHead[i] = (this.ringHead[i] + 1) % KEEP;
    if (this.ringCount[i] < KEEP) this.ringCount[i]++;
  };

  /**
   * The exchange's versions of token `i` at timestamp `ts` whose top is `bid`/`ask`: 'match' (and
   * how long ago a later version superseded it, 0 if current; whether it was an out-of-order copy),
   * 'differs' (the version exists with another top), 'unknown' (never published within the kept
   * history), or 'beyond' (older than the kept history).
   */
  lookup(
    i: number,
    ts: number,
    bid: number | null,
    ask: number | null,
    now: number,
  ): { r: 'match' | 'differs' | 'unknown' | 'beyond'; lagMs: number; ooo: boolean; tops: string[] } {
    const n = this.ringCount[i];
    let supersededAt = NaN;
    let oldest = Infinity;
    const tops: string[] = [];
    for (let j = 1; j <= n; j++) {
      const k = i * KEEP + ((this.ringHead[i] - j + KEEP) % KEEP);
      const ooo = this.ringOoo[k] === 1;
      if (!ooo && this.ringTs[k] < oldest) oldest = this.ringTs[k];
      if (this.ringTs[k] !== ts) {
        if (!ooo) supersededAt = this.ringAt[k];
        continue;
      }
      const [b, a] = this.topText[this.ringTop[k]].split('|');
      tops.push(this.topText[this.ringTop[k]]);
      if (sameTop(bid, b, '0') && sameTop(ask, a, '1'))
        return { r: 'match', lagMs: Number.isNaN(supersededAt) ? 0 : now - supersededAt, ooo, tops };
    }
    if (tops.length > 0) return { r: 'differs', lagMs: 0, ooo: false, tops };
    return { r: n === KEEP && ts < oldest ? 'beyond' : 'unknown', lagMs: 0, ooo: false, tops };
  }
}

/** The simulator (no flow yet), with unique exchange timestamps and the truth observing it. */
async function startExchange(): Promise<{ sim: Simulator; truth: ExchangeTruth }> {
  // Unique exchange timestamps: every change gets its own, so a served book's timestamp names
  // exactly one version of the exchange's book.
  let tick = 0;
  const truth = new ExchangeTruth();
  const sim = await startSimulator({
    markets: MARKETS,
    rate: 0,
    seed: SEED,
    clock: () => BASE_TS + ++tick * 1000,
    onTopOfBook: truth.onTop,
  });
  truth.track(sim.tokens);
  return { sim, truth };
}

/** The cache on the simulator (feed in this thread or in a worker), warm, with hash checks and the auditor on. */
async function startCache(backend: BackendName, mode: Mode, sim: Simulator, failures: string[]): Promise<BookCache> {
  const warns = new Map<string, number>();
  const cache = await BookCache.start({
    url: sim.url,
    backend,
    worker: mode === 'worker',
    audit: AUDIT,
    universe: sim.markets.map((m) => ({ market: m.conditionId, tokens: [...m.tokens] })),
    warmupMinReadyFraction: 1,
    warmupTimeoutMs: 120_000,
    hardStaleMs: 5000,
    defaultMaxStaleMs: MAX_STALE,
    feed: {
      pongTimeoutMs: 5000,
      silenceTimeoutMs: 5000,
      stallFactor: STALL_FACTOR,
      logger: {
        warn: (m: string) => warns.set(m, (warns.get(m) ?? 0) + 1),
        error: (m: string) => warns.set(m, (warns.get(m) ?? 0) + 1),
      },
    },
  });
  const warm = await cache.warmup();
  progress(`${backend}/${mode}: warm: ${warm.ready}/${warm.total} ready in ${warm.elapsedMs.toFixed(0)} ms`);
  if (warm.ready !== warm.total) failures.push(`warmup: ${warm.ready}/${warm.total} ready`);
  // Hash checks on (the store then verifies the exchange's hashes of every book it holds).
  for (const m of sim.markets) for (const t of m.tokens) cache.store.setMeta(t, m.minOrderSize, m.negRisk);
  return cache;
}

// ------------------------------------------------------------------ fault schedule

const FAULTS: [string, number][] = [
  ['drop', 10],
  ['close1013', 6],
  ['stall', 6],
  ['deaf', 6],
  ['heal', 6],
  ['malformed', 12],
  ['crossed', 12],
  ['duplicate', 10],
  ['outOfOrder', 10],
  ['oversized', 3],
  ['settle', 2],
  ['burst', 5],
  ['freeze', 8],
  ['freezeConn', 2],
];
const FAULT_WEIGHT = FAULTS.reduce((a, [, w]) => a + w, 0);

/**
 * Every FAULT_MS one fault, drawn by weight from FAULTS (a seeded xorshift), on a random open
 * connection. `freeze` freezes one ready token, `freezeConn` every token of one feed connection
 * (each followed by {@link FrozenTokens}); `heal` never ends a freeze (the feed must find it).
 */
class FaultSchedule {
  /** Faults injected, by kind. */
  readonly injected: Record<string, number> = {};
  private rngState = (SEED * 2654435761) >>> 0 || 1;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sim: Simulator,
    private readonly store: BookView,
    private readonly frozen: FrozenTokens,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.injectOne(), FAULT_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Faults injected in all. */
  get total(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
  }

  private rand(): number {
    this.rngState ^= this.rngState << 13;
    this.rngState ^= this.rngState >>> 17;
    this.rngState ^= this.rngState << 5;
    return (this.rngState >>> 0) / 4294967296;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)];
  }

  private count(kind: string): void {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
  }

  private injectOne(): void {
    const sim = this.sim;
    let x = this.rand() * FAULT_WEIGHT;
    let kind = FAULTS[0][0];
    for (const [k, w] of FAULTS) {
      x -= w;
      if (x < 0) {
        kind = k;
        break;
      }
    }
    const open = sim.connections().connections;
    if (open.length === 0) return;
    const conn = this.pick(open).id;
    switch (kind) {
      case 'heal': {
        const unfrozen = open.filter((c) => c.frozen === 0);
        if (unfrozen.length === 0) return;
        sim.heal(this.pick(unfrozen).id);
        this.count('heal');
        return;
      }
      case 'freeze':
      case 'freezeConn': {
        const t = this.pick(sim.tokens);
        const st = this.store.state(t);
        if (!st?.ready || sim.token(t)!.settled) return;
        const tokens =
          kind === 'freeze' ? [t] : sim.tokens.filter((x) => this.store.state(x)?.conn === st.conn && st.conn > 0);
        let n = 0;
        for (const x of tokens) {
          if (sim.token(x)!.settled || !this.store.state(x)?.ready) continue;
          if (sim.inject('freeze', { tokenId: x }) > 0 && this.frozen.freeze(x)) n++;
        }
        if (n > 0) this.count(kind);
        return;
      }
      case 'burst':
        sim.step(Math.max(100, Math.round(RATE / 2))); // half a second of changes at once
        this.count('burst');
        return;
      case 'settle': {
        const live = sim.markets.filter((m) => !m.settled);
        if (live.length > MARKETS / 2) {
          sim.settle(this.pick(live).conditionId);
          this.count('settle');
        }
        return;
      }
      case 'malformed': {
        const variant = this.pick<MalformedVariant>(['garbage', 'json', 'decimal']);
        if (sim.inject('malformed', { connection: conn, variant }) > 0) this.count(`malformed (${variant})`);
        return;
      }
      default:
        if (sim.inject(kind as Parameters<Simulator['inject']>[0], { connection: conn }) > 0) this.count(kind);
    }
  }
}

/** What became of the frozen tokens. */
interface FrozenReport {
  /** Tokens frozen (each followed once at a time). */
  injected: number;
  /** Found: their frozen book stopped being served, by the auditor (`diverged`) or by a reset (reconnect, resync). */
  byAudit: number;
  byReset: number;
  /** Still served from their frozen feed at the end. */
  undetected: number;
  /** Time from the freeze to the end of the frozen book, ms (NaN when none). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same, of those the auditor found. */
  auditP50Ms: number;
  auditMaxMs: number;
  /** The bound of the audit budget (detectionBoundMs), and the detections past it. */
  boundMs: number;
  late: number;
}

/**
 * Tokens the schedule froze, each followed (on every round of reads) until its frozen book is no
 * longer served: READY cleared (DIVERGED set: the auditor; else a reconnect or a resync), or another
 * book in its place (a new exchange timestamp).
 */
class FrozenTokens {
  private readonly index: Map<string, number>;
  /** Per token: when it was frozen (NaN: not followed) and its exchange timestamp then. */
  private readonly since: Float64Array;
  private readonly ts: Float64Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly detections: { ms: number; audit: boolean }[] = [];
  private injected = 0;

  constructor(
    private readonly store: BookView,
    tokens: readonly string[],
  ) {
    this.index = new Map(tokens.map((t, i) => [t, i]));
    this.since = new Float64Array(tokens.length).fill(NaN);
    this.ts = new Float64Array(tokens.length);
    this.i32 = new Int32Array(store.table);
    this.f64 = new Float64Array(store.table);
  }

  /** Follows token `t` from now (false when it is followed already). */
  freeze(t: string): boolean {
    const i = this.index.get(t)!;
    if (!Number.isNaN(this.since[i])) return false;
    this.since[i] = preciseNow();
    this.ts[i] = this.store.state(t)?.exchangeTimestamp ?? NaN;
    this.injected++;
    return true;
  }

  /** One round's check of token `i` (slot at byte offset `base`, -1 when it has none). */
  check(i: number, base: number): void {
    const since = this.since[i];
    if (Number.isNaN(since)) return;
    const flags = base < 0 ? 0 : this.i32[(base >> 2) + 1];
    const ts = base < 0 ? NaN : this.f64[(base + S_EXCH_TS) >> 3];
    if ((flags & F_READY) !== 0 && ts === this.ts[i]) return;
    this.detections.push({ ms: preciseNow() - since, audit: (flags & F_DIVERGED) !== 0 });
    this.since[i] = NaN;
  }

  report(boundMs: number): FrozenReport {
    const ms = this.detections.map((d) => d.ms).sort((a, b) => a - b);
    const audit = this.detections
      .filter((d) => d.audit)
      .map((d) => d.ms)
      .sort((a, b) => a - b);
    const quantile = (xs: number[], p: number) =>
      xs.length === 0 ? NaN : xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)];
    const q = (p: number) => quantile(ms, p);
    let undetected = 0;
    for (const s of this.since) if (!Number.isNaN(s)) undetected++;
    return {
      injected: this.injected,
      byAudit: this.detections.filter((d) => d.audit).length,
      byReset: this.detections.filter((d) => !d.audit).length,
      undetected,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: quantile(ms, 1),
      auditP50Ms: quantile(audit, 0.5),
      auditMaxMs: quantile(audit, 1),
      boundMs,
      late: ms.filter((x) => x > boundMs).length,
    };
  }
}

/** The largest RSS, sampled every second from the baseline on. */
class RssSampler {
  max: number;
  private readonly timer: NodeJS.Timeout;

  constructor(baseline: number) {
    this.max = baseline;
    this.timer = setInterval(() => (this.max = Math.max(this.max, process.memoryUsage().rss)), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// ------------------------------------------------------------------ checks

/** Lag behind the exchange of every served read whose version was found: 1 ms bins, the last one open-ended. */
const LAG_BINS = 120_001;

/**
 * The checks of every served book (bookkeeping preallocated): never crossed or out of order; never
 * older than maxStale by the store clock; never from before a disconnect of its connection; its top
 * equal to the exchange's at the same version. And what is reported beside: the real age by the
 * precise clock, the lag behind the exchange.
 */
class ReadChecks {
  served = 0;
  outOfOrderReads = 0;
  maxRealOver = -Infinity;
  /** Served versions older than the kept history, the largest lag behind the exchange, reads served more than maxStale behind it. */
  beyondHistory = 0;
  maxLag = 0;
  behindReads = 0;
  lagReads = 0;
  private readonly lagHist = new Float64Array(LAG_BINS);
  violations = 0;
  readonly violationsByKind: Record<string, number> = {};
  readonly violationSamples: string[] = [];
  disconnects = 0;
  readonly disconnectsByReason: Record<string, number> = {};
  /** Connection of each token as of the last round of reads (a 1013 split moves tokens before the event). */
  readonly lastConn: Int32Array;
  /** Sequence of each token's book at its connection's last disconnect (-1: none): a later served book must be newer. */
  private readonly floor: Float64Array;
  // Direct views of the table for the checks that must not go through the read path.
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly confirmed: Float64Array;
  private readonly stride: number;

  /**
   * @param tokens the simulator's tokens, in the truth's order.
   * @param mode with the feed in a worker, disconnects arrive after the fact: they are counted, not checked.
   */
  constructor(
    private readonly store: BookView,
    private readonly truth: ExchangeTruth,
    tokens: readonly string[],
    private readonly mode: Mode,
  ) {
    const n = tokens.length;
    this.lastConn = new Int32Array(n);
    this.floor = new Float64Array(n).fill(-1);
    this.i32 = new Int32Array(store.table);
    this.f64 = new Float64Array(store.table);
    this.stride = slotBytes(store.maxDepth);
    this.confirmed = new Float64Array(store.table, H_CONFIRMED, 256);
  }

  /** Byte offset of a token's slot in the table, -1 when it has none. */
  slotBase(t: string): number {
    const s = this.store.slotOf(t);
    return s < 0 ? -1 : HEADER_BYTES + s * this.stride;
  }

  /** Connection index of the slot at byte offset `b`. */
  connOf(b: number): number {
    return this.i32[(b >> 2) + 4];
  }

  violation(kind: string, detail: string): void {
    this.violations++;
    this.violationsByKind[kind] = (this.violationsByKind[kind] ?? 0) + 1;
    if (this.violationSamples.length < 20) this.violationSamples.push(`${kind}: ${detail}`);
  }

  /**
   * A disconnect, synchronous with it when the feed runs in this thread: every token of the
   * connection must already be unservable, and any later served book must be a newer one. (In
   * worker mode the event comes by message, when fresh books may already be in: only counted.)
   */
  onDisconnect(e: DisconnectedEvent, tokens: readonly string[]): void {
    this.disconnects++;
    const why = `${e.code} ${e.reason || '(no reason)'}`;
    this.disconnectsByReason[why] = (this.disconnectsByReason[why] ?? 0) + 1;
    if (this.mode === 'worker') return;
    for (let i = 0; i < tokens.length; i++) {
      const b = this.slotBase(tokens[i]);
      if (b < 0 || (this.lastConn[i] !== e.conn && this.connOf(b) !== e.conn)) continue;
      if (this.i32[(b >> 2) + 1] & F_READY) this.violation('ready after its disconnect', tokens[i]);
      this.floor[i] = this.f64[(b + S_SEQUENCE) >> 3];
    }
  }

  /** Checks one served book of token `i`; returns how far behind the exchange it was (ms; Infinity if unknown). */
  checkRead(i: number, t: string, b: Book, before: number): number {
    this.served++;
    const p = bookProblem(b);
    if (p) this.violation(p, t);
    if (!(b.ageMs >= 0 && b.ageMs <= MAX_STALE))
      this.violation('older than maxStale by the store clock', `${t} age ${b.ageMs}`);
    const base = this.slotBase(t);
    if (base >= 0) {
      // Real age: the time since the book was last confirmed, by the precise clock (the coarse
      // store clock may trail it by a tick or a late ticker); reported, not a violation.
      const confirmedAt = Math.max(this.f64[(base + S_LAST_UPDATE) >> 3], this.confirmed[this.connOf(base)]);
      const over = before - confirmedAt - MAX_STALE;
      if (over > this.maxRealOver) this.maxRealOver = over;
    }
    if (this.floor[i] >= 0 && !(b.sequence > this.floor[i]))
      this.violation(
        'pre-disconnect book served after the disconnect',
        `${t} sequence ${b.sequence} <= ${this.floor[i]}`,
      );
    if (b.timestamp === null) {
      this.violation('served a book without an exchange timestamp', t);
      return Infinity;
    }
    const v = this.truth.lookup(i, b.timestamp, b.bestBid, b.bestAsk, before);
    if (v.r === 'unknown') this.violation('served a version the exchange never published', `${t} @${b.timestamp}`);
    else if (v.r === 'differs')
      this.violation(
        'top of book differs from the exchange at the same version',
        `${t} @${b.timestamp}: served ${b.bestBid}/${b.bestAsk}, exchange ${v.tops.join(' or ')}`,
      );
    else if (v.r === 'beyond') this.beyondHistory++;
    else {
      if (v.ooo) this.outOfOrderReads++;
      // How far behind the exchange the served version was (0: still current). Not a violation:
      // freshness is the feed's confirmation (PONG, up to the connection's last data + stallAfterMs),
      // and a stall that resumes before it is detected loses changes silently (docs/FEED.md, "Known limits").
      if (v.lagMs > this.maxLag) this.maxLag = v.lagMs;
      if (v.lagMs > MAX_STALE) this.behindReads++;
      this.lagHist[Math.min(LAG_BINS - 1, Math.ceil(v.lagMs))]++;
      this.lagReads++;
      return v.lagMs;
    }
    return Infinity;
  }

  /** The q-quantile of the lag behind the exchange, ms (1 ms bins), NaN without reads. */
  lagPercentile(q: number): number {
    if (this.lagReads === 0) return NaN;
    const rank = Math.ceil(q * this.lagReads);
    let seen = 0;
    for (let k = 0; k < LAG_BINS; k++) {
      seen += this.lagHist[k];
      if (seen >= rank) return k;
    }
    return LAG_BINS - 1;
  }
}

/**
 * After the flow stopped: waits up to 15 s for every live book to equal the exchange's (top maxDepth
 * levels). Deeper levels can stay wrong after a stall that resumed (docs/FEED.md "Known limits"); the
 * top of book never does: books that still differ are reported, and fail the run only if their top differs.
 */
async function finalComparison(
  store: BookView,
  sim: Simulator,
): Promise<{ live: string[]; differ: string[]; topFailures: string[] }> {
  const live = sim.tokens.filter((t) => !sim.token(t)!.settled);
  const equal = (t: string): boolean => {
    const b = store.get(t, 1e12);
    if (!b) return false;
    const s = sim.book(t);
    const bids = [...s.bids].reverse().slice(0, store.maxDepth);
    const asks = [...s.asks].reverse().slice(0, store.maxDepth);
    return (
      b.bids.length === bids.length &&
      b.asks.length === asks.length &&
      bids.every(([p, z], k) => b.bids[k].price === Number(p) && b.bids[k].size === Number(z)) &&
      asks.every(([p, z], k) => b.asks[k].price === Number(p) && b.asks[k].size === Number(z))
    );
  };
  let differ: string[] = live;
  const finalEnd = preciseNow() + 15_000;
  while (preciseNow() < finalEnd) {
    differ = live.filter((t) => !equal(t));
    if (differ.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const topFailures: string[] = [];
  for (const t of differ) {
    const b = store.get(t, 1e12);
    const s = sim.book(t);
    if (!b || !sameTop(b.bestBid, s.bestBid, '0') || !sameTop(b.bestAsk, s.bestAsk, '1'))
      topFailures.push(`final top of book of ${t} differs from the exchange`);
  }
  return { live, differ, topFailures };
}

// ------------------------------------------------------------------ reader loop

/** The reader on this thread: rounds of `cache.get(token, maxStale)` over every token, each served book checked. */
class Reader {
  reads = 0;
  private readonly tokens: readonly string[];

  constructor(
    private readonly cache: BookCache,
    private readonly sim: Simulator,
    private readonly checks: ReadChecks,
    private readonly frozen: FrozenTokens,
  ) {
    this.tokens = [...sim.tokens];
    cache.on('disconnected', (e: DisconnectedEvent) => checks.onDisconnect(e, this.tokens));
  }

  /**
   * One round over every token; returns how many live tokens are not recovered: not served, or
   * served more than maxStale behind the exchange (a stalled connection's books look fresh).
   */
  round(): number {
    let unserved = 0;
    const { checks, tokens } = this;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      const base = checks.slotBase(t);
      if (base >= 0) checks.lastConn[i] = checks.connOf(base);
      this.frozen.check(i, base);
      const before = preciseNow();
      const b = this.cache.get(t, MAX_STALE);
      this.reads++;
      const lag = b ? checks.checkRead(i, t, b, before) : Infinity;
      if (lag > MAX_STALE && !this.sim.token(t)!.settled) unserved++;
    }
    return unserved;
  }

  /** Rounds for `ms`, yielding a turn of the event loop between rounds. */
  async readFor(ms: number): Promise<void> {
    const end = preciseNow() + ms;
    while (preciseNow() < end) {
      this.round();
      await yieldTurn();
    }
  }

  /** Rounds from `t0` until `end`, with a progress line every 15 s (the fault phase). */
  async readWithProgress(run: string, t0: number, end: number): Promise<void> {
    let lastReport = t0;
    while (preciseNow() < end) {
      this.round();
      if (preciseNow() - lastReport > 15_000) {
        lastReport = preciseNow();
        const s = this.cache.metrics().summary();
        const c = this.checks;
        progress(
          `${run}: ${((lastReport - t0) / 1000).toFixed(0)} s: reads ${this.reads}, served ${c.served}, violations ${c.violations}, disconnects ${c.disconnects}, connections ${s.feed?.connections}, ${s.feed?.messagesPerSec.toFixed(0)} msg/s`,
        );
      }
      await yieldTurn();
    }
  }

  /** Rounds until every live token is recovered (then the time since `from`, ms) or `bound` passes (null). */
  async readUntilRecovered(from: number, bound: number): Promise<number | null> {
    while (preciseNow() < bound) {
      if (this.round() === 0) return preciseNow() - from;
      await yieldTurn();
    }
    return null;
  }
}

function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

// ------------------------------------------------------------------ report

type CacheMetrics = ReturnType<BookCache['metrics']>;

/** What one soak collected, for {@link report}. */
interface Collected {
  backend: BackendName;
  mode: Mode;
  frozen: FrozenReport;
  audit: Record<string, number>;
  restCallsPerMinute: number;
  restAnswered: number;
  restByAuditor: number;
  tokens: number;
  maxDepth: number;
  faultMs: number;
  injected: Record<string, number>;
  reads: number;
  checks: ReadChecks;
  summary: ReturnType<CacheMetrics['summary']>;
  recoveryMs: number | null;
  feedStats: CacheMetrics['feed'];
  writer: Record<string, number>;
  connectionsAtStart: number;
  connectionsAtEnd: number;
  final: { live: string[]; differ: string[] };
  messages: number;
  changes: number;
  memory: Result['memory'];
  failures: string[];
}

/** The result of one soak (printed by {@link print}, or written as JSON). */
function report(c: Collected): Result {
  const { checks, summary, final } = c;
  const misses = summary.missesByReason;
  const feedNumbers: Record<string, number> = {};
  if (c.feedStats) for (const [k, v] of Object.entries(c.feedStats)) if (typeof v === 'number') feedNumbers[k] = v;
  return {
    backend: c.backend,
    mode: c.mode,
    date: new Date().toISOString(),
    machine,
    settings: {
      markets: MARKETS,
      tokens: c.tokens,
      rate: RATE,
      faultEveryMs: FAULT_MS,
      faultPhaseS: c.faultMs / 1000,
      maxStaleMs: MAX_STALE,
      recoveryBoundS: RECOVERY_BOUND_S,
      seed: SEED,
      maxDepth: c.maxDepth,
      audit: `${AUDIT.requestsPerSecond} requests/s x ${AUDIT.tokensPerRequest} tokens, graceMs ${AUDIT.graceMs}, quarantine after ${AUDIT.quarantineAfter} in ${AUDIT.quarantineWindowMs} ms`,
      feed: `${c.mode === 'worker' ? 'worker' : 'in-thread'}; pongTimeoutMs 5000, silenceTimeoutMs 5000, hardStaleMs 5000, confirmIntervalMs 100, stallFactor ${STALL_FACTOR}, stallMinMs 1000`,
      gc: typeof (globalThis as { gc?: unknown }).gc === 'function',
    },
    injected: Object.fromEntries(Object.entries(c.injected).sort()),
    observed: {
      readsChecked: c.reads,
      served: checks.served,
      hitRate: summary.hitRate,
      misses: Object.fromEntries(MISS_NAMES.map((k) => [k, misses[k]])) as Record<MissName, number>,
      violations: checks.violations,
      violationSamples: checks.violationSamples,
      violationsByKind: checks.violationsByKind,
      outOfOrderReads: checks.outOfOrderReads,
      maxExchangeLagMs: checks.maxLag,
      exchangeLagP99Ms: checks.lagPercentile(0.99),
      exchangeLagP999Ms: checks.lagPercentile(0.999),
      readsWithKnownLag: checks.lagReads,
      readsBehindExchange: checks.behindReads,
      readsBeyondHistory: checks.beyondHistory,
      recoveryMs: c.recoveryMs,
      recoveryBoundMs: RECOVERY_BOUND_S * 1000,
      frozen: c.frozen,
      audit: c.audit,
      restCallsPerMinute: c.restCallsPerMinute,
      restBudgetPerMinute: AUDIT.requestsPerSecond * 60,
      restAnswered: c.restAnswered,
      restByAuditor: c.restByAuditor,
      maxRealAgeOverLimitMs: checks.maxRealOver,
      disconnects: checks.disconnects,
      disconnectsByReason: checks.disconnectsByReason,
      feed: feedNumbers,
      writer: Object.fromEntries(Object.entries(c.writer).filter(([, v]) => v !== 0)),
      connectionsAtStart: c.connectionsAtStart,
      connectionsAtEnd: c.connectionsAtEnd,
      liveTokensAtEnd: final.live.length,
      settledTokens: c.tokens - final.live.length,
      finalBooksEqual: final.live.length - final.differ.length,
      finalBooksDiffer: final.differ.slice(0, 10),
      messagesPerSecond: c.messages / (c.faultMs / 1000),
      changesGenerated: c.changes,
    },
    memory: c.memory,
    ok: c.failures.length === 0,
    failures: c.failures,
  };
}

function mb(b: number): string {
  return `${(b / 2 ** 20).toFixed(1)} MiB`;
}

function fmtMs(ms: number | null): string {
  return ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`;
}

function print(r: Result): void {
  const o = r.observed;
  const L: string[] = [];
  L.push(
    '',
    `== soak, ${r.backend} backend, feed ${r.mode === 'worker' ? 'in a worker' : 'in this thread'}: ${r.ok ? 'PASS' : 'FAIL'} (${r.date}, ${r.machine})`,
  );
  L.push(`settings   ${JSON.stringify(r.settings)}`);
  const total = Object.values(r.injected).reduce((a, b) => a + b, 0);
  L.push(
    `injected   ${total} faults: ${Object.entries(r.injected)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  L.push(
    `reads      ${o.readsChecked} checked, ${o.served} served (hit rate ${(o.hitRate * 100).toFixed(2)}%), ${o.outOfOrderReads} of them at an out-of-order stamp`,
  );
  L.push(
    `misses     ${
      Object.entries(o.misses)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
  );
  L.push(
    `violations ${o.violations}${o.violations ? `: ${JSON.stringify(o.violationsByKind)}; e.g. ${o.violationSamples.slice(0, 5).join(' | ')}` : ''}`,
  );
  L.push(
    `recovery   ${fmtMs(o.recoveryMs)} after the last fault until every live token was served within maxStale of the exchange (bound ${o.recoveryBoundMs / 1000} s)`,
  );
  L.push(
    `staleness  served books at most ${o.maxRealAgeOverLimitMs.toFixed(2)} ms past maxStale by the precise clock (0 or less: never)`,
  );
  L.push(
    `exchange   served versions behind the exchange: max ${(o.maxExchangeLagMs / 1000).toFixed(2)} s, p99 ${o.exchangeLagP99Ms} ms, p99.9 ${o.exchangeLagP999Ms} ms (1 ms bins); ` +
      `${o.readsBehindExchange} reads (${((100 * o.readsBehindExchange) / Math.max(1, o.served)).toFixed(3)}% of served) more than maxStale behind; ${o.readsBeyondHistory} older than the kept history`,
  );
  const f = o.frozen;
  const ms = (v: number) => (Number.isNaN(v) ? '–' : `${(v / 1000).toFixed(2)} s`);
  L.push(
    `frozen     ${f.injected} tokens frozen: ${f.byAudit} found by the auditor, ${f.byReset} by a reset (reconnect, resync), ${f.undetected} never; ` +
      `time to detect p50 ${ms(f.p50Ms)}, p99 ${ms(f.p99Ms)}, max ${ms(f.maxMs)} (by the auditor: p50 ${ms(f.auditP50Ms)}, max ${ms(f.auditMaxMs)}; bound ${ms(f.boundMs)}, ${f.late} later)`,
  );
  L.push(
    `audit      ${['audits', 'tokensAudited', 'freezes', 'divergences', 'restBehind', 'quarantines', 'failures'].map((k) => `${k} ${o.audit[k] ?? 0}`).join(', ')}; ` +
      `REST ${o.restCallsPerMinute.toFixed(1)} calls/min (budget ${o.restBudgetPerMinute}); the exchange answered ${o.restAnswered}, the auditor sent ${o.restByAuditor}`,
  );
  L.push(
    `disconnects ${o.disconnects}: ${Object.entries(o.disconnectsByReason)
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`,
  );
  L.push(`connections ${o.connectionsAtStart} at start, ${o.connectionsAtEnd} at the end (1013 splits)`);
  L.push(
    `feed       ${['messages', 'reconnects', 'resubscriptions', 'stalls', 'badFrames', 'oversizedFrames', 'slowConsumerCloses', 'settledCloses'].map((k) => `${k} ${o.feed[k] ?? 0}`).join(', ')}; ${o.messagesPerSecond.toFixed(0)} msg/s during faults, ${o.changesGenerated} changes`,
  );
  L.push(
    `writer     ${Object.entries(o.writer)
      .filter(([k]) => !['bytes', 'frames', 'events'].includes(k))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  L.push(
    `final      ${o.finalBooksEqual}/${o.liveTokensAtEnd} live books equal to the exchange at depth ${r.settings.maxDepth}${o.finalBooksDiffer.length ? `; differ: ${o.finalBooksDiffer.join(', ')}` : ''}; ${o.settledTokens} tokens settled`,
  );
  L.push(
    `memory     before rss ${mb(r.memory.before.rss)}, heap ${mb(r.memory.before.heapUsed)}; after rss ${mb(r.memory.after.rss)}, heap ${mb(r.memory.after.heapUsed)} (heap ${r.memory.heapGrowthBytes >= 0 ? '+' : ''}${mb(r.memory.heapGrowthBytes)}); max rss ${mb(r.memory.rssMax)}`,
  );
  if (r.failures.length) L.push(`FAILURES   ${r.failures.join('; ')}`);
  console.log(L.join('\n'));
}

// ------------------------------------------------------------------ main (after every declaration it uses)

const backendArg = args.backend;
const modeArg = args.mode;
if (!['native', 'js', 'both'].includes(backendArg)) {
  console.error(`soak: --backend must be native, js or both, got ${backendArg}`);
  process.exit(2);
}
if (!['main', 'worker', 'both'].includes(modeArg)) {
  console.error(`soak: --mode must be main, worker or both, got ${modeArg}`);
  process.exit(2);
}
if (backendArg === 'both' || modeArg === 'both') {
  // One child process per backend and mode, the minutes split between them.
  let backends: BackendName[] = backendArg === 'both' ? ['native', 'js'] : [backendArg as BackendName];
  if (backends.includes('native') && !nativeAvailability().available) {
    console.log('soak: the native backend does not load here; running js only');
    backends = ['js'];
  }
  const modes: Mode[] = modeArg === 'both' ? ['main', 'worker'] : [modeArg as Mode];
  const runs = backends.flatMap((b) => modes.map((m) => [b, m] as const));
  const results: Result[] = [];
  for (const [b, m] of runs) {
    const childArgs = [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...['--backend', b, '--mode', m, '--minutes', String(MINUTES / runs.length)],
      ...['--markets', String(MARKETS), '--rate', String(RATE), '--fault-ms', String(FAULT_MS)],
      ...['--max-stale', String(MAX_STALE), '--recovery-bound', String(RECOVERY_BOUND_S)],
      ...['--stall-factor', String(STALL_FACTOR), '--seed', String(SEED), '--json'],
      ...['--audit-rps', String(AUDIT.requestsPerSecond), '--audit-ids', String(AUDIT.tokensPerRequest)],
      ...['--audit-grace', String(AUDIT.graceMs)],
    ];
    results.push(await runChild(childArgs));
  }
  if (args.json) console.log(JSON.stringify(results));
  const ok = results.every((r) => r.ok);
  console.log(
    `\nsoak: ${ok ? 'PASS' : 'FAIL'} (${results.map((r) => `${r.backend}/${r.mode}: ${r.observed.violations} violations, recovery ${fmtMs(r.observed.recoveryMs)}, frozen found in at most ${fmtMs(r.observed.frozen.maxMs)}`).join('; ')})`,
  );
  process.exit(ok ? 0 : 1);
} else {
  const r = await soak(backendArg as BackendName, modeArg as Mode);
  if (args.json) console.log(JSON.stringify(r));
  else print(r);
  process.exit(r.ok ? 0 : 1);
}
