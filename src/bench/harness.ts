/**
 * Timing harness of the benchmark suite: batched samples timed by tinybench (whose per-task floor
 * is ~30 ns, hence batches), reported per operation as the median and the p99 over samples.
 * A batch is long enough that the two timer reads (~60 ns) are under 1% of it.
 */
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preciseNow } from '../table/clock.js';

/** Percentile (0..1) of an ascending-sorted array, nearest rank. */
export function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

export interface Sampled {
  /** Per operation, ns. */
  medianNs: number;
  p99Ns: number;
  samples: number;
  /** Operations per sample. */
  batch: number;
}

/**
 * Runs `fn` (one batch of operations) under tinybench: `warmupMs` of warm-up, then at least
 * `timeMs` and `minSamples` timed batches. Returns the batch durations, ms.
 */
export function collect(fn: () => void, timeMs: number, warmupMs: number, minSamples = 50): number[] {
  const bench = new Bench({
    time: timeMs,
    warmupTime: warmupMs,
    iterations: minSamples,
    retainSamples: true,
    throws: true,
  });
  bench.add('batch', fn);
  const [task] = bench.runSync();
  const r = task.result as { latency?: { samples?: ArrayLike<number> } } | undefined;
  const samples = r?.latency?.samples;
  if (!samples || samples.length === 0)
    throw new Error(`benchmark produced no samples: ${JSON.stringify(task.result)}`);
  return Array.from(samples);
}

/** Per-operation statistics of batch durations (ms) of `batch` operations each. */
export function stats(times: number[], batch: number): Sampled {
  const s = Float64Array.from(times).sort();
  return { medianNs: (pct(s, 0.5) * 1e6) / batch, p99Ns: (pct(s, 0.99) * 1e6) / batch, samples: s.length, batch };
}

/** {@link collect} then {@link stats}. */
export function sample(fn: () => void, batch: number, timeMs: number, warmupMs: number, minSamples = 200): Sampled {
  return stats(collect(fn, timeMs, warmupMs, minSamples), batch);
}

/** The clock every thread shares: the host's monotonic clock, ms (see src/table/clock.ts). */
export const wallNow = preciseNow;

const HERE = import.meta.url;
/** Whether the suite runs from its TypeScript sources (tsx) rather than the compiled dist/. */
const FROM_TS = HERE.endsWith('.ts');

function sibling(name: string): URL {
  return new URL(`./${name}.${FROM_TS ? 'ts' : 'js'}`, HERE);
}

/** Starts `src/bench/<name>` in a worker thread (through the tsx bootstrap when running from sources). */
export function benchWorker(name: string, workerData: unknown): Worker {
  const entry = sibling(name);
  if (!FROM_TS) return new Worker(entry, { workerData });
  return new Worker(new URL('../feed/ts-worker-bootstrap.mjs', HERE), { workerData, argv: [entry.href] });
}

/** Starts `src/bench/<name>` in a child process (through tsx when running from sources), stdout and stderr piped. */
export function benchSpawn(
  name: string,
  args: string[],
  nodeFlags: string[] = [],
): ChildProcessByStdio<null, Readable, Readable> {
  const file = fileURLToPath(sibling(name));
  const loader = FROM_TS ? ['--import', import.meta.resolve('tsx')] : [];
  return spawn(process.execPath, [...nodeFlags, ...loader, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `src/bench/<name>` in a child process (own heap and RSS); resolves with its last stdout line parsed as JSON. */
export function benchChild(name: string, args: string[], nodeFlags: string[] = []): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = benchSpawn(name, args, nodeFlags);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0)
        return reject(new Error(`bench child ${name} ${args.join(' ')} exited ${code}: ${err.trim().slice(-2000)}`));
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(
          new Error(`bench child ${name}: no JSON result (stdout: ${out.slice(-500)}, stderr: ${err.slice(-1000)})`),
        );
      }
    });
  });
}

/**
 * Passes a large JSON argument to a child process through a temporary file (argv is limited):
 * returns `@path`, which {@link readArg} reads back.
 */
export function fileArg(value: unknown): string {
  if (!argDir) {
    const dir = mkdtempSync(join(tmpdir(), 'polybook-bench-'));
    argDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(argDir, `arg-${++argFiles}.json`);
  writeFileSync(path, JSON.stringify(value));
  return `@${path}`;
}

/** The directory of this process's {@link fileArg} files (removed when the process exits). */
let argDir: string | undefined;
let argFiles = 0;

/** A JSON argument, inline or `@path` (see {@link fileArg}). */
export function readArg<T>(arg: string | undefined): T {
  if (arg === undefined) throw new Error('bench child: missing argument');
  return JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg) as T;
}

/** Sleeps without blocking the event loop. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until true or `timeoutMs` passed; returns whether it became true. */
export async function waitFor(cond: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(everyMs);
  }
  return true;
}
