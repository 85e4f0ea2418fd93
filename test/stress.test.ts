/**
 * Writer in a worker, reader on the main thread: millions of reads, zero torn or crossed reads.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { BookTable } from '../src/table/book-table.js';
import { createTable } from '../src/table/layout.js';
import { forwardingWriter } from '../src/table/writer.js';
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
    let tops = 0;
    let _books = 0;
    let torn = 0;
    const lastSeq = new Array(tokens.length).fill(0);
    let changes = 0;
    const deadline = Date.now() + 4000;
    while (tops < 5_000_000 && Date.now() < deadline) {
      for (let i = 0; i < 1000; i++) {
        const h = handles[i & 3];
        if (h.top(60_000)) {
          tops++;
          if (!(h.bidSize === h.askSize && h.bidPrice === 0.4 && h.askPrice === 0.6)) torn++;
        }
      }
      for (let j = 0; j < tokens.length; j++) {
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
    Atomics.store(new Int32Array(stop), 0, 1);
    const [done] = await once(worker, 'message');
    await worker.terminate();
    reader.close();
    expect(torn).toBe(0);
    expect(tops).toBeGreaterThan(1_000_000);
    // The reader really raced the writer: it saw many different versions.
    expect(changes).toBeGreaterThan(100);
    expect(done.books).toBeGreaterThan(100);
  }, 30_000);
});
