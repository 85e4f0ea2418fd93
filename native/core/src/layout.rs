//! The shared-memory layout of the book table (docs/DESIGN.md section 2).
//! Mirrors `src/table/layout.ts`; `test/native-smoke.test.ts` checks both agree through `layoutInfo()`.

pub const MAGIC: i32 = 0x504f_4c59;
pub const LAYOUT_VERSION: i32 = 1;
pub const HEADER_BYTES: usize = 4096;
pub const MAX_CONNECTIONS: usize = 256;

// Header field offsets, in bytes.
pub const H_MAGIC: usize = 0;
pub const H_VERSION: usize = 4;
pub const H_CAPACITY: usize = 8;
pub const H_DEPTH: usize = 12;
pub const H_SLOT_BYTES: usize = 16;
pub const H_CLOCK: usize = 24;
pub const H_COUNTERS: usize = 32;
pub const COUNTER_COUNT: usize = 64;
pub const H_CONFIRMED: usize = 544;
/// i32 change epoch for watchers (written by the TypeScript side only, DESIGN section 7).
pub const H_EPOCH: usize = 2592;
/// i32 number of watchers (TypeScript side only).
pub const H_WATCHERS: usize = 2596;

// Slot field offsets, in bytes, relative to the slot start.
pub const S_SEQ: usize = 0;
pub const S_FLAGS: usize = 4;
pub const S_NBIDS: usize = 8;
pub const S_NASKS: usize = 12;
pub const S_CONN: usize = 16;
pub const S_GEN: usize = 20;
pub const S_LAST_UPDATE: usize = 24;
pub const S_EXCH_TS: usize = 32;
pub const S_SEQUENCE: usize = 40;
pub const S_UPDATES: usize = 48;
pub const S_TICK_SIZE: usize = 56;
pub const S_LAST_TRADE: usize = 64;
pub const S_BID_LEVELS: usize = 72;
pub const S_ASK_LEVELS: usize = 80;
pub const S_LEVELS: usize = 96;

// State flags (docs/DESIGN.md section 3).
pub const F_SUBSCRIBED: i32 = 1;
pub const F_READY: i32 = 2;
pub const F_HAS_BOOK: i32 = 4;
pub const F_CROSSED: i32 = 8;
pub const F_DISABLED: i32 = 16;
pub const F_SETTLED: i32 = 32;
pub const F_MISMATCH: i32 = 64;

/// Counter names in header order (docs/DESIGN.md section 6).
pub const COUNTERS: [&str; 28] = [
    "frames",
    "bytes",
    "events",
    "controlFrames",
    "snapshotsApplied",
    "snapshotsRejected",
    "deltasApplied",
    "deltasWithoutBook",
    "crossedResets",
    "bboMismatches",
    "desyncs",
    "hashChecks",
    "hashMismatches",
    "badJson",
    "badEvent",
    "badDecimal",
    "unorderedLevels",
    "unknownEvents",
    "ignored",
    "tickSizeChanges",
    "lastTrades",
    "bestBidAsk",
    "newMarkets",
    "settled",
    "invalidations",
    "restApplied",
    "restSkipped",
    "mismatchesResolved",
];

/// Counter indices (positions in [`COUNTERS`]).
pub mod c {
    pub const FRAMES: usize = 0;
    pub const BYTES: usize = 1;
    pub const EVENTS: usize = 2;
    pub const CONTROL_FRAMES: usize = 3;
    pub const SNAPSHOTS_APPLIED: usize = 4;
    pub const SNAPSHOTS_REJECTED: usize = 5;
    pub const DELTAS_APPLIED: usize = 6;
    pub const DELTAS_WITHOUT_BOOK: usize = 7;
    pub const CROSSED_RESETS: usize = 8;
    pub const BBO_MISMATCHES: usize = 9;
    pub const DESYNCS: usize = 10;
    pub const HASH_CHECKS: usize = 11;
    pub const HASH_MISMATCHES: usize = 12;
    pub const BAD_JSON: usize = 13;
    pub const BAD_EVENT: usize = 14;
    pub const BAD_DECIMAL: usize = 15;
    pub const UNORDERED_LEVELS: usize = 16;
    pub const UNKNOWN_EVENTS: usize = 17;
    pub const IGNORED: usize = 18;
    pub const TICK_SIZE_CHANGES: usize = 19;
    pub const LAST_TRADES: usize = 20;
    pub const BEST_BID_ASK: usize = 21;
    pub const NEW_MARKETS: usize = 22;
    pub const SETTLED: usize = 23;
    pub const INVALIDATIONS: usize = 24;
    pub const REST_APPLIED: usize = 25;
    pub const REST_SKIPPED: usize = 26;
    pub const MISMATCHES_RESOLVED: usize = 27;
}

/// Every numeric constant above by its `src/table/layout.ts` name (for `layoutInfo()`).
pub const CONSTANTS: &[(&str, i64)] = &[
    ("MAGIC", MAGIC as i64),
    ("LAYOUT_VERSION", LAYOUT_VERSION as i64),
    ("HEADER_BYTES", HEADER_BYTES as i64),
    ("MAX_CONNECTIONS", MAX_CONNECTIONS as i64),
    ("H_MAGIC", H_MAGIC as i64),
    ("H_VERSION", H_VERSION as i64),
    ("H_CAPACITY", H_CAPACITY as i64),
    ("H_DEPTH", H_DEPTH as i64),
    ("H_SLOT_BYTES", H_SLOT_BYTES as i64),
    ("H_CLOCK", H_CLOCK as i64),
    ("H_COUNTERS", H_COUNTERS as i64),
    ("COUNTER_COUNT", COUNTER_COUNT as i64),
    ("H_CONFIRMED", H_CONFIRMED as i64),
    ("H_EPOCH", H_EPOCH as i64),
    ("H_WATCHERS", H_WATCHERS as i64),
    ("S_SEQ", S_SEQ as i64),
    ("S_FLAGS", S_FLAGS as i64),
    ("S_NBIDS", S_NBIDS as i64),
    ("S_NASKS", S_NASKS as i64),
    ("S_CONN", S_CONN as i64),
    ("S_GEN", S_GEN as i64),
    ("S_LAST_UPDATE", S_LAST_UPDATE as i64),
    ("S_EXCH_TS", S_EXCH_TS as i64),
    ("S_SEQUENCE", S_SEQUENCE as i64),
    ("S_UPDATES", S_UPDATES as i64),
    ("S_TICK_SIZE", S_TICK_SIZE as i64),
    ("S_LAST_TRADE", S_LAST_TRADE as i64),
    ("S_BID_LEVELS", S_BID_LEVELS as i64),
    ("S_ASK_LEVELS", S_ASK_LEVELS as i64),
    ("S_LEVELS", S_LEVELS as i64),
    ("F_SUBSCRIBED", F_SUBSCRIBED as i64),
    ("F_READY", F_READY as i64),
    ("F_HAS_BOOK", F_HAS_BOOK as i64),
    ("F_CROSSED", F_CROSSED as i64),
    ("F_DISABLED", F_DISABLED as i64),
    ("F_SETTLED", F_SETTLED as i64),
    ("F_MISMATCH", F_MISMATCH as i64),
];

pub const fn slot_bytes(depth: usize) -> usize {
    S_LEVELS + depth * 32
}

pub const fn table_bytes(capacity: usize, depth: usize) -> usize {
    HEADER_BYTES + capacity * slot_bytes(depth)
}

// The counters fit below the confirmation words.
const _: () = assert!(H_COUNTERS + COUNTER_COUNT * 8 <= H_CONFIRMED);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_indices_match_names() {
        assert_eq!(COUNTERS[c::FRAMES], "frames");
        assert_eq!(COUNTERS[c::BAD_JSON], "badJson");
        assert_eq!(COUNTERS[c::IGNORED], "ignored");
        assert_eq!(COUNTERS[c::MISMATCHES_RESOLVED], "mismatchesResolved");
        assert_eq!(H_CONFIRMED + MAX_CONNECTIONS * 8, 2592);
        assert_eq!(slot_bytes(10), 416);
    }
}
