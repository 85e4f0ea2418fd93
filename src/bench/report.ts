/**
 * Renders bench/RESULTS.md: the issue's target table (target, native, pure TS, naive baseline,
 * met/missed) with short method notes, then the details of each measurement.
 */
import type { MicroRow, MicroTask } from './micro.js';
import type { Sampled } from './harness.js';
import type { AllocRow } from './alloc.js';
import type { E2eRow, GapStats } from './e2e.js';
import type { MemoryRow } from './memory.js';
import type { WarmupRow } from './warmup.js';
import type { ProfileRow } from './profile.js';
import type { ServerBench } from './server.js';

export interface Results {
  machine: string;
  date: string;
  quick: boolean;
  /** 1-minute load average before and after the run (other work on the machine). */
  load: { before: number[]; after: number[] };
  durationS: number;
  micro: MicroRow[];
  alloc: AllocRow[];
  /** Floor first, then one row per backend. */
  e2e: E2eRow[];
  memory: MemoryRow[];
  warmup: WarmupRow[];
  /** CPU profiles of the ingest loops (full runs only). */
  profiles?: ProfileRow[];
  /** The book server's figures (native addon on Linux only). */
  server?: ServerBench;
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '–';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}
const fmtUs = (us: number): string => fmtNs(us * 1000);
const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;
const ms = (x: number): string => (Number.isFinite(x) ? `${(x / 1000).toFixed(2)} s` : '–');
const pctStr = (x: number): string => `${(x * 100).toFixed(1)}%`;

type Status = 'met' | 'missed' | 'n/a';
interface TargetRow {
  what: string;
  target: string;
  native: string;
  js: string;
  naive: string;
  status: Status;
  /** How far off, when missed. */
  by?: string;
  notes: string;
}

export function micro(r: Results, task: MicroTask, backend: string): MicroRow | undefined {
  return r.micro.find((x) => x.task === task && x.backend === backend);
}

function cell(row: Sampled | undefined): string {
  return row ? `${fmtNs(row.medianNs)} (p99 ${fmtNs(row.p99Ns)})` : '–';
}

function gap(g: GapStats | undefined): string {
  return g ? `p99.9 ${fmtUs(g.p999Us)} (p99 ${fmtUs(g.p99Us)}, max ${fmtUs(g.maxUs)})` : '–';
}

export function targetRows(r: Results): TargetRow[] {
  const rows: TargetRow[] = [];
  const ratio = (task: MicroTask) => {
    const n = micro(r, task, 'native');
    const j = micro(r, task, 'js');
    return n && j ? j.medianNs / n.medianNs : NaN;
  };
  const under = (task: MicroTask, limitNs: number, what: string, target: string, notes: string, minRatio?: number) => {
    const n = micro(r, task, 'native');
    const rt = ratio(task);
    const timeOk = n !== undefined && n.medianNs < limitNs;
    const ratioOk = minRatio === undefined || rt >= minRatio;
    const misses: string[] = [];
    if (n && !timeOk)
      misses.push(`${fmtNs(n.medianNs - limitNs)} over (${((n.medianNs / limitNs - 1) * 100).toFixed(0)}%)`);
    if (minRatio !== undefined && !ratioOk) misses.push(`${rt.toFixed(1)}x TS, not ${minRatio}x`);
    rows.push({
      what,
      target,
      native: cell(n) + (minRatio !== undefined && Number.isFinite(rt) ? `; ${rt.toFixed(1)}x TS` : ''),
      js: cell(micro(r, task, 'js')),
      naive: cell(micro(r, task, 'naive')),
      status: n ? (timeOk && ratioOk ? 'met' : 'missed') : 'n/a',
      by: misses.join('; ') || undefined,
      notes,
    });
  };
  under(
    'top',
    20,
    'top-of-book read via handle, staleness checked',
    '< 20 ns',
    `\`handle.top(60_000)\` on an unchanged book, coarse clock; batches of 1000.`,
  );
  under(
    'get',
    50,
    '`get(tokenId, maxStaleMs)` of an unchanged book',
    '< 50 ns',
    'Map lookup of the token + seqlock check + staleness + counters; batches of 1000.',
  );
  under(
    'firstRead',
    500,
    'first read after a change, depth 20',
    '< 500 ns',
    'Cached view dropped before each `get()`: seqlock read and decode of 20+20 levels into a new Book; batches of 100.',
  );
  under(
    'ingestBook',
    4000,
    'ingest of a real 100-level `book` frame (Buffer)',
    '< 4 µs, ≥ 5x TS',
    '`store.ingest(buf)` alternating two real frames (best-bid size differs) so every ingest publishes; batches of 20.',
    5,
  );
  under(
    'ingestDelta',
    400,
    'ingest of a real two-entry `price_change` frame',
    '< 400 ns, ≥ 4x TS',
    'Same, the real 2-entry trade `price_change` alternating with a size variant; batches of 50.',
    4,
  );

  const en = r.e2e.find((x) => x.backend === 'native');
  const ej = r.e2e.find((x) => x.backend === 'js');
  const e2eCell = (e: E2eRow | undefined) =>
    e ? `p99 ${fmtUs(e.p99Us)} (p50 ${fmtUs(e.p50Us)}, p99.9 ${fmtUs(e.p999Us)})` : '–';
  const fl = r.e2e.find((x) => x.backend === 'floor');
  rows.push({
    what: 'frame arrival to visible in a main-thread read, ingest in a worker, 20,000 frames/s over loopback',
    target: 'p99 < 50 µs',
    native: e2eCell(en),
    js: e2eCell(ej),
    naive: 'n/a (no worker mode)',
    status: en ? (en.p99Us < 50 ? 'met' : 'missed') : 'n/a',
    by: en && en.p99Us >= 50 ? `${fmtUs(en.p99Us - 50)} over` : undefined,
    notes:
      `${en ? `${en.seen}/${en.sent} changes timed, ${(en.framesPerSec / 1000).toFixed(1)}k frames/s written; native p99 per round: ${en.roundP99Us.map(fmtUs).join(', ')}. ` : ''}` +
      `Transport floor in the same run (bare ws client in a worker, no parse, no table): ${fl ? `p50 ${fmtUs(fl.p50Us)}, p99 ${fmtUs(fl.p99Us)}, p99.9 ${fmtUs(fl.p999Us)}` : '–'}.`,
  });

  const mn = r.memory.find((x) => x.kind === 'native');
  const mj = r.memory.find((x) => x.kind === 'js');
  const mv = r.memory.find((x) => x.kind === 'naive');
  const memCell = (m: MemoryRow | undefined) =>
    m ? `${mb(m.rssBytes)} RSS${m.tableBytes ? ` (table ${mb(m.tableBytes)})` : ''}` : '–';
  const tokens = mn?.tokens ?? mj?.tokens ?? 0;
  rows.push({
    what: `memory for ${tokens.toLocaleString('en-US')} tokens with full real-depth books`,
    target: '< 200 MB resident',
    native: memCell(mn),
    js: memCell(mj),
    naive: memCell(mv),
    status: !mn || tokens < 50_000 ? 'n/a' : mn.rssBytes < 200 * 2 ** 20 ? 'met' : 'missed',
    by:
      mn && tokens >= 50_000 && mn.rssBytes >= 200 * 2 ** 20
        ? `${mb(mn.rssBytes - 200 * 2 ** 20)} over (${(mn.rssBytes / (200 * 2 ** 20)).toFixed(1)}x)`
        : undefined,
    notes:
      `${mn ? mn.levelsPerBook : 186}-level real snapshot per token, child process per backend, RSS after GC. ` +
      (mn
        ? `Node + modules alone: ${mb(mn.baseRssBytes)}; after reading every book once with get(): ${mb(mn.rssAfterReadsBytes ?? NaN)}.`
        : ''),
  });

  const wn = r.warmup.find((x) => x.backend === 'native' && !x.worker);
  const wj = r.warmup.find((x) => x.backend === 'js' && !x.worker);
  const wCell = (w: WarmupRow | undefined) => (w ? `${ms(w.to100Ms)} all (80%: ${ms(w.to80Ms)})` : '–');
  rows.push({
    what: `warmup of ${(wn?.tokens ?? 10_000).toLocaleString('en-US')} tokens on the simulator`,
    target: '< 2 s',
    native: wCell(wn),
    js: wCell(wj),
    naive: 'n/a',
    status: wn ? (wn.to100Ms < 2000 ? 'met' : 'missed') : 'n/a',
    by: wn && wn.to100Ms >= 2000 ? `${ms(wn.to100Ms - 2000)} over` : undefined,
    notes: `\`BookCache.start\` (main-thread feed, ${wn?.connections ?? 50} connections) to every book ready; simulator in its own worker thread.`,
  });

  const an = r.alloc.find((x) => x.backend === 'native');
  const aj = r.alloc.find((x) => x.backend === 'js');
  const aCell = (a: AllocRow | undefined) =>
    a
      ? `${a.gcs} GCs; heap ${a.heapDeltaBytes >= 0 ? '+' : ''}${(a.heapDeltaBytes / 1024).toFixed(1)} KB over ${((2 * a.reads) / 1e6).toFixed(0)}M reads (measuring alone: ${(a.controlDeltaBytes / 1024).toFixed(1)} KB)`
      : '–';
  rows.push({
    what: 'allocations on the read path',
    target: 'none',
    native: aCell(an),
    js: aCell(aj),
    naive: 'n/a',
    status: an ? (an.gcs === 0 && an.bytesPerRead < 0.01 ? 'met' : 'missed') : 'n/a',
    notes: `${an ? (an.reads / 1e6).toFixed(0) : '?'}M \`top()\` + ${an ? (an.reads / 1e6).toFixed(0) : '?'}M unchanged \`get()\`; GCs from PerformanceObserver('gc'), heap from v8.getHeapSpaceStatistics().`,
  });

  serverRows(r, rows);

  rows.push({
    what: 'main-thread pause caused by ingestion in a worker',
    target: 'p99.9 < 100 µs',
    native: gap(en?.pause),
    js: gap(ej?.pause),
    naive: 'n/a',
    status: en ? (en.pause.p999Us < 100 ? 'met' : 'missed') : 'n/a',
    by: en && en.pause.p999Us >= 100 ? `${fmtUs(en.pause.p999Us - 100)} over` : undefined,
    notes:
      `Gaps between consecutive iterations of the e2e read loop (one iteration = ${en?.tokens ?? 50} get() ≈ ${en ? fmtUs(en.pause.meanUs) : '?'}). ` +
      `Same loop with no traffic: ${gap(en?.pauseIdle)}. Time in gaps > 100 µs: ${en ? pctStr(en.pause.over100usTimeShare) : '–'} under load, ${en ? pctStr(en.pauseIdle.over100usTimeShare) : '–'} idle.`,
  });
  return rows;
}

/** The book server's rows (docs/SERVER.md): each beside the in-process figure of the same run. */
function serverRows(r: Results, rows: TargetRow[]): void {
  const s = r.server;
  if (!s) return;
  const read = (task: 'top' | 'get', limitNs: number) => {
    const a = s.reads.find((x) => x.task === task && x.mode === 'attached');
    const l = s.reads.find((x) => x.task === task && x.mode === 'local');
    if (!a || !l) return;
    const ratio = a.ratio ?? a.medianNs / l.medianNs;
    const ok = a.medianNs < limitNs && ratio <= 1.1;
    rows.push({
      what: `book server: attached \`${task === 'top' ? 'handle.top()' : 'get()'}\`, table written by another process`,
      target: `< ${limitNs} ns, within 10% of in-process`,
      native: `${cell(a)}; ${(ratio * 100).toFixed(0)}% of in-process`,
      js: 'n/a (only the native addon maps shared memory)',
      naive: 'n/a',
      status: ok ? 'met' : 'missed',
      by: ok
        ? undefined
        : [
            a.medianNs >= limitNs ? `${fmtNs(a.medianNs - limitNs)} over ${limitNs} ns` : '',
            ratio > 1.1 ? `${((ratio - 1) * 100).toFixed(0)}% slower than in-process` : '',
          ]
            .filter(Boolean)
            .join('; '),
      notes: `In-process in the same run: ${cell(l)}. Fresh child processes, alternated ${a.runMediansNs.length} times, same micro harness as above; figures of the least disturbed run, ratio the median over the alternated pairs (medians per run: attached ${a.runMediansNs.map(fmtNs).join(', ')}; in-process ${l.runMediansNs.map(fmtNs).join(', ')}).`,
    });
  };
  read('top', 20);
  read('get', 50);

  const es = r.e2e.find((x) => x.backend === 'server-native');
  const en = r.e2e.find((x) => x.backend === 'native');
  if (es) {
    rows.push({
      what: 'book server: frame arrival in the server to visible in an attached reader (another process), 20,000 frames/s',
      target: 'beside worker mode',
      native: `p99 ${fmtUs(es.p99Us)} (p50 ${fmtUs(es.p50Us)}, p99.9 ${fmtUs(es.p999Us)})`,
      js: 'n/a',
      naive: 'n/a',
      status: 'n/a',
      notes: `Worker mode in the same run (feed in a worker of the reading process): ${en ? `p50 ${fmtUs(en.p50Us)}, p99 ${fmtUs(en.p99Us)}` : '–'}. Server: native writer, feed on its main thread; ${es.seen}/${es.sent} changes timed, ${(es.framesPerSec / 1000).toFixed(1)}k frames/s written.`,
    });
  }

  const rc = s.restart.find((x) => x.mode === 'connect');
  const cold = s.restart.find((x) => x.mode === 'cold');
  if (rc) {
    const ok = rc.servedFirstSweep === rc.tokens && cold !== undefined && rc.sinceProcessMs < cold.sinceProcessMs;
    rows.push({
      what: `book server: strategy restart to first served read, ${rc.tokens.toLocaleString('en-US')} tokens`,
      target: 'no warmup wait',
      native: `${ms(rc.sinceProcessMs)} from process start (${ms(rc.sinceCallMs)} from \`BookCache.connect\`); ${rc.servedFirstSweep}/${rc.tokens} served by the first sweep`,
      js: 'n/a',
      naive: 'n/a',
      status: cold ? (ok ? 'met' : 'missed') : 'n/a',
      notes: cold
        ? `Cold start in the same run (own feed, \`BookCache.start\`, first read once its warmup opened the gate): ${ms(cold.sinceProcessMs)} from process start (${ms(cold.sinceCallMs)} from the call). Both in fresh processes, Node's own start-up included.`
        : '',
    });
  }

  const ms_ = r.memory.find((x) => x.kind === 'server');
  const mn = r.memory.find((x) => x.kind === 'native');
  if (ms_) {
    rows.push({
      what: `book server: server memory for ${ms_.tokens.toLocaleString('en-US')} tokens with full real-depth books`,
      target: 'beside in-process',
      native: `${mb(ms_.rssBytes)} RSS (table file ${mb(ms_.tableBytes)})`,
      js: 'n/a',
      naive: 'n/a',
      status: 'n/a',
      notes: `In-process native in the same run: ${mn ? `${mb(mn.rssBytes)} RSS (table ${mb(mn.tableBytes)})` : '–'}. The server's file adds the token directory (128 B per slot); readers map the same pages (they count once on the machine).`,
    });
  }
}

export function renderMarkdown(r: Results, analysis: string): string {
  const rows = targetRows(r);
  const L: string[] = [];
  L.push('# polybook benchmark results', '');
  L.push(
    `Machine: ${r.machine}. Date: ${r.date}. ${r.quick ? '**Quick run** (short samples, fewer tokens): indicative only. ' : ''}` +
      `Load average (1 min) before/after: ${r.load.before[0].toFixed(2)} / ${r.load.after[0].toFixed(2)} (the machine is shared). ` +
      `Suite time: ${r.durationS.toFixed(0)} s. Produced by \`npm run bench\` (compiled: src/bench/index.ts, src/bench/, run from dist/ so that child processes load no TypeScript loader).`,
  );
  L.push(
    '',
    'Medians unless said; p99 over samples in brackets. Native = Rust writer (N-API), pure TS = the TypeScript writer; reads are the same TypeScript code for both.',
    '',
  );
  L.push('| what | target | native | pure TS | naive Map + JSON.parse | status | notes |');
  L.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const t of rows) {
    const status = t.status === 'missed' ? `**missed**${t.by ? `: ${t.by}` : ''}` : t.status;
    L.push(`| ${t.what} | ${t.target} | ${t.native} | ${t.js} | ${t.naive} | ${status} | ${t.notes} |`);
  }
  L.push('');
  L.push(analysis);
  return `${L.join('\n')}\n`;
}
