/**
 * The shared-memory layout of the book table (docs/DESIGN.md section 2). Rust mirrors these
 * numbers in native/core/src/layout.rs; test/layout.test.ts checks both agree.
 */
import { invalidArgument } from '../errors.js';

export const MAGIC = 0x504f4c59;
export const LAYOUT_VERSION = 1;
export const HEADER_BYTES = 4096;
export const MAX_CONNECTIONS = 256;

/** Header field offsets, in bytes. */
export const H_MAGIC = 0;
export const H_VERSION = 4;
export const H_CAPACITY = 8;
export const H_DEPTH = 12;
export const H_SLOT_BYTES = 16;
export const H_CLOCK = 24;
export const H_COUNTERS = 32;
export const COUNTER_COUNT = 64;
export const H_CONFIRMED = 544;
/** i32 change epoch: +1 (and Atomics.notify) after each ingest that may have changed a book, while watchers exist. */
export const H_EPOCH = 2592;
/** i32 number of threads waiting on the epoch (watch); the writer skips the notify when 0. */
export const H_WATCHERS = 2596;

/** Slot field offsets, in bytes, relative to the slot start. */
export const S_SEQ = 0;
export const S_FLAGS = 4;
export const S_NBIDS = 8;
export const S_NASKS = 12;
export const S_CONN = 16;
export const S_GEN = 20;
export const S_LAST_UPDATE = 24;
export const S_EXCH_TS = 32;
export const S_SEQUENCE = 40;
export const S_UPDATES = 48;
export const S_TICK_SIZE = 56;
export const S_LAST_TRADE = 64;
export const S_BID_LEVELS = 72;
export const S_ASK_LEVELS = 80;
export const S_LEVELS = 96;

/** State flags (docs/DESIGN.md section 3). */
export const F_SUBSCRIBED = 1;
export const F_READY = 2;
export const F_HAS_BOOK = 4;
export const F_CROSSED = 8;
export const F_DISABLED = 16;
export const F_SETTLED = 32;
export const F_MISMATCH = 64;

/** Counter names in header order (docs/DESIGN.md section 6). */
export const COUNTERS = [
  'frames',
  'bytes',
  'events',
  'controlFrames',
  'snapshotsApplied',
  'snapshotsRejected',
  'deltasApplied',
  'deltasWithoutBook',
  'crossedResets',
  'bboMismatches',
  'desyncs',
  'hashChecks',
  'hashMismatches',
  'badJson',
  'badEvent',
  'badDecimal',
  'unorderedLevels',
  'unknownEvents',
  'ignored',
  'tickSizeChanges',
  'lastTrades',
  'bestBidAsk',
  'newMarkets',
  'settled',
  'invalidations',
  'restApplied',
  'restSkipped',
  'mismatchesResolved',
] as const;

/** The name of a writer counter (docs/DESIGN.md section 6). */
export type CounterName = (typeof COUNTERS)[number];

/** Counter index by name. */
export const C = Object.fromEntries(COUNTERS.map((n, i) => [n, i])) as Record<CounterName, number>;

export function slotBytes(depth: number): number {
  return S_LEVELS + depth * 32;
}

export function tableBytes(capacity: number, depth: number): number {
  return HEADER_BYTES + capacity * slotBytes(depth);
}

/** Allocates and initialises the header of a new table. */
export function createTable(capacity: number, depth: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(tableBytes(capacity, depth));
  const i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
  i32[H_MAGIC / 4] = MAGIC;
  i32[H_VERSION / 4] = LAYOUT_VERSION;
  i32[H_CAPACITY / 4] = capacity;
  i32[H_DEPTH / 4] = depth;
  i32[H_SLOT_BYTES / 4] = slotBytes(depth);
  return sab;
}

/** Reads and checks the header of a table, for a thread that attaches to an existing one. */
export function tableGeometry(sab: SharedArrayBuffer): { capacity: number; depth: number } {
  const i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
  if (i32[H_MAGIC / 4] !== MAGIC || i32[H_VERSION / 4] !== LAYOUT_VERSION) {
    throw invalidArgument('type', 'polybook: the shared buffer is not a polybook table of layout version 1');
  }
  return { capacity: i32[H_CAPACITY / 4], depth: i32[H_DEPTH / 4] };
}
