/**
 * Writer in a worker, reader on the main thread: millions of reads, zero torn or crossed reads,
 * through top(), book() with its level getters, and get().
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { BookTable } from '../src/table/book-table.js';
import { BookStore } from '../src/table/store.js';
import { createTable } from '../src/table/layout.js';
import { forwardingWriter } from '../src/table/writer.js';
import type { BookHandle } from '../src/table/view.js';
import { BACKENDS } from './helpers.js';

describe.each(BACKENDS)('torn-read stress (%s writer in a worker)', (backend) => {
  it('never serves a torn or crossed book', async () => {
    const tokens = ['t0', 't1', 't2', 't3'];
    // The main thread only reads: the worker owns the table's writes, so its commands go nowhere.
    const reader = new BookTable(
      createTable(8, 20),
      forwardingWriter(() => {}),
      backend,
      'precise',
    );
    reader.subscribe(tokens);
    const stop = new SharedArrayBuffer(4);
    // The feed's bootstrap registers tsx in the worker thread, then imports the .ts entry.
    const worker = new Worker(new URL('../src/feed/ts-worker-bootstrap.mjs', import.meta.url), {
      workerData: { table: reader.table, backend, tokens, stop },
      argv: [new URL('./stress-writer.ts', import.meta.url).href],
    });
    await once(worker, 'message');
    const handles = tokens.map((t) => reader.handle(t));
    const depthHandles = tokens.map((t) => reader.handle(t));
    let depthReads = 0;
    /** Depth reads whose getters were read again after the writer had published a newer version. */
    let rereadAfterChange = 0;
    let tops = 0;
    let _books = 0;
    let torn = 0;
    const lastSeq = new Array(tokens.length).fill(0);
    let changes = 0;
    const deadline = Date.now() + 3000;
    while (tops < 5_000_000 && Date.now() < deadline) {
      for (let i = 0; i < 1000; i++) {
        const h = handles[i & 3];
        if (h.top(60_000)) {
          tops++;
          if (!(h.bidSize === h.askSize && h.bidPrice === 0.4 && h.askPrice === 0.6)) torn++;
        }
      }
      for (let j = 0; j < tokens.length; j++) {
        const h = depthHandles[j];
        if (h.book(60_000)) {
          depthReads++;
          const k = checkDepth(h);
          if (k < 0) torn++;
          // Now and then wait until the writer has published a newer version, then read the
          // getters again: they still give the version book() validated, unchanged.
          if ((depthReads & 63) === 0) {
            const slot = reader.slotOf(tokens[j]);
            const b32 = reader.reader.base32(slot);
            const seen = Atomics.load(reader.reader.i32, b32);
            for (let spin = 0; spin < 100_000 && Atomics.load(reader.reader.i32, b32) === seen; spin++);
            if (Atomics.load(reader.reader.i32, b32) !== seen) rereadAfterChange++;
            if (checkDepth(h) !== k) torn++;
          }
        }
        const b = reader.get(tokens[j], 60_000);
        if (!b) continue;
        _books++;
        const k = b.bids[0].size;
        if (b.bids.length !== b.asks.length || b.bids.length !== 1 + (k % 20)) torn++;
        for (const l of b.bids) if (l.size !== k) torn++;
        for (const l of b.asks) if (l.size !== k) torn++;
        if (!(b.bestBid! < b.bestAsk!)) torn++;
        if (b.sequence !== lastSeq[j]) changes++;
        lastSeq[j] = b.sequence;
      }
    }
    // Depth reads alone: book() spins over the tokens, so it copies every version the writer
    // publishes (a copy races the writer's next publish), and now and then reads its getters
    // again after the writer has moved on.
    const depthEnd = Date.now() + 1500;
    const lastDepthSeq = new Array(tokens.length).fill(-1);
    let depthCopies = 0;
    while (Date.now() < depthEnd) {
      for (let j = 0; j < tokens.length; j++) {
        const h = depthHandles[j];
        if (!h.book(60_000)) continue;
        depthReads++;
        if (h.sequence !== lastDepthSeq[j]) depthCopies++;
        lastDepthSeq[j] = h.sequence;
        if (checkDepth(h) < 0) torn++;
      }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const [done] = await once(worker, 'message');
    await worker.terminate();
    reader.close();
    expect(torn).toBe(0);
    expect(tops).toBeGreaterThan(1_000_000);
    expect(depthReads).toBeGreaterThan(10_000);
    expect(depthCopies).toBeGreaterThan(100);
    expect(rereadAfterChange).toBeGreaterThan(10);
    // The reader really raced the writer: it saw many different versions.
    expect(changes).toBeGreaterThan(100);
    expect(done.books).toBeGreaterThan(100);
  }, 30_000);
});

/**
 * The levels of one book() as stress-writer.ts writes version k: 1 + k % 20 levels per side, every
 * size k, bids 0.40, 0.39, ... and asks 0.60, 0.61, ... best first, and the top-of-book fields
 * equal to level 0. Returns k, or -1 if the levels mix versions or disagree with the writer.
 */
function checkDepth(h: BookHandle): number {
  const k = h.bidSizeAt(0);
  const n = 1 + (k % 20);
  if (h.bidDepth !== n || h.askDepth !== n) return -1;
  for (let i = 0; i < n; i++) {
    if (h.bidSizeAt(i) !== k || h.askSizeAt(i) !== k) return -1;
    if (h.bidPriceAt(i) !== (40 - i) / 100 || h.askPriceAt(i) !== (60 + i) / 100) return -1;
  }
  if (h.bidPrice !== 0.4 || h.askPrice !== 0.6 || h.bidSize !== k || h.askSize !== k) return -1;
  return k;
}

describe('depth reads race a writer that publishes with only short pauses', () => {
  it('never mixes two versions in one book() (reader side of the seqlock)', async () => {
    const store = new BookStore({ capacity: 4, maxDepth: 20, clock: 'precise', backend: 'js' });
    store.subscribe(['t0']);
    store.ingest(
      `{"event_type":"book","market":"0x1","asset_id":"t0","timestamp":"1","bids":[{"price":"0.4","size":"1"}],"asks":[{"price":"0.6","size":"1"}]}`,
    );
    const stop = new SharedArrayBuffer(4);
    const worker = new Worker(new URL('../src/feed/ts-worker-bootstrap.mjs', import.meta.url), {
      workerData: { table: store.table, slot: store.slotOf('t0'), stop },
      argv: [new URL('./stress-hammer.ts', import.meta.url).href],
    });
    await once(worker, 'message');
    const h = store.handle('t0');
    let copies = 0;
    let torn = 0;
    let last = -1;
    // Until 20,000 versions were copied (or 4 s): on a loaded machine the two threads are not
    // always on a core at the same time, and only then can a copy overlap a write.
    const end = Date.now() + 4000;
    while (copies < 20_000 && Date.now() < end) {
      for (let i = 0; i < 100; i++) {
        // Version 1 is the book ingested above; the worker's versions start at 2.
        if (!h.book(60_000) || h.sequence === 1) continue;
        if (h.sequence !== last) copies++;
        last = h.sequence;
        if (checkDepth(h) !== h.sequence) torn++;
      }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const [done] = await once(worker, 'message');
    await worker.terminate();
    store.close();
    expect(torn).toBe(0);
    // The writer really ran while we read (how often the threads overlapped depends on the machine).
    expect(copies).toBeGreaterThan(50);
    expect(done.versions).toBeGreaterThan(copies);
  }, 30_000);
});
