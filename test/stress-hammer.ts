/**
 * Worker half of the depth-read race test: republishes one slot with only short pauses, so that
 * a reader's copy of the levels overlaps a write as often as possible. Version k has
 * 1 + k % 20 levels per side, every size k, bids 0.40, 0.39, ... and asks 0.60, 0.61, ... (as
 * stress-writer.ts writes them through a real writer, which spends microseconds parsing between
 * two publishes of a slot). The seqlock protocol of docs/DESIGN.md section 4, writer side, as the
 * TypeScript writer does it: seq odd, plain stores, seq even.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SlotReader } from '../src/table/view.js';
import { S_LEVELS, S_SEQUENCE } from '../src/table/layout.js';

const { table, slot, stop } = workerData as { table: SharedArrayBuffer; slot: number; stop: SharedArrayBuffer };
const r = new SlotReader(table);
const i32 = r.i32;
const f64 = r.f64;
const b = r.base32(slot);
const lv = (b >> 1) + S_LEVELS / 8;
const av = lv + 2 * r.depth;
const stopFlag = new Int32Array(stop);
let k = Math.round(f64[(b >> 1) + S_SEQUENCE / 8]);
let spin = 0;
parentPort!.postMessage('ready');
while (Atomics.load(stopFlag, 0) === 0) {
  k++;
  const n = 1 + (k % 20);
  const v = i32[b];
  Atomics.store(i32, b, v + 1);
  i32[b + 2] = n;
  i32[b + 3] = n;
  for (let i = 0; i < n; i++) {
    f64[lv + 2 * i] = (40 - i) / 100;
    f64[lv + 2 * i + 1] = k;
    f64[av + 2 * i] = (60 + i) / 100;
    f64[av + 2 * i + 1] = k;
  }
  f64[(b >> 1) + S_SEQUENCE / 8] = k;
  Atomics.store(i32, b, v + 2);
  // A pause of varying length (up to about a copy's time, a few hundred ns), so that reads both
  // succeed often and start at every phase of the next publish.
  for (let j = (k * 7919) % 256; j > 0; j--) spin = (spin + j) | 0;
}
parentPort!.postMessage({ versions: k, spin });
