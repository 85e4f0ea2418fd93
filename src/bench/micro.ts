/**
 * Micro-benchmarks of the read and ingest paths, per backend, plus the naive baseline:
 * reads batched 1000 per sample, ingests 20-50 per sample, medians and p99 over samples.
 */
import { BookStore } from '../table/store.js';
import type { BackendName } from '../backend/index.js';
import { collect, stats, type Sampled } from './harness.js';
import { BOOK100, BOOK100_B, NO_BOOK, NaiveCache, TRADE, TRADE_B, YES, NO } from './fixtures.js';
import { SlotChanger } from './changer.js';

/**
 * The target rows, then diagnostics: an ingest call's floor (a 4-byte `PONG` control frame), the
 * price_change straight into the writer (no store wrapper: no clock read, no watcher check), and
 * the bench's own in-place change that the "after a change" read rows include.
 */
export type MicroTask =
  | 'top'
  | 'get'
  | 'book'
  | 'firstRead'
  | 'getChanged'
  | 'bookChanged'
  | 'ingestBook'
  | 'ingestDelta'
  | 'ingestPong'
  | 'writerDelta'
  | 'change';
export type Column = BackendName | 'naive';

export interface MicroRow extends Sampled {
  task: MicroTask;
  backend: Column;
  /** Median per operation of each round alone, ns (the spread shows the machine's noise over time). */
  roundMediansNs: number[];
}

const READ_BATCH = 1000;
const FIRST_READ_BATCH = 100;
/** Size of bid level 3 toggles: a one-level change, as most price_change entries are. */
const CHANGED_LEVEL = 3;
const BOOK_BATCH = 20;
const DELTA_BATCH = 50;

function storeFor(backend: BackendName): BookStore {
  const s = new BookStore({ backend, capacity: 1024, maxDepth: 20, clock: 'coarse' });
  s.subscribe([YES, NO]);
  s.ingest(BOOK100);
  s.ingest(NO_BOOK);
  return s;
}

/**
 * Results are summed into a local per batch and added to `sink` once: `sink += ...` on every
 * iteration boxes a double into a new heap number each time (a module variable lives in memory),
 * which costs ~5 ns and an allocation per operation that is the harness's, not the read's.
 */
let sink = 0;

interface Case {
  task: MicroTask;
  backend: Column;
  batch: number;
  /** Share of the per-task time budget (diagnostics get less). */
  share: number;
  run: () => void;
  /** Publish check around every sampling round. */
  check?: { reset(): void; verify(): void };
  times: number[];
  roundMedians: number[];
}

/** Checks that every frame a case ingested changed (published) the book: the alternated frames must each be a real change. */
function publishCheck(s: BookStore): { reset(): void; verify(): void } {
  let frames0 = 0;
  let seq0 = 0;
  return {
    reset() {
      frames0 = s.counter('frames');
      seq0 = s.state(YES)!.sequence;
    },
    verify() {
      const frames = s.counter('frames') - frames0;
      const published = s.state(YES)!.sequence - seq0;
      if (published !== frames)
        throw new Error(`bench (${s.backend}): ${frames} frames ingested but the book changed ${published} times`);
    },
  };
}

/**
 * Every case runs in `rounds` interleaved rounds (all cases of round 1, then of round 2, ...) and
 * the samples are pooled: on a shared, noisy machine each backend then sees the same disturbances.
 */
export function runMicro(backends: BackendName[], quick: boolean, log: (s: string) => void): MicroRow[] {
  const rounds = quick ? 3 : 10;
  const time = (quick ? 150 : 1500) / rounds;
  const warm = quick ? 50 : 300;
  const cases: Case[] = [];
  const add = (task: MicroTask, backend: Column, batch: number, run: () => void, share = 1, check?: Case['check']) =>
    cases.push({ task, backend, batch, run, share, check, times: [], roundMedians: [] });
  const stores: BookStore[] = [];
  for (const backend of backends) {
    const s = storeFor(backend);
    stores.push(s);
    const h = s.handle(YES);
    if (!h.top(60_000) || s.get(YES, 60_000) === null)
      throw new Error(`bench store (${backend}) does not serve its book`);
    add('top', backend, READ_BATCH, () => {
      let x = 0;
      for (let i = 0; i < READ_BATCH; i++) x += h.top(60_000) ? h.bidPrice : 0;
      sink += x;
    });
    add('get', backend, READ_BATCH, () => {
      let x = 0;
      for (let i = 0; i < READ_BATCH; i++) x += s.get(YES, 60_000) !== null ? 1 : 0;
      sink += x;
    });
    const slot = s.slotOf(YES);
    add('firstRead', backend, FIRST_READ_BATCH, () => {
      let x = 0;
      for (let i = 0; i < FIRST_READ_BATCH; i++) {
        s.reader.forget(slot);
        x += s.get(YES, 60_000)!.bids.length;
      }
      sink += x;
    });
    // Reads after a change, each of every level (20 + 20): the change is published in place by
    // the bench (SlotChanger: no writer call, no allocation) on a store used only for reading.
    const cs = storeFor(backend);
    stores.push(cs);
    const changer = new SlotChanger(cs, YES, 'size', CHANGED_LEVEL);
    const ch = cs.handle(YES);
    if (!ch.book(60_000) || ch.bidDepth !== 20 || ch.askDepth !== 20)
      throw new Error(`bench store (${backend}) does not serve its depth-20 book`);
    add('book', backend, READ_BATCH, () => {
      let x = 0;
      for (let i = 0; i < READ_BATCH; i++) if (ch.book(60_000)) x += ch.bidDepth;
      sink += x;
    });
    add('getChanged', backend, FIRST_READ_BATCH, () => {
      let x = 0;
      for (let i = 0; i < FIRST_READ_BATCH; i++) {
        changer.change();
        const b = cs.get(YES, 60_000)!;
        const bids = b.bids;
        const asks = b.asks;
        for (let k = 0; k < bids.length; k++) if (bids[k].price * bids[k].size > 1) x++;
        for (let k = 0; k < asks.length; k++) if (asks[k].price * asks[k].size > 1) x++;
      }
      sink += x;
    });
    add('bookChanged', backend, FIRST_READ_BATCH, () => {
      let x = 0;
      for (let i = 0; i < FIRST_READ_BATCH; i++) {
        changer.change();
        if (!ch.book(60_000)) continue;
        for (let k = 0; k < ch.bidDepth; k++) if (ch.bidPriceAt(k) * ch.bidSizeAt(k) > 1) x++;
        for (let k = 0; k < ch.askDepth; k++) if (ch.askPriceAt(k) * ch.askSizeAt(k) > 1) x++;
      }
      sink += x;
    });
    add(
      'change',
      backend,
      READ_BATCH,
      () => {
        for (let i = 0; i < READ_BATCH; i++) changer.change();
      },
      0.3,
    );
    const books = [Buffer.from(BOOK100), Buffer.from(BOOK100_B)];
    const deltas = [Buffer.from(TRADE), Buffer.from(TRADE_B)];
    const pong = Buffer.from('PONG');
    const w = s.writer;
    add(
      'ingestBook',
      backend,
      BOOK_BATCH,
      () => {
        let x = 0;
        for (let i = 0; i < BOOK_BATCH; i++) x += s.ingest(books[i & 1]);
        sink += x;
      },
      1,
      publishCheck(s),
    );
    add(
      'ingestDelta',
      backend,
      DELTA_BATCH,
      () => {
        let x = 0;
        for (let i = 0; i < DELTA_BATCH; i++) x += s.ingest(deltas[i & 1]);
        sink += x;
      },
      1,
      publishCheck(s),
    );
    add(
      'ingestPong',
      backend,
      DELTA_BATCH,
      () => {
        let x = 0;
        for (let i = 0; i < DELTA_BATCH; i++) x += s.ingest(pong);
        sink += x;
      },
      0.3,
    );
    add(
      'writerDelta',
      backend,
      DELTA_BATCH,
      () => {
        const now = s.now();
        let x = 0;
        for (let i = 0; i < DELTA_BATCH; i++) x += w.ingest(deltas[i & 1], now);
        sink += x;
      },
      0.3,
      publishCheck(s),
    );
  }
  const naive = new NaiveCache();
  naive.ingest(BOOK100);
  naive.ingest(NO_BOOK);
  add('get', 'naive', READ_BATCH, () => {
    let x = 0;
    for (let i = 0; i < READ_BATCH; i++) x += naive.get(YES, 60_000) !== null ? 1 : 0;
    sink += x;
  });
  const nbooks = [Buffer.from(BOOK100), Buffer.from(BOOK100_B)];
  add('ingestBook', 'naive', BOOK_BATCH, () => {
    for (let i = 0; i < BOOK_BATCH; i++) naive.ingest(nbooks[i & 1]);
  });
  const ndeltas = [Buffer.from(TRADE), Buffer.from(TRADE_B)];
  add('ingestDelta', 'naive', DELTA_BATCH, () => {
    for (let i = 0; i < DELTA_BATCH; i++) naive.ingest(ndeltas[i & 1]);
  });

  // Interleave: tasks in order, the columns of a task next to each other.
  const order = [...new Set(cases.map((c) => c.task))].flatMap((t) => cases.filter((c) => c.task === t));
  for (let r = 0; r < rounds; r++) {
    for (const c of order) {
      c.check?.reset();
      const t = collect(c.run, time * c.share, r === 0 ? warm : warm / 10, 20);
      c.check?.verify();
      c.times.push(...t);
      c.roundMedians.push(stats(t, c.batch).medianNs);
    }
  }
  for (const s of stores) {
    const m = s.metrics().writer;
    if (m.desyncs || m.crossedResets || m.badJson || m.badEvent || m.badDecimal || m.bboMismatches) {
      throw new Error(`bench store (${s.backend}) left its happy path: ${JSON.stringify(m)}`);
    }
    s.close();
  }
  const rows: MicroRow[] = order.map((c) => ({
    task: c.task,
    backend: c.backend,
    ...stats(c.times, c.batch),
    roundMediansNs: c.roundMedians,
  }));
  for (const r of rows)
    log(
      `  ${r.backend.padEnd(6)} ${r.task.padEnd(12)} median ${r.medianNs.toFixed(1)} ns, p99 ${r.p99Ns.toFixed(1)} ns (${r.samples} samples x ${r.batch})\n`,
    );
  if (sink === -1) log(String(sink));
  return rows;
}
