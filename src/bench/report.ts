/**
 * Renders bench/RESULTS.md: the target table (target, native, pure TS, naive baseline,
 * met/missed) with short method notes, then the details of each measurement; and the README's
 * copy of the target table (without the notes).
 */
import type { MicroRow, MicroTask } from './micro.js';
import type { Sampled } from './harness.js';
import type { AllocRow } from './alloc.js';
import type { E2eRow, GapStats } from './e2e.js';
import type { MemoryRow } from './memory.js';
import type { WarmupRow } from './warmup.js';
import type { ProfileRow } from './profile.js';
import type { JsonResult, JsonRow } from './json.js';
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
  /** One row per configuration and backend (see E2eKind). */
  e2e: E2eRow[];
  memory: MemoryRow[];
  warmup: WarmupRow[];
  /** The Rust comparison of the frame scanner with sonic-rs and serde_json (null rows: not run here). */
  json: JsonResult;
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

/** The e2e row of a configuration and backend. */
export function e2eRow(r: Results, kind: E2eRow['kind'], backend: string): E2eRow | undefined {
  return r.e2e.find((x) => x.kind === kind && x.backend === backend);
}

/**
 * GCs of a strategy row beyond what its own clock reads cause: the idle loop's GCs per sweep times
 * the sweeps under load (the loop reads the clock once per sweep, a 16-byte number, in both).
 */
export function gcsFromReads(e: E2eRow): number {
  const perSweep = e.pauseIdle.iterations > 0 ? e.idleGcs / e.pauseIdle.iterations : 0;
  return e.gcs - perSweep * e.pause.iterations;
}

/** What a strategy (b) row missed, by how much. */
function strategyMiss(e: E2eRow): string {
  const out: string[] = [];
  const g = gcsFromReads(e);
  if (g > 1) out.push(`${g.toFixed(1)} GCs beyond the idle loop's rate`);
  if (e.pause.p999Us > 1.1 * e.pauseIdle.p999Us)
    out.push(`pause p99.9 ${(e.pause.p999Us / e.pauseIdle.p999Us).toFixed(2)}x idle`);
  return out.join('; ');
}

function readGcs(e: E2eRow): string {
  // Fewer GCs than the idle rate predicts is noise around zero.
  return `${Math.max(0, gcsFromReads(e)).toFixed(1)} of ${e.gcs}`;
}

/** Resident memory growth from `from` to `to`, as MB and percent. */
function growth(from: number, to: number | null): string {
  if (to === null) return '–';
  const d = to - from;
  return `${d >= 0 ? '+' : ''}${(d / 2 ** 20).toFixed(1)} MB (${d >= 0 ? '+' : ''}${((d / from) * 100).toFixed(1)}%)`;
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

  under(
    'book',
    20,
    'depth read via handle, unchanged book: `handle.book()`',
    '< 20 ns',
    '`handle.book(60_000)` on an unchanged book: the cost of `top()` (the levels were copied at the change); batches of 1000.',
  );
  const change = (b: string) => micro(r, 'change', b);
  under(
    'bookChanged',
    500,
    'depth read via handle after a change: `book()` + 20 + 20 levels through the getters',
    '< 500 ns',
    `A one-level change (the bench publishes it in place: ${fmtNs(change('native')?.medianNs ?? Number.NaN)}, included), then \`book()\` (one validated copy of both sides) and every level's price and size through the getters; batches of 100.`,
  );
  const ga = (b: string) => r.alloc.find((x) => x.backend === b)?.getChangedBytesPerRead;
  const gn = micro(r, 'getChanged', 'native');
  rows.push({
    what: '`get()` after a change, depth 20, reading its 20 + 20 levels',
    target: 'measured (fewer allocations than before)',
    native: cell(gn),
    js: cell(micro(r, 'getChanged', 'js')),
    naive: '–',
    status: 'n/a',
    notes: `The same change, then \`get()\` (a new Book: changed levels new, unchanged ones and an unchanged side reused) and every level; ${ga('native') ? `${ga('native')!.size.toFixed(0)} B allocated per read after a one-level change, ${ga('native')!.shift.toFixed(0)} B after an insert at the top (690 B and 1947 B with the decode of the previous round)` : ''}; batches of 100.`,
  });

  const en = e2eRow(r, 'feed', 'native');
  const ej = e2eRow(r, 'feed', 'js');
  const e2eCell = (e: E2eRow | undefined) =>
    e ? `p99 ${fmtUs(e.p99Us)} (p50 ${fmtUs(e.p50Us)}, p99.9 ${fmtUs(e.p999Us)})` : '–';
  const fl = e2eRow(r, 'floor', 'floor');
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

  const sn = e2eRow(r, 'split', 'native');
  const sj = e2eRow(r, 'split', 'js');
  const stage = (g: { p50Us: number; p99Us: number; p999Us: number }) =>
    `${fmtUs(g.p50Us)} / ${fmtUs(g.p99Us)} / ${fmtUs(g.p999Us)}`;
  const splitCell = (e: E2eRow | undefined) =>
    e?.split
      ? `transport ${stage(e.split.transport)}; ingest ${stage(e.split.ingest)}; read ${stage(e.split.read)}`
      : '–';
  rows.push({
    what: 'end-to-end latency by stage (p50 / p99 / p99.9): sender write -> socket read in the worker -> ingested and published -> first seen by the reader',
    target: 'measured',
    native: splitCell(sn),
    js: splitCell(sj),
    naive: 'n/a',
    status: 'n/a',
    notes:
      `The feed's ingest path in a worker whose writer logs when each frame's ingest returned (bench-only instrument), the \`get()\` loop of the row above; ${sn?.split ? `${sn.split.samples} changes` : 'changes'} whose first-seen version was published by their own frame. ` +
      `Total over the same changes: native ${sn?.split ? stage(sn.split.total) : '–'}, pure TS ${sj?.split ? stage(sj.split.total) : '–'}.`,
  });

  const strat = (b: string, kind: 'strategy-get' | 'strategy-handle') => e2eRow(r, kind, b);
  const stratCell = (e: E2eRow | undefined) =>
    e
      ? `${e.gcsPerSec.toFixed(2)} GCs/s (${readGcs(e)} beyond the idle loop's rate); pause p99.9 ${fmtUs(e.pause.p999Us)} (idle ${fmtUs(e.pauseIdle.p999Us)}), max ${fmtUs(e.pause.maxUs)}; ${(e.depthReadsPerSec / 1000).toFixed(1)}k depth reads/s`
      : '–';
  const hn = strat('native', 'strategy-handle');
  const hMet = (e: E2eRow) => gcsFromReads(e) <= 1 && e.pause.p999Us <= 1.1 * e.pauseIdle.p999Us;
  rows.push({
    what: 'strategy under load (a): `get()` of every changed book, all 20 + 20 levels; 20,000 changes/s into a worker feed',
    target: 'measured',
    native: stratCell(strat('native', 'strategy-get')),
    js: stratCell(strat('js', 'strategy-get')),
    naive: 'n/a',
    status: 'n/a',
    notes:
      'Main-thread GCs from PerformanceObserver("gc"), loop pauses = gaps between sweeps of the 50 tokens; the idle loop is the same loop with the feed connected and no traffic (its clock reads allocate: one 16-byte number per sweep).',
  });
  rows.push({
    what: "strategy under load (b): a handle's `book()` and level getters for every changed book; 20,000 changes/s",
    target: "no GCs from reads (≤ 1 beyond the idle loop's rate per sweep); pause p99.9 ≤ 1.1 × idle",
    native: stratCell(hn),
    js: stratCell(strat('js', 'strategy-handle')),
    naive: 'n/a',
    status: hn ? (hMet(hn) ? 'met' : 'missed') : 'n/a',
    by: hn && !hMet(hn) ? strategyMiss(hn) : undefined,
    notes: 'Same loop and measurements as (a), the reads through handles.',
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

  const depthMemCell = (m: MemoryRow | undefined) =>
    m?.rssWithHandlesBytes != null
      ? `${mb(m.rssWithHandlesBytes)} -> ${mb(m.rssAfterDepthReadsBytes ?? NaN)}: ${growth(m.rssWithHandlesBytes, m.rssAfterDepthReadsBytes)}`
      : '–';
  const depthMemOk = (m: MemoryRow) =>
    m.rssWithHandlesBytes != null &&
    m.rssAfterDepthReadsBytes != null &&
    m.rssAfterDepthReadsBytes <= 1.05 * m.rssWithHandlesBytes;
  rows.push({
    what: `memory after reading every book once with handles' depth reads, ${tokens.toLocaleString('en-US')} tokens`,
    target: 'within 5% of before',
    native: depthMemCell(mn),
    js: depthMemCell(mj),
    naive: 'n/a',
    status: !mn || tokens < 50_000 ? 'n/a' : depthMemOk(mn) ? 'met' : 'missed',
    by:
      mn && tokens >= 50_000 && !depthMemOk(mn)
        ? growth(mn.rssWithHandlesBytes ?? 0, mn.rssAfterDepthReadsBytes)
        : undefined,
    notes:
      'Before: the store of the row above and a handle per token (made before the loop, each with its own level storage). After: `book()` and every level of every book once, RSS after GC. ' +
      (mn?.rssWithHandlesBytes != null
        ? `The ${tokens.toLocaleString('en-US')} handles themselves: ${growth(mn.rssBytes, mn.rssWithHandlesBytes)} over the store alone (${((mn.rssWithHandlesBytes - mn.rssBytes) / tokens) | 0} B each). With get() instead the reader keeps each decoded Book: ${growth(mn.rssAfterDepthReadsBytes ?? mn.rssBytes, mn.rssAfterReadsBytes)}.`
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

  const dCell = (a: AllocRow | undefined) =>
    a
      ? `${a.depth.gcs} GCs; heap ${a.depth.heapDeltaBytes >= 0 ? '+' : ''}${(a.depth.heapDeltaBytes / 1024).toFixed(1)} KB over ${(a.depth.reads / 1e6).toFixed(0)}M reads (measuring alone: ${(a.depth.controlDeltaBytes / 1024).toFixed(1)} KB)`
      : '–';
  rows.push({
    what: 'allocations of depth reads of changing books, via handle',
    target: 'none',
    native: dCell(an),
    js: dCell(aj),
    naive: 'n/a',
    status: an ? (an.depth.gcs === 0 && an.depth.bytesPerRead < 0.01 ? 'met' : 'missed') : 'n/a',
    notes: `${an ? (an.depth.reads / 1e6).toFixed(0) : '?'}M x (a change, \`book()\`, every level's price and size through the getters), alternating a one-level change and an insert at the top; \`get()\` after the same changes allocates ${an ? `${an.getChangedBytesPerRead.size.toFixed(0)} B and ${an.getChangedBytesPerRead.shift.toFixed(0)} B` : '–'} per read (a new Book by design).`,
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

  const js = r.json.rows;
  const jb = js?.find((j) => j.levels > 0);
  const jp = js?.find((j) => j.entries > 0);
  const jCell = (j: JsonRow | undefined) =>
    j
      ? `scanner ${fmtNs(j.scannerNs)}, sonic-rs ${fmtNs(j.sonicNs)} (${(j.sonicNs / j.scannerNs).toFixed(1)}x), serde_json ${fmtNs(j.serdeJsonNs)} (${(j.serdeJsonNs / j.scannerNs).toFixed(1)}x)`
      : '–';
  rows.push({
    what: "JSON parse to levels (Rust): the writer's frame scanner against sonic-rs and serde_json (borrowed), real frames",
    target: 'measured',
    native: js
      ? `${jb?.frame}: ${jCell(jb)}; ${jp?.frame}: ${jCell(jp)}`
      : `not run (${r.json.rows === null ? r.json.why : ''})`,
    js: '–',
    naive: 'n/a',
    status: 'n/a',
    notes:
      "native/core/examples/json_compare.rs, release profile as shipped (x86-64 baseline); the crates deserialize into structs borrowing their strings, then the same decimal parser; every output checked equal to the scanner's. All frames: detail table below and docs/PERF-NATIVE.md.",
  });
  return rows;
}

/** Marks the README's copy of the target table, which a full run rewrites. */
export const README_START = '<!-- bench:table:start (written by npm run bench) -->';
export const README_END = '<!-- bench:table:end -->';

/** The README's copy of the target table: the machine line and the table without the notes. */
export function renderReadmeTable(r: Results): string {
  const L: string[] = [];
  L.push(
    `Machine: ${r.machine}. Date: ${r.date}. Load average (1 min) before/after: ${r.load.before[0].toFixed(2)} / ${r.load.after[0].toFixed(2)}. ` +
      'Full method, spreads and the reasons for each miss: [bench/RESULTS.md](bench/RESULTS.md).',
    '',
  );
  L.push('| what | target | native | pure TS | naive Map + JSON.parse | status |');
  L.push('| --- | --- | --- | --- | --- | --- |');
  for (const t of targetRows(r)) {
    const status = t.status === 'missed' ? `**missed**${t.by ? `: ${t.by}` : ''}` : t.status;
    L.push(`| ${t.what} | ${t.target} | ${t.native} | ${t.js} | ${t.naive} | ${status} |`);
  }
  return L.join('\n');
}

/** `readme` with the text between the markers replaced by the table of `r`; unchanged without markers. */
export function updateReadme(readme: string, r: Results): string {
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) return readme;
  return `${readme.slice(0, a + README_START.length)}\n${renderReadmeTable(r)}\n${readme.slice(b)}`;
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

  const es = e2eRow(r, 'server', 'native');
  const en = e2eRow(r, 'feed', 'native');
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
