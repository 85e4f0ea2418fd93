/**
 * Trades: the feed reads `last_trade_price` events only while someone listens, hands them across
 * the worker boundary, and the cache delivers them to callbacks and to bounded async iterators.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { readTrades, type Trade } from '../src/feed/trades.js';
import { TradeHub, tradesIterator } from '../src/cache/trades.js';
import { BACKENDS, FAST_FEED, fixtureText, waitFor } from './helpers.js';
import { feedRig, groupsOf, simulator, startCache } from './rig.js';

function trade(tokenId: string, price: number): Trade {
  return { tokenId, market: '0xm', price, size: 1, side: 'BUY', timestamp: 1 };
}

/** A feed stand-in: the hub listens to its `trade` events. */
function source(): EventEmitter<{ trade: [Trade] }> {
  return new EventEmitter<{ trade: [Trade] }>();
}

describe('reading trades out of frames', () => {
  it('reads the fixture, arrays of events, and skips events without a token or a price', () => {
    const got: Trade[] = [];
    readTrades(fixtureText('last_trade_price_2024-08.json'), (t) => got.push(t));
    expect(got).toEqual([
      {
        tokenId: '21742633143463906290569050155826241533067272736897614950488156847949938836455',
        market: '0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917',
        price: 0.491,
        size: 85.36,
        side: 'SELL',
        timestamp: 1724564136087,
      },
    ]);
    got.length = 0;
    const ev = (o: Record<string, unknown>) => ({ event_type: 'last_trade_price', asset_id: 'A', price: '0.5', ...o });
    readTrades(
      JSON.stringify([
        ev({ size: '2', side: 'BUY', timestamp: '7' }),
        ev({ price: '1.5' }),
        ev({ asset_id: 7 }),
        { event_type: 'book', asset_id: 'A' },
        ev({ size: 2, side: 'buy', timestamp: 'x', market: 9 }),
      ]),
      (t) => got.push(t),
    );
    expect(got).toEqual([
      { tokenId: 'A', market: null, price: 0.5, size: 2, side: 'BUY', timestamp: 7 },
      { tokenId: 'A', market: null, price: 0.5, size: null, side: null, timestamp: null },
    ]);
    readTrades('{"event_type":"last_trade_price"', (t) => got.push(t));
    expect(got).toHaveLength(2);
  });
});

describe('trade hub and iterator', () => {
  it('listens to the feed only while a watch exists', () => {
    const src = source();
    const hub = new TradeHub(
      () => src,
      () => {},
    );
    const seen: Trade[] = [];
    const off = hub.watch(['A'], (t) => seen.push(t));
    expect(src.listenerCount('trade')).toBe(1);
    const off2 = hub.watch(['B'], () => {});
    expect(src.listenerCount('trade')).toBe(1);
    src.emit('trade', trade('A', 0.5));
    src.emit('trade', trade('C', 0.5));
    expect(seen.map((t) => t.tokenId)).toEqual(['A']);
    off();
    off();
    expect(src.listenerCount('trade')).toBe(1);
    off2();
    expect(src.listenerCount('trade')).toBe(0);
    expect(hub.delivered).toBe(1);
  });

  it('keeps at most maxQueue trades for a busy consumer: the oldest are dropped and counted', async () => {
    const src = source();
    const hub = new TradeHub(
      () => src,
      () => {},
    );
    const it = tradesIterator(hub, ['A'], { maxQueue: 3 });
    for (let i = 1; i <= 5; i++) src.emit('trade', trade('A', i / 10));
    expect(hub.dropped).toBe(2);
    const got: number[] = [];
    for (let i = 0; i < 3; i++) got.push(((await it.next()).value as Trade).price);
    expect(got).toEqual([0.3, 0.4, 0.5]);
    // Waiting for the next one, then it arrives.
    const next = it.next();
    src.emit('trade', trade('A', 0.6));
    expect(((await next).value as Trade).price).toBe(0.6);
    expect(hub.delivered).toBe(6);
    await it.return!();
    expect(src.listenerCount('trade')).toBe(0);
    expect((await it.next()).done).toBe(true);
  });

  it('the signal ends the iteration, a waiting next() included', async () => {
    const src = source();
    const hub = new TradeHub(
      () => src,
      () => {},
    );
    const ac = new AbortController();
    const it = tradesIterator(hub, ['A'], { signal: ac.signal });
    src.emit('trade', trade('A', 0.5));
    expect((await it.next()).value).toMatchObject({ price: 0.5 });
    const waiting = it.next();
    ac.abort();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(src.listenerCount('trade')).toBe(0);
    // Already aborted: done at once.
    const done = tradesIterator(hub, ['A'], { signal: ac.signal });
    expect((await done.next()).done).toBe(true);
    expect(src.listenerCount('trade')).toBe(0);
  });

  it('closing the hub ends iterators; bad arguments are typed errors', async () => {
    const src = source();
    const errors: unknown[] = [];
    const hub = new TradeHub(
      () => src,
      (e) => errors.push(e),
    );
    const it = tradesIterator(hub, ['A']);
    hub.watch(['A'], () => {
      throw new Error('boom');
    });
    src.emit('trade', trade('A', 0.5));
    expect(errors).toHaveLength(1);
    const waiting = (async () => {
      await it.next();
      return it.next();
    })();
    hub.close();
    expect((await waiting).done).toBe(true);
    expect(src.listenerCount('trade')).toBe(0);
    expect(() => tradesIterator(hub, ['A'], { maxQueue: 0 })).toThrow(
      expect.objectContaining({ code: 'POLYBOOK_INVALID_ARGUMENT' }),
    );
    expect(() => hub.watch([''], () => {})).toThrow(TypeError);
    expect(() => hub.watch(['A'], 5 as never)).toThrow(expect.objectContaining({ code: 'POLYBOOK_INVALID_ARGUMENT' }));
  });
});

describe.each(BACKENDS)('trades from the simulator (%s)', (backend) => {
  it('the feed searches frames for trades only while someone listens', async () => {
    const { feed, sim } = await feedRig(backend, { sim: { rate: 0, markets: 2 }, ready: true });
    const host = (feed as unknown as { host: { scanTrades(): boolean } }).host;
    expect(host.scanTrades()).toBe(false);
    const got: Trade[] = [];
    const on = (t: Trade) => got.push(t);
    feed.on('trade', on);
    expect(host.scanTrades()).toBe(true);
    await waitFor(() => {
      sim.step(5);
      return got.length >= 2;
    }, 'two trades');
    feed.off('trade', on);
    expect(host.scanTrades()).toBe(false);
    for (const t of got) expect(sim.tokens).toContain(t.tokenId);
  });

  it.each([false, true])(
    'cache.trades() and watchTrades() deliver the trades the book shows last (worker %s)',
    async (worker) => {
      const sim = await simulator({ seed: 5, rate: 0, markets: 3 });
      const cache = await startCache({
        universe: groupsOf(sim),
        url: sim.url,
        backend,
        worker,
        clock: 'precise',
        feed: FAST_FEED,
      });
      await cache.warmup();
      const ac = new AbortController();
      const it = cache.trades(sim.tokens, { signal: ac.signal });
      const called: Trade[] = [];
      const unwatch = cache.watchTrades([sim.tokens[0], sim.tokens[1]], (t) => called.push(t));
      const got: Trade[] = [];
      const reading = (async () => {
        for await (const t of it) got.push(t);
      })();
      // Steps until some trades reached the iterator (in worker mode they come by message).
      await waitFor(
        () => {
          if (got.length < 6) sim.step(5);
          return got.length >= 6;
        },
        'six trades',
        20_000,
      );
      ac.abort();
      await reading;
      unwatch();
      for (const t of got) {
        expect(sim.tokens).toContain(t.tokenId);
        expect(t.market).toBe(sim.token(t.tokenId)!.conditionId);
        expect(t.side === 'BUY' || t.side === 'SELL').toBe(true);
        expect(t.size).toBeGreaterThan(0);
        expect(t.price).toBeGreaterThan(0);
      }
      // Trades of a market come in pairs: the taker's side on one token, the mirror on the other.
      const last = new Map(got.map((t) => [t.tokenId, t]));
      await waitFor(() => [...last].every(([id]) => cache.get(id, 60_000)?.lastTrade != null), 'books with trades');
      let compared = 0;
      for (const [id, t] of last) {
        if (Number(sim.token(id)!.lastTradePrice) !== t.price) continue; // a later trade not yet read
        const { tokenId: _, market: __, ...lt } = t;
        expect(cache.get(id, 60_000)!.lastTrade).toEqual(lt);
        compared++;
      }
      expect(compared).toBeGreaterThan(0);
      expect(called.length).toBeGreaterThan(0);
      expect(called.every((t) => t.tokenId === sim.tokens[0] || t.tokenId === sim.tokens[1])).toBe(true);
      const m = cache.metrics().cache;
      expect(m.tradesDelivered).toBeGreaterThanOrEqual(got.length + called.length);
      expect(m.tradesDropped).toBe(0);
    },
  );
});
