/**
 * A Rust panic never crosses into Node (docs/RELIABILITY.md, "Panics at the N-API boundary"): the
 * addon catches it, throws an Error, resets every book of the table (so nothing half-written is
 * served) and keeps working. The panic comes from the hidden one-shot test hook
 * `__testArmPanic(slot)` of the native writer (absent from the TypeScript types): the next writer
 * call panics inside its guarded region after its work is done, having first made `slot`'s seqlock
 * version odd, as a panic in the middle of a publish would leave it.
 */
import { Status } from '../src/table/writer.js';
import { describe, expect, it } from 'vitest';
import * as layout from '../src/table/layout.js';
import {
  createNativeWriter,
  loadNativeBinding,
  type NativeWriter,
  type NativeWriterInstance,
} from '../src/backend/native/index.js';
import { TableReader } from '../src/table/view.js';
import { bookFrame, priceChange, waitFor } from './helpers.js';
import { feedRig } from './rig.js';

type Armable = NativeWriterInstance & { __testArmPanic(slot: number, failRecovery?: boolean): void };

const A = '1001';
const B = '1002';
const DEPTH = 4;
const PANIC =
  /^polybook native: internal error in (\w+) \(panic: polybook test panic \(armed by __testArmPanic\)\); every book of this table was reset/;

describe('native writer: panics at the N-API boundary', () => {
  const loaded = loadNativeBinding();
  if ('error' in loaded) throw new Error(`native binding must load (npm run build:native): ${loaded.error.message}`);
  const { binding } = loaded;

  function setup() {
    const sab = layout.createTable(4, DEPTH);
    const w = createNativeWriter(binding, sab, { graceMs: 1000 });
    const native = w.native as Armable;
    const i32 = new Int32Array(sab);
    const base = (slot: number) => (layout.HEADER_BYTES + slot * layout.slotBytes(DEPTH)) / 4;
    const flags = (slot: number) => i32[base(slot) + layout.S_FLAGS / 4];
    const seq = (slot: number) => Atomics.load(i32, base(slot) + layout.S_SEQ / 4);
    const gen = (slot: number) => i32[base(slot) + layout.S_GEN / 4];
    const counter = (name: layout.CounterName) => new Float64Array(sab)[layout.H_COUNTERS / 8 + layout.C[name]];
    const books = (t: number) => {
      w.ingest(Buffer.from(bookFrame(A, [['0.45', '10']], [['0.55', '7']])), t);
      w.ingest(bookFrame(B, [['0.30', '1']], [['0.70', '2']]), t);
    };
    w.bind(A, 0, 1);
    w.bind(B, 1, 1);
    const reader = new TableReader(sab);
    const read = (slot: number, id: string, now: number) => reader.read(slot, gen(slot), id, 60_000, now);
    return { sab, w, native, flags, seq, counter, books, read };
  }

  const READY = layout.F_READY;

  it('the hook is not part of the typed surface', () => {
    expect(typeof (binding.NativeWriter.prototype as unknown as Armable).__testArmPanic).toBe('function');
    // The writer the package uses has no such method.
    const w = createNativeWriter(binding, layout.createTable(1, 1));
    expect('__testArmPanic' in w).toBe(false);
  });

  it('a panic in ingest (Buffer, first call: prototype fast path) throws, resets every book, and the writer keeps working', () => {
    const { w, native, flags, seq, counter, read } = setup();
    native.__testArmPanic(-1);
    // The very first ingest of a writer goes through the prototype callback (it binds the fast path).
    expect(() => w.ingest(Buffer.from(bookFrame(A, [['0.45', '10']], [['0.55', '7']])), 10)).toThrow(PANIC);
    // The frame had been applied when the panic hit: the recovery reset it again.
    expect(flags(0) & READY).toBe(0);
    expect(flags(0) & layout.F_HAS_BOOK).toBe(layout.F_HAS_BOOK);
    expect(seq(0) % 2).toBe(0);
    // Every bound token is marked for resync (B had no book yet: marked all the same).
    expect(w.takeResync()).toEqual([A, B]);
    expect(read(0, A, 11)).toBeNull();
    // Same process, same writer: the next frames are applied and served.
    expect(w.ingest(Buffer.from(bookFrame(A, [['0.45', '10']], [['0.55', '7']])), 12)).toBe(Status.published);
    expect(flags(0) & READY).toBe(READY);
    expect(read(0, A, 13)?.bestBid).toBe(0.45);
    expect(counter('frames')).toBe(2);
  });

  it('panics in the bound fast paths (Buffer and string) and in checked methods are caught the same way', () => {
    const { w, native, flags, seq, counter, books, read } = setup();
    books(20);
    expect(flags(0) & READY).toBe(READY);
    expect(flags(1) & READY).toBe(READY);
    const invalidations = counter('invalidations');

    // Bound fast path (Buffer), with slot 1 left mid-publish (odd version) by the panic.
    native.__testArmPanic(1);
    expect(() =>
      w.ingest(Buffer.from(priceChange([{ asset_id: A, price: '0.46', size: '3', side: 'BUY' }])), 21),
    ).toThrow(PANIC);
    expect([flags(0) & READY, flags(1) & READY]).toEqual([0, 0]);
    expect([seq(0) % 2, seq(1) % 2]).toEqual([0, 0]);
    expect(counter('invalidations')).toBe(invalidations + 2);
    expect(w.takeResync()).toEqual([A, B]);

    // Bound fast path (string).
    books(22);
    native.__testArmPanic(-1);
    expect(() => w.ingest(priceChange([{ asset_id: B, price: '0.31', size: '3', side: 'BUY' }]), 23)).toThrow(
      /internal error in ingestString/,
    );
    expect([flags(0) & READY, flags(1) & READY]).toEqual([0, 0]);

    // Methods generated by napi-rs (tick, restBook, bind), with an unbound slot left odd.
    books(24);
    native.__testArmPanic(3);
    expect(() => w.tick(25)).toThrow(/internal error in tick/);
    expect(seq(3) % 2).toBe(0);
    expect(flags(0) & READY).toBe(0);
    native.__testArmPanic(-1);
    expect(() => w.restBook(bookFrame(A, [['0.45', '1']], [['0.55', '1']]), 26)).toThrow(/internal error in restBook/);
    native.__testArmPanic(-1);
    expect(() => w.bind('1003', 2, 1)).toThrow(/internal error in bind/);

    // Read-only calls and the reader are unaffected, and the writer still works.
    expect(w.fullBook(0)).toBeNull();
    books(27);
    expect(read(0, A, 28)?.bestAsk).toBe(0.55);
    expect(read(1, B, 28)?.bestBid).toBe(0.3);
    expect(w.fullBook(1)).toEqual({ bids: [['0.30', '1']], asks: [['0.70', '2']] });
    expect(w.ingest(Buffer.from('PONG'), 29)).toBeGreaterThanOrEqual(0);
    expect(counter('controlFrames')).toBe(1);
  });

  it('when the recovery itself panics, the writer is poisoned: nothing is served and every later call throws', () => {
    const { w, native, flags, seq, read, books } = setup();
    books(30);
    expect(read(0, A, 31)?.bestBid).toBe(0.45);
    native.__testArmPanic(1, true);
    expect(() => w.ingest(Buffer.from('PONG'), 32)).toThrow(
      /internal error in ingest .*the recovery failed too, so every book was cleared and this writer is now unusable/,
    );
    // READY was cleared directly in the table memory (slot 0 was not reached by the recovery).
    expect([flags(0) & READY, flags(1) & READY]).toEqual([0, 0]);
    expect([seq(0) % 2, seq(1) % 2]).toEqual([0, 0]);
    expect(read(0, A, 33)).toBeNull();
    expect(read(1, B, 33)).toBeNull();
    for (const call of [
      () => w.ingest(Buffer.from('PONG'), 34),
      () => w.ingest('PONG', 34),
      () => w.tick(34),
      () => w.bind('1003', 2, 0),
      () => w.fullBook(0),
    ]) {
      expect(call).toThrow(/this writer is unusable after an internal error \(panic in ingest: polybook test panic/);
    }
    // Counters still answer (metrics); the process goes on.
    expect(native.counter(layout.C.frames)).toBe(3);
  });

  it('bad input still never throws', () => {
    const { w } = setup();
    for (const f of [
      '',
      '{',
      '[1,',
      '\u0000',
      '{"event_type":"book","asset_id":"1001","bids":{},"asks":[]}',
      '['.repeat(100_000),
    ]) {
      expect(() => w.ingest(Buffer.from(f), 1)).not.toThrow();
      expect(() => w.ingest(f, 1)).not.toThrow();
    }
  });
});

describe('an internal error under the live feed', () => {
  it('is caught by the connection: counted, logged, every book resubscribed, and the feed goes on', async () => {
    const errors: string[] = [];
    const { sim, store, feed } = await feedRig('native', {
      sim: { markets: 4, rate: 200, seed: 3 },
      feed: { confirmIntervalMs: 50, healthIntervalMs: 20, logger: { error: (m: string) => errors.push(m) } },
      store: { capacity: 64 },
      ready: true,
    });
    const native = (store.writer as NativeWriter).native as Armable;
    const before = store.counter('snapshotsApplied');
    // Arm the hook right before the next data frame's ingest, so that it is ingest that panics.
    const ingest = store.ingest.bind(store);
    let armed = false;
    store.ingest = (frame, now) => {
      if (!armed) {
        armed = true;
        native.__testArmPanic(-1);
      }
      return ingest(frame, now);
    };
    await waitFor(() => feed.stats().internalErrors === 1, 'the internal error counted');
    expect(errors).toEqual([expect.stringMatching(/internal error while ingesting a frame; every book was reset/)]);
    // Every token got a fresh snapshot (the panic reset them all) and is served again.
    await waitFor(
      () => store.readyCount() === sim.tokens.length && store.counter('snapshotsApplied') >= before + sim.tokens.length,
      'every book back',
    );
    for (const t of sim.tokens) expect(store.get(t, 60_000)).not.toBeNull();
    expect(feed.stats().internalErrors).toBe(1);
  });
});
