/**
 * The coarse-clock ticker thread (src/table/clock.ts): writes the time into the table header every
 * `period` ms until told to stop. It is a module file started as a worker, not code in a string:
 * polybook evaluates no code at run time (no `eval`, `new Function`, `vm`, or `Worker(..., { eval: true })`).
 */
import { workerData } from 'node:worker_threads';
import { preciseNow } from './clock.js';

interface TickerData {
  /** The table (its header holds the clock). */
  sab: SharedArrayBuffer;
  /** Byte offset of the clock word in the header. */
  offset: number;
  /** Int32 word set to 1 (and notified) to stop. */
  stop: SharedArrayBuffer;
  period: number;
}

const d = workerData as TickerData;
const f64 = new Float64Array(d.sab, d.offset, 1);
const stop = new Int32Array(d.stop);
while (Atomics.load(stop, 0) === 0) {
  f64[0] = preciseNow();
  Atomics.wait(stop, 0, 0, d.period);
}
