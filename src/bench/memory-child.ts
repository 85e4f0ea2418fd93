/**
 * Memory benchmark child process (one per backend, so resident memory is not mixed):
 * `memory-child <native|js|naive|server> <tokens>` (`server`: the native writer over a book
 * server's table, a shared-memory file with its token directory, docs/SERVER.md). Subscribes `tokens` tokens and ingests for each the
 * real 186-level opening snapshot (fixtures/polymarket/book_opening_snapshot_2026-10-04.json) under
 * its own asset id, as the Buffer `ws` would deliver, then collects garbage and prints one JSON
 * line: resident set size, V8 heap, external memory and the table's size; then the same after
 * reading every book once with handles' depth reads, and after reading every book once with get().
 */
import { BookStore } from '../table/store.js';
import type { BookHandle } from '../table/view.js';
import { initTable } from '../table/layout.js';
import { ServerMemory } from '../server/memory.js';
import { TokenDirectory } from '../server/directory.js';
import type { BackendName } from '../backend/index.js';
import { NaiveCache } from './fixtures.js';
import { OPENING } from './fixtures.js';

const [kind, countArg] = process.argv.slice(2);
const count = Number(countArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('memory-child needs --expose-gc');

function collect(): void {
  for (let i = 0; i < 4; i++) gc!();
}

/**
 * Token ids shaped like Polymarket's (77-digit decimals), distinct per index. Built from strings:
 * BigInt arithmetic would leave its temporaries' pages in the measured heap.
 */
function tokenId(i: number): string {
  return `5540419243977562893112467171952088665752538716853682145770661900319${String(i * 7919).padStart(10, '0')}`;
}

const template = JSON.stringify({ ...OPENING, asset_id: '@@' });
const [head, tail] = template.split('"@@"');
const levels = OPENING.bids.length + OPENING.asks.length;

collect();
const base = process.memoryUsage();
const t0 = performance.now();
let ready = 0;
let tableBytes = 0;
let store: BookStore | undefined;
let naive: NaiveCache | undefined;
const ids: string[] = new Array(count);
for (let i = 0; i < count; i++) ids[i] = tokenId(i);
// One reused buffer for the frames, filled without building a JS string per frame: 50,000
// transient 7 KB Buffers or strings would leave freed malloc chunks and grown young-generation
// pages in the resident set and blur what the books themselves take (\`ws\` hands over Buffers).
const headBytes = Buffer.from(`${head}"`, 'latin1');
const tailBytes = Buffer.from(`"${tail}`, 'latin1');
const scratch = Buffer.allocUnsafe(template.length + 256);
headBytes.copy(scratch, 0);
const frame = (i: number): Buffer => {
  const end = headBytes.length + scratch.write(ids[i], headBytes.length, 'latin1');
  tailBytes.copy(scratch, end);
  return scratch.subarray(0, end + tailBytes.length);
};
if (kind === 'naive') {
  naive = new NaiveCache();
  for (let i = 0; i < count; i++) naive.ingest(frame(i));
  ready = naive.books.size;
} else if (kind === 'server') {
  // The table of a book server: its file mapped shared (pages count in the resident set once written).
  const memory = ServerMemory.create(`bench-memory-${process.pid}`, count, 20);
  initTable(memory.buffer, count, 20);
  memory.stamp(1);
  memory.publish();
  process.on('exit', () => memory.retire());
  store = new BookStore({ table: memory.buffer, backend: 'native', clock: 'precise' });
  store.directory = new TokenDirectory(memory.buffer, memory.region.directory, count);
  tableBytes = memory.bytes;
  store.subscribe(ids);
  for (let i = 0; i < count; i++) store.ingest(frame(i));
  ready = store.readyCount();
} else {
  store = new BookStore({ backend: kind as BackendName, capacity: count, maxDepth: 20, clock: 'precise' });
  tableBytes = store.table.byteLength;
  store.subscribe(ids);
  for (let i = 0; i < count; i++) store.ingest(frame(i));
  ready = store.readyCount();
}
const ingestMs = performance.now() - t0;
collect();
const m = process.memoryUsage();
// Every book read once with handles' depth reads: a handle per token (made first, as a strategy
// makes its handles before its loop; each comes with its level storage), then `book()` and every
// level through the getters. The reader keeps nothing per read.
let withHandles: NodeJS.MemoryUsage | null = null;
let afterDepth: NodeJS.MemoryUsage | null = null;
let handles: BookHandle[] = [];
if (store) {
  handles = ids.map((id) => store!.handle(id));
  collect();
  withHandles = process.memoryUsage();
  let levels = 0;
  for (const h of handles) {
    if (!h.book(60_000)) throw new Error(`book ${h.tokenId} not served`);
    for (let k = 0; k < h.bidDepth; k++) if (h.bidPriceAt(k) > 0 && h.bidSizeAt(k) > 0) levels++;
    for (let k = 0; k < h.askDepth; k++) if (h.askPriceAt(k) > 0 && h.askSizeAt(k) > 0) levels++;
  }
  if (levels !== count * 40) throw new Error(`${levels} levels read, not ${count * 40}`);
  collect();
  afterDepth = process.memoryUsage();
}
// Then every book read once through get(): the reader caches each decoded depth-20 view (Book
// objects on the JS heap), as a strategy reading every token would.
let afterReads: NodeJS.MemoryUsage | null = null;
if (store) {
  for (let i = 0; i < count; i++) if (store.get(ids[i], 60_000) === null) throw new Error(`book ${i} not served`);
  collect();
  afterReads = process.memoryUsage();
}
if (ready !== count) throw new Error(`${kind}: ${ready} of ${count} books ready`);
console.log(
  JSON.stringify({
    kind,
    tokens: count,
    levelsPerBook: levels,
    rssBytes: m.rss,
    baseRssBytes: base.rss,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
    tableBytes,
    rssWithHandlesBytes: withHandles?.rss ?? null,
    rssAfterDepthReadsBytes: afterDepth?.rss ?? null,
    rssAfterReadsBytes: afterReads?.rss ?? null,
    heapAfterReadsBytes: afterReads?.heapUsed ?? null,
    ingestMs,
    // keep the structures alive until measured
    alive: (store?.size ?? 0) + (naive?.books.size ?? 0) + ids.length + handles.length,
  }),
);
