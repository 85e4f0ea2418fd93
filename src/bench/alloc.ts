/**
 * Allocations on the read path, with the heap observed around long loops: new-space and total heap
 * use (v8.getHeapSpaceStatistics), and every GC (PerformanceObserver 'gc' entries) during the loop.
 * No GC and a heap that does not grow over tens of millions of reads means the reads allocate
 * nothing.
 *
 * - unchanged books: `handle.top()` and `get()`;
 * - changing books, depth reads: a change before every read (published in place by the bench's
 *   SlotChanger, which allocates nothing), then `handle.book()` and every level through the getters;
 * - changing books, `get()`: bytes per read (it builds a new Book per change, by design), measured
 *   in chunks of 200 reads right after a GC, so that no scavenge falls inside a chunk.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { BookStore } from '../table/store.js';
import { benchChild } from './harness.js';
import type { BackendName } from '../backend/index.js';
import { BOOK100, NO_BOOK, YES, NO } from './fixtures.js';
import { SlotChanger, type ChangeKind } from './changer.js';

export interface LoopAlloc {
  /** Reads in the loop. */
  reads: number;
  /** GCs (any kind) observed while the reads ran. */
  gcs: number;
  /** Growth of the used heap (all spaces) over the loop, bytes. */
  heapDeltaBytes: number;
  /** Growth of new-space use over the loop (where short-lived allocations go), bytes. */
  newSpaceDeltaBytes: number;
  /** The same measurement around zero reads: what measuring allocates by itself, bytes. */
  controlDeltaBytes: number;
  /** Upper bound of allocation per read (heap growth / reads), bytes. */
  bytesPerRead: number;
  elapsedMs: number;
}

export interface AllocRow {
  backend: BackendName;
  /** Reads per kind (top() and get() each). */
  reads: number;
  /** GCs (any kind) observed while the reads of unchanged books ran. */
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
  /** Depth reads of changing books: a change, then `book()` and all 20 + 20 levels, per read. */
  depth: LoopAlloc;
  /** `get()` right after a change (median bytes per read over GC-free chunks), by kind of change. */
  getChangedBytesPerRead: Record<ChangeKind, number>;
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

/** Runs `loop(reads)` (which returns how many reads were served) with GCs and heap use observed. */
async function observe(
  loop: (n: number) => number,
  reads: number,
  gc: () => void,
): Promise<LoopAlloc & { served: number }> {
  gc();
  gc();
  const entries: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  // Control: the same measurement around zero reads (what the measuring itself allocates).
  const c0 = heap();
  const c = loop(0);
  const c1 = heap();
  const before = heap();
  const t0 = performance.now();
  const served = loop(reads);
  const t1 = performance.now();
  const after = heap();
  await new Promise((r) => setImmediate(r)); // GC entries are delivered asynchronously
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  const delta = after.used - before.used;
  return {
    reads,
    served,
    gcs: entries.filter((t) => t >= t0 && t <= t1).length,
    heapDeltaBytes: delta,
    newSpaceDeltaBytes: after.newSpace - before.newSpace,
    controlDeltaBytes: c1.used - c0.used + c,
    bytesPerRead: Math.max(0, delta - (c1.used - c0.used)) / reads,
    elapsedMs: t1 - t0,
  };
}

function storeFor(backend: BackendName): BookStore {
  const s = new BookStore({ backend, capacity: 1024, maxDepth: 20, clock: 'coarse' });
  s.subscribe([YES, NO]);
  s.ingest(BOOK100);
  s.ingest(NO_BOOK);
  return s;
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
    const s = storeFor(backend);
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
    const hitsBefore = s.metrics().hits;
    const unchanged = await observe((n) => tops(n) + gets(n), reads, gc);
    const served = s.metrics().hits - hitsBefore;
    if (served !== 2 * reads || unchanged.served !== 2 * reads)
      throw new Error(`alloc bench (${backend}): ${served} of ${2 * reads} reads served`);

    // Changing books: a store only read from (the changer writes its slot in place).
    const cs = storeFor(backend);
    const ch = cs.handle(YES);
    const sizes = new SlotChanger(cs, YES, 'size', 3);
    const shifts = new SlotChanger(cs, YES, 'shift');
    const depthReads = (n: number): number => {
      let levels = 0;
      for (let i = 0; i < n; i++) {
        if ((i & 1) === 0) sizes.change();
        else shifts.change();
        if (!ch.book(60_000)) continue;
        for (let k = 0; k < ch.bidDepth; k++) if (ch.bidPriceAt(k) > 0 && ch.bidSizeAt(k) > 0) levels++;
        for (let k = 0; k < ch.askDepth; k++) if (ch.askPriceAt(k) > 0 && ch.askSizeAt(k) > 0) levels++;
      }
      return levels;
    };
    for (let r = 0; r < 30; r++) depthReads(50_000);
    const depth = await observe(depthReads, reads, gc);
    if (depth.served !== reads * 40)
      throw new Error(`alloc bench (${backend}): ${depth.served} of ${reads * 40} levels read`);

    const getChangedBytesPerRead = {} as Record<ChangeKind, number>;
    for (const kind of ['size', 'shift'] as ChangeKind[]) {
      const changer = new SlotChanger(cs, YES, kind, 3);
      const changedGets = (n: number): number => {
        let levels = 0;
        for (let i = 0; i < n; i++) {
          changer.change();
          const b = cs.get(YES, 60_000);
          if (b !== null) levels += b.bids.length + b.asks.length;
        }
        return levels;
      };
      for (let r = 0; r < 30; r++) changedGets(20_000);
      const per: number[] = [];
      for (let r = 0; r < 41; r++) {
        gc();
        const a = heap().newSpace;
        // 200 reads, ~100 KB: well inside the new space a GC leaves (1 MB), so no scavenge falls
        // inside a chunk (one would show as a drop: such a chunk is not counted).
        changedGets(200);
        const d = heap().newSpace - a;
        if (d > 0) per.push(d / 200);
      }
      per.sort((x, y) => x - y);
      getChangedBytesPerRead[kind] = per.length ? per[per.length >> 1] : Number.NaN;
    }
    const { served: _s, ...depthRow } = depth;
    rows.push({
      backend,
      reads,
      gcs: unchanged.gcs,
      heapDeltaBytes: unchanged.heapDeltaBytes,
      controlDeltaBytes: unchanged.controlDeltaBytes,
      newSpaceDeltaBytes: unchanged.newSpaceDeltaBytes,
      // observe() divided by `reads`; the loop made two reads per count (top and get).
      bytesPerRead: unchanged.bytesPerRead / 2,
      elapsedMs: unchanged.elapsedMs,
      depth: depthRow,
      getChangedBytesPerRead,
    });
    s.close();
    cs.close();
  }
  return rows;
}
