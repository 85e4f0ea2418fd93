/**
 * Depth reads through a handle (`handle.book()` and the level getters) on both backends: values,
 * miss reasons and counters (the same as `get`), one version per `book()`, the cache's gates, and
 * no allocation on changing books. The concurrent-writer case is in test/stress.test.ts.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import type { BookHandle } from '../src/table/view.js';
import { MISS_NAMES, type MissName } from '../src/table/metrics.js';
import { BookCache } from '../src/cache/book-cache.js';
import { fromEnv } from '../src/cache/env.js';
import { preciseNow } from '../src/table/clock.js';
import { SlotChanger } from '../src/bench/changer.js';
import { BACKENDS, ManualClock, bookFrame, fixtureText, localStore, priceChange } from './helpers.js';

const T = 'tok-a';
const U = 'tok-b';

function mk(backend: 'js' | 'native', clock = new ManualClock(), maxDepth = 20) {
  const store = new BookStore({ backend, clock: clock.now, maxDepth, capacity: 64, graceMs: 1000 });
  return { store, clock };
}

/** The levels a handle exposes after `book()`, as `get` shapes them. */
function levels(
  h: Pick<BookHandle, 'bidDepth' | 'askDepth' | 'bidPriceAt' | 'bidSizeAt' | 'askPriceAt' | 'askSizeAt'>,
) {
  const bids = [];
  for (let i = 0; i < h.bidDepth; i++) bids.push({ price: h.bidPriceAt(i), size: h.bidSizeAt(i) });
  const asks = [];
  for (let i = 0; i < h.askDepth; i++) asks.push({ price: h.askPriceAt(i), size: h.askSizeAt(i) });
  return { bids, asks };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe.each(BACKENDS)('depth reads through a handle (%s)', (backend) => {
  it('book() exposes the same levels as get(), best first, with the top-of-book fields', () => {
    const { store, clock } = mk(backend);
    const AFTER = JSON.parse(fixtureText('book_after_trade_2026-10-04.json'));
    store.subscribe([AFTER.asset_id]);
    store.ingest(fixtureText('book_after_trade_2026-10-04.json'), clock.t);
    const h = store.handle(AFTER.asset_id);
    expect([h.bidDepth, h.askDepth]).toEqual([0, 0]);
    expect(h.book(1000)).toBe(true);
    expect(h.missReason).toBeNull();
    const b = store.get(AFTER.asset_id, 1000)!;
    expect(levels(h)).toEqual({ bids: b.bids, asks: b.asks });
    expect([h.bidDepth, h.askDepth]).toEqual([20, 20]);
    expect([h.bidPrice, h.bidSize, h.askPrice, h.askSize]).toEqual([
      b.bids[0].price,
      b.bids[0].size,
      b.asks[0].price,
      b.asks[0].size,
    ]);
    expect([h.sequence, h.timestamp, h.ageMs]).toEqual([b.sequence, b.timestamp, 0]);
  });

  it('getters give NaN outside 0 .. depth - 1 and for non-integer indexes', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(
      bookFrame(
        T,
        [
          ['0.5', '7'],
          ['0.4', '1'],
        ],
        [['0.6', '8']],
      ),
      clock.t,
    );
    const h = store.handle(T);
    expect(h.book(1000)).toBe(true);
    expect([h.bidDepth, h.askDepth]).toEqual([2, 1]);
    expect([h.bidPriceAt(1), h.bidSizeAt(1), h.askPriceAt(0), h.askSizeAt(0)]).toEqual([0.4, 1, 0.6, 8]);
    for (const i of [-1, 2, 20, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect([h.bidPriceAt(i), h.bidSizeAt(i)]).toEqual([Number.NaN, Number.NaN]);
    }
    for (const i of [-1, 1, 1.5]) expect([h.askPriceAt(i), h.askSizeAt(i)]).toEqual([Number.NaN, Number.NaN]);
  });

  it('an empty side reads as depth 0 and NaN top of book', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.5', '7']], []), clock.t);
    const h = store.handle(T);
    expect(h.book(1000)).toBe(true);
    expect([h.bidDepth, h.askDepth, h.bidPrice, h.askPrice, h.askSize]).toEqual([1, 0, 0.5, Number.NaN, Number.NaN]);
    expect(h.askPriceAt(0)).toBeNaN();
  });

  it('reads at most maxDepth levels per side; a shallow book copies only its own levels', () => {
    const { store, clock } = mk(backend, new ManualClock(), 5);
    const bids: [string, string][] = Array.from({ length: 9 }, (_, i) => [`0.${40 - i}`, `${i + 1}`]);
    const asks: [string, string][] = Array.from({ length: 7 }, (_, i) => [`0.${60 + i}`, `${i + 10}`]);
    store.subscribe([T, U]);
    store.ingest(bookFrame(T, bids, asks), clock.t);
    store.ingest(bookFrame(U, [['0.2', '3']], [['0.3', '4']]), clock.t);
    const h = store.handle(T);
    expect(h.book(1000)).toBe(true);
    expect([h.bidDepth, h.askDepth]).toEqual([5, 5]);
    expect(levels(h)).toEqual({ bids: store.get(T, 1000)!.bids, asks: store.get(T, 1000)!.asks });
    expect(h.bidPriceAt(4)).toBe(0.36);
    expect(h.bidPriceAt(5)).toBeNaN();
    const hu = store.handle(U);
    expect(hu.book(1000)).toBe(true);
    expect(levels(hu)).toEqual({ bids: [{ price: 0.2, size: 3 }], asks: [{ price: 0.3, size: 4 }] });
  });

  it('getters after one book() come from that version until the next book()', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(
      bookFrame(
        T,
        [
          ['0.5', '7'],
          ['0.4', '1'],
        ],
        [['0.6', '8']],
      ),
      clock.t,
    );
    const h = store.handle(T);
    expect(h.book(1000)).toBe(true);
    const seq = h.sequence;
    store.ingest(
      priceChange([{ asset_id: T, price: '0.45', size: '3', side: 'BUY', best_bid: '0.5', best_ask: '0.6' }]),
      clock.t,
    );
    // The writer changed the book: the handle still shows the version its book() read.
    expect(levels(h).bids).toEqual([
      { price: 0.5, size: 7 },
      { price: 0.4, size: 1 },
    ]);
    expect(h.sequence).toBe(seq);
    // top() refreshes the top-of-book fields only; the levels stay those of the last book().
    expect(h.top(1000)).toBe(true);
    expect(h.sequence).toBe(seq + 1);
    expect(h.bidDepth).toBe(2);
    expect(h.book(1000)).toBe(true);
    expect(levels(h).bids).toEqual([
      { price: 0.5, size: 7 },
      { price: 0.45, size: 3 },
      { price: 0.4, size: 1 },
    ]);
    expect(h.sequence).toBe(seq + 1);
  });

  it('misses with the same reasons and counters as get(), and exposes no levels after a miss', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T, U]);
    const h = store.handle(T);
    /** book() and get() agree on the outcome; the miss is counted once for each of them. */
    const both = (label: string, ms: number, want: MissName | 'hit') => {
      const before = store.metrics();
      const served = h.book(ms);
      const book = store.get(T, ms);
      const after = store.metrics();
      if (want === 'hit') {
        expect(served, label).toBe(true);
        expect(book, label).not.toBeNull();
        expect(after.hits - before.hits, label).toBe(2);
        expect(levels(h), label).toEqual({ bids: book!.bids, asks: book!.asks });
        return;
      }
      expect(served, label).toBe(false);
      expect(book, label).toBeNull();
      expect(h.missReason, label).toBe(want);
      expect([h.bidDepth, h.askDepth], label).toEqual([0, 0]);
      expect(h.bidPriceAt(0), label).toBeNaN();
      for (const r of MISS_NAMES) expect(after.misses[r] - before.misses[r], `${label}: ${r}`).toBe(r === want ? 2 : 0);
    };
    both('no book yet', 1000, 'never_seen');
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    both('served', 1000, 'hit');
    clock.advance(2000);
    both('too old', 1000, 'stale');
    both('old enough', 5000, 'hit');
    store.setDisabled([T]);
    both('disabled', 5000, 'disabled');
    store.setDisabled([T], false);
    both('enabled again', 5000, 'hit');
    store.invalidate([T], clock.t);
    both('invalidated', 5000, 'not_ready');
    store.ingest(bookFrame(T, [['0.6', '1']], [['0.5', '1']]), clock.t);
    both('crossed', 5000, 'crossed');
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    both('a fresh book', 5000, 'hit');
    store.ingest(
      priceChange([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]),
      clock.t,
    );
    both('top of book disagrees with the server', 5000, 'mismatch');
    store.ingest(
      priceChange([{ asset_id: T, price: '0.52', size: '2', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]),
      clock.t,
    );
    both('agrees again', 5000, 'hit');
    store.settle([T], clock.t);
    both('settled', 5000, 'settled');

    // Unknown token, and a token unsubscribed whose slot now holds another token.
    const unknown = store.handle('nope');
    expect(unknown.book(1000)).toBe(false);
    expect(unknown.missReason).toBe('not_subscribed');
    const hu = store.handle(U);
    store.ingest(bookFrame(U, [['0.3', '1']], [['0.4', '1']]), clock.t);
    expect(hu.book(5000)).toBe(true);
    store.unsubscribe([U]);
    store.subscribe(['tok-c']);
    store.ingest(bookFrame('tok-c', [['0.1', '1']], [['0.2', '1']]), clock.t);
    expect(store.slotOf('tok-c')).toBe(hu.slot);
    expect(hu.book(5000)).toBe(false);
    expect(hu.missReason).toBe('not_subscribed');
    expect(hu.bidDepth).toBe(0);
    expect(store.handle('tok-c').book(5000)).toBe(true);
  });

  it('a stale miss on an unchanged book is counted and the next fresh book() serves it again', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.assign([T], 2);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    const h = store.handle(T);
    expect(h.book(100)).toBe(true);
    clock.advance(500);
    expect(h.book(100)).toBe(false);
    expect(h.missReason).toBe('stale');
    store.confirm(2, clock.t - 10);
    expect(h.book(100)).toBe(true);
    expect([h.ageMs, h.bidDepth, h.bidPriceAt(0)]).toEqual([10, 1, 0.5]);
    expect(store.metrics().misses.stale).toBe(1);
  });
});

describe.each(BACKENDS)('depth reads through a cache handle (%s)', (backend) => {
  it('a cache switched off misses disabled (counted) with no levels', async () => {
    const cache = await BookCache.start({ ...fromEnv({ HFT_BOOK_CACHE_ENABLED: '0' }), backend });
    cleanups.push(() => cache.stop());
    const h = cache.handle(T);
    expect(h.book(1000)).toBe(false);
    expect(h.missReason).toBe('disabled');
    expect([h.bidDepth, h.askDepth, h.bidPriceAt(0)]).toEqual([0, 0, Number.NaN]);
    expect(cache.metrics().store.misses.disabled).toBe(1);
  });

  it('an open cache serves the levels; the hard limit caps maxStaleMs; a token added later resolves', async () => {
    const clock = new ManualClock(preciseNow());
    const cache = await BookCache.start({
      backend,
      url: 'ws://127.0.0.1:9/ws/market',
      clock: clock.now,
      hardStaleMs: 3000,
    });
    cleanups.push(() => cache.stop());
    await cache.warmup();
    expect(cache.tradingEnabled).toBe(true);
    const h = cache.handle(T);
    expect(h.book(1000)).toBe(false);
    expect(h.missReason).toBe('not_subscribed');
    cache.store.subscribe([T]);
    localStore(cache).ingest(
      bookFrame(
        T,
        [
          ['0.40', '10'],
          ['0.39', '5'],
        ],
        [['0.60', '10']],
      ),
      clock.t,
    );
    // The handle was made before the token existed: the cache resolves it again once it is added.
    cache.universeEpoch++;
    expect(h.book(1000)).toBe(true);
    expect(levels(h)).toEqual({
      bids: [
        { price: 0.4, size: 10 },
        { price: 0.39, size: 5 },
      ],
      asks: [{ price: 0.6, size: 10 }],
    });
    expect([h.bidPrice, h.askPrice, h.sequence, h.missReason]).toEqual([0.4, 0.6, 1, null]);
    clock.advance(4000);
    expect(h.book(60_000)).toBe(false); // capped at hardStaleMs
    expect(h.missReason).toBe('stale');
    expect(h.askDepth).toBe(0);
    expect(h.book(5000)).toBe(false);
    clock.advance(-1500);
    expect(h.book(60_000)).toBe(true);
    expect(h.ageMs).toBe(2500);
  });
});

describe.each(BACKENDS)('depth reads allocate nothing (%s)', (backend) => {
  it('book() and the getters over a changing book: no GC and no new-space growth', async () => {
    const store = new BookStore({ backend, capacity: 16, maxDepth: 20, clock: 'coarse' });
    cleanups.push(() => store.close());
    const AFTER = JSON.parse(fixtureText('book_after_trade_2026-10-04.json'));
    store.subscribe([AFTER.asset_id]);
    store.ingest(fixtureText('book_after_trade_2026-10-04.json'));
    const h = store.handle(AFTER.asset_id);
    // Changes published in place under the seqlock, allocation-free (a real writer allocates on its own).
    const sizes = new SlotChanger(store, AFTER.asset_id, 'size', 3);
    const shifts = new SlotChanger(store, AFTER.asset_id, 'shift');
    // Counts only (small integers): summing doubles in a loop not yet optimised would box them.
    const loop = (n: number): number => {
      let served = 0;
      for (let i = 0; i < n; i++) {
        if ((i & 1) === 0) sizes.change();
        else shifts.change();
        if (!h.book(60_000)) continue;
        for (let k = 0; k < h.bidDepth; k++) if (h.bidPriceAt(k) > 0 && h.bidSizeAt(k) > 0) served++;
        for (let k = 0; k < h.askDepth; k++) if (h.askPriceAt(k) > 0 && h.askSizeAt(k) > 0) served++;
      }
      return served;
    };
    // Optimise first: the interpreter and the compiler allocate, the optimised reads must not.
    for (let r = 0; r < 40; r++) loop(20_000);
    const gcs: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push(e.startTime);
    });
    obs.observe({ entryTypes: ['gc'] });
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
    const reads = 1_000_000;
    const before = newSpace();
    const t0 = performance.now();
    const served = loop(reads);
    const t1 = performance.now();
    const grown = newSpace() - before;
    await new Promise((r) => setTimeout(r, 20)); // GC entries are delivered asynchronously
    obs.disconnect();
    expect(served).toBe(reads * 40);
    // One 16-byte heap number per read would be 16 MB and several scavenges.
    expect(gcs.filter((t) => t >= t0 && t <= t1)).toEqual([]);
    expect(grown).toBeLessThan(64 * 1024);
  });
});
