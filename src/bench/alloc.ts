/**
 * Allocations on the read path: a long loop of `handle.top()` and of unchanged-book `get()`
 * with the heap observed around it: new-space and total heap use (v8.getHeapSpaceStatistics),
 * and every GC (PerformanceObserver 'gc' entries) during the loop. No GC and a heap that does not
 * grow over tens of millions of reads means the reads allocate nothing.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { BookStore } from '../table/store.js';
import { benchChild } from './harness.js';
import type { BackendName } from '../backend/index.js';
import { BOOK100, NO_BOOK, YES, NO } from './fixtures.js';

export interface AllocRow {
  backend: BackendName;
  /** Reads per kind (top() and get() each). */
  reads: number;
  /** GCs (any kind) observed while the reads ran. */
  gcs: number;
  /** Growth of the used heap (all spaces) over the loop, bytes. */
  heapDeltaBytes: number;
  /** The same measurement around zero reads: what measuring allocates by itself, bytes. */
  controlDeltaBytes: number;
  /** Growth of new-space use over the loop (where short-lived allocations go), bytes. */
  newSpaceDeltaBytes: number;
  /** Upper bound of allocation per read (heap growth / reads), bytes. */
  bytesPerRead: number;
  elapsedMs: number;
}

function heap(): { used: number; newSpace: number } {
  let used = 0;
  let newSpace = 0;
  for (const s of getHeapSpaceStatistics()) {
    used += s.space_used_size;
    if (s.space_name === 'new_space') newSpace = s.space_used_size;
  }
  return { used, newSpace };
}

export async function runAlloc(backends: BackendName[], quick: boolean): Promise<AllocRow[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Without --expose-gc, measure in a child process that has it (no code evaluation to reach gc).
  if (!gc)
    return (await benchChild(
      'alloc-child',
      [backends.join(','), quick ? 'quick' : 'full'],
      ['--expose-gc'],
    )) as AllocRow[];
  const reads = quick ? 2_000_000 : 10_000_000;
  const rows: AllocRow[] = [];
  for (const backend of backends) {
    const s = new BookStore({ backend, capacity: 1024, maxDepth: 20, clock: 'coarse' });
    s.subscribe([YES, NO]);
    s.ingest(BOOK100);
    s.ingest(NO_BOOK);
    const h = s.handle(YES);
    // The loops only count hits (small integers): reading a double (a price) in a loop that is not
    // optimised yet would box it, and that is the harness allocating, not the read.
    const tops = (n: number): number => {
      let hits = 0;
      for (let i = 0; i < n; i++) if (h.top(60_000)) hits++;
      return hits;
    };
    const gets = (n: number): number => {
      let hits = 0;
      for (let i = 0; i < n; i++) if (s.get(YES, 60_000) !== null) hits++;
      return hits;
    };
    // Optimise first: the interpreter and the compiler allocate, the optimised reads must not.
    for (let r = 0; r < 30; r++) {
      tops(50_000);
      gets(50_000);
    }
    gc();
    gc();
    const entries: { start: number; kind: number }[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        entries.push({ start: e.startTime, kind: (e as { detail?: { kind?: number } }).detail?.kind ?? 0 });
    });
    obs.observe({ entryTypes: ['gc'] });
    // Control: the same measurement around zero reads (what the measuring itself allocates).
    const c0 = heap();
    const c = tops(0) + gets(0);
    const c1 = heap();
    const before = heap();
    const hitsBefore = s.metrics().hits;
    const t0 = performance.now();
    const x = tops(reads) + gets(reads);
    const t1 = performance.now();
    const after = heap();
    await new Promise((r) => setImmediate(r)); // GC entries are delivered asynchronously
    await new Promise((r) => setTimeout(r, 20));
    obs.disconnect();
    const served = s.metrics().hits - hitsBefore;
    if (served !== 2 * reads || x !== 2 * reads)
      throw new Error(`alloc bench (${backend}): ${served} of ${2 * reads} reads served`);
    const gcs = entries.filter((e) => e.start >= t0 && e.start <= t1).length;
    const delta = after.used - before.used;
    rows.push({
      backend,
      reads,
      gcs,
      heapDeltaBytes: delta,
      controlDeltaBytes: c1.used - c0.used + c,
      newSpaceDeltaBytes: after.newSpace - before.newSpace,
      bytesPerRead: Math.max(0, delta - (c1.used - c0.used)) / (2 * reads),
      elapsedMs: t1 - t0,
    });
    s.close();
  }
  return rows;
}
