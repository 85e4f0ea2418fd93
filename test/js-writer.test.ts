/**
 * JsWriter (src/backend/ts/writer.ts) against docs/DESIGN.md, on the real fixtures and edge cases.
 * Reads the table directly (src/backend/ts/inspect.ts), not through the store.
 */
import { Status } from '../src/table/writer.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsWriter } from '../src/backend/ts/writer.js';
import { publishedBytes, readCounters, readSlot } from '../src/backend/ts/inspect.js';
import {
  COUNTERS,
  F_CROSSED,
  F_DISABLED,
  F_DIVERGED,
  F_HAS_BOOK,
  F_MISMATCH,
  F_READY,
  F_SETTLED,
  F_SUBSCRIBED,
  H_CONFIRMED,
  createTable,
  type CounterName,
} from '../src/table/layout.js';
import { bookHash } from '../src/protocol/hash.js';
import { isDecimal, parseDecimal } from '../src/backend/ts/decimal.js';

const DIR = fileURLToPath(new URL('../fixtures/polymarket/', import.meta.url));
const text = (name: string) => readFileSync(join(DIR, name), 'utf8');
const json = (name: string) => JSON.parse(text(name));

const OPEN = json('book_opening_snapshot_2026-10-04.json');
const AFTER = json('book_after_trade_2026-10-04.json');
const LEGACY = json('book_legacy_2024-10.json');
const YES = AFTER.asset_id as string; // 7935..., the after-trade book
const NO = '55404192439775628931124671719520886657525387168536821457706619003199189099864';

const READY = F_SUBSCRIBED | F_READY | F_HAS_BOOK;
const DEPTH = 5;
const T = 'tok-a';
const U = 'tok-b';

type Lv = { price: string; size: string };

function mk(capacity = 8, depth = DEPTH, graceMs = 1000) {
  const sab = createTable(capacity, depth);
  const w = new JsWriter(sab, { graceMs });
  const counters = () => readCounters(sab);
  const slot = (s: number) => readSlot(sab, s);
  return { sab, w, counters, slot };
}

/** A book frame; levels given in wire order (worst first). */
function book(
  assetId: string,
  bids: [string, string][],
  asks: [string, string][],
  extra: Record<string, unknown> = {},
) {
  return JSON.stringify({
    event_type: 'book',
    market: '0xm',
    asset_id: assetId,
    timestamp: '1000',
    bids: bids.map(([price, size]) => ({ price, size })),
    asks: asks.map(([price, size]) => ({ price, size })),
    ...extra,
  });
}

type Entry = {
  asset_id: string;
  price: string;
  size: string;
  side: string;
  best_bid?: string;
  best_ask?: string;
  hash?: string;
};
function pc(entries: Entry[], timestamp = '2000') {
  return JSON.stringify({ market: '0xm', price_changes: entries, timestamp, event_type: 'price_change' });
}

/** Published levels expected from wire levels: best first, numbers, at most `depth`. */
function published(levels: Lv[], depth = DEPTH): [number, number][] {
  return [...levels]
    .reverse()
    .slice(0, depth)
    .map((l) => [Number(l.price), Number(l.size)]);
}
const wireTexts = (levels: Lv[]) => levels.map((l) => [l.price, l.size]);

/** Counters that changed between two snapshots. */
function delta(a: Record<CounterName, number>, b: Record<CounterName, number>) {
  const out: Partial<Record<CounterName, number>> = {};
  for (const n of COUNTERS) if (b[n] !== a[n]) out[n] = b[n] - a[n];
  return out;
}

function expectBook(s: ReturnType<typeof readSlot>, ev: { bids: Lv[]; asks: Lv[] }, depth = DEPTH) {
  expect(s.bids).toEqual(published(ev.bids, depth));
  expect(s.asks).toEqual(published(ev.asks, depth));
  expect(s.nBids).toBe(Math.min(depth, ev.bids.length));
  expect(s.nAsks).toBe(Math.min(depth, ev.asks.length));
  expect(s.bidLevels).toBe(ev.bids.length);
  expect(s.askLevels).toBe(ev.asks.length);
}

describe('decimals (DESIGN 5.1)', () => {
  it('accepts the wire forms and rejects everything else', () => {
    for (const s of ['0.5', '.48', '5.', '0', '13354.28', '0.000000001', '9007199254740991', '000000000000000000001.5'])
      expect(isDecimal(s), s).toBe(true);
    for (const s of [
      '',
      '.',
      '-0.5',
      '+1',
      '1e3',
      ' 1',
      '1 ',
      '0.5.1',
      '0.1234567891',
      '9007199254740992',
      '99999999999999999999',
      '0x1',
      'NaN',
      'Infinity',
    ])
      expect(isDecimal(s), s).toBe(false);
    for (const v of [0.5, 1, null, undefined, {}, []]) expect(isDecimal(v)).toBe(false);
    expect(parseDecimal('0.50')!.key).toBe(parseDecimal('0.5')!.key);
    expect(parseDecimal('.48')!.value).toBe(0.48);
  });

  it('the value is the correctly rounded decimal (parseFloat)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), fc.integer({ min: 0, max: 9 }), (m, scale) => {
        const digits = m.toString().padStart(scale + 1, '0');
        const s = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
        const d = parseDecimal(s)!;
        expect(d.value).toBe(parseFloat(s));
        expect(d.mantissa).toBe(Number(m));
      }),
    );
  });
});

describe('JsWriter: fixtures', () => {
  /** One expectation per fixture file; the last test checks none is missing. */
  const cases: Record<string, () => void> = {
    'book_opening_snapshot_2026-10-04.json': () => {
      const { w, slot, counters } = mk();
      w.bind(OPEN.asset_id, 2, 0);
      w.ingest(text('book_opening_snapshot_2026-10-04.json'), 5000);
      const s = slot(2);
      expectBook(s, OPEN);
      // Best bid and ask are the LAST wire entries.
      expect(s.bids[0]).toEqual([0.063, 1505]);
      expect(s.asks[0]).toEqual([0.068, 34.99]);
      expect(s).toMatchObject({
        flags: READY,
        exchTs: 1791125296863,
        tickSize: 0.001,
        lastTrade: 0.064,
        sequence: 1,
        updates: 1,
        lastUpdate: 5000,
      });
      expect(w.fullBook(2)).toEqual({ bids: wireTexts(OPEN.bids), asks: wireTexts(OPEN.asks) });
      expect(w.fullBook(2)!.asks).toHaveLength(139);
      expect(counters()).toMatchObject({ snapshotsApplied: 1, events: 1, frames: 1 });
    },
    'book_after_trade_2026-10-04.json': () => {
      const { w, slot } = mk();
      w.bind(YES, 0, 0);
      w.ingest(text('book_after_trade_2026-10-04.json'), 5000);
      const s = slot(0);
      expectBook(s, AFTER);
      expect(s.bids[0]).toEqual([0.889, 13354.28]);
      expect(s.asks[0]).toEqual([0.894, 2009.99]);
      expect(s.tickSize).toBeNaN();
      expect(s.lastTrade).toBeNaN();
      expect(s.exchTs).toBe(1791126422417);
      expect(w.fullBook(0)).toEqual({ bids: wireTexts(AFTER.bids), asks: wireTexts(AFTER.asks) });
    },
    'book_legacy_2024-10.json': () => {
      const { w, slot, counters } = mk();
      w.bind(LEGACY.asset_id, 1, 0);
      // As bytes, inside an array frame.
      w.ingest(Buffer.from(`[${text('book_legacy_2024-10.json')}]`), 5000);
      expectBook(slot(1), LEGACY);
      expect(w.fullBook(1)).toEqual({ bids: wireTexts(LEGACY.bids), asks: wireTexts(LEGACY.asks) });
      expect(counters()).toMatchObject({
        snapshotsApplied: 1,
        bytes: Buffer.byteLength(text('book_legacy_2024-10.json')) + 2,
      });
    },
    'price_change_2026-10-04_trade.json': () => {
      const { w, slot, counters } = mk();
      w.bind(YES, 0, 0);
      w.bind(NO, 1, 0);
      // The book just before the trade: without the 0.889 bid the trade entry adds.
      const before = { ...AFTER, bids: AFTER.bids.slice(0, -1) };
      w.ingest(JSON.stringify(before), 5000);
      w.ingest(text('price_change_2026-10-04_trade.json'), 5001);
      const s = slot(0);
      expectBook(s, AFTER);
      expect(s).toMatchObject({ flags: READY, sequence: 2, updates: 2, lastUpdate: 5001, exchTs: 1791126422417 });
      expect(w.fullBook(0)).toEqual({ bids: wireTexts(AFTER.bids), asks: wireTexts(AFTER.asks) });
      // The mirror entry is for NO, which has no book yet: a gap, not applied.
      expect(counters()).toMatchObject({ deltasApplied: 1, deltasWithoutBook: 1, bboMismatches: 0 });
      expect(slot(1).flags).toBe(F_SUBSCRIBED);
    },
    'price_change_2026-10-04_level_removed.json': () => {
      const { w, slot, counters } = mk();
      w.bind(NO, 0, 0);
      w.bind(YES, 1, 0);
      w.ingest(
        book(
          NO,
          [
            ['0.021', '50'],
            ['0.1', '5'],
            ['0.105', '7'],
          ],
          [
            ['0.2', '1'],
            ['0.11', '3'],
          ],
        ),
        1,
      );
      w.ingest(
        book(
          YES,
          [
            ['0.8', '1'],
            ['0.89', '2'],
          ],
          [
            ['0.979', '10'],
            ['0.9', '1'],
            ['0.895', '4'],
          ],
        ),
        1,
      );
      // It arrived twice: the repeat removes missing levels, a no-op that still counts.
      w.ingest(text('price_change_2026-10-04_level_removed.json'), 2);
      w.ingest(text('price_change_2026-10-04_level_removed.json'), 3);
      expect(slot(0).bids).toEqual([
        [0.105, 7],
        [0.1, 5],
      ]);
      expect(slot(0).bidLevels).toBe(2);
      expect(slot(1).asks).toEqual([
        [0.895, 4],
        [0.9, 1],
      ]);
      expect(counters()).toMatchObject({ deltasApplied: 4, bboMismatches: 0 });
      expect(slot(0)).toMatchObject({ updates: 3, sequence: 3, flags: READY });
    },
    'best_bid_ask_2026-10-04.json': () => {
      const { w, slot, counters } = mk();
      w.bind(NO, 0, 0);
      const before = slot(0);
      w.ingest(text('best_bid_ask_2026-10-04.json'), 1);
      expect(counters()).toMatchObject({ bestBidAsk: 1, events: 1 });
      expect(slot(0)).toEqual(before); // not applied, not published
    },
    'last_trade_price_2024-08.json': () => {
      const { w, slot, counters } = mk();
      const id = json('last_trade_price_2024-08.json').asset_id;
      w.bind(id, 0, 0);
      w.ingest(text('last_trade_price_2024-08.json'), 7);
      expect(slot(0)).toMatchObject({ lastTrade: 0.491, lastUpdate: 0, sequence: 1 });
      expect(counters().lastTrades).toBe(1);
    },
    'tick_size_change_2025-02.json': () => {
      const { w, slot, counters } = mk();
      const id = json('tick_size_change_2025-02.json').asset_id;
      w.bind(id, 0, 0);
      w.ingest(book(id, [['0.5', '1']], [['0.6', '1']]), 1);
      w.ingest(text('tick_size_change_2025-02.json'), 9);
      expect(slot(0)).toMatchObject({ tickSize: 0.001, lastUpdate: 9, flags: READY, bids: [[0.5, 1]] });
      expect(counters().tickSizeChanges).toBe(1);
    },
    'market_resolved_2026-10-04.json': () => {
      const { w, slot, counters } = mk();
      const [r1, r2] = json('market_resolved_2026-10-04.json').assets_ids;
      w.bind(r1, 0, 0);
      w.bind(r2, 1, 0);
      w.ingest(book(r1, [['0.5', '1']], [['0.6', '1']]), 1);
      w.ingest(text('market_resolved_2026-10-04.json'), 2);
      expect(slot(0)).toMatchObject({ flags: F_SUBSCRIBED | F_HAS_BOOK | F_SETTLED, nBids: 0, nAsks: 0, bidLevels: 0 });
      expect(slot(1).flags).toBe(F_SUBSCRIBED | F_SETTLED);
      expect(counters().settled).toBe(2);
      expect(w.fullBook(0)).toBeNull();
      expect(w.takeResync()).toEqual([]);
    },
    'new_market_2025-12.json': () => {
      const { w, counters } = mk();
      w.ingest(text('new_market_2025-12.json'), 1);
      expect(counters()).toMatchObject({ newMarkets: 1, events: 1, badEvent: 0 });
    },
    'price_change_legacy_v0_per_level_2024-08.json': () => {
      const { w, slot, counters } = mk();
      const v0 = json('price_change_legacy_v0_per_level_2024-08.json');
      w.bind(v0.asset_id, 0, 0);
      w.ingest(book(v0.asset_id, [['0.5', '10']], [['0.52', '10']]), 1);
      w.ingest(text('price_change_legacy_v0_per_level_2024-08.json'), 2);
      expect(slot(0).asks).toEqual([
        [0.514, 21574.08],
        [0.52, 10],
      ]);
      expect(slot(0).exchTs).toBe(1723967931411);
      expect(counters().deltasApplied).toBe(1);
    },
    'price_change_legacy_v1_changes_array_2024-10.json': () => {
      const { w, slot, counters } = mk();
      const v1 = json('price_change_legacy_v1_changes_array_2024-10.json');
      w.bind(v1.asset_id, 0, 0);
      w.ingest(book(v1.asset_id, [['0.4', '10']], [['0.8', '10']]), 1);
      w.ingest(text('price_change_legacy_v1_changes_array_2024-10.json'), 2);
      expect(slot(0).bids).toEqual([
        [0.7, 3400],
        [0.6, 3300],
        [0.5, 3400],
        [0.4, 10],
      ]);
      expect(counters().deltasApplied).toBe(3);
      expect(slot(0).updates).toBe(4);
    },
    'rest_book_404_settled_token_2026-10-04.json': () => {
      const { w, counters } = mk();
      w.restBook(text('rest_book_404_settled_token_2026-10-04.json'), 1);
      expect(delta(readCounters(createTable(1, 1)), counters())).toEqual({ badEvent: 1, snapshotsRejected: 1 });
    },
    'rest_book_legacy_2024-10.json': () => {
      const { w, slot, counters } = mk();
      const rest = json('rest_book_legacy_2024-10.json');
      w.bind(rest.asset_id, 0, 0);
      w.restBook(text('rest_book_legacy_2024-10.json'), 3);
      expectBook(slot(0), rest);
      expect(slot(0)).toMatchObject({ flags: READY, exchTs: 1728799418260, lastUpdate: 3, sequence: 1 });
      expect(counters()).toMatchObject({ restApplied: 1, snapshotsApplied: 0 });
    },
  };

  for (const [name, run] of Object.entries(cases)) it(name, run);

  it('every fixture file has a case', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.filter((f) => !(f in cases))).toEqual([]);
  });
});

describe('JsWriter: hash verification (DESIGN 5.6)', () => {
  it('reproduces the server hash of both 2026 books', () => {
    const { w, counters } = mk();
    w.bind(OPEN.asset_id, 0, 0);
    w.bind(YES, 1, 0);
    w.setMeta(0, '5', true);
    w.setMeta(1, '5', true);
    w.ingest(text('book_opening_snapshot_2026-10-04.json'), 1);
    // The after-trade book carries neither: tick size and the trade price (received first).
    w.ingest(
      JSON.stringify({ event_type: 'tick_size_change', asset_id: YES, new_tick_size: '0.001', old_tick_size: '0.01' }),
      1,
    );
    w.ingest(
      JSON.stringify({ event_type: 'last_trade_price', asset_id: YES, price: '0.889', size: '1', side: 'BUY' }),
      1,
    );
    w.ingest(text('book_after_trade_2026-10-04.json'), 1);
    expect(counters().hashChecks).toBe(0); // off the ingest path
    w.tick(2);
    expect(counters()).toMatchObject({ hashChecks: 2, hashMismatches: 0 });
    // The same-millisecond price_change carries the same hash for YES (its change is already in).
    w.ingest(text('price_change_2026-10-04_trade.json'), 3);
    w.tick(4);
    expect(counters()).toMatchObject({ hashChecks: 3, hashMismatches: 0 });
    w.tick(5); // nothing pending
    expect(counters().hashChecks).toBe(3);
  });

  it('detects a changed book, and needs the trade price', () => {
    const { w, counters } = mk();
    w.bind(OPEN.asset_id, 0, 0);
    w.bind(YES, 1, 0);
    w.setMeta(0, '5', true);
    w.setMeta(1, '5', true);
    w.ingest(text('book_opening_snapshot_2026-10-04.json').replace('"size":"1505"', '"size":"1506"'), 1);
    w.ingest(JSON.stringify({ event_type: 'tick_size_change', asset_id: YES, new_tick_size: '0.001' }), 1);
    w.ingest(text('book_after_trade_2026-10-04.json'), 1);
    w.tick(2);
    expect(counters()).toMatchObject({ hashChecks: 2, hashMismatches: 2 });
  });

  it('keeps the exact texts: "0.50" is the level "0.5" and its text wins', () => {
    const { w, counters } = mk();
    w.bind(T, 0, 0);
    w.setMeta(0, '5', false);
    const h = (bids: [string, string][], asks: [string, string][], ts: string) =>
      bookHash({
        market: '0xm',
        assetId: T,
        timestamp: ts,
        bids,
        asks,
        minOrderSize: '5',
        tickSize: '',
        negRisk: false,
        lastTradePrice: '',
      });
    w.ingest(
      book(
        T,
        [
          ['0.4', '1'],
          ['0.5', '2'],
        ],
        [['0.6', '3']],
        {
          hash: h(
            [
              ['0.4', '1'],
              ['0.5', '2'],
            ],
            [['0.6', '3']],
            '1000',
          ),
        },
      ),
      1,
    );
    w.ingest(
      pc([
        {
          asset_id: T,
          price: '0.50',
          size: '2.0',
          side: 'BUY',
          hash: h(
            [
              ['0.4', '1'],
              ['0.50', '2.0'],
            ],
            [['0.6', '3']],
            '2000',
          ),
          best_bid: '0.5',
          best_ask: '0.60',
        },
      ]),
      2,
    );
    expect(w.fullBook(0)!.bids).toEqual([
      ['0.4', '1'],
      ['0.50', '2.0'],
    ]);
    w.tick(3);
    expect(counters()).toMatchObject({ hashChecks: 1, hashMismatches: 0, bboMismatches: 0 });
    // Without meta, nothing is checked.
    w.bind(U, 1, 0);
    w.ingest(book(U, [['0.4', '1']], [['0.6', '3']], { hash: 'x' }), 4);
    w.tick(5);
    expect(counters().hashChecks).toBe(1);
  });
});

describe('JsWriter: deltas', () => {
  it('sets absolute sizes, "0" removes, removing a missing level is a counted no-op', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 0, 0);
    w.ingest(
      book(
        T,
        [
          ['0.3', '1'],
          ['0.4', '2'],
        ],
        [
          ['0.7', '3'],
          ['0.6', '4'],
        ],
      ),
      1,
    );
    w.ingest(
      pc([
        { asset_id: T, price: '0.4', size: '10', side: 'BUY' },
        { asset_id: T, price: '0.45', size: '1.5', side: 'BUY' },
        { asset_id: T, price: '0.6', size: '0', side: 'SELL' },
        { asset_id: T, price: '0.55', size: '0', side: 'SELL' },
        { asset_id: T, price: '0.1', size: '0.000000001', side: 'BUY' },
      ]),
      2,
    );
    const s = slot(0);
    expect(s.bids).toEqual([
      [0.45, 1.5],
      [0.4, 10],
      [0.3, 1],
      [0.1, 1e-9],
    ]);
    expect(s.asks).toEqual([[0.7, 3]]);
    expect(counters().deltasApplied).toBe(5);
    expect(s).toMatchObject({ updates: 6, sequence: 2, exchTs: 2000, lastUpdate: 2 });
    expect(w.fullBook(0)!.bids).toEqual([
      ['0.1', '0.000000001'],
      ['0.3', '1'],
      ['0.4', '10'],
      ['0.45', '1.5'],
    ]);
  });

  it('a delta for a token without a book is a gap, not applied', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 0, 0);
    w.ingest(pc([{ asset_id: T, price: '0.5', size: '3', side: 'BUY', best_bid: '0.5', best_ask: '' }]), 1);
    expect(counters()).toMatchObject({ deltasWithoutBook: 1, deltasApplied: 0, ignored: 0 });
    expect(slot(0)).toMatchObject({ flags: F_SUBSCRIBED, sequence: 0, nBids: 0 });
    w.ingest(pc([{ asset_id: 'other', price: '0.5', size: '3', side: 'BUY' }]), 1);
    expect(counters().ignored).toBe(1);
  });

  it('a crossed (or locked) book is reset, marked CROSSED and resynced; others untouched', () => {
    const { w, slot, counters, sab } = mk();
    w.bind(T, 0, 0);
    w.bind(U, 1, 0);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    w.ingest(book(U, [['0.3', '1']], [['0.4', '1']]), 1);
    const u = publishedBytes(sab, 1);
    w.ingest(pc([{ asset_id: T, price: '0.6', size: '5', side: 'BUY', best_bid: '0.6', best_ask: '0.6' }]), 2);
    expect(slot(0)).toMatchObject({
      flags: F_SUBSCRIBED | F_HAS_BOOK | F_CROSSED,
      nBids: 0,
      nAsks: 0,
      bidLevels: 0,
      askLevels: 0,
    });
    expect(counters()).toMatchObject({ crossedResets: 1, bboMismatches: 0 });
    expect(w.takeResync()).toEqual([T]);
    expect(w.fullBook(0)).toBeNull();
    expect(publishedBytes(sab, 1)).toEqual(u);
    // Deltas wait for a fresh book, which clears CROSSED.
    w.ingest(pc([{ asset_id: T, price: '0.55', size: '5', side: 'BUY' }]), 3);
    expect(counters().deltasWithoutBook).toBe(1);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 4);
    expect(slot(0).flags).toBe(READY);
    // A crossed book is applied, then reset at the end of the frame.
    w.ingest(book(T, [['0.7', '1']], [['0.6', '1']]), 5);
    expect(slot(0).flags).toBe(F_SUBSCRIBED | F_HAS_BOOK | F_CROSSED);
    expect(counters()).toMatchObject({ crossedResets: 2, snapshotsApplied: 4 });
  });
});

describe('JsWriter: top-of-book check and grace (DESIGN 5.4)', () => {
  const setup = () => {
    const m = mk();
    m.w.bind(T, 0, 0);
    m.w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1000);
    return m;
  };

  it('mismatch sets MISMATCH with a deadline; the next agreeing frame resolves it', () => {
    const { w, slot, counters } = setup();
    w.ingest(pc([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]), 1001);
    expect(slot(0).flags).toBe(READY | F_MISMATCH);
    expect(counters().bboMismatches).toBe(1);
    w.ingest(pc([{ asset_id: T, price: '0.52', size: '2', side: 'BUY', best_bid: '0.520', best_ask: '.6' }]), 1500);
    expect(slot(0).flags).toBe(READY);
    expect(counters()).toMatchObject({ mismatchesResolved: 1, bboMismatches: 1, desyncs: 0 });
    w.tick(5000);
    expect(counters().desyncs).toBe(0);
  });

  it('past the deadline the token desyncs (tick), and the deadline is not pushed back', () => {
    const { w, slot, counters } = setup();
    w.takeResync();
    w.ingest(pc([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]), 1001);
    w.ingest(pc([{ asset_id: T, price: '0.51', size: '4', side: 'BUY', best_bid: '0.53', best_ask: '0.6' }]), 1900);
    expect(counters().bboMismatches).toBe(2);
    expect(w.tick(2000)).toBe(0);
    expect(slot(0).flags & F_MISMATCH).toBe(F_MISMATCH);
    const seq = slot(0).seq;
    expect(w.tick(2001)).toBe(Status.resync | Status.published);
    expect(counters().desyncs).toBe(1);
    expect(slot(0)).toMatchObject({ flags: F_SUBSCRIBED | F_HAS_BOOK, nBids: 0, seq: seq + 2 });
    expect(w.takeResync()).toEqual([T]);
  });

  it('an expired grace is also reset at the start of the next ingest', () => {
    const { w, slot, counters } = setup();
    w.ingest(pc([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]), 1001);
    // This frame would resolve it, but the deadline passed before it arrived.
    w.ingest(pc([{ asset_id: T, price: '0.52', size: '2', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]), 2001);
    expect(counters()).toMatchObject({ desyncs: 1, mismatchesResolved: 0, deltasWithoutBook: 1 });
    expect(slot(0).flags).toBe(F_SUBSCRIBED | F_HAS_BOOK);
  });

  it('a book clears MISMATCH; legacy deltas and entries without best_bid/best_ask are not checked', () => {
    const { w, slot, counters } = setup();
    w.ingest(pc([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]), 1001);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1002);
    expect(slot(0).flags).toBe(READY);
    w.ingest(pc([{ asset_id: T, price: '0.51', size: '3', side: 'BUY' }]), 1003);
    w.ingest(
      JSON.stringify({
        event_type: 'price_change',
        asset_id: T,
        price: '0.52',
        size: '3',
        side: 'BUY',
        timestamp: '1',
      }),
      1004,
    );
    w.tick(9999);
    expect(counters()).toMatchObject({ bboMismatches: 1, desyncs: 0, mismatchesResolved: 0 });
    expect(slot(0).flags).toBe(READY);
  });

  it('the last entry per token in a frame is the one checked; "" means an empty side', () => {
    const { w, slot, counters } = setup();
    w.ingest(
      pc([
        { asset_id: T, price: '0.6', size: '0', side: 'SELL', best_bid: '0.5', best_ask: '0.7' },
        { asset_id: T, price: '0.55', size: '1', side: 'BUY', best_bid: '0.55', best_ask: '' },
      ]),
      1001,
    );
    expect(counters().bboMismatches).toBe(0);
    expect(slot(0)).toMatchObject({ flags: READY, nAsks: 0, sequence: 2 });
  });
});

describe('JsWriter: lifecycle calls', () => {
  it('bind resets the slot and bumps gen; unbind forgets the token', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 3, 7);
    expect(slot(3)).toMatchObject({ flags: F_SUBSCRIBED, gen: 1, conn: 7, sequence: 0, updates: 0, lastUpdate: 0 });
    expect(slot(3).exchTs).toBeNaN();
    expect(slot(3).tickSize).toBeNaN();
    expect(slot(3).lastTrade).toBeNaN();
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    w.unbind(3);
    expect(slot(3)).toMatchObject({ flags: 0, gen: 2, nBids: 0, nAsks: 0, bidLevels: 0 });
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 2);
    expect(counters().ignored).toBe(1);
    expect(w.fullBook(3)).toBeNull();
    w.bind(U, 3, 0);
    expect(slot(3)).toMatchObject({ flags: F_SUBSCRIBED, gen: 3, sequence: 0, conn: 0 });
  });

  it('assign, confirm, setDisabled', () => {
    const { w, slot, sab } = mk();
    w.bind(T, 0, 0);
    w.assign(0, 4);
    expect(slot(0).conn).toBe(4);
    const conf = new Float64Array(sab, H_CONFIRMED, 256);
    w.confirm(4, 100);
    w.confirm(4, 50);
    w.confirm(0, 999);
    expect([conf[4], conf[0]]).toEqual([100, 0]);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    w.setDisabled(0, true);
    expect(slot(0).flags).toBe(READY | F_DISABLED);
    w.ingest(book(T, [['0.5', '2']], [['0.6', '1']]), 2);
    expect(slot(0)).toMatchObject({ flags: READY | F_DISABLED, bids: [[0.5, 2]] });
    w.setDisabled(0, false);
    expect(slot(0).flags).toBe(READY);
    expect(() => w.bind(T, 8, 0)).toThrow(RangeError);
    expect(() => w.assign(0, 256)).toThrow(RangeError);
  });

  it('a settled token keeps receiving books but stays SETTLED', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 0, 0);
    w.ingest(JSON.stringify({ event_type: 'market_resolved', assets_ids: [T, 'other'] }), 1);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 2);
    expect(slot(0).flags).toBe(READY | F_SETTLED);
    expect(counters()).toMatchObject({ settled: 1, snapshotsApplied: 1 });
  });

  it('tick size and last trade: stored, lastUpdate only with a book, unsubscribed ignored', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 0, 0);
    w.ingest(JSON.stringify({ event_type: 'tick_size_change', asset_id: T, new_tick_size: '0.01' }), 5);
    expect(slot(0)).toMatchObject({ tickSize: 0.01, lastUpdate: 0, sequence: 1 });
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']], { tick_size: '0.001', last_trade_price: '0.55' }), 6);
    expect(slot(0)).toMatchObject({ tickSize: 0.001, lastTrade: 0.55 });
    // Invalid optional fields of a book are ignored (the book applies).
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']], { tick_size: 1, last_trade_price: '' }), 7);
    expect(slot(0)).toMatchObject({ tickSize: 0.001, lastTrade: 0.55, lastUpdate: 7 });
    w.ingest(JSON.stringify({ event_type: 'tick_size_change', asset_id: T, new_tick_size: '0.0001' }), 8);
    w.ingest(JSON.stringify({ event_type: 'last_trade_price', asset_id: 'zz', price: '0.5' }), 9);
    expect(slot(0)).toMatchObject({ tickSize: 0.0001, lastUpdate: 8 });
    expect(counters()).toMatchObject({ tickSizeChanges: 2, ignored: 1, lastTrades: 0 });
  });

  it('invalidate resets and marks for resync; takeResync returns each token once, in marking order', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 0, 0);
    w.bind(U, 1, 0);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    const seq = slot(0).seq;
    w.invalidate(1, 2); // never had a book: counted, marked, nothing to publish
    w.invalidate(0, 2);
    w.invalidate(0, 3); // resets again (HAS_BOOK stays) but nothing changes: not published
    expect(slot(0)).toMatchObject({ flags: F_SUBSCRIBED | F_HAS_BOOK, nBids: 0, sequence: 2 });
    expect(slot(0).seq).toBe(seq + 2);
    expect(slot(1).seq).toBe(2);
    expect(counters().invalidations).toBe(3);
    expect(w.takeResync()).toEqual([U, T]);
    expect(w.takeResync()).toEqual([]);
    w.invalidate(5, 3); // unbound slot: nothing
    expect(counters().invalidations).toBe(3);
  });

  it('diverge resets with DIVERGED until a book (WS or REST) makes the token ready; never counted, never a settled token', () => {
    const { w, slot, counters } = mk();
    w.bind(T, 0, 0);
    w.bind(U, 1, 0);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    const before = counters();
    const seq = slot(0).seq;
    w.diverge(0, 2);
    expect(slot(0)).toMatchObject({ flags: F_SUBSCRIBED | F_HAS_BOOK | F_DIVERGED, nBids: 0, nAsks: 0, sequence: 2 });
    expect(slot(0).seq).toBe(seq + 2);
    w.diverge(0, 3); // nothing changes: not published again
    expect(slot(0).seq).toBe(seq + 2);
    expect(w.takeResync()).toEqual([T]);
    expect(delta(before, counters())).toEqual({});
    // Another reset keeps DIVERGED (as CROSSED is kept); the next book clears it.
    w.invalidate(0, 4);
    expect(slot(0).flags & F_DIVERGED).toBe(F_DIVERGED);
    w.ingest(book(T, [['0.5', '2']], [['0.6', '1']]), 5);
    expect(slot(0)).toMatchObject({ flags: READY, bids: [[0.5, 2]] });
    // A REST book clears it too.
    w.diverge(0, 6);
    w.restBook(
      JSON.stringify({ market: '0xm', asset_id: T, timestamp: '1', bids: [], asks: [{ price: '0.7', size: '3' }] }),
      7,
    );
    expect(slot(0)).toMatchObject({ flags: READY, asks: [[0.7, 3]] });
    // A settled token, an unbound slot: nothing.
    w.settle(1, 8);
    const settled = slot(1);
    w.diverge(1, 9);
    w.diverge(5, 9);
    expect(slot(1)).toEqual(settled);
    expect(w.takeResync()).toEqual([T]);
  });

  it('restBook never overwrites a newer book, and stores the meta', () => {
    const { w, slot, counters } = mk();
    const rest = json('rest_book_legacy_2024-10.json');
    const id = rest.asset_id as string;
    const restNewer = JSON.stringify({
      ...rest,
      timestamp: String(Number(rest.timestamp) + 20),
      min_order_size: '5',
      neg_risk: false,
    });
    w.restBook(text('rest_book_legacy_2024-10.json'), 1); // not subscribed
    expect(counters().restSkipped).toBe(1);
    w.bind(id, 0, 0);
    w.ingest(book(id, [['0.2', '1']], [['0.3', '1']], { timestamp: String(Number(rest.timestamp) + 10) }), 2);
    w.restBook(text('rest_book_legacy_2024-10.json'), 3);
    expect(slot(0).bids).toEqual([[0.2, 1]]);
    expect(counters()).toMatchObject({ restApplied: 0, restSkipped: 2 });
    w.restBook(restNewer, 4);
    expect(slot(0)).toMatchObject({
      bids: [
        [0.1, 125],
        [0.09, 294],
        [0.08, 120],
        [0.06, 200],
        [0.01, 1000],
      ],
      lastUpdate: 4,
      sequence: 2,
    });
    expect(counters().restApplied).toBe(1);
    // No READY book: applied whatever its timestamp.
    w.invalidate(0, 5);
    w.restBook(text('rest_book_legacy_2024-10.json'), 6);
    expect(slot(0)).toMatchObject({ flags: READY, exchTs: Number(rest.timestamp) });
    // Meta from REST enables hash checks.
    w.ingest(book(id, [['0.2', '1']], [['0.3', '1']], { hash: 'deadbeef', timestamp: '9999999999999' }), 7);
    w.tick(8);
    expect(counters()).toMatchObject({ hashChecks: 1, hashMismatches: 1 });
  });
});

describe('JsWriter: malformed input', () => {
  it('is counted with the right counter, resets only the tokens it names, never touches another', () => {
    const { w, sab, counters, slot } = mk();
    w.bind(T, 0, 0);
    w.bind(U, 1, 0);
    w.ingest(book(U, [['0.3', '1']], [['0.4', '1']]), 1);
    const u = publishedBytes(sab, 1);
    const bookT = () => w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    const cases: [string | Uint8Array, Partial<Record<CounterName, number>>, boolean][] = [
      // [frame, counter deltas (besides frames/bytes/events), T reset?]
      ['{"event_type":"book"', { badJson: 1 }, false],
      ['HELLO', { badJson: 1 }, false],
      ['', { badJson: 1 }, false],
      ['\uFEFF{}', { badJson: 1 }, false],
      [new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), { badJson: 1 }, false],
      ['42', { badEvent: 1 }, false],
      ['"text"', { badEvent: 1 }, false],
      ['null', { badEvent: 1 }, false],
      ['[1,null,[],"x"]', { badEvent: 4 }, false],
      ['{"asset_id":"tok-a"}', { badEvent: 1 }, false],
      ['{"event_type":7,"asset_id":"tok-a"}', { badEvent: 1 }, false],
      ['{"event_type":"nope","asset_id":"tok-a"}', { unknownEvents: 1 }, false],
      [book(T, [['-0.5', '1']], [['0.6', '1']]), { badDecimal: 1, snapshotsRejected: 1 }, true],
      [book(T, [['0.5', '1e3']], [['0.6', '1']]), { badDecimal: 1, snapshotsRejected: 1 }, true],
      [book(T, [['1', '1']], [['0.6', '1']]), { badDecimal: 1, snapshotsRejected: 1 }, true],
      [book(T, [['0', '1']], [['0.6', '1']]), { badDecimal: 1, snapshotsRejected: 1 }, true],
      [book(T, [['0.5', '99999999999999999999']], [['0.6', '1']]), { badDecimal: 1, snapshotsRejected: 1 }, true],
      [
        book(
          T,
          [
            ['0.5', '1'],
            ['0.4', '1'],
          ],
          [['0.6', '1']],
        ),
        { unorderedLevels: 1, snapshotsRejected: 1 },
        true,
      ],
      [
        book(
          T,
          [['0.5', '1']],
          [
            ['0.6', '1'],
            ['0.60', '1'],
          ],
        ),
        { unorderedLevels: 1, snapshotsRejected: 1 },
        true,
      ],
      ['{"event_type":"book","asset_id":"tok-a","bids":{},"asks":[]}', { badEvent: 1, snapshotsRejected: 1 }, true],
      [
        '{"event_type":"book","asset_id":"tok-a","bids":[{"price":0.5,"size":"1"}],"asks":[]}',
        { badDecimal: 1, snapshotsRejected: 1 },
        true,
      ],
      ['{"event_type":"book","asset_id":"tok-a","bids":[null],"asks":[]}', { badEvent: 1, snapshotsRejected: 1 }, true],
      ['{"event_type":"book","asset_id":5,"bids":[],"asks":[]}', { badEvent: 1, snapshotsRejected: 1 }, false],
      [pc([{ asset_id: T, price: 'abc', size: '1', side: 'BUY' }]), { badDecimal: 1 }, true],
      [pc([{ asset_id: T, price: '0.5', size: '1', side: 'HOLD' }]), { badEvent: 1 }, true],
      [
        pc([
          { asset_id: 'zz', price: '0.5', size: '1', side: 'BUY' },
          { asset_id: T, price: '0.5', size: '-1', side: 'BUY' },
        ]),
        { badDecimal: 1 },
        true,
      ],
      ['{"event_type":"price_change","price_changes":{},"timestamp":"1"}', { badEvent: 1 }, false],
      ['{"event_type":"price_change","price_changes":[null,{"asset_id":"tok-a"}]}', { badEvent: 1 }, true],
      [
        '{"event_type":"price_change","asset_id":"tok-a","changes":[{"price":"0.5","side":"BUY"}]}',
        { badDecimal: 1 },
        true,
      ],
      ['{"event_type":"price_change","asset_id":"tok-a","price":"0.5","size":"1"}', { badEvent: 1 }, true],
      ['{"event_type":"tick_size_change","asset_id":"tok-a","new_tick_size":0.01}', { badDecimal: 1 }, true],
      ['{"event_type":"last_trade_price","asset_id":"tok-a","price":"1.5"}', { badDecimal: 1 }, true],
      ['{"event_type":"best_bid_ask","asset_id":null}', { badEvent: 1 }, false],
      ['{"event_type":"market_resolved","assets_ids":["tok-a",3]}', { badEvent: 1 }, true],
      ['{"event_type":"market_resolved","assets_ids":"tok-a"}', { badEvent: 1 }, false],
      [
        '{"event_type":"book","asset_id":"tok-a","__proto__":{"bids":[]},"bids":[],"asks":[]}',
        { snapshotsApplied: 1 },
        false,
      ],
      ['{"event_type":"book","asset_id":"__proto__","bids":[],"asks":[]}', { ignored: 1 }, false],
      ['{"event_type":"constructor"}', { unknownEvents: 1 }, false],
    ];
    for (const [frame, want, resetT] of cases) {
      bookT();
      w.takeResync();
      const before = counters();
      expect(() => w.ingest(frame, 2)).not.toThrow();
      const d = delta(before, counters());
      delete d.frames;
      delete d.bytes;
      delete d.events;
      expect(d, String(frame)).toEqual(want);
      expect(publishedBytes(sab, 1), String(frame)).toEqual(u);
      if (resetT) {
        expect(slot(0).flags & F_READY, String(frame)).toBe(0);
        expect(w.takeResync()).toEqual([T]);
      } else {
        expect(w.takeResync(), String(frame)).toEqual([]);
      }
    }
  });

  it('an event is atomic: a later bad entry leaves earlier entries unapplied', () => {
    const { w, slot } = mk();
    w.bind(T, 0, 0);
    w.bind(U, 1, 0);
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 1);
    w.ingest(book(U, [['0.3', '1']], [['0.4', '1']]), 1);
    w.ingest(
      pc([
        { asset_id: U, price: '0.35', size: '1', side: 'BUY' },
        { asset_id: T, price: '0.5', size: 'x', side: 'BUY' },
      ]),
      2,
    );
    // U is named by the rejected event: reset (its change was lost), not half-applied.
    expect(slot(1)).toMatchObject({ flags: F_SUBSCRIBED | F_HAS_BOOK, nBids: 0 });
    expect(w.takeResync()).toEqual([U, T]);
    // Events before and after a bad one in the same frame still apply.
    w.ingest(book(T, [['0.5', '1']], [['0.6', '1']]), 3);
    w.ingest(
      `[${pc([{ asset_id: T, price: '0.51', size: '1', side: 'BUY' }])},{"event_type":"book"},${pc([{ asset_id: T, price: '0.52', size: '1', side: 'BUY' }])}]`,
      4,
    );
    expect(slot(0).bids.map((l) => l[0])).toEqual([0.52, 0.51, 0.5]);
  });

  it('control frames, as text and bytes', () => {
    const { w, counters } = mk();
    const frames = [
      'PONG',
      'PING',
      'NO NEW ASSETS',
      'INVALID OPERATION',
      'INVALID MESSAGE',
      '[]',
      '[]\n',
      ' \tPONG\r\n',
    ];
    for (const f of frames) w.ingest(f, 1);
    for (const f of frames) w.ingest(Buffer.from(f), 1);
    w.ingest('[ ]', 1); // JSON: an empty array, no event
    w.ingest('pong', 1);
    expect(counters()).toMatchObject({ controlFrames: 16, badJson: 1, badEvent: 0, events: 0, frames: 18 });
  });

  it('bytes in a SharedArrayBuffer view, huge arrays, and non-frames never throw', () => {
    const { w, counters, slot } = mk();
    w.bind(T, 0, 0);
    const src = Buffer.from(book(T, [['0.5', '1']], [['0.6', '1']]));
    const shared = new Uint8Array(new SharedArrayBuffer(src.length));
    shared.set(src);
    w.ingest(shared, 1);
    expect(slot(0).flags).toBe(READY);
    const many = pc(
      Array.from({ length: 20000 }, (_, i) => ({
        asset_id: i % 2 ? T : 'x',
        price: `0.${String((i % 9000) + 1000)}`,
        size: '1',
        side: i % 4 < 2 ? 'BUY' : 'SELL',
      })),
    );
    expect(() => w.ingest(many, 2)).not.toThrow();
    for (const v of [null, undefined, 5, {}, [], Symbol('x')]) expect(() => w.ingest(v as never, 3)).not.toThrow();
    expect(() => w.restBook(undefined as never, 3)).not.toThrow();
    expect(() => w.restBook('{"asset_id":"tok-a","bids":[],"asks":[]', 3)).not.toThrow();
    expect(counters().badJson).toBeGreaterThanOrEqual(6);
  });

  it('never throws on arbitrary input (property)', () => {
    const { w } = mk(4, 3);
    w.bind('1', 0, 0);
    w.bind('2', 1, 0);
    const ev = fc.record(
      {
        event_type: fc.constantFrom(
          'book',
          'price_change',
          'tick_size_change',
          'last_trade_price',
          'best_bid_ask',
          'new_market',
          'market_resolved',
          'x',
        ),
        asset_id: fc.oneof(fc.constantFrom('1', '2', '__proto__'), fc.anything()),
        assets_ids: fc.anything(),
        bids: fc.oneof(
          fc.array(fc.record({ price: fc.anything(), size: fc.anything() }, { requiredKeys: [] })),
          fc.anything(),
        ),
        asks: fc.anything(),
        price_changes: fc.anything(),
        changes: fc.anything(),
        price: fc.oneof(fc.constantFrom('0.5', '0.4', '1', '0'), fc.anything()),
        size: fc.anything(),
        side: fc.constantFrom('BUY', 'SELL', 'x', 1),
        new_tick_size: fc.anything(),
        timestamp: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.jsonValue(), ev)), fc.string(), fc.uint8Array(), (evs, s, bytes) => {
        w.ingest(JSON.stringify(evs), 1);
        w.ingest(s, 2);
        w.ingest(bytes, 3);
        w.restBook(JSON.stringify(evs[0] ?? null), 4);
        w.tick(5);
        w.takeResync();
      }),
      { numRuns: 300 },
    );
  });
});

describe('JsWriter: seqlock', () => {
  it('seq is even after every call and +2 per publish; one publish per touched token per frame', () => {
    const { w, slot } = mk();
    w.bind(T, 0, 0);
    w.bind(U, 1, 0);
    expect([slot(0).seq, slot(1).seq]).toEqual([2, 2]);
    w.ingest(`[${book(T, [['0.5', '1']], [['0.6', '1']])},${book(U, [['0.3', '1']], [['0.4', '1']])}]`, 1);
    expect([slot(0).seq, slot(1).seq]).toEqual([4, 4]);
    w.ingest(
      pc([
        { asset_id: T, price: '0.51', size: '1', side: 'BUY' },
        { asset_id: T, price: '0.52', size: '1', side: 'BUY' },
        { asset_id: T, price: '0.53', size: '1', side: 'BUY' },
      ]),
      2,
    );
    expect([slot(0).seq, slot(1).seq]).toEqual([6, 4]);
    expect(slot(0)).toMatchObject({ sequence: 2, updates: 4 });
    // Not published: ignored, gaps, best_bid_ask, control frames.
    w.ingest('PONG', 3);
    w.ingest(JSON.stringify({ event_type: 'best_bid_ask', asset_id: T }), 3);
    w.ingest(pc([{ asset_id: 'x', price: '0.5', size: '1', side: 'BUY' }]), 3);
    expect([slot(0).seq, slot(1).seq]).toEqual([6, 4]);
    for (let i = 0; i < 50; i++) w.ingest(pc([{ asset_id: U, price: '0.3', size: String(i + 1), side: 'BUY' }]), 4 + i);
    expect(slot(1)).toMatchObject({ seq: 104, sequence: 51 });
  });
});
