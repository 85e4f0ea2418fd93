//! The writer over the shared-memory table (docs/DESIGN.md sections 2 to 5).
//!
//! The writer's own state (flags, books, texts, times) lives here; the table memory is only
//! written, through the seqlock of DESIGN section 4. All stores into the table are atomic
//! (relaxed for data words), because readers on other threads read the same memory concurrently.

use std::sync::atomic::{fence, AtomicI32, AtomicU64, Ordering};

use rustc_hash::FxBuildHasher;

use crate::book::{crossed, Side};
use crate::decimal::Dec;
use crate::hash::{book_hash, HashInput};
use crate::idhash::id_hash;
use crate::layout::*;
use crate::parse::{ArrState, EventRec, Fault, Levels, NotJson, Parser, StrRef, Top, Val};

/// Default grace period of a top-of-book mismatch (ms).
pub const DEFAULT_GRACE_MS: f64 = 1000.0;

/// Errors of the non-ingest writer calls (the binding turns them into JS exceptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    SlotOutOfRange(u32),
    ConnOutOfRange(u32),
    BadTable(String),
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::SlotOutOfRange(s) => write!(f, "polybook: slot {s} is out of range"),
            TableError::ConnOutOfRange(c) => write!(f, "polybook: connection {c} is out of range (0..255)"),
            TableError::BadTable(m) => write!(f, "polybook: {m}"),
        }
    }
}

impl std::error::Error for TableError {}

/// A full-depth book with exact texts, wire order.
pub type TextBook = (Vec<(String, String)>, Vec<(String, String)>);

/// Indices of [`Texts`].
const T_MARKET: usize = 0;
const T_MIN_ORDER_SIZE: usize = 1;
const T_PEND_TS: usize = 2;
const T_PEND_HASH: usize = 3;

/// A token's texts for the hash check in one allocation (one per token instead of four):
/// market, min_order_size, then the pending timestamp and hash, which change together and last.
#[derive(Default)]
struct Texts {
    buf: Vec<u8>,
    /// End of each text in `buf`.
    ends: [u32; 4],
}

impl Texts {
    #[inline]
    fn get(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.buf[start..self.ends[k] as usize]
    }

    /// Replaces text `k` (a no-op when equal, the common case for a market).
    fn set(&mut self, k: usize, v: &[u8]) {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        let end = self.ends[k] as usize;
        if self.buf[start..end] == *v {
            return;
        }
        let total = self.buf.len() - (end - start) + v.len();
        // Exactly what is needed: thousands of tokens each hold one.
        self.buf.reserve_exact(total.saturating_sub(self.buf.len()));
        self.buf.splice(start..end, v.iter().copied());
        let removed = (end - start) as u32;
        for e in &mut self.ends[k..] {
            *e = *e - removed + v.len() as u32;
        }
    }

    /// Replaces the pending timestamp and hash (the last two texts: no other text moves).
    #[inline]
    fn set_pending(&mut self, ts: &[u8], hash: &[u8]) {
        let keep = self.ends[T_MIN_ORDER_SIZE] as usize;
        self.buf.truncate(keep);
        self.buf.reserve_exact(ts.len() + hash.len());
        self.buf.extend_from_slice(ts);
        self.ends[T_PEND_TS] = self.buf.len() as u32;
        self.buf.extend_from_slice(hash);
        self.ends[T_PEND_HASH] = self.buf.len() as u32;
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.ends = [0; 4];
    }
}

#[derive(Default)]
struct SlotState {
    bound: bool,
    /// The token id; `Table::ids` finds slots by it (one copy of each id).
    id: Box<str>,
    flags: i32,
    conn: i32,
    gen: i32,
    last_update: f64,
    exch_ts: f64,
    sequence: f64,
    updates: f64,
    tick: Option<Dec>,
    ltp: Option<Dec>,
    /// The last trade's size and exchange time (NaN: unknown) and taker side (`SIDE_*`).
    ltp_size: f64,
    ltp_ts: f64,
    ltp_side: i32,
    /// The published meta: the value of the `min_order_size` text (NaN: none, or not a decimal)
    /// and `NEG_RISK_*`.
    min_order: f64,
    neg_risk_value: i32,
    /// Version of the published market text: + 1 whenever it changes ([`published_market`]).
    market_version: i32,
    bids: Side,
    asks: Side,
    /// Market, min_order_size, and the pending hash and its timestamp.
    texts: Texts,
    has_meta: bool,
    neg_risk: bool,
    pending: bool,
    deadline: f64,
    touch_epoch: u64,
    /// Server top of book from the last applied current-format entry of this frame:
    /// `Some((best_bid, best_ask))` as keys ([`bbo_of`]).
    bbo: Option<(u64, u64)>,
}

impl SlotState {
    /// Stores the meta of the hash check and publishes the minimum order size and neg-risk flag.
    fn set_meta(&mut self, min_order_size: &[u8], neg_risk: bool) {
        self.has_meta = true;
        self.texts.set(T_MIN_ORDER_SIZE, min_order_size);
        self.neg_risk = neg_risk;
        self.min_order = Dec::parse(min_order_size).map_or(f64::NAN, |d| d.to_f64());
        self.neg_risk_value = if neg_risk { NEG_RISK_YES } else { NEG_RISK_NO };
    }

    /// Sets the market text (of the hash, and the published one: version + 1 when that changes).
    fn set_market(&mut self, text: &[u8]) {
        if published_market(self.texts.get(T_MARKET)) != published_market(text) {
            self.market_version = self.market_version.wrapping_add(1);
        }
        self.texts.set(T_MARKET, text);
    }

    /// Clears the last trade (price, size, side, time).
    fn clear_last_trade(&mut self) {
        self.ltp = None;
        self.ltp_size = f64::NAN;
        self.ltp_ts = f64::NAN;
        self.ltp_side = SIDE_UNKNOWN;
    }
}

/// The market text as the slot keeps it: up to `MARKET_BYTES` printable ASCII bytes, else none.
fn published_market(text: &[u8]) -> &[u8] {
    if text.len() <= MARKET_BYTES && text.iter().all(|b| (0x20..=0x7e).contains(b)) {
        text
    } else {
        b""
    }
}

/// Two i32 fields of one 64-bit table word, `lo` at the lower address (little-endian).
#[inline]
fn pair(lo: i32, hi: i32) -> u64 {
    (lo as u32 as u64) | ((hi as u32 as u64) << 32)
}

/// The writer. Construct over the table memory with [`Table::new`], or [`OwnedTable`] in tests.
pub struct Table {
    base: *mut u8,
    len: usize,
    capacity: usize,
    depth: usize,
    slot_bytes: usize,
    grace_ms: f64,
    slots: Vec<SlotState>,
    /// Slots of bound tokens, hashed by id ([`id_hash`]); the ids themselves live in the slots.
    ids: hashbrown::HashTable<u32>,
    counters: [f64; COUNTERS.len()],
    resync: Vec<Box<str>>,
    resync_set: std::collections::HashSet<Box<str>, FxBuildHasher>,
    mismatch: Vec<u32>,
    pending_list: Vec<u32>,
    touched: Vec<u32>,
    epoch: u64,
    /// Boxed so that taking it out for a frame moves a pointer, not the whole parser.
    parser: Option<Box<Parser>>,
    hashbuf: Vec<u8>,
    /// Scratch: the validated changes of one `price_change` event.
    changes: Vec<Change>,
    /// Slot publications so far (`ingest` and `tick` answer whether they published).
    publications: u64,
}

const PRESENT: i32 = F_READY | F_MISMATCH | F_HAS_BOOK;

/// A validated event timestamp: its value (NaN unless a decimal) and text (`""` unless a string).
#[derive(Clone, Copy)]
struct Ts {
    val: f64,
    text: Option<StrRef>,
}

impl Table {
    /// Attaches a writer to table memory created by `createTable` (header already written).
    ///
    /// # Safety
    /// `base` must point to `len` bytes that stay valid, and are written by no other writer, for the
    /// whole life of the returned `Table`. Other threads may read them concurrently (that is the design).
    pub unsafe fn new(base: *mut u8, len: usize, grace_ms: f64) -> Result<Table, TableError> {
        let bad = |m: &str| Err(TableError::BadTable(m.to_string()));
        if base.is_null() || !(base as usize).is_multiple_of(8) {
            return bad("table memory must be 8-byte aligned");
        }
        if len < HEADER_BYTES {
            return bad("table is smaller than its header");
        }
        let mut t = Table {
            base,
            len,
            capacity: 0,
            depth: 0,
            slot_bytes: 0,
            grace_ms: if grace_ms.is_nan() { DEFAULT_GRACE_MS } else { grace_ms },
            slots: Vec::new(),
            ids: hashbrown::HashTable::new(),
            counters: [0.0; COUNTERS.len()],
            resync: Vec::new(),
            resync_set: Default::default(),
            mismatch: Vec::new(),
            pending_list: Vec::new(),
            touched: Vec::new(),
            epoch: 0,
            parser: Some(Box::default()),
            hashbuf: Vec::new(),
            changes: Vec::new(),
            publications: 0,
        };
        if t.read_i32(H_MAGIC) != MAGIC || t.read_i32(H_VERSION) != LAYOUT_VERSION {
            return bad(&format!("the buffer is not a polybook table of layout version {LAYOUT_VERSION}"));
        }
        let capacity = t.read_i32(H_CAPACITY);
        let depth = t.read_i32(H_DEPTH);
        if capacity < 0 || depth < 0 || t.read_i32(H_SLOT_BYTES) as i64 != slot_bytes(depth as usize) as i64 {
            return bad("corrupt table header");
        }
        let (capacity, depth) = (capacity as usize, depth as usize);
        if table_bytes(capacity, depth) > len {
            return bad("table is smaller than capacity * slotBytes");
        }
        t.capacity = capacity;
        t.depth = depth;
        t.slot_bytes = slot_bytes(depth);
        for i in 0..COUNTERS.len() {
            t.counters[i] = t.read_f64(H_COUNTERS + i * 8);
        }
        t.slots = (0..capacity)
            .map(|i| {
                let base = HEADER_BYTES + i * t.slot_bytes;
                SlotState {
                    gen: t.read_i32(base + S_GEN),
                    conn: t.read_i32(base + S_CONN),
                    ltp_size: t.read_f64(base + S_LAST_TRADE_SIZE),
                    ltp_ts: t.read_f64(base + S_LAST_TRADE_TS),
                    ltp_side: t.read_i32(base + S_LAST_TRADE_SIDE),
                    min_order: t.read_f64(base + S_MIN_ORDER_SIZE),
                    neg_risk_value: t.read_i32(base + S_NEG_RISK),
                    market_version: t.read_i32(base + S_MARKET_VERSION),
                    bids: Side::new(true),
                    asks: Side::new(false),
                    exch_ts: f64::NAN,
                    ..SlotState::default()
                }
            })
            .collect();
        Ok(t)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    // ----- raw memory -----

    #[inline(always)]
    fn a32(&self, off: usize) -> &AtomicI32 {
        assert!(off + 4 <= self.len && off.is_multiple_of(4));
        // SAFETY: `off` is in bounds (checked above) and 4-aligned within an 8-aligned region that
        // `Table::new`'s caller keeps valid for our lifetime; all concurrent accesses to table memory
        // are atomic (ours) or JS typed-array accesses of the shared buffer (the design).
        unsafe { AtomicI32::from_ptr(self.base.add(off) as *mut i32) }
    }

    #[inline(always)]
    fn a64(&self, off: usize) -> &AtomicU64 {
        assert!(off + 8 <= self.len && off.is_multiple_of(8));
        // SAFETY: as in `a32`, with 8-byte alignment checked above.
        unsafe { AtomicU64::from_ptr(self.base.add(off) as *mut u64) }
    }

    /// Reads an i32 of the table (relaxed atomic load; for tests and diagnostics).
    pub fn read_i32(&self, off: usize) -> i32 {
        self.a32(off).load(Ordering::Relaxed)
    }

    /// Reads an f64 of the table (relaxed atomic load; for tests and diagnostics).
    pub fn read_f64(&self, off: usize) -> f64 {
        f64::from_bits(self.a64(off).load(Ordering::Relaxed))
    }

    #[inline(always)]
    fn st_f64(&self, off: usize, v: f64) {
        self.a64(off).store(v.to_bits(), Ordering::Relaxed);
    }

    /// Offset of a slot.
    #[inline]
    pub fn slot_offset(&self, slot: usize) -> usize {
        HEADER_BYTES + slot * self.slot_bytes
    }

    /// Writer counter by index.
    pub fn counter(&self, i: usize) -> f64 {
        self.counters[i]
    }

    /// Writer counter by name.
    pub fn counter_by_name(&self, name: &str) -> f64 {
        COUNTERS.iter().position(|n| *n == name).map(|i| self.counters[i]).unwrap_or(f64::NAN)
    }

    #[inline]
    fn add(&mut self, i: usize, n: f64) {
        self.counters[i] += n;
        self.st_f64(H_COUNTERS + i * 8, self.counters[i]);
    }

    #[inline]
    fn bump(&mut self, i: usize) {
        self.add(i, 1.0);
    }

    fn bump_fault(&mut self, f: Fault) {
        self.bump(match f {
            Fault::Shape => c::BAD_EVENT,
            Fault::Decimal => c::BAD_DECIMAL,
            Fault::Unordered => c::UNORDERED_LEVELS,
        });
    }

    // ----- seqlock publish (DESIGN section 4) -----

    /// The slot's memory: its i32 fields (bytes 0..24) and all of it as 64-bit words (the i32
    /// fields are accessed only through the first, everything from byte 24 only through the second).
    #[inline(always)]
    fn slot_mem<'a>(&self, slot: usize) -> (&'a [AtomicI32], &'a [AtomicU64]) {
        let base = self.slot_offset(slot);
        assert!(slot < self.capacity && base + self.slot_bytes <= self.len);
        // SAFETY: the slot's bytes are in bounds (checked above) and 8-aligned (the table is, and
        // HEADER_BYTES and slot_bytes are multiples of 8), and stay valid for the writer's life
        // (`Table::new`'s contract); every access to table memory is atomic (ours) or a JS
        // typed-array access of the shared buffer (the design).
        unsafe {
            let p = self.base.add(base);
            (
                std::slice::from_raw_parts(p as *const AtomicI32, S_LAST_UPDATE / 4),
                std::slice::from_raw_parts(p as *const AtomicU64, self.slot_bytes / 8),
            )
        }
    }

    /// Whether a published field or level of the slot would differ from what the table holds (the
    /// last publish: this writer is the only one). `sequence` is not compared: it counts changes.
    fn differs(&self, slot: usize) -> bool {
        let (i32s, words) = self.slot_mem(slot);
        let s = &self.slots[slot];
        let depth = self.depth;
        let nb = s.bids.len().min(depth);
        let na = s.asks.len().min(depth);
        let r32 = |off: usize| i32s[off / 4].load(Ordering::Relaxed);
        let r64 = |off: usize| words[off / 8].load(Ordering::Relaxed);
        if r32(S_FLAGS) != s.flags
            || r32(S_NBIDS) != nb as i32
            || r32(S_NASKS) != na as i32
            || r32(S_CONN) != s.conn
            || r32(S_GEN) != s.gen
            || r64(S_LAST_UPDATE) != s.last_update.to_bits()
            || r64(S_EXCH_TS) != s.exch_ts.to_bits()
            || r64(S_UPDATES) != s.updates.to_bits()
            || r64(S_TICK_SIZE) != s.tick.map_or(f64::NAN, |d| d.to_f64()).to_bits()
            || r64(S_LAST_TRADE) != s.ltp.map_or(f64::NAN, |d| d.to_f64()).to_bits()
            || r64(S_BID_LEVELS) != (s.bids.len() as f64).to_bits()
            || r64(S_ASK_LEVELS) != (s.asks.len() as f64).to_bits()
            || r64(S_LAST_TRADE_SIZE) != s.ltp_size.to_bits()
            || r64(S_LAST_TRADE_TS) != s.ltp_ts.to_bits()
            || r64(S_MIN_ORDER_SIZE) != s.min_order.to_bits()
            || r64(S_LAST_TRADE_SIDE) != pair(s.ltp_side, s.neg_risk_value)
            || r64(S_MARKET_VERSION) as u32 as i32 != s.market_version
        {
            return true;
        }
        for (side, n_pub, first) in [(&s.bids, nb, S_LEVELS / 8), (&s.asks, na, S_LEVELS / 8 + depth * 2)] {
            let n = side.len();
            for k in side.dirty(n_pub) {
                let (price, size) = side.values(n - 1 - k);
                if words[first + 2 * k].load(Ordering::Relaxed) != price.to_bits()
                    || words[first + 2 * k + 1].load(Ordering::Relaxed) != size.to_bits()
                {
                    return true;
                }
            }
        }
        false
    }

    /// Publishes the slot, `sequence` + 1, only if a published field or level differs from before
    /// (DESIGN 5.8 rule 6).
    fn commit(&mut self, slot: usize) {
        if self.differs(slot) {
            self.publish(slot, true);
        }
    }

    /// Writes the slot's fields under the seqlock. `count` adds 1 to the slot's `sequence` first.
    /// Of the levels, only those that may have changed since the last publish are rewritten (the
    /// others are still in the table: this writer is the only one).
    fn publish(&mut self, slot: usize, count: bool) {
        self.publications += 1;
        let depth = self.depth;
        let (i32s, words) = self.slot_mem(slot);
        let s = &mut self.slots[slot];
        if count {
            s.sequence += 1.0;
        }
        let seq = &i32s[S_SEQ / 4];
        let v = seq.load(Ordering::Relaxed);
        // An odd version left by a writer that stopped mid-write counts as the next even one.
        let v = v.wrapping_add(v & 1);
        // 1. odd version, then a release fence: no data store below becomes visible before it.
        seq.store(v.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        // 2. data words, relaxed.
        let f = |x: f64| x.to_bits();
        let nb = s.bids.len().min(depth);
        let na = s.asks.len().min(depth);
        i32s[S_FLAGS / 4].store(s.flags, Ordering::Relaxed);
        i32s[S_NBIDS / 4].store(nb as i32, Ordering::Relaxed);
        i32s[S_NASKS / 4].store(na as i32, Ordering::Relaxed);
        i32s[S_CONN / 4].store(s.conn, Ordering::Relaxed);
        i32s[S_GEN / 4].store(s.gen, Ordering::Relaxed);
        words[S_LAST_UPDATE / 8].store(f(s.last_update), Ordering::Relaxed);
        words[S_EXCH_TS / 8].store(f(s.exch_ts), Ordering::Relaxed);
        words[S_SEQUENCE / 8].store(f(s.sequence), Ordering::Relaxed);
        words[S_UPDATES / 8].store(f(s.updates), Ordering::Relaxed);
        words[S_TICK_SIZE / 8].store(f(s.tick.map_or(f64::NAN, |d| d.to_f64())), Ordering::Relaxed);
        words[S_LAST_TRADE / 8].store(f(s.ltp.map_or(f64::NAN, |d| d.to_f64())), Ordering::Relaxed);
        words[S_BID_LEVELS / 8].store(f(s.bids.len() as f64), Ordering::Relaxed);
        words[S_ASK_LEVELS / 8].store(f(s.asks.len() as f64), Ordering::Relaxed);
        words[S_LAST_TRADE_SIZE / 8].store(f(s.ltp_size), Ordering::Relaxed);
        words[S_LAST_TRADE_TS / 8].store(f(s.ltp_ts), Ordering::Relaxed);
        words[S_MIN_ORDER_SIZE / 8].store(f(s.min_order), Ordering::Relaxed);
        // Two i32 fields per word (side and neg risk; version and length), low address first.
        words[S_LAST_TRADE_SIDE / 8].store(pair(s.ltp_side, s.neg_risk_value), Ordering::Relaxed);
        let version = &words[S_MARKET_VERSION / 8];
        if version.load(Ordering::Relaxed) as u32 as i32 != s.market_version {
            // The text changes rarely (a slot's first book): written only then, the whole field,
            // zeros after the text (the published bytes are the same on both writers).
            let text = published_market(s.texts.get(T_MARKET));
            let mut field = [0u8; MARKET_BYTES];
            field[..text.len()].copy_from_slice(text);
            for (k, chunk) in field.chunks_exact(8).enumerate() {
                words[S_MARKET / 8 + k].store(u64::from_le_bytes(chunk.try_into().unwrap()), Ordering::Relaxed);
            }
            version.store(pair(s.market_version, text.len() as i32), Ordering::Relaxed);
        }
        for (side, nb, first) in [(&mut s.bids, nb, S_LEVELS / 8), (&mut s.asks, na, S_LEVELS / 8 + depth * 2)] {
            let n = side.len();
            let out = &words[first..first + 2 * nb];
            for k in side.take_dirty(nb) {
                let (price, size) = side.values(n - 1 - k);
                out[2 * k].store(f(price), Ordering::Relaxed);
                out[2 * k + 1].store(f(size), Ordering::Relaxed);
            }
        }
        // 3. even version, release: readers that see it see every store above.
        seq.store(v.wrapping_add(2), Ordering::Release);
    }

    // ----- token state helpers -----

    #[inline]
    fn lookup(&self, id: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.ids.find(id_hash(id), |&s| slots[s as usize].id.as_bytes() == id).map(|&s| s as usize)
    }

    #[inline]
    fn touch(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if s.touch_epoch != self.epoch {
            s.touch_epoch = self.epoch;
            s.bbo = None;
            self.touched.push(slot as u32);
        }
    }

    /// Marks the slot's token for resync (once until `take_resync`, in marking order).
    /// A SETTLED token is never marked: there is no book to fetch.
    fn mark_resync(&mut self, slot: usize) {
        if self.slots[slot].flags & F_SETTLED != 0 {
            return;
        }
        let id = &self.slots[slot].id;
        if !self.resync_set.contains(id) {
            self.resync_set.insert(id.clone());
            self.resync.push(id.clone());
        }
    }

    /// Drops the MISMATCH bookkeeping (not the flag).
    fn untrack(&mut self, slot: usize) {
        if self.slots[slot].flags & F_MISMATCH != 0 {
            self.mismatch.retain(|&x| x as usize != slot);
        }
    }

    /// DESIGN 5.3: empty book, clear READY and MISMATCH (HAS_BOOK and CROSSED stay; `crossed` sets
    /// CROSSED), drop the pending hash, mark for resync.
    fn reset(&mut self, slot: usize, crossed: bool) {
        self.untrack(slot);
        let s = &mut self.slots[slot];
        s.bids.clear();
        s.asks.clear();
        s.flags &= !(F_READY | F_MISMATCH);
        if crossed {
            s.flags |= F_CROSSED;
        }
        s.pending = false;
        self.mark_resync(slot);
    }

    /// Records the server hash to verify at the next `tick` (tokens with meta); `None` or an empty
    /// hash (nothing to verify) drops the pending one.
    fn set_pending_hash(&mut self, slot: usize, hash: Option<&[u8]>, ts: &[u8]) {
        let s = &mut self.slots[slot];
        let Some(hash) = hash.filter(|h| s.has_meta && !h.is_empty()) else {
            s.pending = false;
            return;
        };
        s.texts.set_pending(ts, hash);
        if !s.pending {
            s.pending = true;
            self.pending_list.push(slot as u32);
        }
    }

    /// Resets every token whose grace period expired (ascending slot order), publishing each.
    fn expire(&mut self, now: f64) {
        if self.mismatch.is_empty() {
            return;
        }
        let mut due: Vec<u32> =
            self.mismatch.iter().copied().filter(|&s| self.slots[s as usize].deadline <= now).collect();
        due.sort_unstable();
        for s in due {
            self.reset(s as usize, false);
            self.bump(c::DESYNCS);
            self.commit(s as usize);
        }
    }

    fn check_slot(&self, slot: u32) -> Result<usize, TableError> {
        if (slot as usize) < self.capacity {
            Ok(slot as usize)
        } else {
            Err(TableError::SlotOutOfRange(slot))
        }
    }

    fn check_conn(conn: u32) -> Result<(), TableError> {
        if (conn as usize) < MAX_CONNECTIONS {
            Ok(())
        } else {
            Err(TableError::ConnOutOfRange(conn))
        }
    }

    // ----- the writer calls (DESIGN 5.5) -----

    /// Binds `token_id` to `slot` (SUBSCRIBED only, empty book, fields reset, generation + 1).
    /// A token bound elsewhere is re-pointed to this slot (the other slot keeps its state).
    pub fn bind(&mut self, token_id: &str, slot: u32, conn: u32) -> Result<(), TableError> {
        Self::check_conn(conn)?;
        let slot = self.check_slot(slot)?;
        self.forget(slot);
        let s = &mut self.slots[slot];
        s.bound = true;
        s.id = token_id.into();
        s.flags = F_SUBSCRIBED;
        s.conn = conn as i32;
        s.gen = s.gen.wrapping_add(1);
        s.last_update = 0.0;
        s.exch_ts = f64::NAN;
        s.sequence = 0.0;
        s.updates = 0.0;
        s.tick = None;
        s.clear_last_trade();
        // A token bound twice is found at its latest slot (the older one keeps its book until unbound).
        let slots = &self.slots;
        let id = token_id.as_bytes();
        match self.ids.find_entry(id_hash(id), |&x| slots[x as usize].id.as_bytes() == id) {
            Ok(mut e) => *e.get_mut() = slot as u32,
            Err(_) => {
                self.ids.insert_unique(id_hash(id), slot as u32, |&x| id_hash(slots[x as usize].id.as_bytes()));
            }
        }
        self.publish(slot, false);
        Ok(())
    }

    /// Drops the binding state of `slot` (book, texts, meta, checks); published numbers stay.
    fn forget(&mut self, slot: usize) {
        self.untrack(slot);
        let s = &mut self.slots[slot];
        if s.bound {
            if let Ok(e) = self.ids.find_entry(id_hash(s.id.as_bytes()), |&x| x as usize == slot) {
                e.remove();
            }
        }
        s.bound = false;
        s.id = Box::default();
        s.bids.clear();
        s.asks.clear();
        s.set_market(b"");
        s.texts.clear();
        s.has_meta = false;
        s.neg_risk = false;
        s.min_order = f64::NAN;
        s.neg_risk_value = NEG_RISK_UNKNOWN;
        s.pending = false;
        s.bbo = None;
    }

    /// Clears the slot (flags 0, empty book, generation + 1) and forgets its token.
    pub fn unbind(&mut self, slot: u32) -> Result<(), TableError> {
        let slot = self.check_slot(slot)?;
        self.forget(slot);
        let s = &mut self.slots[slot];
        s.flags = 0;
        s.gen = s.gen.wrapping_add(1);
        self.publish(slot, false);
        Ok(())
    }

    /// Sets the connection index (0..255); publishes when it changes.
    pub fn assign(&mut self, slot: u32, conn: u32) -> Result<(), TableError> {
        Self::check_conn(conn)?;
        let slot = self.check_slot(slot)?;
        if self.slots[slot].conn != conn as i32 {
            self.slots[slot].conn = conn as i32;
            self.publish(slot, false);
        }
        Ok(())
    }

    /// `confirmed[conn] = max(confirmed[conn], sent_at_ms)` (conn 0 and NaN ignored).
    pub fn confirm(&mut self, conn: u32, sent_at_ms: f64) -> Result<(), TableError> {
        Self::check_conn(conn)?;
        if conn == 0 {
            return Ok(());
        }
        let off = H_CONFIRMED + conn as usize * 8;
        if sent_at_ms > self.read_f64(off) {
            self.st_f64(off, sent_at_ms);
        }
        Ok(())
    }

    /// Disconnect: `invalidations += 1`; reset and publish if READY/MISMATCH/HAS_BOOK, else only
    /// mark for resync. No-op on an unbound slot.
    pub fn invalidate(&mut self, slot: u32, _now_ms: f64) -> Result<(), TableError> {
        let slot = self.check_slot(slot)?;
        if !self.slots[slot].bound || self.slots[slot].flags & F_SUBSCRIBED == 0 {
            return Ok(());
        }
        self.bump(c::INVALIDATIONS);
        if self.slots[slot].flags & PRESENT != 0 {
            self.reset(slot, false);
            self.commit(slot);
        } else {
            self.mark_resync(slot);
        }
        Ok(())
    }

    /// An audit found the book behind or different from the exchange's: reset (DESIGN 5.3) with
    /// DIVERGED set until a book makes the token ready again; publishes when that changes the slot.
    /// No-op on an unbound, unsubscribed or SETTLED slot (a settled token has no book to get back).
    pub fn diverge(&mut self, slot: u32, _now_ms: f64) -> Result<(), TableError> {
        let slot = self.check_slot(slot)?;
        let s = &self.slots[slot];
        if !s.bound || s.flags & (F_SUBSCRIBED | F_SETTLED) != F_SUBSCRIBED {
            return Ok(());
        }
        self.reset(slot, false);
        self.slots[slot].flags |= F_DIVERGED;
        self.commit(slot);
        Ok(())
    }

    /// Marks the bound token settled, as a `market_resolved` event naming it does; publishes when
    /// that changes the slot. No-op on an unbound slot.
    pub fn settle(&mut self, slot: u32, _now_ms: f64) -> Result<(), TableError> {
        let slot = self.check_slot(slot)?;
        if !self.slots[slot].bound || self.slots[slot].flags & F_SUBSCRIBED == 0 {
            return Ok(());
        }
        self.settle_slot(slot);
        self.commit(slot);
        Ok(())
    }

    /// Sets or clears DISABLED; publishes when the flags change.
    pub fn set_disabled(&mut self, slot: u32, disabled: bool) -> Result<(), TableError> {
        let slot = self.check_slot(slot)?;
        let s = &mut self.slots[slot];
        let flags = if disabled { s.flags | F_DISABLED } else { s.flags & !F_DISABLED };
        if flags != s.flags {
            s.flags = flags;
            self.publish(slot, false);
        }
        Ok(())
    }

    /// Enables hash checks for the bound token; publishes (without `sequence` + 1) when the
    /// published minimum order size or neg-risk flag change.
    pub fn set_meta(&mut self, slot: u32, min_order_size: &str, neg_risk: bool) -> Result<(), TableError> {
        let slot = self.check_slot(slot)?;
        if self.slots[slot].bound {
            self.slots[slot].set_meta(min_order_size.as_bytes(), neg_risk);
            if self.differs(slot) {
                self.publish(slot, false);
            }
        }
        Ok(())
    }

    /// Expires grace periods, then runs the pending hash checks (READY tokens with meta).
    /// Returns the status bits (`STATUS_RESYNC` when tokens await resync).
    pub fn tick(&mut self, now_ms: f64) -> u32 {
        let before = self.publications;
        self.expire(now_ms);
        let mut list = std::mem::take(&mut self.pending_list);
        let mut buf = std::mem::take(&mut self.hashbuf);
        for &slot in &list {
            let s = &mut self.slots[slot as usize];
            if !s.pending {
                continue;
            }
            s.pending = false;
            if !s.bound || !s.has_meta || s.flags & F_READY == 0 {
                continue;
            }
            let s = &self.slots[slot as usize];
            let h = book_hash(
                &mut buf,
                &HashInput {
                    market: s.texts.get(T_MARKET),
                    asset_id: s.id.as_bytes(),
                    timestamp: s.texts.get(T_PEND_TS),
                    bids: &s.bids,
                    asks: &s.asks,
                    min_order_size: s.texts.get(T_MIN_ORDER_SIZE),
                    tick_size: s.tick,
                    neg_risk: s.neg_risk,
                    last_trade_price: s.ltp,
                },
            );
            let differs = h[..] != *s.texts.get(T_PEND_HASH);
            self.bump(c::HASH_CHECKS);
            if differs {
                self.bump(c::HASH_MISMATCHES);
            }
        }
        self.hashbuf = buf;
        list.clear();
        self.pending_list = list;
        self.status(false, before)
    }

    /// The status bits of `ingest` and `tick`; `before`: the publication count when the call began.
    fn status(&self, bad_frame: bool, before: u64) -> u32 {
        let resync = if self.resync.is_empty() { 0 } else { STATUS_RESYNC };
        let published = if self.publications != before { STATUS_PUBLISHED } else { 0 };
        resync | published | if bad_frame { STATUS_BAD_FRAME } else { 0 }
    }

    /// Token ids marked for resync since the last call, in marking order.
    pub fn take_resync(&mut self) -> Vec<String> {
        self.resync_set.clear();
        self.resync.drain(..).map(String::from).collect()
    }

    /// Number of tokens awaiting resync.
    pub fn resync_len(&self) -> u32 {
        self.resync.len() as u32
    }

    /// Full-depth book with exact texts (wire order), or `None` if the slot is out of range,
    /// unbound or has no READY book.
    pub fn full_book(&self, slot: u32) -> Option<TextBook> {
        let s = self.slots.get(slot as usize)?;
        if !s.bound || s.flags & F_READY == 0 {
            return None;
        }
        let texts = |side: &Side| side.iter().map(|l| (l.price.text(), l.size.text())).collect();
        Some((texts(&s.bids), texts(&s.asks)))
    }

    // ----- ingest (DESIGN 5) -----

    /// Applies one raw market-channel frame. Never panics. Returns the status bits
    /// (`STATUS_RESYNC`, `STATUS_BAD_FRAME` when the frame was not JSON).
    pub fn ingest(&mut self, frame: &[u8], now: f64) -> u32 {
        let before = self.publications;
        self.bump(c::FRAMES);
        self.add(c::BYTES, frame.len() as f64);
        self.expire(now);
        if is_control(frame) {
            self.bump(c::CONTROL_FRAMES);
            return self.status(false, before);
        }
        let mut p = self.parser.take().unwrap_or_default();
        let mut bad = false;
        match p.parse(frame) {
            Err(NotJson) => {
                self.bump(c::BAD_JSON);
                bad = true;
            }
            Ok(Top::Scalar) => self.bump(c::BAD_EVENT),
            Ok(_) => {
                self.add(c::EVENTS, p.events.len() as f64);
                self.epoch += 1;
                self.touched.clear();
                for ev in &p.events {
                    self.event(&p, frame, ev, now);
                }
                self.end_frame(now);
            }
        }
        self.parser = Some(p);
        self.status(bad, before)
    }

    /// Applies one REST `/book` summary (JSON text) unless the table holds a newer book (DESIGN 5.5).
    /// Bad input is counted, never an error.
    pub fn rest_book(&mut self, json: &str, now: f64) -> Result<(), TableError> {
        self.rest_json(json.as_bytes(), now);
        Ok(())
    }

    /// [`Self::rest_book`] on bytes (the fuzzer feeds it invalid UTF-8 too).
    pub fn rest_json(&mut self, json: &[u8], now: f64) {
        let mut p = self.parser.take().unwrap_or_default();
        match p.parse(json) {
            Err(NotJson) => self.bump(c::BAD_JSON),
            Ok(Top::Object) => {
                let ev = p.events[0];
                self.epoch += 1;
                self.touched.clear();
                self.rest_event(&p, json, &ev, now);
                self.end_frame(now);
            }
            Ok(_) => self.bump(c::BAD_EVENT),
        }
        self.parser = Some(p);
    }

    fn rest_event(&mut self, p: &Parser, src: &[u8], ev: &EventRec, now: f64) {
        if let Err(f) = validate_book(p, src, ev) {
            self.bump_fault(f);
            self.bump(c::SNAPSHOTS_REJECTED);
            return;
        }
        let Some(slot) = str_of(p, src, ev.asset_id).and_then(|id| self.lookup(id)) else {
            self.bump(c::REST_SKIPPED);
            return;
        };
        if let (Some(mos), Val::Bool(neg)) = (str_of(p, src, ev.min_order_size), ev.neg_risk) {
            self.slots[slot].set_meta(mos, neg);
        }
        let ts = ts_of(p, src, ev.timestamp);
        let s = &self.slots[slot];
        // NaN timestamps compare false: a book whose age cannot be told is kept.
        if s.flags & F_READY != 0 && ts.val.partial_cmp(&s.exch_ts) != Some(std::cmp::Ordering::Greater) {
            self.bump(c::REST_SKIPPED);
            // The meta may still have changed what a read returns.
            self.commit(slot);
            return;
        }
        self.apply_book(p, src, ev, slot, ts, now);
        self.slots[slot].pending = false;
        self.bump(c::REST_APPLIED);
    }

    fn event(&mut self, p: &Parser, src: &[u8], ev: &EventRec, now: f64) {
        if !ev.is_obj {
            self.bump(c::BAD_EVENT);
            return;
        }
        let Some(et) = str_of(p, src, ev.event_type) else {
            self.bump(c::BAD_EVENT);
            return;
        };
        match et {
            b"price_change" => self.on_price_change(p, src, ev, now),
            b"book" => self.on_book(p, src, ev, now),
            b"tick_size_change" => self.on_meta_event(p, src, ev, now, true),
            b"last_trade_price" => self.on_meta_event(p, src, ev, now, false),
            b"best_bid_ask" => {
                if str_of(p, src, ev.asset_id).is_some() {
                    self.bump(c::BEST_BID_ASK);
                } else {
                    self.bump(c::BAD_EVENT);
                }
            }
            b"new_market" => self.bump(c::NEW_MARKETS),
            b"market_resolved" => self.on_resolved(p, src, ev),
            _ => self.bump(c::UNKNOWN_EVENTS),
        }
    }

    /// Resets (and touches) the subscribed token named `id`, if any.
    fn reset_named(&mut self, id: Option<&[u8]>) {
        if let Some(slot) = id.and_then(|id| self.lookup(id)) {
            if self.slots[slot].flags & F_SUBSCRIBED != 0 {
                self.reset(slot, false);
                self.touch(slot);
            }
        }
    }

    fn on_book(&mut self, p: &Parser, src: &[u8], ev: &EventRec, now: f64) {
        if let Err(f) = validate_book(p, src, ev) {
            self.bump(c::SNAPSHOTS_REJECTED);
            self.bump_fault(f);
            self.reset_named(str_of(p, src, ev.asset_id));
            return;
        }
        let Some(slot) = str_of(p, src, ev.asset_id).and_then(|id| self.lookup(id)) else {
            self.bump(c::IGNORED);
            return;
        };
        let ts = ts_of(p, src, ev.timestamp);
        self.apply_book(p, src, ev, slot, ts, now);
        self.bump(c::SNAPSHOTS_APPLIED);
    }

    /// Installs a validated book (WS or REST); records (or drops) the pending hash.
    fn apply_book(&mut self, p: &Parser, src: &[u8], ev: &EventRec, slot: usize, ts: Ts, now: f64) {
        self.untrack(slot);
        let lv = |l: &Levels| &p.levels[l.start as usize..l.end as usize];
        let s = &mut self.slots[slot];
        s.bids.replace(lv(&ev.bids));
        s.asks.replace(lv(&ev.asks));
        s.flags = (s.flags | F_READY | F_HAS_BOOK) & !(F_CROSSED | F_MISMATCH | F_DIVERGED);
        // The book replaces what earlier entries of this frame said about the top of book.
        s.bbo = None;
        if let Some(d) = str_of(p, src, ev.tick_size).and_then(Dec::parse) {
            s.tick = Some(d);
        }
        if let Some(d) = str_of(p, src, ev.last_trade_price).and_then(Dec::parse_price) {
            // A book names the last trade's price only: size, side and time are another trade's when it moved.
            if s.ltp.map(|x| x.to_f64()) != Some(d.to_f64()) {
                s.clear_last_trade();
            }
            s.ltp = Some(d);
        }
        s.exch_ts = ts.val;
        s.set_market(str_of(p, src, ev.market).unwrap_or_default());
        s.updates += 1.0;
        s.last_update = now;
        let text = ts.text.map_or(&b""[..], |r| p.bytes(src, r));
        self.set_pending_hash(slot, str_of(p, src, ev.hash), text);
        self.touch(slot);
    }

    fn on_price_change(&mut self, p: &Parser, src: &[u8], ev: &EventRec, now: f64) {
        let current = ev.price_changes.state != ArrState::Absent;
        let (list, top_id) = if current { (ev.price_changes, None) } else { (ev.changes, str_of(p, src, ev.asset_id)) };
        let entries = &p.entries[list.start as usize..list.end as usize];
        // Validate the whole event first (DESIGN 5 step 4), keeping each change for the apply loop.
        let mut changes = std::mem::take(&mut self.changes);
        changes.clear();
        let checked = (|| -> Result<(), Fault> {
            if current {
                if list.state != ArrState::Array {
                    return Err(Fault::Shape);
                }
                for e in entries {
                    if !e.is_obj {
                        return Err(Fault::Shape);
                    }
                    str_of(p, src, e.asset_id).ok_or(Fault::Shape)?;
                    push_change(&mut changes, p, src, e.price, e.size, e.side)?;
                }
            } else {
                top_id.ok_or(Fault::Shape)?;
                if list.state == ArrState::Absent {
                    push_change(&mut changes, p, src, ev.price, ev.size, ev.side)?;
                } else {
                    if list.state != ArrState::Array {
                        return Err(Fault::Shape);
                    }
                    for e in entries {
                        if !e.is_obj {
                            return Err(Fault::Shape);
                        }
                        push_change(&mut changes, p, src, e.price, e.size, e.side)?;
                    }
                }
            }
            Ok(())
        })();
        if let Err(f) = checked {
            self.changes = changes;
            self.bump_fault(f);
            if current {
                for e in entries {
                    if e.is_obj {
                        self.reset_named(str_of(p, src, e.asset_id));
                    }
                }
            } else {
                self.reset_named(top_id);
            }
            return;
        }
        let ts = ts_of(p, src, ev.timestamp);
        if !current {
            let slot = top_id.and_then(|id| self.lookup(id));
            for ch in &changes {
                self.legacy_change(slot, ch.bid, ch.price, ch.size, ts.val, now);
            }
        } else {
            let ts_text = ts.text.map_or(&b""[..], |r| p.bytes(src, r));
            for (e, ch) in entries.iter().zip(&changes) {
                let (bid, price, size) = (ch.bid, ch.price, ch.size);
                let Some(slot) = str_of(p, src, e.asset_id).and_then(|id| self.lookup(id)) else {
                    self.bump(c::IGNORED);
                    continue;
                };
                if self.apply_change(slot, bid, price, size, ts.val, now) {
                    // A change at the top of the book repeats its price as best_bid (BUY) or
                    // best_ask (SELL): that text need not be parsed again.
                    let same = (e.price, price);
                    let bbo = match (bbo_of(p, src, e.best_bid, false, same), bbo_of(p, src, e.best_ask, true, same)) {
                        (Some(b), Some(a)) => Some((b, a)),
                        _ => None,
                    };
                    self.slots[slot].bbo = bbo;
                    self.set_pending_hash(slot, str_of(p, src, e.hash), ts_text);
                }
            }
        }
        self.changes = changes;
    }

    fn legacy_change(&mut self, slot: Option<usize>, bid: bool, price: Dec, size: Dec, ts: f64, now: f64) {
        let Some(slot) = slot else {
            self.bump(c::IGNORED);
            return;
        };
        if self.apply_change(slot, bid, price, size, ts, now) {
            self.slots[slot].pending = false;
        }
    }

    /// Applies one level change to a READY token (`deltasWithoutBook` otherwise). True if applied.
    fn apply_change(&mut self, slot: usize, bid: bool, price: Dec, size: Dec, ts: f64, now: f64) -> bool {
        if self.slots[slot].flags & F_READY == 0 {
            self.bump(c::DELTAS_WITHOUT_BOOK);
            return false;
        }
        self.touch(slot);
        let s = &mut self.slots[slot];
        if bid {
            s.bids.set(price, size);
        } else {
            s.asks.set(price, size);
        }
        s.updates += 1.0;
        s.last_update = now;
        s.exch_ts = ts;
        self.bump(c::DELTAS_APPLIED);
        true
    }

    /// `tick_size_change` (`tick = true`) and `last_trade_price`.
    fn on_meta_event(&mut self, p: &Parser, src: &[u8], ev: &EventRec, now: f64, tick: bool) {
        let Some(id) = str_of(p, src, ev.asset_id) else {
            self.bump(c::BAD_EVENT);
            return;
        };
        let d = if tick {
            str_of(p, src, ev.new_tick_size).and_then(Dec::parse)
        } else {
            str_of(p, src, ev.price).and_then(Dec::parse_price)
        };
        let Some(d) = d else {
            self.bump(c::BAD_DECIMAL);
            self.reset_named(Some(id));
            return;
        };
        let Some(slot) = self.lookup(id) else {
            self.bump(c::IGNORED);
            return;
        };
        let s = &mut self.slots[slot];
        if tick {
            s.tick = Some(d);
        } else {
            s.ltp = Some(d);
            // Optional fields (DESIGN 5.8 rule 4): absent or invalid is unknown.
            s.ltp_size = dec_of(p, src, ev.size).map_or(f64::NAN, |d| d.to_f64());
            s.ltp_ts = ts_of(p, src, ev.timestamp).val;
            s.ltp_side = match str_of(p, src, ev.side) {
                Some(b"BUY") => SIDE_BUY,
                Some(b"SELL") => SIDE_SELL,
                _ => SIDE_UNKNOWN,
            };
        }
        if s.flags & F_READY != 0 {
            s.last_update = now;
        }
        self.bump(if tick { c::TICK_SIZE_CHANGES } else { c::LAST_TRADES });
        self.touch(slot);
    }

    fn on_resolved(&mut self, p: &Parser, src: &[u8], ev: &EventRec) {
        let ids = ev.assets_ids;
        let list = &p.ids[ids.start as usize..ids.end as usize];
        if ids.state != ArrState::Array || !ids.all_strings {
            self.bump(c::BAD_EVENT);
            for &r in list {
                self.reset_named(Some(p.bytes(src, r)));
            }
            return;
        }
        for &r in list {
            if let Some(slot) = self.lookup(p.bytes(src, r)) {
                self.settle_slot(slot);
                self.touch(slot);
            }
        }
    }

    /// SETTLED, not ready, book emptied, no pending check; `settled += 1`. The caller publishes.
    fn settle_slot(&mut self, slot: usize) {
        self.untrack(slot);
        let s = &mut self.slots[slot];
        s.flags = (s.flags | F_SETTLED) & !(F_READY | F_MISMATCH);
        s.bids.clear();
        s.asks.clear();
        s.pending = false;
        self.bump(c::SETTLED);
    }

    /// DESIGN 5.4 for every touched token, in first-touch order, then one publish each (if
    /// anything about it changed, DESIGN 5.8 rule 6).
    fn end_frame(&mut self, now: f64) {
        let mut touched = std::mem::take(&mut self.touched);
        for &slot in &touched {
            let slot = slot as usize;
            let s = &self.slots[slot];
            if crossed(&s.bids, &s.asks) {
                self.reset(slot, true);
                self.bump(c::CROSSED_RESETS);
            } else if let (true, Some((bb, ba))) = (s.flags & F_READY != 0, s.bbo) {
                let was_mismatch = s.flags & F_MISMATCH != 0;
                let ours = |k: Option<u64>| k.unwrap_or(NO_LEVEL);
                if ours(s.bids.best_key()) == bb && ours(s.asks.best_key()) == ba {
                    if was_mismatch {
                        self.untrack(slot);
                        self.slots[slot].flags &= !F_MISMATCH;
                        self.bump(c::MISMATCHES_RESOLVED);
                    }
                } else {
                    self.bump(c::BBO_MISMATCHES);
                    if !was_mismatch {
                        let s = &mut self.slots[slot];
                        s.flags |= F_MISMATCH;
                        s.deadline = now + self.grace_ms;
                        self.mismatch.push(slot as u32);
                    }
                }
            }
            self.slots[slot].bbo = None;
            self.commit(slot);
        }
        touched.clear();
        self.touched = touched;
    }
}

/// `timestamp`: value if a decimal string (else NaN), text if a string (else `""`). Never rejects.
fn ts_of(p: &Parser, src: &[u8], v: Val) -> Ts {
    match v {
        Val::Str(r) => Ts { val: dec_of(p, src, v).map_or(f64::NAN, |d| d.to_f64()), text: Some(r) },
        _ => Ts { val: f64::NAN, text: None },
    }
}

#[inline]
fn str_of<'a>(p: &'a Parser, src: &'a [u8], v: Val) -> Option<&'a [u8]> {
    match v {
        Val::Str(r) => Some(p.bytes(src, r)),
        _ => None,
    }
}

/// One validated level change.
#[derive(Clone, Copy)]
struct Change {
    price: Dec,
    size: Dec,
    bid: bool,
}

/// Validates one level change and appends it to `out`: price (absent or invalid: `Decimal`),
/// size (same), then side (`BUY`/`SELL`, else `Shape`). (Appending in place, rather than
/// returning the change, keeps it from being copied through the stack.)
#[inline]
fn push_change(out: &mut Vec<Change>, p: &Parser, src: &[u8], price: Val, size: Val, side: Val) -> Result<(), Fault> {
    let Some(price) = dec_of(p, src, price).and_then(Dec::as_price) else {
        return Err(Fault::Decimal);
    };
    let Some(size) = dec_of(p, src, size) else {
        return Err(Fault::Decimal);
    };
    let bid = match str_of(p, src, side) {
        Some(b"BUY") => true,
        Some(b"SELL") => false,
        _ => return Err(Fault::Shape),
    };
    out.push(Change { price, size, bid });
    Ok(())
}

/// A side without levels in the top-of-book comparison.
const NO_LEVEL: u64 = u64::MAX;
/// A server value that is no price (too large to have a 10^-9 key): equal to no side of ours.
const NOT_A_PRICE: u64 = u64::MAX - 1;

/// Server `best_bid`/`best_ask` as a comparison key: [`NO_LEVEL`] for `""`, the value's 10^-9 key
/// for a decimal (exact: equal values, equal keys; [`NOT_A_PRICE`] if it cannot be a price),
/// `None` when absent or invalid (which cancels the top-of-book check). Best bid `0` and best ask
/// `1` are no level too (DESIGN 5.8 rule 7).
/// `price`: the entry's price text and its decimal, used when `v` is the same text.
#[inline]
fn bbo_of(p: &Parser, src: &[u8], v: Val, ask: bool, price: (Val, Dec)) -> Option<u64> {
    match v {
        Val::Str(r) if r.len == 0 => Some(NO_LEVEL),
        Val::Str(r) if same_text(src, r, price.0) => Some(price.1.price_key()),
        _ => dec_of(p, src, v).map(|d| {
            if (ask && d.is_one()) || (!ask && d.is_zero()) {
                NO_LEVEL
            } else {
                d.key().unwrap_or(NOT_A_PRICE)
            }
        }),
    }
}

/// Two undecoded strings of at most 8 bytes (with 8 readable bytes) hold the same text; `false`
/// otherwise (also when it cannot tell cheaply).
#[inline(always)]
fn same_text(src: &[u8], a: StrRef, b: Val) -> bool {
    let Val::Str(b) = b else {
        return false;
    };
    let (sa, sb, n) = (a.start as usize, b.start as usize, a.len as usize);
    if a.decoded || b.decoded || n != b.len as usize || n > 8 || sa.max(sb) + 8 > src.len() {
        return false;
    }
    let w = |i: usize| u64::from_le_bytes(src[i..i + 8].try_into().unwrap());
    let mask = if n == 8 { !0 } else { (1u64 << (8 * n)) - 1 };
    (w(sa) ^ w(sb)) & mask == 0
}

/// A decimal string value (`None`: not a string, or not a decimal).
#[inline(always)]
fn dec_of(p: &Parser, src: &[u8], v: Val) -> Option<Dec> {
    let Val::Str(r) = v else {
        return None;
    };
    if !r.decoded {
        // Undecoded strings are spans of the frame, followed by their closing quote.
        if let Some(d) = Dec::parse_short(src, r.start as usize, r.len as usize) {
            return Some(d);
        }
        if let Some((d, end)) = Dec::parse_fast(src, r.start as usize) {
            if end == r.start as usize + r.len as usize {
                return Some(d);
            }
        }
    }
    Dec::parse(p.bytes(src, r))
}

/// `book` / REST checks in order: asset_id a string, bids and asks arrays, then each level of
/// bids then asks in wire order (not an object: `Shape`; price; size; order).
fn validate_book(p: &Parser, src: &[u8], ev: &EventRec) -> Result<(), Fault> {
    str_of(p, src, ev.asset_id).ok_or(Fault::Shape)?;
    if ev.bids.state != ArrState::Array || ev.asks.state != ArrState::Array {
        return Err(Fault::Shape);
    }
    for l in [&ev.bids, &ev.asks] {
        if let Some(f) = l.fault {
            return Err(f);
        }
    }
    Ok(())
}

/// DESIGN 5 step 2.
pub fn is_control(frame: &[u8]) -> bool {
    let mut s = frame;
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    CONTROL_FRAMES.contains(&s)
}

/// A table over owned, 8-byte-aligned memory (tests, benchmarks, tools).
pub struct OwnedTable {
    // Declared first so it is dropped first: `table` points into `_mem`.
    table: Table,
    _mem: Vec<u64>,
}

impl OwnedTable {
    /// Allocates and initialises a table exactly like `createTable` in src/table/layout.ts.
    pub fn new(capacity: usize, depth: usize, grace_ms: f64) -> OwnedTable {
        let bytes = table_bytes(capacity, depth);
        let mut mem = vec![0u64; bytes.div_ceil(8)];
        let hdr = |mem: &mut Vec<u64>, off: usize, v: i32| {
            let w = &mut mem[off / 8];
            let shift = (off % 8) * 8;
            *w = (*w & !(0xffff_ffffu64 << shift)) | ((v as u32 as u64) << shift);
        };
        hdr(&mut mem, H_MAGIC, MAGIC);
        hdr(&mut mem, H_VERSION, LAYOUT_VERSION);
        hdr(&mut mem, H_CAPACITY, capacity as i32);
        hdr(&mut mem, H_DEPTH, depth as i32);
        hdr(&mut mem, H_SLOT_BYTES, slot_bytes(depth) as i32);
        let base = mem.as_mut_ptr() as *mut u8;
        // SAFETY: `mem` is 8-aligned, `bytes` long, owned by the returned value and never moved
        // (a Vec's heap buffer stays put when the Vec is moved); `table` is dropped before it.
        let table = unsafe { Table::new(base, bytes, grace_ms) }.expect("fresh table");
        OwnedTable { table, _mem: mem }
    }
}

impl std::ops::Deref for OwnedTable {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.table
    }
}

impl std::ops::DerefMut for OwnedTable {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.table
    }
}
