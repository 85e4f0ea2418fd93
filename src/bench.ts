/**
 * The benchmark suite: native and pure-TS backends side by side in one run, plus the naive
 * `Map` + `JSON.parse` baseline. Medians over many samples; reads are batched (tinybench's
 * per-task floor is ~30 ns) and reported per read. Writes bench/results.json and bench/RESULTS.md.
 *
 * Run: `npm run bench` or `polybook bench [--quick]`.
 */
import { Bench } from 'tinybench';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, arch } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BookStore } from './store.js';
import type { BackendName } from './backend.js';

const FIX = fileURLToPath(new URL('../fixtures/polymarket/', import.meta.url));
const fx = (n: string) => readFileSync(FIX + n, 'utf8');
const AFTER = JSON.parse(fx('book_after_trade_2026-10-04.json'));
const TRADE = fx('price_change_2026-10-04_trade.json');
const YES = AFTER.asset_id as string;
const NO = JSON.parse(TRADE).price_changes[1].asset_id as string;

/** A real 100-level book: the 50 best levels of each side of the after-trade capture, wire order. */
const book100 = JSON.stringify({ ...AFTER, bids: AFTER.bids.slice(-50), asks: AFTER.asks.slice(-50) });
const BOOK100 = Buffer.from(book100);
const TRADE_BUF = Buffer.from(TRADE);
/** The mirror token's book, consistent with the server's best bid/ask in the price_change. */
const NO_BOOK = JSON.stringify({
  event_type: 'book', market: AFTER.market, asset_id: NO, timestamp: AFTER.timestamp, hash: '',
  bids: [{ price: '0.1', size: '100' }, { price: '0.106', size: '50' }],
  asks: [{ price: '0.2', size: '100' }, { price: '0.111', size: '13354.28' }],
});

const BATCH = 1000;
const backends: BackendName[] = ['native', 'js'];

interface Row { task: string; backend: string; medianNs: number; p99Ns: number; samples: number; rme: number }
const rows: Row[] = [];

function storeFor(backend: BackendName): BookStore {
  const s = new BookStore({ backend, capacity: 1024, maxDepth: 20, clock: 'coarse' });
  s.subscribe([YES, NO]);
  s.ingest(book100);
  s.ingest(NO_BOOK);
  return s;
}

/** Naive baseline: a Map of plain objects fed by JSON.parse, as a user would write it. */
class NaiveCache {
  books = new Map<string, { bids: { price: number; size: number }[]; asks: { price: number; size: number }[]; at: number }>();
  ingest(buf: Buffer | string): void {
    const msg = JSON.parse(typeof buf === 'string' ? buf : buf.toString());
    for (const ev of Array.isArray(msg) ? msg : [msg]) {
      if (ev.event_type === 'book') {
        const bids = ev.bids.map((l: any) => ({ price: Number(l.price), size: Number(l.size) })).reverse();
        const asks = ev.asks.map((l: any) => ({ price: Number(l.price), size: Number(l.size) })).reverse();
        this.books.set(ev.asset_id, { bids, asks, at: Date.now() });
      } else if (ev.event_type === 'price_change') {
        for (const c of ev.price_changes) {
          const b = this.books.get(c.asset_id);
          if (!b) continue;
          const side = c.side === 'BUY' ? b.bids : b.asks;
          const p = Number(c.price);
          const i = side.findIndex((l) => l.price === p);
          const size = Number(c.size);
          if (i >= 0) { if (size === 0) side.splice(i, 1); else side[i] = { price: p, size }; }
          else if (size > 0) { side.push({ price: p, size }); side.sort((x, y) => (c.side === 'BUY' ? y.price - x.price : x.price - y.price)); }
          b.at = Date.now();
        }
      }
    }
  }
  get(id: string, maxStale: number) {
    const b = this.books.get(id);
    return b && Date.now() - b.at <= maxStale ? b : null;
  }
}

export async function runBenchmarks({ quick = false, log = (s: string) => void process.stdout.write(s) }: { quick?: boolean; log?: (s: string) => void } = {}): Promise<void> {
  const bench = new Bench({ time: quick ? 200 : 1500, warmupTime: quick ? 50 : 300 });
  const stores = new Map(backends.map((b) => [b, storeFor(b)] as const));
  let sink = 0;
  for (const [backend, s] of stores) {
    const h = s.handle(YES);
    bench.add(`${backend}|get() unchanged book, staleness checked|${BATCH}`, () => {
      for (let i = 0; i < BATCH; i++) sink += s.get(YES, 60_000) ? 1 : 0;
    });
    bench.add(`${backend}|handle.top(), staleness checked|${BATCH}`, () => {
      for (let i = 0; i < BATCH; i++) sink += h.top(60_000) ? h.bidPrice : 0;
    });
    const slot = (s as any).slots.map.get(YES) as number;
    bench.add(`${backend}|first get() after a change, depth 20|1`, () => {
      s.reader.forget(slot);
      sink += s.get(YES, 60_000)!.bids.length;
    });
    bench.add(`${backend}|ingest 100-level book (Buffer)|1`, () => {
      sink += s.ingest(BOOK100);
    });
    bench.add(`${backend}|ingest 2-entry price_change (Buffer)|1`, () => {
      sink += s.ingest(TRADE_BUF);
    });
  }
  const naive = new NaiveCache();
  naive.ingest(book100);
  naive.ingest(NO_BOOK);
  bench.add(`naive Map+JSON.parse|get() unchanged book, staleness checked|${BATCH}`, () => {
    for (let i = 0; i < BATCH; i++) sink += naive.get(YES, 60_000) ? 1 : 0;
  });
  bench.add(`naive Map+JSON.parse|ingest 100-level book (Buffer)|1`, () => naive.ingest(BOOK100));
  bench.add(`naive Map+JSON.parse|ingest 2-entry price_change (Buffer)|1`, () => naive.ingest(TRADE_BUF));

  await bench.run();
  for (const t of bench.tasks) {
    const [backend, task, per] = t.name.split('|');
    const r = t.result as any;
    if (!r || !r.latency) throw new Error(`benchmark ${t.name} failed: ${r?.error ?? 'no result'}`);
    const n = Number(per);
    rows.push({ task, backend, medianNs: (r.latency.p50 * 1e6) / n, p99Ns: (r.latency.p99 * 1e6) / n, samples: r.latency.samplesCount ?? r.latency.samples?.length ?? 0, rme: r.latency.rme });
  }
  for (const s of stores.values()) {
    const m = s.metrics().writer;
    if (m.desyncs || m.crossedResets || m.badJson || m.badEvent) throw new Error(`bench store left its happy path: ${JSON.stringify(m)}`);
    s.close();
  }
  if (sink === -1) console.log(sink);
  report(quick, log);
}

function fmt(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`;
}

function report(quick: boolean, log: (s: string) => void) {
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()}-${arch()}, Node ${process.version}`;
  const tasks = [...new Set(rows.map((r) => r.task))];
  const cols = ['native', 'js', 'naive Map+JSON.parse'];
  const lines = [
    `# polybook benchmark results`,
    ``,
    `Machine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}. Medians (p99 in brackets) per operation; reads batched ${BATCH} per sample.`,
    ``,
    `| operation | native | pure TS | naive Map + JSON.parse | native vs TS |`,
    `| --- | --- | --- | --- | --- |`,
  ];
  for (const task of tasks) {
    const cell = (b: string) => {
      const r = rows.find((x) => x.task === task && x.backend === b);
      return r ? `${fmt(r.medianNs)} (${fmt(r.p99Ns)})` : '–';
    };
    const n = rows.find((x) => x.task === task && x.backend === 'native');
    const j = rows.find((x) => x.task === task && x.backend === 'js');
    const ratio = n && j ? `${(j.medianNs / n.medianNs).toFixed(1)}x` : '–';
    lines.push(`| ${task} | ${cols.map(cell).slice(0, 3).join(' | ')} | ${ratio} |`);
  }
  const md = lines.join('\n') + '\n';
  log(md);
  if (!quick) {
    const dir = new URL('../bench/', import.meta.url);
    writeFileSync(new URL('results.json', dir), JSON.stringify({ machine, date: new Date().toISOString(), rows }, null, 2) + '\n');
    writeFileSync(new URL('RESULTS.md', dir), md);
    log(`written to ${fileURLToPath(new URL('RESULTS.md', dir))}\n`);
  }
}

