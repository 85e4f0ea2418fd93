/**
 * The shared-memory layout of the book table (docs/DESIGN.md section 2), defined here once:
 * native/core/src/layout.rs is generated from this module by `npm run codegen` (with the control
 * frames of src/protocol/control.ts and the status bits of src/table/writer.ts), and
 * test/codegen.test.ts fails when it is stale.
 */
import { invalidArgument } from '../errors.js';

/** First header word: "POLY". */
export const MAGIC = 0x504f4c59;
/** Layout version in the header: a reader refuses a table of another version. */
export const LAYOUT_VERSION = 2;
/** Bytes of the header; slot 0 starts here. */
export const HEADER_BYTES = 4096;
/** Connection indexes of the `confirmed` array (0 = no connection). */
export const MAX_CONNECTIONS = 256;

/** Header offset of the magic (i32). */
export const H_MAGIC = 0;
/** Header offset of the layout version (i32). */
export const H_VERSION = 4;
/** Header offset of the number of slots (i32). */
export const H_CAPACITY = 8;
/** Header offset of the published levels per side (i32). */
export const H_DEPTH = 12;
/** Header offset of the bytes per slot (i32). */
export const H_SLOT_BYTES = 16;
/** Header offset of the coarse clock (f64, ms), written by the clock ticker. */
export const H_CLOCK = 24;
/** Header offset of the writer counters (f64 each, in the order of `COUNTERS`). */
export const H_COUNTERS = 32;
/** Room for counters in the header. */
export const COUNTER_COUNT = 64;
/** Header offset of the per-connection confirmation times (f64[MAX_CONNECTIONS], ms). */
export const H_CONFIRMED = 544;
/** Header offset of the change epoch (i32): +1 and notify after a publishing command, while watchers exist. */
export const H_EPOCH = 2592;
/** Header offset of the number of waiting watchers (i32); the writer skips the notify when 0. */
export const H_WATCHERS = 2596;

/*
 * A server's table (docs/SERVER.md): the header words below (2600..2799), then after the slots the
 * server region: the waiter table, the feed stats block and the token directory ({@link serverRegion}).
 */
/** Header offset of the server state (i32): 0 in a table of one process, else `SERVER_RUNNING` or `SERVER_STOPPED`. */
export const H_SERVER_STATE = 2600;
/** Header offset of the server generation (i32): 1 on a first start under a name, +1 on every restart (from its state file). */
export const H_SERVER_GENERATION = 2604;
/** Header offset of the server's process id (i32). */
export const H_SERVER_PID = 2608;
/** Header offset of the token directory epoch (i32): +1 after every change of the directory. */
export const H_DIRECTORY_EPOCH = 2612;
/** Header offset of the server's start time (f64, ms since 1970, wall clock: for display). */
export const H_SERVER_STARTED = 2616;
/** Header offset of the server's writer backend (i32): `SERVER_NATIVE` or `SERVER_JS`. */
export const H_SERVER_BACKEND = 2624;
/** Server writer backend: native. */
export const SERVER_NATIVE = 1;
/** Server writer backend: pure TypeScript. */
export const SERVER_JS = 2;
/** Server state: running (its ticker writes the heartbeat, the clock word). */
export const SERVER_RUNNING = 1;
/** Server state: stopped cleanly (the heartbeat is NaN and the file's name is removed). */
export const SERVER_STOPPED = 2;
/** Entries of a server's waiter table (i32 process id each): processes that wait for changes. */
export const WAITER_ENTRIES = 256;
/** Bytes of one token directory entry: seq, gen, length, reserved, then the token id. */
export const DIR_ENTRY_BYTES = 128;
/** Directory entry offset of its seqlock version (i32): odd while the server rewrites the entry. */
export const D_SEQ = 0;
/** Directory entry offset of the slot generation the entry names (i32; the entry is empty when the length is 0). */
export const D_GEN = 4;
/** Directory entry offset of the token id's length in bytes (i32; 0 = no token). */
export const D_LEN = 8;
/** Directory entry offset of the token id (ASCII). */
export const D_TEXT = 16;
/** Longest token id a server's directory holds, bytes. */
export const DIR_TOKEN_BYTES = DIR_ENTRY_BYTES - D_TEXT;

/** Slot offset of the seqlock version (i32): odd while the writer writes the slot. */
export const S_SEQ = 0;
/** Slot offset of the state flags (i32). */
export const S_FLAGS = 4;
/** Slot offset of the number of published bid levels (i32). */
export const S_NBIDS = 8;
/** Slot offset of the number of published ask levels (i32). */
export const S_NASKS = 12;
/** Slot offset of the connection index whose PONGs confirm the book (i32). */
export const S_CONN = 16;
/** Slot offset of the binding generation (i32): +1 on every bind and unbind. */
export const S_GEN = 20;
/** Slot offset of the local receive time of the last frame that touched the book (f64, ms). */
export const S_LAST_UPDATE = 24;
/** Slot offset of the exchange timestamp of the last applied book or change (f64, ms; NaN if none). */
export const S_EXCH_TS = 32;
/** Slot offset of the book's own sequence (f64): +1 per frame that changed it. */
export const S_SEQUENCE = 40;
/** Slot offset of the update count (f64): applied books and delta entries. */
export const S_UPDATES = 48;
/** Slot offset of the tick size (f64; NaN if unknown). */
export const S_TICK_SIZE = 56;
/** Slot offset of the last trade price (f64; NaN if unknown). */
export const S_LAST_TRADE = 64;
/** Slot offset of the full-depth number of bid levels (f64). */
export const S_BID_LEVELS = 72;
/** Slot offset of the full-depth number of ask levels (f64). */
export const S_ASK_LEVELS = 80;
/** Slot offset of the last trade's size (f64; NaN if unknown). */
export const S_LAST_TRADE_SIZE = 88;
/** Slot offset of the last trade's exchange timestamp (f64, ms; NaN if unknown). */
export const S_LAST_TRADE_TS = 96;
/** Slot offset of the minimum order size in shares (f64; NaN if unknown). */
export const S_MIN_ORDER_SIZE = 104;
/** Slot offset of the last trade's taker side (i32, a `SIDE_*` value). */
export const S_LAST_TRADE_SIDE = 112;
/** Slot offset of the neg-risk flag of the token's market (i32, a `NEG_RISK_*` value). */
export const S_NEG_RISK = 116;
/** Slot offset of the market text version (i32): +1 whenever the market text of the slot changes. */
export const S_MARKET_VERSION = 120;
/** Slot offset of the length of the market text in bytes (i32; 0 = none). */
export const S_MARKET_LENGTH = 124;
/** Slot offset of the market text (the condition id of the last book), ASCII, `MARKET_BYTES` bytes of room. */
export const S_MARKET = 128;
/** Room for the market text: a condition id is 66 characters; a longer or non-ASCII text is not kept. */
export const MARKET_BYTES = 72;
/** Slot offset of the published levels: `depth` bids (best first), then `depth` asks (best first). */
export const S_LEVELS = 208;
/** Bytes of one published level: f64 price, f64 size. */
export const LEVEL_BYTES = 16;

/** Flag: the slot is bound to a token. */
export const F_SUBSCRIBED = 1;
/** Flag: a valid book is present and may be served. */
export const F_READY = 2;
/** Flag: a book arrived at least once since the bind. */
export const F_HAS_BOOK = 4;
/** Flag: the last reset was caused by a crossed book. */
export const F_CROSSED = 8;
/** Flag: disabled for the session (warmup failure, or by the application). */
export const F_DISABLED = 16;
/** Flag: the market resolved; never served again. */
export const F_SETTLED = 32;
/** Flag: the top of book disagrees with the server's, grace period running. */
export const F_MISMATCH = 64;
/** Flag: the last reset was an audit's: the book was behind or different from the exchange's REST book. */
export const F_DIVERGED = 128;

/** `S_LAST_TRADE_SIDE`: no trade, or the trade did not say. */
export const SIDE_UNKNOWN = 0;
/** `S_LAST_TRADE_SIDE`: the taker bought. */
export const SIDE_BUY = 1;
/** `S_LAST_TRADE_SIDE`: the taker sold. */
export const SIDE_SELL = 2;

/** `S_NEG_RISK`: not known (no `setMeta`, no REST book with `neg_risk`). */
export const NEG_RISK_UNKNOWN = 0;
/** `S_NEG_RISK`: the market is not neg-risk. */
export const NEG_RISK_NO = 1;
/** `S_NEG_RISK`: the market is neg-risk (orders go to the neg-risk exchange). */
export const NEG_RISK_YES = 2;

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

/** Bytes of one slot of a table of this depth. */
export function slotBytes(depth: number): number {
  return S_LEVELS + depth * 2 * LEVEL_BYTES;
}

/** Bytes of a whole table. */
export function tableBytes(capacity: number, depth: number): number {
  return HEADER_BYTES + capacity * slotBytes(depth);
}

/** Allocates and initialises the header of a new table. */
export function createTable(capacity: number, depth: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(tableBytes(capacity, depth));
  initTable(sab, capacity, depth);
  return sab;
}

/** Writes the header of a new table into zeroed memory (a SharedArrayBuffer, or a server's mapped file). */
export function initTable(memory: ArrayBufferLike, capacity: number, depth: number): void {
  const i32 = new Int32Array(memory, 0, HEADER_BYTES / 4);
  i32[H_MAGIC / 4] = MAGIC;
  i32[H_VERSION / 4] = LAYOUT_VERSION;
  i32[H_CAPACITY / 4] = capacity;
  i32[H_DEPTH / 4] = depth;
  i32[H_SLOT_BYTES / 4] = slotBytes(depth);
}

/** Reads and checks the header of a table, for a thread that attaches to an existing one. */
export function tableGeometry(memory: ArrayBufferLike): { capacity: number; depth: number } {
  const i32 = new Int32Array(memory, 0, HEADER_BYTES / 4);
  if (i32[H_MAGIC / 4] !== MAGIC || i32[H_VERSION / 4] !== LAYOUT_VERSION) {
    throw invalidArgument(
      'type',
      `polybook: the shared buffer is not a polybook table of layout version ${LAYOUT_VERSION}`,
    );
  }
  return { capacity: i32[H_CAPACITY / 4], depth: i32[H_DEPTH / 4] };
}

/**
 * Where the parts of a server's region start (byte offsets in its file) and the file's size: the
 * waiter table right after the slots, then `statsWords` f64 of feed stats, then the token directory
 * (one {@link DIR_ENTRY_BYTES} entry per slot).
 */
export function serverRegion(
  capacity: number,
  depth: number,
  statsWords: number,
): { waiters: number; stats: number; directory: number; bytes: number } {
  const waiters = tableBytes(capacity, depth);
  const stats = waiters + WAITER_ENTRIES * 4;
  const directory = stats + statsWords * 8;
  return { waiters, stats, directory, bytes: directory + capacity * DIR_ENTRY_BYTES };
}
