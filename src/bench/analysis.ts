/**
 * The prose and detail tables of bench/RESULTS.md below the target table: method, all
 * measurements, profile evidence, and for each missed target by how much and why. Numbers come
 * from the run; the explanations are the ones the evidence supports.
 */
import type { Results } from './report.js';
import { e2eRow, fmtNs, gcsFromReads, micro, targetRows } from './report.js';
import type { MicroTask } from './micro.js';
import type { GapStats } from './e2e.js';

const us = (x: number) => fmtNs(x * 1000);
const mb = (b: number | null) => (b === null ? '–' : `${(b / 2 ** 20).toFixed(0)} MB`);

const TASKS: [MicroTask, string][] = [
  ['top', '`handle.top()`, unchanged book'],
  ['get', '`get()`, unchanged book'],
  ['book', '`handle.book()`, unchanged book'],
  ['firstRead', 'first `get()` after a change (decode depth 20, no previous book)'],
  ['getChanged', '`get()` after a one-level change, 20 + 20 levels read'],
  ['bookChanged', '`handle.book()` after a one-level change, 20 + 20 levels through the getters'],
  ['ingestBook', 'ingest 100-level `book` (Buffer)'],
  ['ingestDelta', 'ingest 2-entry `price_change` (Buffer)'],
  ['ingestPong', 'diagnostic: ingest of a 4-byte `PONG` (one call, control frame)'],
  ['writerDelta', 'diagnostic: `price_change` straight into the writer (no store wrapper)'],
  ['change', "diagnostic: the bench's in-place one-level change (included in the two rows after a change)"],
];

function gapCells(g: GapStats): string {
  return `${us(g.p50Us)} / ${us(g.p99Us)} / ${us(g.p999Us)} / ${us(g.p9999Us)} / ${us(g.maxUs)} | ${(g.over100usTimeShare * 100).toFixed(2)}%`;
}

export function analysis(r: Results): string {
  const L: string[] = [];
  const n = (t: MicroTask, b: string) => micro(r, t, b);

  L.push('## Method', '');
  L.push(
    '- **Reads and ingest**: tinybench (src/bench/harness.ts): a warm-up, then samples of a batch of operations, each sample one tinybench iteration; the table gives the per-operation median and p99 over samples. ' +
      'Reads run 1000 per sample, so a sample is ~10-50 µs and the two timer reads are < 1% of it. Ingest benchmarks alternate two real frames that differ in one size, and check that every ingest changed (published) the book: ' +
      'repeating one identical frame would measure a writer that finds nothing to publish.',
    "- **Clock**: reads use the table's coarse clock (the default): a ticker thread writes `preciseNow()` (the host monotonic clock) into the table header every 1 ms, and a read costs one memory load. " +
      "Its resolution is 1 ms plus the ticker's scheduling delay; the clock trails real time by at most that, so an age can read up to ~1 ms young (negative ages are clamped to 0). Staleness presets are 100 ms and up. `clock: 'precise'` costs one `performance.now()` (~25-45 ns) per read instead.",
    '- **End-to-end**: the simulator runs in its own worker thread and records the frames of 20,000+ changes with its exchange clock driven by a change counter (change k is stamped `timestamp` = base + k); it then writes them to the socket, one write per frame, at 20,000 changes/s, and stores the time right after writing change k in a SharedArrayBuffer. ' +
      "Recording first is deliberate: generating a change costs the simulator ~40 µs (it hashes both books of the market for every entry), which at 20,000/s would need most of a core of this 2-core machine on its own, while the exchange's CPU is not ours in production. " +
      'The feed runs in a worker (`startWorkerFeed`, the backend under test); the main thread spins over `store.get()` of all 50 tokens and notes when a book stamped base + k is first visible (a change overwritten by a later one of the same market before a sweep reached it counts as visible when the later one is first read). Latency = visible time - written time, on the host monotonic clock, which all threads share. ' +
      `Only changes that change a depth-20 view are timed (${r.e2e[0] ? (r.e2e[0].visibleShare * 100).toFixed(0) : '?'}% of the recorded changes do; found by replaying the recording through a probe store): a change deeper in the book publishes nothing, so there is nothing to see. ` +
      `All configurations (floor; per backend the feed, its latency split and the two strategies) run interleaved in ${r.e2e[0]?.rounds ?? 1} round(s) and the samples are pooled, so each configuration sees the same disturbances.`,
    "- **Latency by stage**: the same sender and `get()` loop, with the feed in a bench worker (src/bench/probe-worker.ts) that runs the feed's ingest path (SubscriptionManager, `Connection.onMessage`, `store.ingest`, the backend's writer) with the writer's `ingest` wrapped to log, per frame, the receive time the feed passed to it and `preciseNow()` right after it returned. " +
      "On a first sighting of change k the reader also reads the slot's header (one seqlock read, after noting the time): if that version still carries k, its `lastUpdate` is the receive time of the frame that published it, which the log maps to its publish time. " +
      "Stages: transport = receive - written (includes the sender's write syscall, loopback, the worker's wake-up and `ws` framing), ingest = published - received, read = first seen - published. Only changes first seen in their own version are split (the rest were overwritten before a sweep reached them). The instrument is bench-only: a normal feed has no wrapper.",
    "- **Strategy under load**: the same feed and sender; the main thread sweeps the 50 tokens and, for every book that changed since it last read it, reads all 20 + 20 levels: (a) through `get()` (the new Book's level objects; the previous Book kept until the next change, as a strategy comparing books would), (b) through a handle's `book()` and getters. " +
      "GCs: main-thread `gc` entries during the measured phase. The loop reads the clock once per sweep (`performance.now()` allocates a 16-byte number on Node 20; every clock of Node does), so the idle control (same loop, feed connected, no traffic, as long as the measured phase) gives the GCs per sweep the loop causes by itself; GCs beyond that rate are the reads'. Reads/s: changed books read per second.",
    "- **Main-thread pause**: the gaps between consecutive iterations of that read loop (one iteration = 50 `get()`), under load and, as a control, with the feed connected and no traffic. On a 2-core machine the spinning main thread, the feed worker and the sender share the cores: a gap is almost always the kernel running another thread (or another tenant) on the main thread's core. The share of wall time lost in gaps > 100 µs is given too: p99.9 counts iterations, not time.",
    '- **Memory**: one child process per backend (and one for the naive baseline), `--expose-gc`; 50,000 tokens each get the real 186-level opening snapshot (47 bids, 139 asks) under their own id, ingested as a Buffer (one reused buffer filled in place, so neither freed frame buffers nor per-frame strings stay in the resident set); RSS after GC. The child runs the compiled modules; its RSS before creating anything (Node and the modules) is given as the base. Where the native figure goes: docs/DESIGN.md section 5.7.',
    '- **Warmup**: `BookCache.start` against the simulator (its own worker thread, live, default change rate) with 5,000 markets = 10,000 tokens, minimum ready fraction 1; time from the call until the progress events report 80% and 100%.',
    '- **Allocations**: 10M `handle.top()` then 10M unchanged `get()` in optimised loops, then 10M depth reads of changing books (each a change published in place by the bench, `book()`, every level through the getters); GCs seen by a `PerformanceObserver` on `gc` entries during the loops, heap use from `v8.getHeapSpaceStatistics()` before and after (and the same measurement around zero reads, as a control). `get()` after a change: new-space growth over chunks of 200 reads right after a GC (no scavenge inside a chunk), median per read.',
    '- **JSON parse (Rust)**: native/core/examples/json_compare.rs, run by the suite with `cargo run --release` (the release profile the addon ships with, x86-64 baseline: no `target-cpu=native`). Per real frame, the contestants are interleaved in 31 rounds; median ns per frame, allocations counted by a wrapping global allocator.',
    '',
  );

  L.push('## All measurements', '');
  L.push('### Reads and ingest (per operation: median, p99)', '');
  L.push(
    'Each cell: median (p99), samples x operations per sample; below it the lowest and highest median of the individual rounds.',
    '',
  );
  L.push('| operation | native | pure TS | naive Map + JSON.parse | TS / native |', '| --- | --- | --- | --- | --- |');
  for (const [t, label] of TASKS) {
    const c = (b: string) => {
      const x = n(t, b);
      if (!x) return '–';
      const rm = x.roundMediansNs ?? [];
      const range = rm.length > 1 ? `<br>rounds ${fmtNs(Math.min(...rm))} - ${fmtNs(Math.max(...rm))}` : '';
      return `${fmtNs(x.medianNs)} (${fmtNs(x.p99Ns)}), ${x.samples} x ${x.batch}${range}`;
    };
    const nn = n(t, 'native');
    const jj = n(t, 'js');
    L.push(
      `| ${label} | ${c('native')} | ${c('js')} | ${c('naive')} | ${nn && jj ? `${(jj.medianNs / nn.medianNs).toFixed(1)}x` : '–'} |`,
    );
  }
  L.push('');

  L.push('### End-to-end latency and main-thread loop gaps', '');
  L.push(
    '| consumer in the worker | changes seen / sent | frames/s | latency p50 / p90 / p99 / p99.9 / max | p99 of each round | loop gap p50 / p99 / p99.9 / p99.99 / max | time in gaps > 100 µs | idle: loop gap p50 / p99 / p99.9 / p99.99 / max | idle: time in gaps > 100 µs |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const e of r.e2e.filter((x) => x.kind === 'floor' || x.kind === 'feed' || x.kind === 'server')) {
    const name =
      e.backend === 'floor'
        ? 'floor: bare ws client, no parse, no table'
        : e.kind === 'server'
          ? `book server in another process (${e.backend === 'js' ? 'pure TS' : 'native'} writer), read attached`
          : `feed, ${e.backend === 'js' ? 'pure TS' : 'native'} writer`;
    L.push(
      `| ${name} | ${e.seen} / ${e.sent} | ${e.framesPerSec.toFixed(0)} | ${us(e.p50Us)} / ${us(e.p90Us)} / ${us(e.p99Us)} / ${us(e.p999Us)} / ${us(e.maxUs)} | ${(e.roundP99Us ?? []).map(us).join(', ')} | ${gapCells(e.pause)} | ${gapCells(e.pauseIdle)} |`,
    );
  }
  L.push(
    '',
    "The floor's loop iteration is 256 atomic loads (~2 µs, about one feed sweep), so its gaps compare roughly with the feed's 50-read iterations.",
    '',
  );

  L.push('### Latency by stage (µs: p50 / p99 / p99.9)', '');
  L.push(
    '| feed worker | changes split | sender write -> socket read | socket read -> published | published -> first seen | total (same changes) | all changes, as the row above: p50 / p99 / p99.9 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  const st = (g: { p50Us: number; p99Us: number; p999Us: number }) =>
    `${us(g.p50Us)} / ${us(g.p99Us)} / ${us(g.p999Us)}`;
  for (const e of r.e2e.filter((x) => x.kind === 'split' && x.split)) {
    const sp = e.split!;
    L.push(
      `| ${e.backend === 'js' ? 'pure TS' : 'native'} | ${sp.samples} of ${e.seen} | ${st(sp.transport)} | ${st(sp.ingest)} | ${st(sp.read)} | ${st(sp.total)} | ${us(e.p50Us)} / ${us(e.p99Us)} / ${us(e.p999Us)} |`,
    );
  }
  const fl = e2eRow(r, 'floor', 'floor');
  L.push(
    '',
    `The transport stage is what the floor measures too (its p50 / p99 / p99.9 in this run: ${fl ? `${us(fl.p50Us)} / ${us(fl.p99Us)} / ${us(fl.p999Us)}` : '–'}), from the sender's write to a JS callback in the worker: loopback, the worker thread's wake-up and \`ws\` framing. A faster socket reader (e.g. in Rust) could only shorten the part of that stage spent in \`ws\` and the worker's event loop.`,
    '',
  );

  L.push('### Strategy under load: depth 20 of every changed book, 20,000 changes/s', '');
  L.push(
    '| reads through | backend | changed books read/s | book reads/s | GCs (per s) | GCs beyond the idle rate | GC time | loop gap p50 / p99 / p99.9 / p99.99 / max | time in gaps > 100 µs | idle: loop gap p50 / p99 / p99.9 / p99.99 / max | idle: time in gaps > 100 µs | idle: GCs / sweeps |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const e of r.e2e.filter((x) => x.kind === 'strategy-get' || x.kind === 'strategy-handle')) {
    L.push(
      `| ${e.kind === 'strategy-get' ? '`get()`' : 'handle `book()` + getters'} | ${e.backend === 'js' ? 'pure TS' : 'native'} | ${(e.depthReadsPerSec / 1000).toFixed(1)}k | ${(e.readsPerSec / 1e6).toFixed(2)}M | ${e.gcs} (${e.gcsPerSec.toFixed(2)}) | ${Math.max(0, gcsFromReads(e)).toFixed(1)} | ${e.gcMs.toFixed(1)} ms | ${gapCells(e.pause)} | ${gapCells(e.pauseIdle)} | ${e.idleGcs} / ${e.pauseIdle.iterations} |`,
    );
  }
  L.push('');

  L.push('### JSON parse to levels, Rust (ns per frame, median; allocations per frame)', '');
  if (r.json.rows === null) L.push(`Not run: ${r.json.why}.`, '');
  else {
    L.push(
      '| frame | bytes | levels / entries | hand-written scanner | sonic-rs (borrowed) | serde_json (borrowed) |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const j of r.json.rows)
      L.push(
        `| ${j.frame} | ${j.bytes} | ${j.levels || j.entries} | ${fmtNs(j.scannerNs)} (${j.scannerAllocs.toFixed(0)} allocs) | ${fmtNs(j.sonicNs)} (${j.sonicAllocs.toFixed(0)}), ${(j.sonicNs / j.scannerNs).toFixed(1)}x | ${fmtNs(j.serdeJsonNs)} (${j.serdeJsonAllocs.toFixed(0)}), ${(j.serdeJsonNs / j.scannerNs).toFixed(1)}x |`,
      );
    L.push('', 'Why the writer keeps its own scanner: docs/PERF-NATIVE.md, "The JSON path".', '');
  }

  L.push('### Memory', '');
  L.push(
    '| | RSS | base RSS | RSS - base | table | JS heap | external | array buffers | (RSS - base - table) per level | with a handle per token | after depth reads of every book (handles) | then after get() of every book |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const m of r.memory) {
    const levels = m.tokens * m.levelsPerBook;
    L.push(
      `| ${m.kind === 'js' ? 'pure TS' : m.kind === 'server' ? 'book server (native)' : m.kind} (${m.tokens.toLocaleString('en-US')} x ${m.levelsPerBook} levels) | ${mb(m.rssBytes)} | ${mb(m.baseRssBytes)} | ${mb(m.rssBytes - m.baseRssBytes)} | ${mb(m.tableBytes)} | ${mb(m.heapUsedBytes)} | ${mb(m.externalBytes)} | ${mb(m.arrayBuffersBytes)} | ${((m.rssBytes - m.baseRssBytes - m.tableBytes) / levels).toFixed(1)} B | ${mb(m.rssWithHandlesBytes ?? null)} | ${mb(m.rssAfterDepthReadsBytes ?? null)} | ${mb(m.rssAfterReadsBytes)} |`,
    );
  }
  L.push('');

  if (r.server) {
    L.push('### Book server', '');
    L.push(
      'Attached reads (src/bench/reads-child.ts): a process attached to a table that this process writes, against a store in its own process, each in fresh processes, alternated.',
      '',
      '| read | where | least disturbed run: median (every run) | its p99 | samples |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const a of r.server.reads) {
      L.push(
        `| ${a.task} | ${a.mode === 'attached' ? 'attached' : 'in-process'} | ${fmtNs(a.medianNs)} (${a.runMediansNs.map(fmtNs).join(', ')}) | ${fmtNs(a.p99Ns)} | ${a.samples} x ${a.batch} |`,
      );
    }
    L.push(
      '',
      'Restart (src/bench/restart-child.ts): a strategy process reading every token of its universe until one is served.',
      '',
      '| start | tokens | first served read, from process start | from the call | served by the first sweep |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const x of r.server.restart) {
      L.push(
        `| ${x.mode === 'connect' ? '`BookCache.connect` to a warm server' : '`BookCache.start`, own feed (cold)'} | ${x.tokens} | ${(x.sinceProcessMs / 1000).toFixed(2)} s | ${(x.sinceCallMs / 1000).toFixed(2)} s | ${x.servedFirstSweep} |`,
      );
    }
    L.push('');
  }

  L.push('### Warmup', '');
  L.push(
    '| backend | ingestion | tokens | connections | 80% ready | all ready |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const w of r.warmup) {
    L.push(
      `| ${w.backend === 'js' ? 'pure TS' : w.backend} | ${w.worker ? 'worker thread' : 'main thread (default)'} | ${w.tokens} | ${w.connections} | ${(w.to80Ms / 1000).toFixed(2)} s | ${(w.to100Ms / 1000).toFixed(2)} s |`,
    );
  }
  L.push('');

  L.push('### Allocations on the read path', '');
  L.push(
    '| backend | reads | GCs during the reads | heap growth | new-space growth | measuring alone | upper bound per read | time |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const a of r.alloc) {
    const b = a.backend === 'js' ? 'pure TS' : a.backend;
    L.push(
      `| ${b} | ${(a.reads / 1e6).toFixed(0)}M top() + ${(a.reads / 1e6).toFixed(0)}M get(), unchanged books | ${a.gcs} | ${a.heapDeltaBytes} B | ${a.newSpaceDeltaBytes} B | ${a.controlDeltaBytes} B | ${a.bytesPerRead.toFixed(4)} B | ${a.elapsedMs.toFixed(0)} ms |`,
      `| ${b} | ${(a.depth.reads / 1e6).toFixed(0)}M depth reads of changing books (change, book(), 40 levels) | ${a.depth.gcs} | ${a.depth.heapDeltaBytes} B | ${a.depth.newSpaceDeltaBytes} B | ${a.depth.controlDeltaBytes} B | ${a.depth.bytesPerRead.toFixed(4)} B | ${a.depth.elapsedMs.toFixed(0)} ms |`,
      `| ${b} | get() right after a change: one level / insert at the top | – | – | – | – | ${a.getChangedBytesPerRead.size.toFixed(0)} B / ${a.getChangedBytesPerRead.shift.toFixed(0)} B | – |`,
    );
  }
  L.push(
    '',
    'One 16-byte object per read would be 160-320 MB and hundreds of scavenges over these loops. `get()` after a change allocates by design: it builds the new `Book` (new objects for the changed levels, a new array for a changed side, the Book), then serves that object until the book changes again; `top()` and `book()` never allocate.',
    '',
  );

  if (r.profiles && r.profiles.length > 0) {
    L.push('### CPU profiles of the ingest loops (`node --cpu-prof`, self time inside the loop)', '');
    for (const p of r.profiles) {
      L.push(
        `- ${p.backend === 'js' ? 'pure TS' : 'native'}, ${p.kind === 'book' ? '100-level book' : '2-entry price_change'} (${p.ingests.toLocaleString('en-US')} ingests): ` +
          p.top
            .slice(0, 6)
            .map((e) => `${e.selfPct.toFixed(1)}% ${e.fn}`)
            .join('; '),
      );
    }
    L.push(
      '',
      'For the native writer, `ingest (src/backend/native/index.ts)` is the N-API call: its self time is the Rust writer plus the call boundary (the profiler does not see inside the addon). `now` / `preciseNow` is the receive time `store.ingest` takes when the caller passes none (the feed passes its own).',
      '',
    );
  }

  L.push('## Memory: what changed in an earlier round', '');
  L.push(
    'The previous run missed the memory target at 521 MB: the native writer kept each full-depth level in 40 bytes (a u64 key and two 16-byte decimals), 372 MB for 9.3M levels. ' +
      "Now (docs/DESIGN.md section 5.7, docs/PERF-NATIVE.md): levels on the 10^-4 price grid in the server's text forms are 6-byte records (price units + trailing-zero flag, size mantissa + scale), sizes that do not fit sit in a per-side list, off-grid price texts keep a side in full 40-byte levels until its next snapshot; token ids are stored once (a hashbrown HashTable of slots instead of a HashMap with a second copy of each id); a token's market, min_order_size and pending hash share one allocation. " +
      'The memory child now fills its frames in place (no per-frame JS string) and runs compiled (under tsx its base RSS was 83 MB, not 46 MB). ' +
      'Cost: ~58 instructions per level on a snapshot (callgrind: book100 36.5k -> 44.5k instructions per ingest, price_change 4.9k -> 5.3k); both ingest rows still meet their targets.',
    '',
  );

  L.push('## Read path: what changed in an earlier round', '');
  L.push(
    'The issue quoted ~25 ns for `handle.top()` and ~44 ns for `get()`. Part of that was the old harness: `sink += h.top() ? h.bidPrice : 0` on every iteration stores a double into a module variable, which allocates a heap number per read (~5 ns, and 40 scavenges per 10M reads). The harness now sums into a local and adds to `sink` once per batch. ' +
      'With that harness, the previous view.ts measured `top()` 17.1-19.4 ns and `get()` 25.5-34.6 ns (medians of three alternating runs per version, both backends).',
    '',
    'The optimised code of the previous `top()` (`--print-opt-code`) showed, per call: ' +
      "the `Atomics.load` of the seqlock word compiled as a call to the `AtomicsLoad` builtin (~7 ns alone: TurboFan in Node 20 does not inline Atomics), with the handle's state loaded before the call and re-checked after it; " +
      'every imported layout constant (`H_CLOCK`, `H_CONFIRMED`, `HEADER_BYTES`) loaded from its module cell with a hole check, and `H_CLOCK / 8` computed with a divisibility check; ' +
      'a full `ToBoolean` of the `coarse` flag; three read-modify-writes on the counters (hits, age sum, histogram bucket).',
    '',
    'Changes (src/table/view.ts, src/table/metrics.ts), keeping DESIGN.md section 4 and the miss semantics as they were:',
    '- The seqlock word is loaded first, so nothing is live across the builtin call; the hot word indexes are literals (checked against layout.ts at module load); the clock choice is one null check (`clockFn === null` means the coarse clock, read inline).',
    "- The slow paths (a changed or unservable slot) moved into separate methods, so `top()` and `read()` stay small enough to inline into the caller's loop.",
    '- The handle and the reader cache the f64 index of `confirmed[conn]` instead of `conn`.',
    '- No hit counter any more: every hit lands in exactly one age bucket, so hits = the sum of the histogram (`Metrics.hits` is computed). Bucketing stays exact (`ceil(age)` and the lookup table, bounds are integers).',
    "- The age clamp produces `+0` as a double (`now - now`), not the literal `0`: right after a write the coarse clock trails and every age is clamped; a Smi there made TurboFan speculate that ages are small integers, and the first fractional age deoptimised the read and its caller's loop (seen with `--trace-deopt`). That deopt was also where the allocation test found garbage: the deoptimised loop boxed doubles.",
    "- `get()` now also compares the binding generation with the one its cached book was validated for: with ingestion in a worker, a token unsubscribed and another subscribed into the same slot could be served the previous token's cached book until the worker processed the bind (the slot's seq had not moved yet). It now misses with `not_subscribed`, as the slow path already did.",
    '',
    "After, same harness and runs: `top()` 11.1-12.3 ns (-35%), `get()` 20.7-36.7 ns (noisy; typically 5 ns less), first read after a change unchanged (~250-280 ns). The table above is this run, interleaved with everything else. What remains in `top()` is the `AtomicsLoad` builtin call (~7 ns), the clock and `confirmed` loads, the age arithmetic and two counter updates (~2 ns, measured by removing them); `get()` adds the token's Map lookup in BookStore.get.",
    '',
  );

  L.push('## Depth reads and `get()` under change: what changed in this round', '');
  L.push(
    'A strategy that trades on every change reads a changed book almost every time; `get()` then builds a new Book, one object per changed level, and those objects are what the garbage collector pauses the loop for. This round:',
    '',
    "- **`handle.book(maxStaleMs)`** (and on `BookCache` handles): the same rules, miss reasons and counters as `get()`, then `bidDepth`, `askDepth` and `bidPriceAt(i)`, `bidSizeAt(i)`, `askPriceAt(i)`, `askSizeAt(i)`. After a change it copies both sides once into the handle's own Float64Array with one `set` from a fixed view of the slot's level area (a memcpy: about three times faster at depth 20 than element loops over the big shared array), then re-checks the seqlock; the getters read that copy, so any number of getter calls after one `book()` come from one version. The array is allocated with the handle (640 bytes at depth 20), so no read allocates, not even the first. After a miss both depths are 0.",
    "- **No heap numbers on the read paths.** Two were found with `v8.getHeapSpaceStatistics()` around million-read loops: (1) `top()` after a change allocated 64 bytes: `nb > 0 ? f64[i] : NaN` (a loaded double or the NaN constant) made TurboFan box the double into a new heap number for each of the four top-of-book fields; the NaN now comes from a Float64Array (`NAN[0]`), so both arms are float64 loads. (2) Every read boxed the coarse clock (16 bytes) as soon as any store of the process had called a clock function (a `ManualClock` in a test, `clock: 'precise'` elsewhere): `clock === null ? f64[i] : clock()` became a tagged phi. The time is now stored into a Float64Array in each branch and loaded once (`readTime`), for `get()` and the handles.",
    '- **`get()` under change**, keeping its API and ownership rule (the Book is reused while the book does not change; a change gives a new Book, and a Book you kept stays as it was, so comparing Books by identity still detects changes): levels equal to one of the previous book are reused, found by a merge walk over both price-ordered lists (a level that only moved after an insert or a removal above it is reused too; the previous round reused levels only at the same position), and a side whose levels are all unchanged reuses its array. Typed-array-backed Books were considered and not taken: a Book must stay a snapshot, so each would need its own copy of the levels (640 bytes plus objects), more than the objects it replaces, and `bids[i].price` would become a getter call.',
    '',
    "Measured (pure TS store, the bench's in-place changes; bytes: new-space growth over 200-read chunks after a GC, before and after in separate processes; time: p10 of 7 interleaved rounds, old and new code in one process, on the shared machine at load average 3 to 5):",
    '',
    '| `get()` right after | bytes per read, before | after | time per change + read, before | after |',
    '| --- | --- | --- | --- | --- |',
    '| a one-level size change | 690 B | 482 B | 386 ns | 406 ns (+5%) |',
    '| an insert at the top (every level moves) | 1947 B | 498 B | 500 ns | 493 ns (-1%) |',
    '| the two alternating | 1357 B | 430 B | – | – |',
    '| no previous book (first read) | – | – | 380 ns | 350 ns (-8%) |',
    '',
    "What a changed `get()` still allocates is the Book (194 bytes: nine fields, six of them doubles in their own boxes), one level array (about 210 bytes for 20 levels) and the changed levels (74 bytes each: an object and two boxed doubles). Going below that means giving up snapshot semantics; the handle's depth reads are the allocation-free way. While making the merge walk, TurboFan boxed its loop's `price` local (a heap number per level, about 640 bytes per read) once the function was reoptimised after its first insert, because the local went into the new Level's object literal; the literal reads the table instead.",
    '',
  );

  const missed = targetRows(r).filter((t) => t.status === 'missed');
  L.push('## Missed targets: by how much, and why', '');
  if (missed.length === 0) L.push('None in this run.', '');
  for (const t of missed) {
    L.push(`### ${t.what}: ${t.by ?? 'missed'}`, '');
    const readTask: MicroTask | null = t.what.startsWith('top-of-book')
      ? 'top'
      : t.what.startsWith('`get(')
        ? 'get'
        : t.what.startsWith('first read')
          ? 'firstRead'
          : t.what.startsWith('depth read via handle, unchanged')
            ? 'book'
            : t.what.startsWith('depth read via handle after')
              ? 'bookChanged'
              : null;
    if (readTask) {
      const nn = n(readTask, 'native');
      const jj = n(readTask, 'js');
      const rm = nn?.roundMediansNs ?? [];
      L.push(
        `Pooled median over ${rm.length} interleaved rounds: native ${nn ? fmtNs(nn.medianNs) : '–'}, pure TS ${jj ? fmtNs(jj.medianNs) : '–'} (the same read code). ` +
          `The medians of the individual rounds range from ${rm.length ? fmtNs(Math.min(...rm)) : '–'} to ${rm.length ? fmtNs(Math.max(...rm)) : '–'}: the same code runs up to twice as slow while other tenants load the machine (load average ${r.load.before[0].toFixed(2)} before, ${r.load.after[0].toFixed(2)} after the run). ` +
          'The optimised code is the one described under "Read path: what changed"; see there for what a read costs.',
        '',
      );
    } else if (t.what.startsWith('ingest')) {
      const task: MicroTask = t.what.includes('book') ? 'ingestBook' : 'ingestDelta';
      const nn = n(task, 'native');
      const pong = n('ingestPong', 'native');
      const wd = n('writerDelta', 'native');
      const prof = r.profiles?.find(
        (p) => p.backend === 'native' && p.kind === (task === 'ingestBook' ? 'book' : 'delta'),
      );
      L.push(
        `Native median ${nn ? fmtNs(nn.medianNs) : '–'}. Of that, an ingest call that does nothing (a 4-byte \`PONG\`: N-API call, control-frame check, the store's clock read) costs ${pong ? fmtNs(pong.medianNs) : '–'}` +
          (task === 'ingestDelta' && wd
            ? `, and the price_change straight into the writer (no store wrapper, no clock read) ${fmtNs(wd.medianNs)}`
            : '') +
          `. ${prof ? `CPU profile: ${prof.top[0]?.selfPct.toFixed(0)}% of the loop's time is inside the native call.` : ''} ` +
          'The remaining time is the Rust writer (parse, validation, apply, end-of-frame checks, publish), which is native/ (being optimised separately); the TypeScript side of an ingest is the clock read and a watcher check.',
        '',
      );
    } else if (t.what.startsWith('frame arrival')) {
      const fl = r.e2e.find((e) => e.backend === 'floor');
      const en = r.e2e.find((e) => e.kind === 'feed' && e.backend === 'native');
      L.push(
        `The transport floor in the same run (a bare \`ws\` client in the worker, publishing the change number with one atomic store: no parse, no table) has p50 ${fl ? us(fl.p50Us) : '–'}, p99 ${fl ? us(fl.p99Us) : '–'}; ` +
          `the native feed p50 ${en ? us(en.p50Us) : '–'}, p99 ${en ? us(en.p99Us) : '–'}. ` +
          (fl && fl.p99Us >= 50
            ? `The floor alone misses the target by ${us(fl.p99Us - 50)}: the tail is this machine's loopback wake-ups and scheduling, which any worker-based design pays. `
            : '') +
          'The work polybook adds per frame is small next to it: a native ingest of these frames is ~0.5-3 µs (table above) and the read that first sees a change < 1 µs; ' +
          "the rest of the feed worker's per-frame work is `ws` framing and the feed's bookkeeping. With 2 shared vCPUs the main thread spins on one, and the sender, the feed worker, the clock ticker and other tenants share the other, so a frame waits whenever the feed worker is not on a core: " +
          `the read loop with no traffic at all loses ${en ? (en.pauseIdle.over100usTimeShare * 100).toFixed(1) : '?'}% of its time in gaps over 100 µs, and ${en ? (en.pause.over100usTimeShare * 100).toFixed(1) : '?'}% under load. ` +
          `Load average ${r.load.before[0].toFixed(2)} before the run, ${r.load.after[0].toFixed(2)} after. Meeting a 50 µs p99 needs a core for the feed worker that nothing else wants (an idle or isolated core).`,
        '',
      );
    } else if (t.what.startsWith('memory')) {
      const m = r.memory.find((x) => x.kind === 'native');
      if (m) {
        const levels = m.tokens * m.levelsPerBook;
        L.push(
          `${m.tokens.toLocaleString('en-US')} tokens x ${m.levelsPerBook} levels = ${(levels / 1e6).toFixed(1)}M full-depth levels. RSS ${mb(m.rssBytes)} = ${mb(m.baseRssBytes)} for Node and the modules + ${mb(m.tableBytes)} for the shared table (${Math.round(m.tableBytes / m.tokens)} B per token at depth 20) + ` +
            `${mb(m.rssBytes - m.baseRssBytes - m.tableBytes)} for the native writer's full-depth books, ${((m.rssBytes - m.baseRssBytes - m.tableBytes) / levels).toFixed(1)} B per level. ` +
            `Under 200 MB with this base and table leaves ${((200 * 2 ** 20 - m.baseRssBytes - m.tableBytes) / levels).toFixed(1)} B per level for a price, a size and their exact texts (kept for the hash check), so the writer's level representation (native/core/src/book.rs, decimal.rs) would have to be several times more compact. ` +
            `Reading every book once through \`get()\` adds the reader's cached depth-20 views on the JS heap (${mb(m.rssAfterReadsBytes)} RSS).`,
          '',
        );
      }
    } else if (t.what.startsWith('warmup')) {
      const wn = r.warmup.find((w) => w.backend === 'native' && !w.worker);
      L.push(
        `All ${wn?.tokens ?? 10_000} books ready after ${wn ? (wn.to100Ms / 1000).toFixed(2) : '?'} s (80% after ${wn ? (wn.to80Ms / 1000).toFixed(2) : '?'} s). ` +
          'In that time the simulator (same machine, its own thread) builds and hashes 10,000 opening books and answers 50 subscriptions of 200 tokens, and the cache parses 50 snapshot frames of 200 books each: both sides share the 2 vCPUs with each other and with other tenants ' +
          `(load average ${r.load.before[0].toFixed(2)} before the run, ${r.load.after[0].toFixed(2)} after). See the warmup table for the worker-mode figures.`,
        '',
      );
    } else if (t.what.startsWith('main-thread pause')) {
      const en = r.e2e.find((e) => e.kind === 'feed' && e.backend === 'native');
      L.push(
        `Loop gaps under load: ${en ? `p99.9 ${us(en.pause.p999Us)}` : '–'}; idle control ${en ? `p99.9 ${us(en.pauseIdle.p999Us)}` : '–'}. The worker's ingestion does not stop the main thread (separate isolate and heap, no locks); a long gap is the main thread descheduled while the other threads and tenants run on a 2-vCPU machine.`,
        '',
      );
    } else if (t.what.startsWith('strategy under load (b)')) {
      const hn = e2eRow(r, 'strategy-handle', 'native');
      const gn = e2eRow(r, 'strategy-get', 'native');
      const fn = e2eRow(r, 'feed', 'native');
      L.push(
        `GCs beyond the idle loop's rate: ${hn ? Math.max(0, gcsFromReads(hn)).toFixed(1) : '–'} (the handle's reads allocate nothing: allocation table). ` +
          `Pauses: p99.9 ${hn ? us(hn.pause.p999Us) : '–'} under load against ${hn ? us(hn.pauseIdle.p999Us) : '–'} idle. The idle loop has the main thread nearly alone; under load the feed worker and the sender need the machine's other core and more, so the main thread is descheduled now and then whatever it reads: under the same traffic the \`feed\` row's loop, which reads no levels at all, has p99.9 ${fn ? us(fn.pause.p999Us) : '–'}, and the \`get()\` strategy ${gn ? us(gn.pause.p999Us) : '–'} (max ${gn ? us(gn.pause.maxUs) : '–'}, with ${gn?.gcs ?? '–'} GCs taking ${gn ? gn.gcMs.toFixed(1) : '–'} ms). ` +
          `Within 10% of idle needs a core for the feed worker that nothing else wants (load average ${r.load.before[0].toFixed(2)} before the run, ${r.load.after[0].toFixed(2)} after).`,
        '',
      );
    } else if (t.what.startsWith('memory after reading')) {
      L.push(
        "Depth reads keep nothing in the reader; what grows is the handles' own memory. See the memory table: the handles, each with its level storage, are made before the reads.",
        '',
      );
    } else if (t.what.startsWith('allocations')) {
      L.push('See the allocation table: GCs or heap growth during the loops.', '');
    } else {
      L.push('See the detail tables.', '');
    }
  }
  return L.join('\n');
}
