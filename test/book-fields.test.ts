/**
 * The fields a strategy needs to place an order, on both backends: the market (condition id), the
 * tick size (value and the exchange's text), the minimum order size, neg risk and the last trade,
 * on `get()` and on the handle, from frames alone, from `setMeta` and from REST books.
 */
import { describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { TICK_SIZES, tickSizeText } from '../src/protocol/tick.js';
import { BACKENDS, ManualClock, bookFrame, fixture, fixtureText } from './helpers.js';

const OPEN = fixture('book_opening_snapshot_2026-10-04.json');
const LTP = fixture('last_trade_price_2024-08.json');
const TICK = fixture('tick_size_change_2025-02.json');
const NEG = fixture('rest/clob_book-negrisk_equinox.json');
const VTRADE = fixture('rest/clob_book_vtrade.json');

const T = 'tok-a';
const CID = `0x${'ab'.repeat(32)}`;

function mk(backend: 'js' | 'native') {
  const clock = new ManualClock();
  const store = new BookStore({ backend, clock: clock.now, capacity: 16, maxDepth: 5 });
  return { store, clock };
}

function lastTrade(id: string, price: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ event_type: 'last_trade_price', asset_id: id, market: CID, price, ...extra });
}

describe('tick size texts', () => {
  it('names the six tick sizes of the exchange, and nothing else', () => {
    expect(TICK_SIZES).toEqual(['0.1', '0.01', '0.001', '0.0001', '0.005', '0.0025']);
    for (const t of TICK_SIZES) expect(tickSizeText(Number(t))).toBe(t);
    expect(tickSizeText(Number('0.010'))).toBe('0.01');
    for (const v of [Number.NaN, 0, 0.02, 1, 0.00001]) expect(tickSizeText(v)).toBeNull();
  });
});

describe.each(BACKENDS)('book fields for trading (%s)', (backend) => {
  it('serves what an opening book tells: market, tick size and its text, the last trade price', () => {
    const { store, clock } = mk(backend);
    store.subscribe([OPEN.asset_id]);
    store.ingest(fixtureText('book_opening_snapshot_2026-10-04.json'), clock.t);
    const b = store.get(OPEN.asset_id, 1000)!;
    expect(b.market).toBe(OPEN.market);
    expect(b.tickSize).toBe(0.001);
    expect(b.tickSizeText).toBe('0.001');
    // Books on the WebSocket carry neither; discovery or a REST book does.
    expect(b.minOrderSize).toBeNull();
    expect(b.negRisk).toBeNull();
    expect(b.lastTrade).toEqual({ price: 0.064, size: null, side: null, timestamp: null });
    const h = store.handle(OPEN.asset_id);
    expect(h.top(1000)).toBe(true);
    expect([h.tickSize, h.tickSizeText, h.lastTradePrice]).toEqual([0.001, '0.001', 0.064]);
    expect([h.minOrderSize, h.negRisk, h.lastTradeSize, h.lastTradeSide, h.lastTradeTimestamp]).toEqual([
      Number.NaN,
      null,
      Number.NaN,
      null,
      Number.NaN,
    ]);
  });

  it('keeps the last trade of last_trade_price events: price, size, taker side and exchange time', () => {
    const { store, clock } = mk(backend);
    store.subscribe([LTP.asset_id]);
    store.ingest(bookFrame(LTP.asset_id, [['0.49', '10']], [['0.5', '10']]), clock.t);
    const h = store.handle(LTP.asset_id);
    expect(h.top(1000)).toBe(true);
    expect(h.lastTradePrice).toBeNaN();
    expect(store.get(LTP.asset_id, 1000)!.lastTrade).toBeNull();
    store.ingest(fixtureText('last_trade_price_2024-08.json'), clock.t);
    const b = store.get(LTP.asset_id, 1000)!;
    expect(b.lastTrade).toEqual({ price: 0.491, size: 85.36, side: 'SELL', timestamp: 1724564136087 });
    expect(h.top(1000)).toBe(true);
    expect([h.lastTradePrice, h.lastTradeSize, h.lastTradeSide, h.lastTradeTimestamp]).toEqual([
      0.491,
      85.36,
      'SELL',
      1724564136087,
    ]);
    // An unchanged trade is the same object (no allocation per read).
    expect(store.get(LTP.asset_id, 1000)!.lastTrade).toBe(b.lastTrade);
    // Older frames lack size and side; invalid optional fields count as absent.
    store.ingest(lastTrade(LTP.asset_id, '0.5', { size: 7, side: 'buy', timestamp: 'x' }), clock.t);
    expect(store.get(LTP.asset_id, 1000)!.lastTrade).toEqual({ price: 0.5, size: null, side: null, timestamp: null });
    store.ingest(lastTrade(LTP.asset_id, '0.52', { size: '3', side: 'BUY', timestamp: '1700000000001' }), clock.t);
    expect(store.get(LTP.asset_id, 1000)!.lastTrade).toEqual({
      price: 0.52,
      size: 3,
      side: 'BUY',
      timestamp: 1700000000001,
    });
    expect(store.counter('lastTrades')).toBe(3);
  });

  it('a book naming another last trade price forgets the size, side and time; the same price keeps them', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.4', '1']], [['0.6', '1']]), clock.t);
    store.ingest(lastTrade(T, '0.5', { size: '2', side: 'BUY', timestamp: '5' }), clock.t);
    const kept = { price: 0.5, size: 2, side: 'BUY', timestamp: 5 };
    store.ingest(bookFrame(T, [['0.4', '1']], [['0.6', '1']], { last_trade_price: '0.50' }), clock.t);
    expect(store.get(T, 1000)!.lastTrade).toEqual(kept);
    store.ingest(bookFrame(T, [['0.4', '1']], [['0.6', '1']]), clock.t);
    expect(store.get(T, 1000)!.lastTrade).toEqual(kept);
    store.ingest(bookFrame(T, [['0.4', '1']], [['0.6', '1']], { last_trade_price: '0.45' }), clock.t);
    expect(store.get(T, 1000)!.lastTrade).toEqual({ price: 0.45, size: null, side: null, timestamp: null });
  });

  it('a tick_size_change updates the handle and get() at once', () => {
    const { store, clock } = mk(backend);
    store.subscribe([TICK.asset_id]);
    store.ingest(bookFrame(TICK.asset_id, [['0.5', '1']], [['0.6', '1']], { tick_size: '0.01' }), clock.t);
    const h = store.handle(TICK.asset_id);
    expect(h.top(1000)).toBe(true);
    expect([h.tickSize, h.tickSizeText]).toEqual([0.01, '0.01']);
    const before = store.get(TICK.asset_id, 1000)!;
    expect([before.tickSize, before.tickSizeText]).toEqual([0.01, '0.01']);
    store.ingest(fixtureText('tick_size_change_2025-02.json'), clock.t);
    // No other frame in between: the change alone publishes the slot.
    expect(h.top(1000)).toBe(true);
    expect([h.tickSize, h.tickSizeText]).toEqual([0.001, '0.001']);
    const after = store.get(TICK.asset_id, 1000)!;
    expect(after).not.toBe(before);
    expect([after.tickSize, after.tickSizeText]).toEqual([0.001, '0.001']);
    expect(after.sequence).toBe(before.sequence + 1);
    // The 2026 tick sizes have texts too; a value the exchange does not use has none.
    store.ingest(JSON.stringify({ ...TICK, new_tick_size: '0.0025' }), clock.t);
    expect(store.get(TICK.asset_id, 1000)!.tickSizeText).toBe('0.0025');
    store.ingest(JSON.stringify({ ...TICK, new_tick_size: '0.02' }), clock.t);
    expect(h.top(1000)).toBe(true);
    expect([h.tickSize, h.tickSizeText]).toEqual([0.02, null]);
    expect(store.get(TICK.asset_id, 1000)!.tickSizeText).toBeNull();
  });

  it('setMeta publishes the minimum order size and neg risk', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.4', '1']], [['0.6', '1']]), clock.t);
    const h = store.handle(T);
    expect(h.top(1000)).toBe(true);
    const seq = store.state(T)!.sequence;
    store.setMeta(T, '15', true);
    expect(h.top(1000)).toBe(true);
    expect([h.minOrderSize, h.negRisk]).toEqual([15, true]);
    const b = store.get(T, 1000)!;
    expect([b.minOrderSize, b.negRisk]).toEqual([15, true]);
    // A token command, not a change of the book.
    expect(b.sequence).toBe(seq);
    store.setMeta(T, '5', false);
    expect(store.get(T, 1000)).toMatchObject({ minOrderSize: 5, negRisk: false });
    // A minimum size that is not a decimal is unknown; neg risk stays known.
    store.setMeta(T, 'five', true);
    expect(store.get(T, 1000)).toMatchObject({ minOrderSize: null, negRisk: true });
  });

  it('a REST book brings the meta, even when the book itself is skipped', () => {
    const { store, clock } = mk(backend);
    store.subscribe([NEG.asset_id, VTRADE.asset_id]);
    store.restBook(fixtureText('rest/clob_book-negrisk_equinox.json'), clock.t);
    const b = store.get(NEG.asset_id, 1000)!;
    expect(b).toMatchObject({
      market: NEG.market,
      tickSize: 0.01,
      tickSizeText: '0.01',
      minOrderSize: 5,
      negRisk: true,
      lastTrade: { price: 0.19, size: null, side: null, timestamp: null },
    });
    // A newer WebSocket book makes the REST book stale; its meta still counts.
    store.ingest(
      bookFrame(VTRADE.asset_id, [['0.4', '1']], [['0.6', '1']], { market: VTRADE.market, timestamp: '1900000000000' }),
      clock.t,
    );
    expect(store.get(VTRADE.asset_id, 1000)!.minOrderSize).toBeNull();
    store.restBook(fixtureText('rest/clob_book_vtrade.json'), clock.t);
    expect(store.counter('restSkipped')).toBe(1);
    const v = store.get(VTRADE.asset_id, 1000)!;
    expect(v).toMatchObject({ market: VTRADE.market, minOrderSize: 5, negRisk: false, bestBid: 0.4 });
  });

  it('keeps the market text of each book; a text a condition id cannot be is not served', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    const book = (market: unknown) => bookFrame(T, [['0.4', '1']], [['0.6', '1']], { market });
    store.ingest(book(CID), clock.t);
    const first = store.get(T, 1000)!;
    expect(first.market).toBe(CID);
    store.ingest(book('0xm'), clock.t);
    expect(store.get(T, 1000)!.market).toBe('0xm');
    store.ingest(book('x'.repeat(72)), clock.t);
    expect(store.get(T, 1000)!.market).toBe('x'.repeat(72));
    for (const bad of ['x'.repeat(73), '0x\u00e9', '', 7]) {
      store.ingest(book(bad), clock.t);
      expect(store.get(T, 1000)!.market, String(bad)).toBeNull();
    }
    store.ingest(book(CID), clock.t);
    expect(store.get(T, 1000)!.market).toBe(CID);
    // The text is read again only when it changed: an unchanged market is the same string.
    store.ingest(bookFrame(T, [['0.41', '1']], [['0.6', '1']], { market: CID }), clock.t);
    const again = store.get(T, 1000)!;
    expect(again.bestBid).toBe(0.41);
    expect(again.market).toBe(CID);
  });

  it('a rebound slot starts without market, meta or trade', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.4', '1']], [['0.6', '1']], { market: CID, tick_size: '0.01' }), clock.t);
    store.ingest(lastTrade(T, '0.5', { size: '1', side: 'SELL', timestamp: '9' }), clock.t);
    store.setMeta(T, '5', true);
    expect(store.get(T, 1000)).toMatchObject({ market: CID, negRisk: true, lastTrade: { side: 'SELL' } });
    const slot = store.slotOf(T);
    store.unsubscribe([T]);
    store.subscribe(['tok-b']);
    expect(store.slotOf('tok-b')).toBe(slot);
    store.ingest(bookFrame('tok-b', [['0.4', '1']], [['0.6', '1']], { market: undefined }), clock.t);
    expect(store.get('tok-b', 1000)).toMatchObject({
      market: null,
      tickSize: null,
      tickSizeText: null,
      minOrderSize: null,
      negRisk: null,
      lastTrade: null,
    });
  });
});
