/**
 * Recordings: what a store applies is recorded through its `observe` hook and replays to the same
 * books and counters on both backends; version 1 recordings (tokens instead of slots) still replay.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BookStore } from '../src/table/store.js';
import { Recorder, readRecording, replay, RecordingError } from '../src/tools/recording.js';
import { BACKENDS, bookFrame, fixtureText, priceChange } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'polybook-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const A = 'tok-a';
const B = 'tok-b';

describe.each(BACKENDS)('recording (%s)', (backend) => {
  it('replays what the store applied: the same books and counters, on both backends', async () => {
    const path = join(dir, `${backend}.pbrec.gz`);
    const rec = new Recorder(path);
    let now = 1000;
    /** Moves the clock on by `dt` ms; returns the new time. */
    const later = (dt: number): number => {
      now += dt;
      return now;
    };
    const store = new BookStore({ backend, clock: () => now, observe: rec.observe });
    store.subscribe([A, B]);
    store.ingest(bookFrame(A, [['0.40', '10']], [['0.60', '10']]), now);
    store.ingest(Buffer.from(bookFrame(B, [['0.30', '1']], [['0.70', '2']])), later(5));
    store.ingest(
      priceChange([{ asset_id: A, price: '0.41', size: '3', side: 'BUY', best_bid: '0.41', best_ask: '0.60' }]),
      later(5),
    );
    store.ingest(Buffer.from([0xff, 0xfe]), later(1)); // not UTF-8: recorded as bytes
    store.restBook(fixtureText('rest_book_legacy_2024-10.json'), later(1));
    store.setDisabled([B]);
    store.invalidate([A], later(1));
    store.settle([B], later(1));
    store.tick(later(1));
    store.unsubscribe([A]);
    await rec.close();
    const live = { ...store.metrics().writer };
    store.close();

    expect(rec.frames).toBe(4);
    const ops = readRecording(path);
    expect(ops.map((o) => o.op)).toEqual([
      'bind',
      'bind',
      'ingest',
      'ingest',
      'ingest',
      'ingest',
      'restBook',
      'setDisabled',
      'invalidate',
      'settle',
      'tick',
      'unbind',
    ]);
    for (const b of BACKENDS) {
      const r = await replay(ops, { backend: b });
      expect(r.frames).toBe(4);
      expect(r.counters).toEqual(live);
      expect(r.books[B]).toMatchObject({ ready: false });
      expect(r.books[A]).toBeUndefined();
    }
  });
});

describe('recording versions', () => {
  it('a version 1 recording (tokens, frames, invalidations, ticks) replays', async () => {
    const path = join(dir, 'v1.pbrec.gz');
    const lines = [
      { format: 'polybook-recording', version: 1, started: '2026-11-25T00:00:00.000Z' },
      { op: 'bind', id: A },
      { op: 'frame', t: 1, f: bookFrame(A, [['0.40', '10']], [['0.60', '10']]) },
      { op: 'bind', id: B },
      { op: 'frame', t: 2, b: Buffer.from(bookFrame(B, [['0.30', '1']], [['0.70', '2']])).toString('base64') },
      { op: 'invalidate', t: 3, id: B },
      { op: 'tick', t: 4 },
    ];
    writeFileSync(path, gzipSync(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
    const r = await replay(readRecording(path), { backend: 'js' });
    expect(r.frames).toBe(2);
    expect(r.books[A]).toMatchObject({ ready: true, bestBid: 0.4, bestAsk: 0.6 });
    expect(r.books[B]).toMatchObject({ ready: false });
    expect(r.counters.invalidations).toBe(1);
  });

  it('refuses an unknown version and an unknown operation, saying which', async () => {
    const v9 = join(dir, 'v9.pbrec.gz');
    writeFileSync(v9, gzipSync(`${JSON.stringify({ format: 'polybook-recording', version: 9 })}\n`));
    expect(() => readRecording(v9)).toThrow(/recording version 9; this polybook reads versions 1 and 2/);
    await expect(replay([{ op: 'format', args: [] }])).rejects.toThrow(RecordingError);
  });
});
