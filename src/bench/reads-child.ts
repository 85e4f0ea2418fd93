/**
 * Read benchmark in a fresh process, for the attached-read rows (src/bench/server.ts):
 * `reads-child <local|attached> <name> <quick>`. `local`: a store of this process with its writer
 * (as src/bench/micro.ts builds it); `attached`: `BookStore.attach(name)`, the table of a server
 * (written by the parent process). Measures `handle.top()` and `get()` of the unchanged YES book
 * with the micro harness (batches of 1000, interleaved rounds) and prints the rows as one JSON line.
 */
import { BookStore } from '../table/store.js';
import type { BookView } from '../table/book-view.js';
import { collect, stats } from './harness.js';
import { BOOK100, NO_BOOK, YES, NO } from './fixtures.js';

const [mode, name, quickArg] = process.argv.slice(2);
const quick = quickArg === 'true';
const BATCH = 1000;
let store: BookView;
if (mode === 'attached') {
  store = BookStore.attach(name);
} else {
  const s = new BookStore({ backend: 'native', capacity: 1024, maxDepth: 20, clock: 'coarse' });
  s.subscribe([YES, NO]);
  s.ingest(BOOK100);
  s.ingest(NO_BOOK);
  store = s;
}
const h = store.handle(YES);
if (!h.top(60_000) || store.get(YES, 60_000) === null) throw new Error(`reads-child (${mode}): the book is not served`);
let sink = 0;
const cases = [
  {
    task: 'top',
    run: () => {
      let x = 0;
      for (let i = 0; i < BATCH; i++) x += h.top(60_000) ? h.bidPrice : 0;
      sink += x;
    },
    times: [] as number[],
  },
  {
    task: 'get',
    run: () => {
      let x = 0;
      for (let i = 0; i < BATCH; i++) x += store.get(YES, 60_000) !== null ? 1 : 0;
      sink += x;
    },
    times: [] as number[],
  },
];
const rounds = quick ? 3 : 10;
const time = (quick ? 150 : 1500) / rounds;
for (let r = 0; r < rounds; r++)
  for (const c of cases) c.times.push(...collect(c.run, time, r === 0 ? (quick ? 50 : 300) : 30, 20));
store.close();
console.log(JSON.stringify(cases.map((c) => ({ task: c.task, mode, ...stats(c.times, BATCH), sink: sink > 0 }))));
