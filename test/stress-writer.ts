/**
 * Worker half of the torn-read stress test: rewrites books as fast as it can. Book k of a token
 * has every level's size equal to k, so any mix of two versions is visible to the reader.
 */
import { workerData, parentPort } from 'node:worker_threads';
import { BookStore } from '../src/table/store.js';

const { table, backend, tokens, stop } = workerData as {
  table: SharedArrayBuffer;
  backend: 'js' | 'native';
  tokens: string[];
  stop: SharedArrayBuffer;
};
const store = new BookStore({ table, backend, clock: 'precise' });
store.apply(tokens.map((t, i) => ({ op: 'bind', args: [t, i, 0] })));
const stopFlag = new Int32Array(stop);

function levels(side: 'bid' | 'ask', k: number, n: number): string {
  const out: string[] = [];
  // Wire order: bids ascending, asks descending; best is last.
  for (let i = n - 1; i >= 0; i--) {
    const p = side === 'bid' ? 40 - i : 60 + i;
    out.push(`{"price":"0.${p}","size":"${k}"}`);
  }
  return out.join(',');
}

let k = 1;
const frames = new Map<number, Buffer[]>();
parentPort!.postMessage('ready');
while (Atomics.load(stopFlag, 0) === 0) {
  const n = 1 + (k % 20);
  const batch = tokens.map((t) =>
    Buffer.from(
      `{"event_type":"book","market":"0x1","asset_id":"${t}","timestamp":"${k}","bids":[${levels('bid', k, n)}],"asks":[${levels('ask', k, n)}]}`,
    ),
  );
  frames.set(k % 4, batch);
  for (const f of batch) store.ingest(f);
  k++;
}
parentPort!.postMessage({ books: k - 1 });
