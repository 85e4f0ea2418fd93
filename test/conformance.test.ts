/**
 * The conformance suite: the public BookStore API on both backends, with the real fixtures.
 */
import { describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { BACKENDS, ManualClock, bookFrame, fixture, fixtureText, priceChange } from './helpers.js';

const OPEN = fixture('book_opening_snapshot_2026-10-04.json');
const AFTER = fixture('book_after_trade_2026-10-04.json');
const LEGACY = fixture('book_legacy_2024-10.json');

const T = 'tok-a';
const U = 'tok-b';

function mk(backend: 'js' | 'native', clock = new ManualClock(), maxDepth = 20) {
  const store = new BookStore({ backend, clock: clock.now, maxDepth, capacity: 64, graceMs: 1000 });
  return { store, clock };
}

function bestFirst(levels: { price: string; size: string }[]) {
  return [...levels].reverse().map((l) => ({ price: Number(l.price), size: Number(l.size) }));
}

describe.each(BACKENDS)('BookStore conformance (%s)', (backend) => {
  it('reports its backend', () => {
    const { store } = mk(backend);
    expect(store.backend).toBe(backend);
  });

  it.each([
    ['book_opening_snapshot_2026-10-04.json', OPEN],
    ['book_after_trade_2026-10-04.json', AFTER],
    ['book_legacy_2024-10.json', LEGACY],
  ])('ingests %s to the right book: best bid and ask are the last wire entries', (name, ev) => {
    const { store, clock } = mk(backend);
    store.subscribe([ev.asset_id]);
    store.ingest(fixtureText(name), clock.t);
    const book = store.get(ev.asset_id, 1000);
    expect(book).not.toBeNull();
    expect(book!.bestBid).toBe(Number(ev.bids.at(-1).price));
    expect(book!.bestAsk).toBe(Number(ev.asks.at(-1).price));
    expect(book!.bids).toEqual(bestFirst(ev.bids).slice(0, 20));
    expect(book!.asks).toEqual(bestFirst(ev.asks).slice(0, 20));
    expect(book!.timestamp).toBe(Number(ev.timestamp));
    expect(book!.tokenId).toBe(ev.asset_id);
    expect(book!.sequence).toBe(1);
    expect(book!.tickSize).toBe(ev.tick_size ? Number(ev.tick_size) : null);
    // Full depth is tracked, exact texts in wire order.
    const full = store.fullBook(ev.asset_id)!;
    expect(full.bids).toEqual(ev.bids.map((l: any) => [l.price, l.size]));
    expect(full.asks).toEqual(ev.asks.map((l: any) => [l.price, l.size]));
    expect(store.counter('snapshotsApplied')).toBe(1);
  });

  it('accepts the bytes ws delivers as well as text', () => {
    const { store, clock } = mk(backend);
    store.subscribe([OPEN.asset_id]);
    store.ingest(Buffer.from(fixtureText('book_opening_snapshot_2026-10-04.json')), clock.t);
    expect(store.get(OPEN.asset_id, 1000)?.bestBid).toBe(0.063);
  });

  it('maxDepth bounds only what a read returns', () => {
    const { store, clock } = mk(backend, new ManualClock(), 5);
    store.subscribe([OPEN.asset_id]);
    store.ingest(`[${fixtureText('book_opening_snapshot_2026-10-04.json')}]`, clock.t);
    const book = store.get(OPEN.asset_id, 1000)!;
    expect(book.bids).toHaveLength(5);
    expect(book.asks).toHaveLength(5);
    expect(store.fullBook(OPEN.asset_id)!.asks).toHaveLength(139);
  });

  it('applies price_change with absolute sizes and "0" removal, and keeps the mirror token apart', () => {
    const { store, clock } = mk(backend);
    store.subscribe([AFTER.asset_id]);
    store.ingest(fixtureText('book_after_trade_2026-10-04.json'), clock.t);
    const before = store.get(AFTER.asset_id, 1000)!;
    clock.advance(5);
    store.ingest(fixtureText('price_change_2026-10-04_trade.json'), clock.t);
    // Server top after the change is 0.889 / 0.894 and our book agrees: served, no mismatch.
    const after = store.get(AFTER.asset_id, 1000)!;
    expect(after.bestBid).toBe(0.889);
    expect(after.bids[0].size).toBe(13354.28);
    expect(after.bestAsk).toBe(0.894);
    expect(after.sequence).toBe(before.sequence + 1);
    expect(store.counter('deltasApplied')).toBe(1);
    // The other entry is for a token we did not subscribe to.
    expect(store.counter('ignored')).toBe(1);
    expect(store.counter('bboMismatches')).toBe(0);

    store.ingest(
      priceChange([
        {
          asset_id: AFTER.asset_id,
          price: '0.889',
          size: '0',
          side: 'BUY',
          best_bid: AFTER.bids.at(-2).price,
          best_ask: '0.894',
        },
      ]),
      clock.advance(1),
    );
    const removed = store.get(AFTER.asset_id, 1000)!;
    expect(removed.bestBid).toBe(Number(AFTER.bids.at(-2).price));
  });

  it('handles both legacy price_change formats', () => {
    const v1 = fixture('price_change_legacy_v1_changes_array_2024-10.json');
    const v0 = fixture('price_change_legacy_v0_per_level_2024-08.json');
    const { store, clock } = mk(backend);
    store.subscribe([v1.asset_id, v0.asset_id]);
    store.ingest(bookFrame(v1.asset_id, [['0.4', '10']], [['0.8', '10']]), clock.t);
    store.ingest(bookFrame(v0.asset_id, [['0.5', '10']], [['0.52', '10']]), clock.t);
    store.ingest(fixtureText('price_change_legacy_v1_changes_array_2024-10.json'), clock.t);
    store.ingest(fixtureText('price_change_legacy_v0_per_level_2024-08.json'), clock.t);
    const b1 = store.get(v1.asset_id, 1000)!;
    expect(b1.bids).toEqual([
      { price: 0.7, size: 3400 },
      { price: 0.6, size: 3300 },
      { price: 0.5, size: 3400 },
      { price: 0.4, size: 10 },
    ]);
    const b0 = store.get(v0.asset_id, 1000)!;
    expect(b0.asks).toEqual([
      { price: 0.514, size: 21574.08 },
      { price: 0.52, size: 10 },
    ]);
    expect(store.counter('deltasApplied')).toBe(4);
  });

  it('keeps tick size and last trade, and never serves settled tokens', () => {
    const tick = fixture('tick_size_change_2025-02.json');
    const resolved = fixture('market_resolved_2026-10-04.json');
    const { store, clock } = mk(backend);
    const [r1, r2] = resolved.assets_ids;
    store.subscribe([tick.asset_id, r1, r2]);
    store.ingest(bookFrame(tick.asset_id, [['0.5', '1']], [['0.6', '1']]), clock.t);
    store.ingest(fixtureText('tick_size_change_2025-02.json'), clock.t);
    expect(store.get(tick.asset_id, 1000)?.tickSize).toBe(0.001);
    store.ingest(bookFrame(r1, [['0.5', '1']], [['0.6', '1']]), clock.t);
    store.ingest(fixtureText('market_resolved_2026-10-04.json'), clock.t);
    expect(store.get(r1, 1000)).toBeNull();
    expect(store.state(r1)!.settled).toBe(true);
    expect(store.metrics().misses.settled).toBe(1);
    expect(store.counter('settled')).toBe(2);
    // A later book does not revive a settled token.
    store.ingest(bookFrame(r1, [['0.5', '1']], [['0.6', '1']]), clock.t);
    expect(store.get(r1, 1000)).toBeNull();
  });

  it('counts every miss by reason', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T, U]);
    expect(store.get('unknown', 1000)).toBeNull();
    expect(store.get(T, 1000)).toBeNull();
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    clock.advance(2000);
    expect(store.get(T, 1000)).toBeNull();
    expect(store.get(T, 5000)).not.toBeNull();
    store.setDisabled([T]);
    expect(store.get(T, 5000)).toBeNull();
    store.setDisabled([T], false);
    store.invalidate([T], clock.t);
    expect(store.get(T, 5000)).toBeNull();
    store.ingest(bookFrame(U, [['0.6', '1']], [['0.5', '1']]), clock.t);
    expect(store.get(U, 5000)).toBeNull();
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    store.diverge([T], clock.t);
    expect(store.get(T, 5000)).toBeNull();
    const m = store.metrics();
    expect(m.misses).toEqual({
      not_subscribed: 1,
      never_seen: 1,
      stale: 1,
      disabled: 1,
      not_ready: 1,
      crossed: 1,
      settled: 0,
      mismatch: 0,
      diverged: 1,
      server_down: 0,
    });
    expect(m.hits).toBe(1);
    const s = m.summary();
    expect(s.hitRate).toBeCloseTo(1 / 8);
    expect(s.meanAgeMs).toBe(2000);
    expect(s.crossedResets).toBe(1);
    expect(m.ageHistogram.find((b) => b.le === 2500)!.count).toBe(1);
  });

  it('resets a crossed book and asks for a resync', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T, U]);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    store.ingest(bookFrame(U, [['0.3', '1']], [['0.4', '1']]), clock.t);
    store.takeResync();
    store.ingest(
      priceChange([{ asset_id: T, price: '0.6', size: '5', side: 'BUY', best_bid: '0.6', best_ask: '0.6' }]),
      clock.t,
    );
    expect(store.get(T, 1000)).toBeNull();
    expect(store.state(T)).toMatchObject({ ready: false, crossed: true, hasBook: true });
    expect(store.counter('crossedResets')).toBe(1);
    expect(store.takeResync()).toEqual([T]);
    // The other token is untouched.
    expect(store.get(U, 1000)?.bestBid).toBe(0.3);
    // Deltas do not apply to a reset book; a fresh book makes it ready again.
    store.ingest(
      priceChange([{ asset_id: T, price: '0.55', size: '5', side: 'BUY', best_bid: '0.55', best_ask: '0.6' }]),
      clock.t,
    );
    expect(store.counter('deltasWithoutBook')).toBe(1);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    expect(store.get(T, 1000)?.bestAsk).toBe(0.6);
    expect(store.state(T)!.crossed).toBe(false);
  });

  it('top-of-book mismatch: not served during the grace period, resolved by a later frame', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    // Server says the best bid is 0.52 after this change, but the change that makes it so comes later.
    store.ingest(
      priceChange([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]),
      clock.advance(1),
    );
    expect(store.counter('bboMismatches')).toBe(1);
    expect(store.get(T, 1000)).toBeNull();
    expect(store.metrics().misses.mismatch).toBe(1);
    store.ingest(
      priceChange([{ asset_id: T, price: '0.52', size: '2', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]),
      clock.advance(1),
    );
    expect(store.counter('mismatchesResolved')).toBe(1);
    expect(store.get(T, 1000)?.bestBid).toBe(0.52);
    expect(store.counter('desyncs')).toBe(0);
  });

  it('top-of-book mismatch past the grace period: desync, not ready, resync requested', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    store.takeResync();
    store.ingest(
      priceChange([{ asset_id: T, price: '0.51', size: '3', side: 'BUY', best_bid: '0.52', best_ask: '0.6' }]),
      clock.advance(1),
    );
    store.tick(clock.advance(999));
    expect(store.state(T)!.mismatch).toBe(true);
    store.tick(clock.advance(1));
    expect(store.counter('desyncs')).toBe(1);
    expect(store.state(T)).toMatchObject({ ready: false, mismatch: false });
    expect(store.takeResync()).toEqual([T]);
    expect(store.get(T, 1000)).toBeNull();
  });

  it('a delta for a token with no book is not applied', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(
      priceChange([{ asset_id: T, price: '0.5', size: '3', side: 'BUY', best_bid: '0.5', best_ask: '' }]),
      clock.t,
    );
    expect(store.counter('deltasWithoutBook')).toBe(1);
    expect(store.get(T, 1000)).toBeNull();
    expect(store.state(T)!.hasBook).toBe(false);
  });

  it('bad input is counted and never touches another token nor throws', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T, U]);
    store.ingest(bookFrame(U, [['0.3', '1']], [['0.4', '1']]), clock.t);
    const bad: (string | Uint8Array)[] = [
      '{"event_type":"book"',
      'HELLO',
      '42',
      '"text"',
      'null',
      '[1,2,3]',
      '{"event_type":"nope","asset_id":"tok-b"}',
      '{"asset_id":"tok-b"}',
      bookFrame(T, [['-0.5', '1']], [['0.6', '1']]),
      bookFrame(T, [['0.5', '1e3']], [['0.6', '1']]),
      bookFrame(
        T,
        [
          ['0.5', '1'],
          ['0.6', '1'],
        ],
        [['0.7', '1']],
      ),
      bookFrame(T, [['1.5', '1']], [['0.6', '1']]),
      bookFrame(T, [['0.5', '99999999999999999999']], [['0.6', '1']]),
      '{"event_type":"book","asset_id":"tok-a","bids":{},"asks":[]}',
      priceChange([{ asset_id: T, price: 'abc', size: '1', side: 'BUY' }]),
      priceChange([{ asset_id: T, price: '0.5', size: '1', side: 'HOLD' } as any]),
      new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
      '',
      '{"event_type":"book","asset_id":"tok-a","__proto__":{"bids":[]},"bids":[],"asks":[]}',
    ];
    for (const f of bad) expect(() => store.ingest(f, clock.t)).not.toThrow();
    const m = store.metrics().writer;
    expect(m.badJson).toBeGreaterThanOrEqual(3);
    expect(m.badEvent).toBeGreaterThanOrEqual(4);
    expect(m.badDecimal).toBeGreaterThanOrEqual(4);
    expect(m.unorderedLevels).toBe(1);
    expect(m.unknownEvents).toBe(1);
    expect(store.get(U, 1000)).toMatchObject({ bestBid: 0.3, bestAsk: 0.4, sequence: 1 });
  });

  it('control frames are counted, not errors', () => {
    const { store, clock } = mk(backend);
    for (const f of ['PONG', 'NO NEW ASSETS', 'INVALID OPERATION', 'INVALID MESSAGE', '[]', '[]\n'])
      store.ingest(f, clock.t);
    const m = store.metrics().writer;
    expect(m.controlFrames).toBe(6);
    expect(m.badJson + m.badEvent).toBe(0);
  });

  it('age is the time since the last update or connection confirmation, whichever is later', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.assign([T], 3);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    clock.advance(400);
    expect(store.get(T, 250)).toBeNull();
    store.confirm(3, clock.t - 100);
    expect(store.get(T, 250)?.ageMs).toBe(100);
    // A confirmation never moves backwards.
    store.confirm(3, clock.t - 300);
    expect(store.get(T, 250)?.ageMs).toBe(100);
    // Another connection's confirmation does not count.
    store.confirm(4, clock.t);
    expect(store.get(T, 250)?.ageMs).toBe(100);
  });

  it('handle: top of book without allocation, invalidated by unsubscribe', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    const h = store.handle(T);
    expect(h.top(1000)).toBe(false);
    expect(h.missReason).toBe('never_seen');
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
    expect(h.top(1000)).toBe(true);
    expect([h.bidPrice, h.bidSize, h.askPrice, h.askSize]).toEqual([0.5, 7, 0.6, 8]);
    store.ingest(
      priceChange([{ asset_id: T, price: '0.5', size: '0', side: 'BUY', best_bid: '0.4', best_ask: '0.6' }]),
      clock.t,
    );
    expect(h.top(1000)).toBe(true);
    expect(h.bidPrice).toBe(0.4);
    store.unsubscribe([T]);
    store.subscribe([U]);
    store.ingest(bookFrame(U, [['0.1', '1']], [['0.2', '1']]), clock.t);
    // U reuses T's slot; T's handle must not read U's book.
    expect(h.top(1000)).toBe(false);
    expect(store.handle('nope').top(1000)).toBe(false);
    expect(store.handle(U).top(1000)).toBe(true);
  });

  it('a served book object is reused while unchanged, replaced when changed', () => {
    const { store, clock } = mk(backend);
    store.subscribe([T]);
    store.ingest(bookFrame(T, [['0.5', '1']], [['0.6', '1']]), clock.t);
    const a = store.get(T, 1000);
    clock.advance(10);
    const b = store.get(T, 1000);
    expect(b).toBe(a);
    expect(b!.ageMs).toBe(10);
    store.ingest(
      priceChange([{ asset_id: T, price: '0.55', size: '1', side: 'SELL', best_bid: '0.5', best_ask: '0.55' }]),
      clock.t,
    );
    const c = store.get(T, 1000)!;
    expect(c).not.toBe(a);
    expect(c.bestAsk).toBe(0.55);
    expect(a!.bestAsk).toBe(0.6);
  });

  it('REST books never overwrite a newer WebSocket book', () => {
    const { store, clock } = mk(backend);
    const rest = fixture('rest_book_legacy_2024-10.json');
    store.subscribe([rest.asset_id]);
    store.restBook(JSON.stringify(rest), clock.t);
    expect(store.get(rest.asset_id, 1000)?.bestBid).toBe(0.1);
    store.ingest(
      bookFrame(rest.asset_id, [['0.2', '1']], [['0.3', '1']], { timestamp: String(Number(rest.timestamp) + 10) }),
      clock.t,
    );
    store.restBook(JSON.stringify(rest), clock.t);
    expect(store.get(rest.asset_id, 1000)?.bestBid).toBe(0.2);
    expect(store.counter('restApplied')).toBe(1);
    expect(store.counter('restSkipped')).toBe(1);
  });

  it('verifies the server hash of the 2026 books off the read path', () => {
    const { store, clock } = mk(backend);
    store.subscribe([OPEN.asset_id, AFTER.asset_id]);
    store.setMeta(OPEN.asset_id, '5', true);
    store.setMeta(AFTER.asset_id, '5', true);
    store.ingest(fixtureText('book_opening_snapshot_2026-10-04.json'), clock.t);
    // The after-trade book carries no tick size; the feed knows it from a tick_size_change.
    store.ingest(
      JSON.stringify({
        event_type: 'tick_size_change',
        asset_id: AFTER.asset_id,
        market: AFTER.market,
        old_tick_size: '0.01',
        new_tick_size: '0.001',
        timestamp: '1',
      }),
      clock.t,
    );
    store.ingest(
      JSON.stringify({
        event_type: 'last_trade_price',
        asset_id: AFTER.asset_id,
        market: AFTER.market,
        price: '0.889',
        size: '1',
        side: 'BUY',
        timestamp: '1',
      }),
      clock.t,
    );
    store.ingest(fixtureText('book_after_trade_2026-10-04.json'), clock.t);
    store.tick(clock.t);
    expect(store.counter('hashChecks')).toBe(2);
    expect(store.counter('hashMismatches')).toBe(0);
    // A changed book no longer matches the server's hash.
    store.ingest(
      fixtureText('book_opening_snapshot_2026-10-04.json').replace('"size":"1505"', '"size":"1506"'),
      clock.t,
    );
    store.tick(clock.t);
    expect(store.counter('hashMismatches')).toBe(1);
  });

  it('unsubscribe frees the slot for reuse; a full table is a clear error', () => {
    const store = new BookStore({ backend, capacity: 2, clock: () => 0 });
    store.subscribe(['a', 'b']);
    expect(() => store.subscribe(['c'])).toThrow(/table is full/);
    store.unsubscribe(['a']);
    store.subscribe(['c']);
    expect(store.tokens().sort()).toEqual(['b', 'c']);
    expect(store.get('a', 1000)).toBeNull();
  });
});
