/**
 * Clocks for staleness checks. All times are ms of the host's monotonic clock (the clock of
 * `process.hrtime`), which every thread and every process of the host shares.
 *
 * The coarse clock: a small worker thread writes the time into the table header every
 * {@link COARSE_PERIOD_MS}, so a read costs one memory load instead of a `performance.now()` call
 * (about 45 ns). Resolution: the period plus the ticker's scheduling delay. A late ticker makes a
 * book look younger by that delay; staleness presets are 100 ms and up, so a 1 ms clock is
 * far inside them. test/clock.test.ts checks its error against `performance.now()`.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { H_CLOCK } from './layout.js';
import { mappedTable } from './mapped.js';
import { ConfigError } from '../errors.js';

/*
 * `performance.now()` is cheap (no allocation) but counts from a per-thread origin, and
 * `performance.timeOrigin` anchors that origin to the wall clock, which differs between threads by
 * up to a millisecond. The offset to the monotonic clock is measured once per thread instead: the
 * error is half the gap between the two `performance.now()` calls around the `hrtime` read, so the
 * narrowest of a few samples is kept (a thread preempted during one sample would skew it).
 */
function monotonicOffset(): number {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 8; i++) {
    const before = performance.now();
    const mono = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = mono - (before + after) / 2;
    }
  }
  return offset;
}
const OFFSET = monotonicOffset();

/** The precise clock: ms of the host's monotonic clock. */
export function preciseNow(): number {
  return performance.now() + OFFSET;
}

export const COARSE_PERIOD_MS = 1;

/** The store's clock: `'coarse'` (a 1 ms ticker writes the time into the table), `'precise'` (`performance.now()` per read), or a function returning ms of the host's monotonic clock. */
export type ClockOption = 'coarse' | 'precise' | (() => number);

/**
 * Where the ticker thread starts: `clock-ticker.js` next to this file when compiled; from the
 * TypeScript sources (vitest, tsx) the compiled one in dist/ when the package is built, else
 * `clock-ticker.ts` through the tsx bootstrap (a worker cannot load .ts by itself on Node 20).
 */
function tickerEntry(): { url: URL; argv: string[] | undefined } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { url: new URL('./clock-ticker.js', here), argv: undefined };
  const built = new URL('../../dist/table/clock-ticker.js', here);
  if (existsSync(built)) return { url: built, argv: undefined };
  return { url: new URL('../feed/ts-worker-bootstrap.mjs', here), argv: [new URL('./clock-ticker.ts', here).href] };
}

interface Ticker {
  refs: number;
  stop: Int32Array;
  worker: Worker;
  /** Fallback ticking on this thread if the ticker thread could not start. */
  fallback: NodeJS.Timeout | undefined;
}

const tickers = new WeakMap<SharedArrayBuffer, Ticker>();

/**
 * Starts (or shares) the coarse-clock ticker of a table; returns a function that releases it. A
 * table in a server's mapped file ticks from the server's native thread (src/table/mapped.ts).
 */
export function startTicker(memory: ArrayBufferLike): () => void {
  const mapped = mappedTable(memory);
  if (mapped) return mapped.startTicker();
  const sab = memory as SharedArrayBuffer;
  let t = tickers.get(sab);
  if (!t) {
    new Float64Array(sab, H_CLOCK, 1)[0] = preciseNow();
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const entry = tickerEntry();
    const worker = new Worker(entry.url, {
      workerData: { sab, offset: H_CLOCK, stop: stop.buffer, period: COARSE_PERIOD_MS },
      argv: entry.argv,
    });
    worker.unref();
    const ticker: Ticker = { refs: 0, stop, worker, fallback: undefined };
    worker.on('error', (e) => {
      // Never leave the clock frozen (books would look ever younger): tick from this thread instead.
      console.error(`polybook: the coarse-clock thread failed (${e.message}); ticking on this thread`);
      if (Atomics.load(stop, 0) !== 0 || ticker.fallback) return;
      const f64 = new Float64Array(sab, H_CLOCK, 1);
      ticker.fallback = setInterval(() => (f64[0] = preciseNow()), COARSE_PERIOD_MS);
      ticker.fallback.unref();
    });
    t = ticker;
    tickers.set(sab, t);
  }
  t.refs++;
  const ticker = t;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--ticker.refs === 0) {
      Atomics.store(ticker.stop, 0, 1);
      Atomics.notify(ticker.stop, 0);
      clearInterval(ticker.fallback);
      tickers.delete(sab);
    }
  };
}

/** Resolves a clock option to a `now()` function over a table. */
export function makeClock(option: ClockOption, sab: ArrayBufferLike): { now: () => number; stop: () => void } {
  if (typeof option === 'function') return { now: option, stop: () => {} };
  if (option === 'precise') return { now: preciseNow, stop: () => {} };
  if (option !== 'coarse') throw new ConfigError('clock', option, "'coarse', 'precise' or a function");
  const f64 = new Float64Array(sab, H_CLOCK, 1);
  const stop = startTicker(sab);
  return { now: () => f64[0], stop };
}
