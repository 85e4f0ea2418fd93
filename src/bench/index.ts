/**
 * The benchmark suite: native and pure-TS backends side by side in one run, plus the naive
 * `Map` + `JSON.parse` baseline where it applies. Writes bench/results.json and bench/RESULTS.md
 * (not with `quick`).
 *
 * - src/bench/micro.ts: read and ingest micro-benchmarks (medians and p99 over batched samples),
 *   reads of unchanged and of changed books (`get()`, `handle.top()`, `handle.book()`).
 * - src/bench/alloc.ts: allocations on the read path (heap statistics and GC events over long
 *   loops), unchanged books and depth reads of changing books.
 * - src/bench/e2e.ts: with ingestion in a worker (sender in its own worker thread, 20,000
 *   changes/s over loopback): frame-to-visible latency and main-thread pauses, the transport
 *   floor, the latency split by stage, and a strategy reading depth 20 of every changed book with
 *   `get()` and with a handle's depth reads (GCs per second, pauses, reads per second).
 * - src/bench/memory.ts: resident memory for 50,000 tokens with real-depth books (child
 *   processes), before and after reading every book once (handles' depth reads, then `get()`).
 * - src/bench/warmup.ts: `BookCache.start` against the simulator, 10,000 tokens.
 * - src/bench/json.ts: the writer's frame scanner against sonic-rs and serde_json (Rust, a checkout only).
 * - src/bench/server.ts: the book server: attached reads, frame to visible in another process,
 *   a strategy's restart to its first read, the server's memory.
 *
 * Run: `npm run bench` or `polybook bench [--quick]`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, arch, loadavg, release } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BackendName } from '../backend/index.js';
import { nativeAvailability } from '../backend/index.js';
import { runMicro } from './micro.js';
import { runAlloc } from './alloc.js';
import { runE2e, startSim, type E2eRow } from './e2e.js';
import { runMemory } from './memory.js';
import { runWarmup, type WarmupRow } from './warmup.js';
import { renderMarkdown, updateReadme, type Results } from './report.js';
import { runProfiles, type ProfileRow } from './profile.js';
import { analysis } from './analysis.js';
import { runJsonCompare } from './json.js';
import { attachedConsumer, runAttachedReads, runRestart, type ServerBench } from './server.js';

export async function runBenchmarks({
  quick = false,
  log = (s: string) => void process.stdout.write(s),
}: {
  quick?: boolean;
  log?: (s: string) => void;
} = {}): Promise<void> {
  const t0 = performance.now();
  const before = loadavg();
  const native = nativeAvailability();
  const backends: BackendName[] = native.available ? ['native', 'js'] : ['js'];
  if (!native.available) log(`native backend unavailable (${native.error.message}): pure TS only\n`);
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()}-${arch()} ${release()}, Node ${process.version}`;
  log(`polybook bench${quick ? ' --quick' : ''}: ${machine}\n`);

  log('reads and ingest\n');
  const micro = runMicro(backends, quick, log);
  // The book server needs the native addon and Linux (docs/SERVER.md).
  const serverOk = native.available && platform() === 'linux';
  let server: ServerBench | undefined;
  if (serverOk) {
    log('reads attached to a book server (fresh processes)\n');
    server = { reads: await runAttachedReads(quick, log), restart: [] };
  }

  log('allocations on the read path\n');
  const alloc = await runAlloc(backends, quick);
  for (const a of alloc)
    log(
      `  ${a.backend.padEnd(6)} unchanged books: ${a.gcs} GCs, heap ${a.heapDeltaBytes} B, new space ${a.newSpaceDeltaBytes} B over ${2 * a.reads} reads (${a.elapsedMs.toFixed(0)} ms); ` +
        `depth reads of changing books: ${a.depth.gcs} GCs, heap ${a.depth.heapDeltaBytes} B over ${a.depth.reads} reads; ` +
        `get() after a change: ${a.getChangedBytesPerRead.size.toFixed(0)} B (one level), ${a.getChangedBytesPerRead.shift.toFixed(0)} B (insert at the top)\n`,
    );

  log('end-to-end latency and main-thread pauses (ingest in a worker)\n');
  const sim = await startSim(quick);
  let e2e: E2eRow[];
  try {
    e2e = await runE2e(
      sim,
      backends,
      quick,
      log,
      undefined,
      serverOk ? [{ backend: 'native', consumer: attachedConsumer('native') }] : [],
    );
  } finally {
    await sim.close();
  }

  const memTokens = quick ? 10_000 : 50_000;
  log(`memory, ${memTokens} tokens (child process each)\n`);
  const memory = await runMemory([...backends, 'naive', ...(serverOk ? (['server'] as const) : [])], memTokens);
  for (const m of memory)
    log(
      `  ${m.kind.padEnd(6)} RSS ${(m.rssBytes / 2 ** 20).toFixed(0)} MB (base ${(m.baseRssBytes / 2 ** 20).toFixed(0)} MB, table ${(m.tableBytes / 2 ** 20).toFixed(0)} MB), ingest ${m.ingestMs.toFixed(0)} ms` +
        (m.rssWithHandlesBytes === null
          ? '\n'
          : `; with a handle per token ${(m.rssWithHandlesBytes / 2 ** 20).toFixed(0)} MB, after depth reads of every book ${((m.rssAfterDepthReadsBytes ?? 0) / 2 ** 20).toFixed(0)} MB, after get() of every book ${((m.rssAfterReadsBytes ?? 0) / 2 ** 20).toFixed(0)} MB\n`),
    );

  log('warmup, 10,000 tokens on the simulator\n');
  const warmup: WarmupRow[] = [];
  for (const b of backends) warmup.push(await runWarmup(b, false, 5000, log));
  if (!quick) for (const b of backends) warmup.push(await runWarmup(b, true, 5000, log));

  if (server) {
    log(`book server: strategy restart against a warm server, ${quick ? '2,000' : '10,000'} tokens\n`);
    server.restart = await runRestart(quick ? 1000 : 5000, log);
  }

  let profiles: ProfileRow[] | undefined;
  if (!quick) {
    log('CPU profiles of the ingest loops (node --cpu-prof)\n');
    profiles = await runProfiles(backends, 1500);
    for (const p of profiles)
      log(
        `  ${p.backend.padEnd(6)} ${p.kind.padEnd(5)} ${p.top
          .slice(0, 3)
          .map((e) => `${e.selfPct.toFixed(1)}% ${e.fn}`)
          .join('; ')}\n`,
      );
  }

  log('JSON parse to levels, Rust: the frame scanner against sonic-rs and serde_json\n');
  const json = await runJsonCompare(quick);
  if (json.rows === null) log(`  not run: ${json.why}\n`);
  else
    for (const j of json.rows)
      log(
        `  ${j.frame.padEnd(30)} scanner ${j.scannerNs.toFixed(0)} ns, sonic-rs ${j.sonicNs.toFixed(0)} ns, serde_json ${j.serdeJsonNs.toFixed(0)} ns\n`,
      );

  const results: Results = {
    machine,
    date: new Date().toISOString(),
    quick,
    load: { before, after: loadavg() },
    durationS: (performance.now() - t0) / 1000,
    micro,
    alloc,
    e2e,
    memory,
    warmup,
    json,
    profiles,
    server,
  };
  const md = renderMarkdown(results, analysis(results));
  log(`\n${md}`);
  if (!quick) {
    // In a checkout the results go to bench/ (the README quotes them); an installed package has no
    // bench/ folder, so they go to the working directory.
    const repoDir = new URL('../../bench/', import.meta.url);
    const dir = existsSync(new URL('results.json', repoDir)) ? repoDir : pathToFileURL(`${process.cwd()}/`);
    writeFileSync(new URL('results.json', dir), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(new URL('RESULTS.md', dir), md);
    log(`written to ${fileURLToPath(new URL('RESULTS.md', dir))}\n`);
    // The README quotes the target table between its markers (a checkout only).
    const readme = new URL('../README.md', repoDir);
    if (dir === repoDir && existsSync(readme)) {
      const text = readFileSync(readme, 'utf8');
      const next = updateReadme(text, results);
      if (next !== text) {
        writeFileSync(readme, next);
        log(`and the table in ${fileURLToPath(readme)}\n`);
      }
    }
  }
}
