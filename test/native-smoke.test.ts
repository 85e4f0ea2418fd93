import { Status } from '../src/table/writer.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as layout from '../src/table/layout.js';
import { createNativeWriter, loadNativeBinding } from '../src/backend/native/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/polymarket/', import.meta.url));

describe('native binding (smoke)', () => {
  const loaded = loadNativeBinding();
  if ('error' in loaded) throw new Error(`native binding must load (npm run build:native): ${loaded.error.message}`);
  const { binding } = loaded;

  it('ingests the opening book from a Buffer and publishes the last wire entries as best bid/ask', () => {
    const buf = readFileSync(`${FIXTURES}book_opening_snapshot_2026-10-04.json`);
    const ev = JSON.parse(buf.toString('utf8'));
    const depth = 10;
    const sab = layout.createTable(4, depth);
    const w = createNativeWriter(binding, sab, { graceMs: 1000 });
    w.bind(ev.asset_id, 2, 1);
    w.setMeta(2, '5', true);
    expect(w.ingest(buf, 1234.5)).toBe(Status.published);

    const dv = new DataView(sab);
    const base = layout.HEADER_BYTES + 2 * layout.slotBytes(depth);
    const seq = dv.getInt32(base + layout.S_SEQ, true);
    expect(seq % 2).toBe(0);
    expect(seq).toBeGreaterThan(0);
    expect(dv.getInt32(base + layout.S_FLAGS, true)).toBe(layout.F_SUBSCRIBED | layout.F_READY | layout.F_HAS_BOOK);
    expect(dv.getInt32(base + layout.S_NBIDS, true)).toBe(depth);
    expect(dv.getInt32(base + layout.S_NASKS, true)).toBe(depth);
    const lastBid = ev.bids[ev.bids.length - 1];
    const lastAsk = ev.asks[ev.asks.length - 1];
    expect(dv.getFloat64(base + layout.S_LEVELS, true)).toBe(parseFloat(lastBid.price));
    expect(dv.getFloat64(base + layout.S_LEVELS + 8, true)).toBe(parseFloat(lastBid.size));
    expect(dv.getFloat64(base + layout.S_LEVELS + depth * 16, true)).toBe(parseFloat(lastAsk.price));
    expect(dv.getFloat64(base + layout.S_LEVELS + depth * 16 + 8, true)).toBe(parseFloat(lastAsk.size));
    expect(dv.getFloat64(base + layout.S_BID_LEVELS, true)).toBe(ev.bids.length);
    expect(dv.getFloat64(base + layout.S_EXCH_TS, true)).toBe(Number(ev.timestamp));
    expect(dv.getFloat64(base + layout.S_LAST_UPDATE, true)).toBe(1234.5);

    const counter = (n: layout.CounterName) => dv.getFloat64(layout.H_COUNTERS + layout.C[n] * 8, true);
    expect(counter('frames')).toBe(1);
    expect(counter('bytes')).toBe(buf.byteLength);
    expect(counter('snapshotsApplied')).toBe(1);

    // Exact texts back, and the server hash reproduces (docs/PROTOCOL.md 2.9).
    expect(w.fullBook(2)).toEqual({
      bids: ev.bids.map((l: any) => [l.price, l.size]),
      asks: ev.asks.map((l: any) => [l.price, l.size]),
    });
    w.tick(1235);
    expect([counter('hashChecks'), counter('hashMismatches')]).toEqual([1, 0]);

    // The same frame as a JS string goes through ingestString.
    w.ingest(buf.toString('utf8'), 1236);
    expect(counter('snapshotsApplied')).toBe(2);
    expect(w.ingest('PONG', 1237)).toBe(0);
    expect(counter('controlFrames')).toBe(1);
    expect(() => w.bind('x', 99, 0)).toThrow(RangeError);
    expect(() => w.fullBook(99)).toThrow(RangeError);
  });
});
