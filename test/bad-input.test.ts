/**
 * Bad input, one test per row of the table in docs/RELIABILITY.md ("Bad input"), on both backends:
 * the frame is counted under the documented counter, the token it names is reset or left alone as
 * documented, every other token's book is untouched, and the next valid frame is applied (the
 * process goes on). The feed-level rows (binary frames, text that is not JSON, on a real socket)
 * are at the end; the oversized-frame row is in test/limits.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { BookStore } from '../src/table/store.js';
import { COUNTERS, type CounterName } from '../src/table/layout.js';
import { BACKENDS, bookFrame, priceChange, waitFor } from './helpers.js';
import { afterTest, feedOn, recordingServer } from './rig.js';

type Effect =
  /** A's book and state unchanged. */
  | 'untouched'
  /** A reset: not ready, book emptied, queued for resync. */
  | 'reset'
  /** A reset as crossed. */
  | 'crossed'
  /** The frame's book applied to A (`bids` levels). */
  | { applied: number };

interface Row {
  name: string;
  frame: () => string | Uint8Array;
  /** Exact counter changes besides `frames` (+1) and `bytes`. */
  counters: Partial<Record<CounterName, number>>;
  effect: Effect;
}

const A_BOOK = bookFrame('A', [['0.3', '5']], [['0.7', '5']]);
const B_BOOK = bookFrame('B', [['0.2', '5']], [['0.8', '5']]);
/** A book for A whose first bid price is `price` (any JSON value) and size `size`. */
const bookWith = (price: unknown, size: unknown) =>
  JSON.stringify({
    event_type: 'book',
    market: '0xm',
    asset_id: 'A',
    timestamp: '1000',
    bids: [{ price, size }],
    asks: [{ price: '0.7', size: '5' }],
  });
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const rejectedBook = (counter: CounterName) => ({ events: 1, snapshotsRejected: 1, [counter]: 1 });

const ROWS: Row[] = [
  { name: 'truncated JSON', frame: () => A_BOOK.slice(0, 40), counters: { badJson: 1 }, effect: 'untouched' },
  {
    name: 'NaN and Infinity literals (not JSON)',
    frame: () => '{"event_type":"book","asset_id":"A","bids":[{"price":NaN,"size":Infinity}],"asks":[]}',
    counters: { badJson: 1 },
    effect: 'untouched',
  },
  {
    name: 'bare text frame',
    frame: () => '<html><body>502 Bad Gateway</body></html>',
    counters: { badJson: 1 },
    effect: 'untouched',
  },
  {
    name: 'a JSON value that is not an object or array',
    frame: () => '"book"',
    counters: { badEvent: 1 },
    effect: 'untouched',
  },
  {
    name: 'wrong type: price as a JSON number',
    frame: () => bookWith(0.4, '1'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'wrong type: bids as an object',
    frame: () => '{"event_type":"book","asset_id":"A","bids":{"price":"0.4","size":"1"},"asks":[]}',
    counters: rejectedBook('badEvent'),
    effect: 'reset',
  },
  {
    name: 'wrong type: price_change size as a number',
    frame: () =>
      '{"event_type":"price_change","market":"0xm","timestamp":"2","price_changes":[{"asset_id":"A","price":"0.3","size":5,"side":"BUY"}]}',
    counters: { events: 1, badDecimal: 1 },
    effect: 'reset',
  },
  {
    name: 'wrong value: side "buy"',
    frame: () => priceChange([{ asset_id: 'A', price: '0.3', size: '5', side: 'buy' as 'BUY' }]),
    counters: { events: 1, badEvent: 1 },
    effect: 'reset',
  },
  {
    name: 'absurd price: 1 or more',
    frame: () => bookWith('1', '1'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  { name: 'absurd price: 0', frame: () => bookWith('0', '1'), counters: rejectedBook('badDecimal'), effect: 'reset' },
  {
    name: 'absurd price: 1e400 as a JSON number',
    frame: () => bookWith('1e400', '1').replace('"1e400"', '1e400'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'absurd price: "1e400" as text',
    frame: () => bookWith('1e400', '1'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'absurd size: over 2^53 - 1',
    frame: () => bookWith('0.4', '99999999999999999999'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'absurd size: more than 9 decimals',
    frame: () => bookWith('0.4', '0.0000000001'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'largest size accepted: 2^53 - 1',
    frame: () => bookWith('0.4', '9007199254740991'),
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 1 },
  },
  {
    name: 'negative number string',
    frame: () => bookWith('-0.4', '1'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'non-numeric strings',
    frame: () => bookWith('0.4', 'NaN'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'non-numeric strings: hex and letters',
    frame: () => bookWith('0x10', 'abc'),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'empty and padded number strings',
    frame: () => bookWith(' 0.4', ''),
    counters: rejectedBook('badDecimal'),
    effect: 'reset',
  },
  {
    name: 'levels out of wire order',
    frame: () =>
      '{"event_type":"book","asset_id":"A","bids":[{"price":"0.5","size":"1"},{"price":"0.4","size":"1"}],"asks":[]}',
    counters: rejectedBook('unorderedLevels'),
    effect: 'reset',
  },
  {
    name: 'crossed book',
    frame: () => bookFrame('A', [['0.6', '1']], [['0.5', '1']]),
    counters: { events: 1, snapshotsApplied: 1, crossedResets: 1 },
    effect: 'crossed',
  },
  {
    name: 'unknown event type',
    frame: () => '{"event_type":"order_filled","asset_id":"A"}',
    counters: { events: 1, unknownEvents: 1 },
    effect: 'untouched',
  },
  {
    name: 'missing event type',
    frame: () => '{"asset_id":"A","bids":[],"asks":[]}',
    counters: { events: 1, badEvent: 1 },
    effect: 'untouched',
  },
  { name: 'empty array frame []', frame: () => '[]', counters: { controlFrames: 1 }, effect: 'untouched' },
  { name: 'empty array frame with spaces', frame: () => '[ ]', counters: {}, effect: 'untouched' },
  {
    name: 'empty bids (one-sided book)',
    frame: () => bookFrame('A', [], [['0.6', '1']]),
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 0 },
  },
  {
    name: 'big but allowed frame: 100,000 levels',
    frame: () =>
      bookFrame(
        'A',
        Array.from({ length: 100_000 }, (_, i) => [(0.4 - i * 1e-6).toFixed(9), '1'] as [string, string]),
        [['0.6', '1']],
      ),
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 100_000 },
  },
  {
    name: 'binary frame with valid UTF-8 JSON',
    frame: () => Buffer.from(bookFrame('A', [['0.41', '1']], [['0.6', '1']])),
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 1 },
  },
  {
    name: 'binary frame that is not UTF-8',
    frame: () => Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    counters: { badJson: 1 },
    effect: 'untouched',
  },
  {
    name: 'byte order mark',
    frame: () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(A_BOOK)]),
    counters: { badJson: 1 },
    effect: 'untouched',
  },
  {
    name: 'unknown token',
    frame: () =>
      bookFrame(
        '71321045679252212594626385532706912750332728571942532289631379312455583992563',
        [['0.4', '1']],
        [['0.6', '1']],
      ),
    counters: { events: 1, ignored: 1 },
    effect: 'untouched',
  },
  {
    name: 'token id that is not a string',
    frame: () =>
      '{"event_type":"book","asset_id":71321045679252212594626385532706912750332728571942532289631379312455583992563,"bids":[],"asks":[]}',
    counters: rejectedBook('badEvent'),
    effect: 'untouched',
  },
  {
    name: 'delta for a token without a book',
    frame: () => priceChange([{ asset_id: 'C', price: '0.4', size: '1', side: 'BUY' }]),
    counters: { events: 1, deltasWithoutBook: 1 },
    effect: 'untouched',
  },
  {
    name: 'duplicate keys (the last one wins, as JSON.parse)',
    frame: () => '{"event_type":"book","asset_id":"B","asset_id":"A","bids":[{"price":"0.42","size":"1"}],"asks":[]}',
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 1 },
  },
  {
    name: 'prototype keys are data',
    frame: () =>
      '{"event_type":"book","asset_id":"A","__proto__":{"bids":[]},"constructor":{"prototype":{"x":1}},"bids":[{"price":"0.44","size":"1"}],"asks":[]}',
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 1 },
  },
  {
    name: 'deeply nested JSON (100,000 levels)',
    frame: () => deep(100_000),
    counters: { events: 1, badEvent: 1 },
    effect: 'untouched',
  },
  {
    name: 'deeply nested value in an ignored field',
    frame: () =>
      `{"event_type":"book","asset_id":"A","extra":${deep(50_000)},"bids":[{"price":"0.43","size":"1"}],"asks":[]}`,
    counters: { events: 1, snapshotsApplied: 1 },
    effect: { applied: 1 },
  },
];

function setup(backend: 'js' | 'native'): BookStore {
  const s = new BookStore({ backend, clock: () => 1_000_000, capacity: 8 });
  afterTest(() => s.close());
  s.subscribe(['A', 'B', 'C']);
  s.ingest(A_BOOK);
  s.ingest(B_BOOK);
  expect(s.takeResync()).toEqual([]);
  return s;
}

describe.each(BACKENDS)('bad input at the store (%s backend)', (backend) => {
  it.each(ROWS.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const s = setup(backend);
    const c0 = s.metrics().writer;
    const b0 = { book: JSON.stringify(s.fullBook('B')), state: JSON.stringify(s.state('B')) };
    const a0 = { book: JSON.stringify(s.fullBook('A')), state: JSON.stringify(s.state('A')) };

    expect(() => s.ingest(row.frame())).not.toThrow();

    const c1 = s.metrics().writer;
    const delta: Record<string, number> = {};
    for (const n of COUNTERS) if (n !== 'bytes' && c1[n] !== c0[n]) delta[n] = c1[n] - c0[n];
    expect(delta).toEqual({ frames: 1, ...row.counters });
    // Every other token is untouched.
    expect(JSON.stringify(s.fullBook('B'))).toBe(b0.book);
    expect(JSON.stringify(s.state('B'))).toBe(b0.state);
    expect(s.get('B', 1e12)?.bestBid).toBe(0.2);
    const a = s.state('A')!;
    const resync = s.takeResync();
    const e = row.effect;
    if (e === 'untouched') {
      expect(JSON.stringify(s.fullBook('A'))).toBe(a0.book);
      expect(JSON.stringify(a)).toBe(a0.state);
      expect(resync).toEqual([]);
    } else if (e === 'reset' || e === 'crossed') {
      expect(a).toMatchObject({ ready: false, hasBook: true, crossed: e === 'crossed' });
      expect(s.get('A', 1e12)).toBeNull();
      expect(resync).toEqual(['A']);
    } else {
      expect(a.ready).toBe(true);
      expect(s.fullBook('A')!.bids.length).toBe(e.applied);
      expect(resync).toEqual([]);
    }
    // The process goes on: the next valid frame is applied and served.
    s.ingest(bookFrame('A', [['0.35', '2']], [['0.65', '2']]));
    expect(s.get('A', 1e12)).toMatchObject({ bestBid: 0.35, bestAsk: 0.65 });
  });
});

// ---------------------------------------------------------------- on a socket

describe.each(BACKENDS)('bad input on the socket (%s backend)', (backend) => {
  it('binary frames are ingested like text; one that is not UTF-8 JSON invalidates and resubscribes its connection, which stays open', async () => {
    const srv = await recordingServer();
    const { store, feed } = feedOn(backend, srv.url, { confirmIntervalMs: 50, healthIntervalMs: 20 }, { capacity: 8 });
    feed.start([{ market: 'm', tokens: ['A', 'B'] }]);
    await waitFor(() => srv.sockets.length === 1 && srv.frames.length === 1, 'subscribed');
    const ws = srv.sockets[0];
    ws.send(Buffer.from(A_BOOK), { binary: true });
    ws.send(Buffer.from(B_BOOK), { binary: true });
    await waitFor(() => store.readyCount() === 2, 'binary books applied');

    ws.send(Uint8Array.from([0x5b, 0xff, 0x5d]), { binary: true });
    await waitFor(() => feed.stats().badFrames === 1, 'bad frame counted');
    expect(store.counter('badJson')).toBe(1);
    // Both tokens of the connection: not served until a fresh book; asked for again.
    expect(store.get('A', 1e12)).toBeNull();
    expect(store.get('B', 1e12)).toBeNull();
    await waitFor(
      () =>
        srv.frames.some((f) => f.text.includes('"unsubscribe"')) &&
        srv.frames.some((f) => f.text.includes('"subscribe"')),
      'resubscription',
    );
    ws.send(A_BOOK);
    ws.send(B_BOOK);
    await waitFor(() => store.readyCount() === 2, 'books again');

    ws.send('hello, not json');
    await waitFor(() => feed.stats().badFrames === 2, 'text frame counted');
    expect(store.readyCount()).toBe(0);
    expect(feed.stats()).toMatchObject({ reconnects: 0, open: 1 });
    ws.send(A_BOOK);
    await waitFor(() => store.get('A', 1e12) !== null, 'served again on the same connection');
  });
});
