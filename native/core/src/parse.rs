//! The frame parser: a hand-written, validating JSON scanner directed by the shape of market-channel
//! events. One pass over the frame fills reusable pools (no per-level heap allocation once warm):
//! top-level events ([`EventRec`]), book levels already parsed to fixed point ([`Level`]),
//! `price_changes`/`changes` entries ([`EntryRec`]) and `assets_ids` strings.
//!
//! The hot shapes have fast paths that recognise the exact text the server sends and fall back
//! to the general (validating) path from the same position on any difference, so they never
//! change a result (`fast_paths_agree_with_the_general_path` checks it): levels
//! (`{"price":"…","size":"…"}`, decimals parsed with SWAR), `price_changes` entries (the seven
//! keys in server order), event keys predicted from the previous key, and a 16-byte SSE2 (SWAR
//! elsewhere) search for the end of strings.
//!
//! Semantics follow `JSON.parse` exactly (RFC 8259 grammar, whitespace = space/tab/LF/CR, any nesting
//! depth, duplicate keys: the last one wins, lone surrogate escapes become U+FFFD as Node's UTF-8
//! encoder writes them). Invalid UTF-8 inside strings is replaced like `TextDecoder` (WHATWG,
//! maximal subparts); bytes >= 0x80 outside strings are a syntax error. Nothing here panics on any
//! input: every index is checked (`peek` returns 0 past the end, which no rule accepts).

use crate::book::Level;
use crate::decimal::{load8, Dec, FAST_TAIL};

/// A decoded string: a span of the frame, or of [`Parser::strbuf`] when it had to be decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrRef {
    pub start: u32,
    pub len: u32,
    pub decoded: bool,
}

/// A captured JSON value (containers are validated and skipped unless the schema wants them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Val {
    #[default]
    Absent,
    Null,
    Bool(bool),
    Num,
    Str(StrRef),
    Obj,
    Arr,
}

/// Validation result of one level array.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArrState {
    #[default]
    Absent,
    /// Present but not an array.
    NotArray,
    Array,
}

/// Why a level or a field failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wrong shape (not an object, a required field missing, wrong type of a non-decimal field).
    Shape,
    /// A decimal that is present but not valid (5.1).
    Decimal,
    /// Levels out of wire order.
    Unordered,
}

/// A `bids`/`asks` array: levels with size > 0 in `Parser::levels[start..end]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Levels {
    pub state: ArrState,
    pub start: u32,
    pub end: u32,
    /// First problem in element order: `Shape` (not an object), `Decimal` (price, then size)
    /// or `Unordered` (a valid level not strictly after the previous valid one).
    pub fault: Option<Fault>,
    /// Some consecutive valid prices are not strictly ascending (bids) / descending (asks).
    pub unordered: bool,
    /// Number of elements (including size-0 levels and faulty ones).
    pub count: u32,
}

/// A `price_changes` / `changes` array: entries in `Parser::entries[start..end]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Entries {
    pub state: ArrState,
    pub start: u32,
    pub end: u32,
}

/// An `assets_ids` array: strings in `Parser::ids[start..end]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ids {
    pub state: ArrState,
    pub start: u32,
    pub end: u32,
    pub all_strings: bool,
}

/// One element of `price_changes` (current format) or `changes` (legacy v1).
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryRec {
    pub is_obj: bool,
    pub asset_id: Val,
    pub price: Val,
    pub size: Val,
    pub side: Val,
    pub hash: Val,
    pub best_bid: Val,
    pub best_ask: Val,
}

/// One top-level event (an element of the frame array, or the frame object).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventRec {
    pub is_obj: bool,
    pub event_type: Val,
    pub asset_id: Val,
    pub market: Val,
    pub timestamp: Val,
    pub hash: Val,
    pub tick_size: Val,
    pub last_trade_price: Val,
    pub new_tick_size: Val,
    pub price: Val,
    pub size: Val,
    pub side: Val,
    pub min_order_size: Val,
    pub neg_risk: Val,
    pub bids: Levels,
    pub asks: Levels,
    pub price_changes: Entries,
    pub changes: Entries,
    pub assets_ids: Ids,
}

/// The shape of the frame's top-level value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    Object,
    Array,
    /// A string, number, boolean or null.
    Scalar,
}

/// Reusable parse state; `parse` clears and refills the pools.
#[derive(Default)]
pub struct Parser {
    pub events: Vec<EventRec>,
    pub levels: Vec<Level>,
    pub entries: Vec<EntryRec>,
    pub ids: Vec<StrRef>,
    pub strbuf: Vec<u8>,
    stack: Vec<u8>,
    /// A byte >= 0x80 was seen inside a string of the current frame.
    non_ascii: bool,
}

/// The frame is not valid JSON (the parser's only failure: anything else is judged per event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

type R<T> = Result<T, NotJson>;

struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline(always)]
    fn peek(&self) -> u8 {
        match self.s.get(self.i) {
            Some(&b) => b,
            None => 0,
        }
    }
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(&b) = self.s.get(self.i) {
            if b == b' ' || b == b'\n' || b == b'\r' || b == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }
    #[inline(always)]
    fn eat(&mut self, b: u8) -> R<()> {
        if self.peek() == b {
            self.i += 1;
            Ok(())
        } else {
            Err(NotJson)
        }
    }
}

const HI: u64 = 0x8080_8080_8080_8080;
const LO: u64 = 0x0101_0101_0101_0101;

/// `{"price"` and `","size"` as little-endian words, `:"` and `"}` as halfwords: the exact text
/// `JSON.stringify` (and the server) writes around the two decimals of a level.
const LEVEL_OPEN: u64 = u64::from_le_bytes(*b"{\"price\"");
const LEVEL_MID: u64 = u64::from_le_bytes(*b"\",\"size\"");
const COLON_QUOTE: u16 = u16::from_le_bytes(*b":\"");
const QUOTE_CLOSE: u16 = u16::from_le_bytes(*b"\"}");

#[inline(always)]
fn load2(s: &[u8], i: usize) -> u16 {
    let b: [u8; 2] = s[i..i + 2].try_into().unwrap();
    u16::from_le_bytes(b)
}

/// At the first byte of a string's text: the index of its closing quote when the string holds only
/// plain ASCII (no escape, no control character, no byte >= 0x80) and ends at least 8 bytes before
/// the end of `s`; `None` = take the general path.
#[inline(always)]
fn plain_string_end(s: &[u8], i: usize) -> Option<usize> {
    let (j, quote) = find_special_quote(s, i);
    quote.then_some(j)
}

/// [`find_special`], also telling whether the byte found is '"'. On x86-64 that comes from the
/// compare masks instead of a load of the byte: the end of a string then does not wait for a
/// second, dependent load (the next literal compare of a fast path already waits for the first).
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
fn find_special_quote(s: &[u8], mut i: usize) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; each load reads s[i..i + 16], in bounds.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let space = _mm_set1_epi8(0x20);
            while i + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(i) as *const __m128i);
                let q = _mm_cmpeq_epi8(v, quote);
                let m = _mm_or_si128(_mm_or_si128(q, _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space));
                let mask = _mm_movemask_epi8(m) as u32;
                if mask != 0 {
                    let k = mask.trailing_zeros();
                    let is_quote = (_mm_movemask_epi8(q) as u32 >> k) & 1 != 0;
                    return (i + k as usize, is_quote);
                }
                i += 16;
            }
        }
    }
    let j = find_special(s, i);
    (j, s.get(j) == Some(&b'"'))
}

/// The index of the first byte at or after `i` that is '"', '\\', a control character or >= 0x80
/// (`s.len()` if none): 16 bytes per step with SSE2 on x86-64, 8 with SWAR elsewhere.
#[inline(always)]
fn find_special(s: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; each load reads s[i..i + 16], in bounds.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let space = _mm_set1_epi8(0x20);
            while i + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(i) as *const __m128i);
                // Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them too.
                let m = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                    _mm_cmplt_epi8(v, space),
                );
                let mask = _mm_movemask_epi8(m) as u32;
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    while i + 8 <= s.len() {
        let m = special8(load8(s, i));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() {
        let b = s[i];
        if b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b) {
            return i;
        }
        i += 1;
    }
    i
}

/// The member keys of an event the parser keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// Before the first member.
    Start,
    Other,
    EventType,
    AssetId,
    Market,
    Timestamp,
    Hash,
    TickSize,
    LastTradePrice,
    NewTickSize,
    Price,
    Size,
    Side,
    MinOrderSize,
    NegRisk,
    Bids,
    Asks,
    PriceChanges,
    Changes,
    AssetsIds,
}

impl Key {
    fn of(key: &[u8]) -> Key {
        match key {
            b"event_type" => Key::EventType,
            b"asset_id" => Key::AssetId,
            b"market" => Key::Market,
            b"timestamp" => Key::Timestamp,
            b"hash" => Key::Hash,
            b"tick_size" => Key::TickSize,
            b"last_trade_price" => Key::LastTradePrice,
            b"new_tick_size" => Key::NewTickSize,
            b"price" => Key::Price,
            b"size" => Key::Size,
            b"side" => Key::Side,
            b"min_order_size" => Key::MinOrderSize,
            b"neg_risk" => Key::NegRisk,
            b"bids" => Key::Bids,
            b"asks" => Key::Asks,
            b"price_changes" => Key::PriceChanges,
            b"changes" => Key::Changes,
            b"assets_ids" => Key::AssetsIds,
            _ => Key::Other,
        }
    }
}

/// A literal of 1 to 24 bytes, as little-endian words for word compares.
#[derive(Clone, Copy)]
struct Lit {
    len: usize,
    /// Bytes 0..8 (zero-padded).
    w0: u64,
    /// Bytes len-8..len (len > 8).
    w1: u64,
    /// Bytes 8..16 (len > 16).
    w2: u64,
}

impl Lit {
    const fn new(b: &[u8]) -> Lit {
        const fn word(b: &[u8], at: usize) -> u64 {
            let mut w = 0u64;
            let mut k = 0;
            while k < 8 && at + k < b.len() {
                w |= (b[at + k] as u64) << (8 * k);
                k += 1;
            }
            w
        }
        let len = b.len();
        assert!(len >= 1 && len <= 24);
        Lit {
            len,
            w0: word(b, 0),
            w1: if len > 8 { word(b, len - 8) } else { 0 },
            w2: if len > 16 { word(b, 8) } else { 0 },
        }
    }

    /// `s[at..]` starts with the literal.
    #[inline(always)]
    fn at(&self, s: &[u8], at: usize) -> bool {
        if at + 8.max(self.len) > s.len() {
            return false;
        }
        if self.len <= 8 {
            let mask = if self.len == 8 { !0 } else { (1u64 << (8 * self.len)) - 1 };
            return (load8(s, at) ^ self.w0) & mask == 0;
        }
        load8(s, at) == self.w0
            && load8(s, at + self.len - 8) == self.w1
            && (self.len <= 16 || load8(s, at + 8) == self.w2)
    }
}

/// The keys (as `"key":` literals) that follow `prev` in the events the server sends, most
/// likely first: `book` after a trade (`market, asset_id, bids, asks, hash, timestamp,
/// event_type`), opening `book` (`market, asset_id, timestamp, hash, bids, asks, tick_size,
/// event_type, last_trade_price`) and `price_change` (`market, price_changes, timestamp,
/// event_type`).
fn next_keys(prev: Key) -> &'static [(Key, Lit)] {
    const MARKET: (Key, Lit) = (Key::Market, Lit::new(b"\"market\":"));
    const ASSET_ID: (Key, Lit) = (Key::AssetId, Lit::new(b"\"asset_id\":"));
    const PRICE_CHANGES: (Key, Lit) = (Key::PriceChanges, Lit::new(b"\"price_changes\":"));
    const BIDS: (Key, Lit) = (Key::Bids, Lit::new(b"\"bids\":"));
    const ASKS: (Key, Lit) = (Key::Asks, Lit::new(b"\"asks\":"));
    const HASH: (Key, Lit) = (Key::Hash, Lit::new(b"\"hash\":"));
    const TIMESTAMP: (Key, Lit) = (Key::Timestamp, Lit::new(b"\"timestamp\":"));
    const EVENT_TYPE: (Key, Lit) = (Key::EventType, Lit::new(b"\"event_type\":"));
    const TICK_SIZE: (Key, Lit) = (Key::TickSize, Lit::new(b"\"tick_size\":"));
    const LAST_TRADE_PRICE: (Key, Lit) = (Key::LastTradePrice, Lit::new(b"\"last_trade_price\":"));
    match prev {
        Key::Start => &[MARKET],
        Key::Market => &[ASSET_ID, PRICE_CHANGES],
        Key::AssetId => &[BIDS, TIMESTAMP],
        Key::Bids => &[ASKS],
        Key::Asks => &[HASH, TICK_SIZE],
        Key::Hash => &[TIMESTAMP, BIDS],
        Key::Timestamp => &[EVENT_TYPE, HASH],
        Key::PriceChanges => &[TIMESTAMP],
        Key::TickSize => &[EVENT_TYPE],
        Key::EventType => &[LAST_TRADE_PRICE],
        _ => &[],
    }
}

/// `s[at..]` starts with `text` (8 to 16 bytes): two overlapping word compares.
#[inline(always)]
fn has_text(s: &[u8], at: usize, text: &[u8]) -> bool {
    let n = text.len();
    debug_assert!((8..=16).contains(&n));
    at + n <= s.len() && load8(s, at) == load8(text, 0) && load8(s, at + n - 8) == load8(text, n - 8)
}

/// After `text` at `*at`: a plain string value ([`plain_string_end`]); `*at` moves to its closing quote.
#[inline(always)]
fn text_then_string(s: &[u8], at: &mut usize, text: &[u8]) -> Option<Val> {
    if !has_text(s, *at, text) {
        return None;
    }
    let start = *at + text.len();
    let end = plain_string_end(s, start)?;
    *at = end;
    Some(Val::Str(StrRef { start: start as u32, len: (end - start) as u32, decoded: false }))
}

/// Fast path for one `price_changes` entry written exactly as the server does: the seven keys
/// `asset_id, price, size, side, hash, best_bid, best_ask` in that order, plain string values, no
/// whitespace. Appends the entry to `out` and returns the index after its `}`; `None` = take the
/// general path from the same index (nothing was consumed).
#[inline(always)]
fn fast_entry(s: &[u8], i: usize, out: &mut Vec<EntryRec>) -> Option<usize> {
    let mut at = i;
    let asset_id = text_then_string(s, &mut at, b"{\"asset_id\":\"")?;
    let price = text_then_string(s, &mut at, b"\",\"price\":\"")?;
    let size = text_then_string(s, &mut at, b"\",\"size\":\"")?;
    let side = text_then_string(s, &mut at, b"\",\"side\":\"")?;
    let hash = text_then_string(s, &mut at, b"\",\"hash\":\"")?;
    let best_bid = text_then_string(s, &mut at, b"\",\"best_bid\":\"")?;
    let best_ask = text_then_string(s, &mut at, b"\",\"best_ask\":\"")?;
    if at + 2 > s.len() || load2(s, at) != QUOTE_CLOSE {
        return None;
    }
    out.push(EntryRec { is_obj: true, asset_id, price, size, side, hash, best_bid, best_ask });
    Some(at + 2)
}

/// Fast path for one level written exactly `{"price":"<decimal>","size":"<decimal>"}` with a valid
/// price and size on the [`Dec::parse_fast`] path: the level and the index after its `}`.
/// `None` = take the general path from the same index (nothing was consumed).
#[inline(always)]
fn fast_level(s: &[u8], i: usize) -> Option<(Level, usize)> {
    if i + 10 + FAST_TAIL > s.len() || load8(s, i) != LEVEL_OPEN || load2(s, i + 8) != COLON_QUOTE {
        return None;
    }
    let (price, pe) = Dec::parse_fast(s, i + 10)?;
    let price = price.as_price()?;
    if pe + 10 + FAST_TAIL > s.len() || load8(s, pe) != LEVEL_MID || load2(s, pe + 8) != COLON_QUOTE {
        return None;
    }
    let (size, se) = Dec::parse_fast(s, pe + 10)?;
    if load2(s, se) != QUOTE_CLOSE {
        return None;
    }
    Some((Level::new(price, size), se + 2))
}

/// High bit set in (at least) the lowest byte of `w` that is '"', '\\' or a control character
/// (higher bytes may be flagged falsely by borrows; only the lowest flag is used).
#[inline(always)]
fn stop8(w: u64) -> u64 {
    let q = w ^ (LO * b'"' as u64);
    let bs = w ^ (LO * b'\\' as u64);
    let has_q = q.wrapping_sub(LO) & !q;
    let has_bs = bs.wrapping_sub(LO) & !bs;
    let ctl = w.wrapping_sub(LO * 0x20) & !w;
    (has_q | has_bs | ctl) & HI
}

/// Like [`stop8`], also flagging non-ASCII bytes.
#[inline(always)]
fn special8(w: u64) -> u64 {
    stop8(w) | (w & HI)
}

#[inline(always)]
fn hexval(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u32),
        b'a'..=b'f' => Some((b - b'a' + 10) as u32),
        b'A'..=b'F' => Some((b - b'A' + 10) as u32),
        _ => None,
    }
}

fn push_utf8(out: &mut Vec<u8>, c: u32) {
    let ch = char::from_u32(c).unwrap_or('\u{FFFD}');
    let mut b = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
}

impl Parser {
    /// The bytes of a string captured from `src`.
    #[inline]
    pub fn bytes<'a>(&'a self, src: &'a [u8], r: StrRef) -> &'a [u8] {
        let (s, e) = (r.start as usize, r.start as usize + r.len as usize);
        let from = if r.decoded { &self.strbuf[..] } else { src };
        from.get(s..e).unwrap_or(&[])
    }

    /// Parses one frame. `Err(NotJson)` = not valid JSON (then the pools hold garbage).
    pub fn parse(&mut self, src: &[u8]) -> R<Top> {
        self.events.clear();
        self.levels.clear();
        self.entries.clear();
        self.ids.clear();
        self.strbuf.clear();
        self.non_ascii = false;
        let mut c = Cur { s: src, i: 0 };
        c.ws();
        let top = match c.peek() {
            b'{' => {
                self.event(&mut c)?;
                Top::Object
            }
            b'[' => {
                c.i += 1;
                c.ws();
                if c.peek() == b']' {
                    c.i += 1;
                } else {
                    loop {
                        c.ws();
                        if c.peek() == b'{' {
                            self.event(&mut c)?;
                        } else {
                            self.value(&mut c)?;
                            self.events.push(EventRec::default());
                        }
                        c.ws();
                        match c.peek() {
                            b',' => c.i += 1,
                            b']' => {
                                c.i += 1;
                                break;
                            }
                            _ => return Err(NotJson),
                        }
                    }
                }
                Top::Array
            }
            _ => {
                self.value(&mut c)?;
                Top::Scalar
            }
        };
        c.ws();
        if c.i != src.len() {
            return Err(NotJson);
        }
        // Bytes are decoded as strict UTF-8 (TextDecoder fatal): invalid UTF-8 is bad JSON.
        // Outside strings any byte >= 0x80 is already a syntax error.
        if self.non_ascii && std::str::from_utf8(src).is_err() {
            return Err(NotJson);
        }
        Ok(top)
    }

    /// Parses a REST `/book` body: exactly the same schema as a `book` event.
    pub fn parse_object(&mut self, src: &[u8]) -> R<Top> {
        self.parse(src)
    }

    // ----- strings -----

    /// At '"': scans a string, decoding it into `strbuf` only when needed.
    #[inline]
    fn string(&mut self, c: &mut Cur) -> R<StrRef> {
        c.i += 1;
        let start = c.i;
        let s = c.s;
        let mut i = start;
        let mut non_ascii = false;
        loop {
            i = find_special(s, i);
            let b = match s.get(i) {
                Some(&b) => b,
                None => return Err(NotJson),
            };
            if b == b'"' {
                c.i = i + 1;
                if non_ascii && std::str::from_utf8(&s[start..i]).is_err() {
                    let at = self.strbuf.len();
                    let lossy = String::from_utf8_lossy(&s[start..i]);
                    self.strbuf.extend_from_slice(lossy.as_bytes());
                    return Ok(StrRef { start: at as u32, len: (self.strbuf.len() - at) as u32, decoded: true });
                }
                return Ok(StrRef { start: start as u32, len: (i - start) as u32, decoded: false });
            } else if b == b'\\' {
                c.i = i;
                return self.string_slow(c, start);
            } else if b < 0x20 {
                return Err(NotJson);
            } else {
                // >= 0x80
                non_ascii = true;
                self.non_ascii = true;
                i += 1;
            }
        }
    }

    /// Decodes a string with escapes into `strbuf`; `c.i` is at the first '\\', the string began at `start`.
    #[cold]
    fn string_slow(&mut self, c: &mut Cur, start: usize) -> R<StrRef> {
        let at = self.strbuf.len();
        let s = c.s;
        self.strbuf.extend_from_slice(&s[start..c.i]);
        let mut raw_non_ascii = s[start..c.i].iter().any(|&b| b >= 0x80);
        self.non_ascii |= raw_non_ascii;
        let mut pending_high: Option<u32> = None;
        loop {
            let b = c.peek();
            match b {
                b'"' => {
                    c.i += 1;
                    break;
                }
                b'\\' => {
                    let e = s.get(c.i + 1).copied().unwrap_or(0);
                    c.i += 2;
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err(NotJson),
                    };
                    if let Some(ch) = simple {
                        if pending_high.take().is_some() {
                            push_utf8(&mut self.strbuf, 0xFFFD);
                        }
                        self.strbuf.push(ch);
                        continue;
                    }
                    let mut u = 0u32;
                    for k in 0..4 {
                        u = u * 16 + hexval(s.get(c.i + k).copied().unwrap_or(0)).ok_or(NotJson)?;
                    }
                    c.i += 4;
                    if (0xD800..0xDC00).contains(&u) {
                        if pending_high.replace(u).is_some() {
                            push_utf8(&mut self.strbuf, 0xFFFD);
                        }
                    } else if (0xDC00..0xE000).contains(&u) {
                        match pending_high.take() {
                            Some(h) => push_utf8(&mut self.strbuf, 0x10000 + ((h - 0xD800) << 10) + (u - 0xDC00)),
                            None => push_utf8(&mut self.strbuf, 0xFFFD),
                        }
                    } else {
                        if pending_high.take().is_some() {
                            push_utf8(&mut self.strbuf, 0xFFFD);
                        }
                        push_utf8(&mut self.strbuf, u);
                    }
                }
                0 if c.i >= s.len() => return Err(NotJson),
                b if b < 0x20 => return Err(NotJson),
                b => {
                    if pending_high.take().is_some() {
                        push_utf8(&mut self.strbuf, 0xFFFD);
                    }
                    if b >= 0x80 {
                        raw_non_ascii = true;
                        self.non_ascii = true;
                    }
                    self.strbuf.push(b);
                    c.i += 1;
                }
            }
        }
        if pending_high.is_some() {
            push_utf8(&mut self.strbuf, 0xFFFD);
        }
        if raw_non_ascii && std::str::from_utf8(&self.strbuf[at..]).is_err() {
            let fixed = String::from_utf8_lossy(&self.strbuf[at..]).into_owned();
            self.strbuf.truncate(at);
            self.strbuf.extend_from_slice(fixed.as_bytes());
        }
        Ok(StrRef { start: at as u32, len: (self.strbuf.len() - at) as u32, decoded: true })
    }

    /// At '"': validates a string without decoding it.
    fn skip_string(&mut self, c: &mut Cur) -> R<()> {
        c.i += 1;
        let s = c.s;
        let mut i = c.i;
        loop {
            i = find_special(s, i);
            match s.get(i) {
                None => return Err(NotJson),
                Some(b'"') => {
                    c.i = i + 1;
                    return Ok(());
                }
                Some(b'\\') => match s.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u') => {
                        for k in 0..4 {
                            hexval(s.get(i + 2 + k).copied().unwrap_or(0)).ok_or(NotJson)?;
                        }
                        i += 6;
                    }
                    _ => return Err(NotJson),
                },
                Some(&b) if b < 0x20 => return Err(NotJson),
                Some(&b) => {
                    if b >= 0x80 {
                        self.non_ascii = true;
                    }
                    i += 1
                }
            }
        }
    }

    // ----- other values -----

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(c: &mut Cur) -> R<()> {
        if c.peek() == b'-' {
            c.i += 1;
        }
        match c.peek() {
            b'0' => c.i += 1,
            b'1'..=b'9' => {
                while c.peek().is_ascii_digit() {
                    c.i += 1;
                }
            }
            _ => return Err(NotJson),
        }
        if c.peek() == b'.' {
            c.i += 1;
            if !c.peek().is_ascii_digit() {
                return Err(NotJson);
            }
            while c.peek().is_ascii_digit() {
                c.i += 1;
            }
        }
        if c.peek() | 0x20 == b'e' {
            c.i += 1;
            if c.peek() == b'+' || c.peek() == b'-' {
                c.i += 1;
            }
            if !c.peek().is_ascii_digit() {
                return Err(NotJson);
            }
            while c.peek().is_ascii_digit() {
                c.i += 1;
            }
        }
        Ok(())
    }

    fn literal(c: &mut Cur, lit: &[u8]) -> R<()> {
        if c.s.get(c.i..c.i + lit.len()) == Some(lit) {
            c.i += lit.len();
            Ok(())
        } else {
            Err(NotJson)
        }
    }

    /// Any value: strings are captured, containers validated and skipped.
    fn value(&mut self, c: &mut Cur) -> R<Val> {
        match c.peek() {
            b'"' => Ok(Val::Str(self.string(c)?)),
            b'{' => {
                self.skip_container(c)?;
                Ok(Val::Obj)
            }
            b'[' => {
                self.skip_container(c)?;
                Ok(Val::Arr)
            }
            b't' => Self::literal(c, b"true").map(|_| Val::Bool(true)),
            b'f' => Self::literal(c, b"false").map(|_| Val::Bool(false)),
            b'n' => Self::literal(c, b"null").map(|_| Val::Null),
            _ => Self::number(c).map(|_| Val::Num),
        }
    }

    /// At '{' or '[': validates the whole container iteratively (no depth limit but memory).
    fn skip_container(&mut self, c: &mut Cur) -> R<()> {
        const OBJ: u8 = 1;
        const ARR: u8 = 2;
        let base = self.stack.len();
        let res = (|| -> R<()> {
            loop {
                // A value starts here.
                let mut closed = false;
                match c.peek() {
                    b'{' => {
                        c.i += 1;
                        c.ws();
                        if c.peek() == b'}' {
                            c.i += 1;
                            closed = true;
                        } else {
                            self.stack.push(OBJ);
                            if c.peek() != b'"' {
                                return Err(NotJson);
                            }
                            self.skip_string(c)?;
                            c.ws();
                            c.eat(b':')?;
                            c.ws();
                        }
                    }
                    b'[' => {
                        c.i += 1;
                        c.ws();
                        if c.peek() == b']' {
                            c.i += 1;
                            closed = true;
                        } else {
                            self.stack.push(ARR);
                        }
                    }
                    b'"' => {
                        self.skip_string(c)?;
                        closed = true;
                    }
                    b't' => {
                        Self::literal(c, b"true")?;
                        closed = true;
                    }
                    b'f' => {
                        Self::literal(c, b"false")?;
                        closed = true;
                    }
                    b'n' => {
                        Self::literal(c, b"null")?;
                        closed = true;
                    }
                    _ => {
                        Self::number(c)?;
                        closed = true;
                    }
                }
                if !closed {
                    continue;
                }
                // After a complete value: close containers or move to the next element.
                loop {
                    if self.stack.len() == base {
                        return Ok(());
                    }
                    c.ws();
                    let top = self.stack[self.stack.len() - 1];
                    match c.peek() {
                        b',' => {
                            c.i += 1;
                            c.ws();
                            if top == OBJ {
                                if c.peek() != b'"' {
                                    return Err(NotJson);
                                }
                                self.skip_string(c)?;
                                c.ws();
                                c.eat(b':')?;
                                c.ws();
                            }
                            break;
                        }
                        b'}' if top == OBJ => {
                            c.i += 1;
                            self.stack.pop();
                        }
                        b']' if top == ARR => {
                            c.i += 1;
                            self.stack.pop();
                        }
                        _ => return Err(NotJson),
                    }
                }
            }
        })();
        self.stack.truncate(base);
        res
    }

    // ----- schema -----

    /// Iterates the members of an object at '{', calling `f(self, key, cursor)` with the cursor at the value.
    #[inline(always)]
    fn members(&mut self, c: &mut Cur, mut f: impl FnMut(&mut Self, StrRef, &mut Cur) -> R<()>) -> R<()> {
        c.i += 1;
        c.ws();
        if c.peek() == b'}' {
            c.i += 1;
            return Ok(());
        }
        loop {
            if c.peek() != b'"' {
                return Err(NotJson);
            }
            let k = self.string(c)?;
            c.ws();
            c.eat(b':')?;
            c.ws();
            f(self, k, c)?;
            c.ws();
            match c.peek() {
                b',' => {
                    c.i += 1;
                    c.ws();
                }
                b'}' => {
                    c.i += 1;
                    return Ok(());
                }
                _ => return Err(NotJson),
            }
        }
    }

    /// Iterates the elements of an array at '[', calling `f(self, cursor)` with the cursor at each element.
    #[inline(always)]
    fn elements(&mut self, c: &mut Cur, mut f: impl FnMut(&mut Self, &mut Cur) -> R<()>) -> R<()> {
        c.i += 1;
        c.ws();
        if c.peek() == b']' {
            c.i += 1;
            return Ok(());
        }
        loop {
            f(self, c)?;
            c.ws();
            match c.peek() {
                b',' => {
                    c.i += 1;
                    c.ws();
                }
                b']' => {
                    c.i += 1;
                    return Ok(());
                }
                _ => return Err(NotJson),
            }
        }
    }

    fn key<'a>(&'a self, src: &'a [u8], k: StrRef) -> &'a [u8] {
        self.bytes(src, k)
    }

    /// One event object at '{', appended to `events`.
    fn event(&mut self, c: &mut Cur) -> R<()> {
        // Built in place in `events` (taken out meanwhile: the members only use the other pools).
        let mut events = std::mem::take(&mut self.events);
        events.push(EventRec { is_obj: true, ..EventRec::default() });
        let r = match events.last_mut() {
            Some(ev) => self.event_members(c, ev),
            None => Err(NotJson),
        };
        self.events = events;
        r
    }

    fn event_members(&mut self, c: &mut Cur, ev: &mut EventRec) -> R<()> {
        // `members`, with each key first matched against the keys that follow the previous one in
        // real frames (`"key":` compared as words); any other key takes the general path.
        c.i += 1;
        c.ws();
        if c.peek() == b'}' {
            c.i += 1;
            return Ok(());
        }
        let mut prev = Key::Start;
        loop {
            let s = c.s;
            let key = match next_keys(prev).iter().find(|(_, lit)| lit.at(s, c.i)) {
                Some(&(k, lit)) => {
                    c.i += lit.len;
                    c.ws();
                    k
                }
                None => {
                    if c.peek() != b'"' {
                        return Err(NotJson);
                    }
                    let r = self.string(c)?;
                    c.ws();
                    c.eat(b':')?;
                    c.ws();
                    Key::of(self.bytes(s, r))
                }
            };
            self.member(ev, key, c)?;
            prev = key;
            c.ws();
            match c.peek() {
                b',' => {
                    c.i += 1;
                    c.ws();
                }
                b'}' => {
                    c.i += 1;
                    return Ok(());
                }
                _ => return Err(NotJson),
            }
        }
    }

    /// The value of member `key` of an event, at the cursor.
    #[inline(always)]
    fn member(&mut self, ev: &mut EventRec, key: Key, c: &mut Cur) -> R<()> {
        let slot = match key {
            // (Results written in place: returned through the stack they are copied in pieces
            // that defeat store forwarding.)
            Key::Bids => return self.levels(c, true, &mut ev.bids),
            Key::Asks => return self.levels(c, false, &mut ev.asks),
            Key::PriceChanges => return self.entries(c, &mut ev.price_changes),
            Key::Changes => return self.entries(c, &mut ev.changes),
            Key::AssetsIds => return self.id_list(c).map(|i| ev.assets_ids = i),
            Key::Start | Key::Other => return self.value(c).map(|_| ()),
            Key::EventType => &mut ev.event_type,
            Key::AssetId => &mut ev.asset_id,
            Key::Market => &mut ev.market,
            Key::Timestamp => &mut ev.timestamp,
            Key::Hash => &mut ev.hash,
            Key::TickSize => &mut ev.tick_size,
            Key::LastTradePrice => &mut ev.last_trade_price,
            Key::NewTickSize => &mut ev.new_tick_size,
            Key::Price => &mut ev.price,
            Key::Size => &mut ev.size,
            Key::Side => &mut ev.side,
            Key::MinOrderSize => &mut ev.min_order_size,
            Key::NegRisk => &mut ev.neg_risk,
        };
        // A plain string (the usual case) without the general string scanner.
        if c.peek() == b'"' {
            if let Some(end) = plain_string_end(c.s, c.i + 1) {
                *slot = Val::Str(StrRef { start: (c.i + 1) as u32, len: (end - c.i - 1) as u32, decoded: false });
                c.i = end + 1;
                return Ok(());
            }
        }
        *slot = self.value(c)?;
        Ok(())
    }

    /// A `bids` (ascending) or `asks` (descending) value.
    fn levels(&mut self, c: &mut Cur, ascending: bool, out: &mut Levels) -> R<()> {
        if c.peek() != b'[' {
            self.value(c)?;
            *out = Levels { state: ArrState::NotArray, ..Levels::default() };
            return Ok(());
        }
        let start = self.levels.len() as u32;
        *out = Levels { state: ArrState::Array, start, end: start, ..Levels::default() };
        // The previous valid level's key; the sentinels (keys are in 1..10^9) never clash.
        let mut prev: u64 = if ascending { 0 } else { u64::MAX };
        // `elements`, unrolled around the fast path of a level.
        c.i += 1;
        c.ws();
        if c.peek() == b']' {
            c.i += 1;
            return Ok(());
        }
        loop {
            out.count += 1;
            let r = if let Some((l, next)) = fast_level(c.s, c.i) {
                c.i = next;
                Ok(l)
            } else if c.peek() == b'{' {
                self.level(c)?
            } else {
                self.value(c)?;
                Err(Fault::Shape)
            };
            match r {
                Ok(l) => {
                    let key = l.key;
                    if (ascending && key <= prev) || (!ascending && key >= prev) {
                        out.unordered = true;
                        if out.fault.is_none() {
                            out.fault = Some(Fault::Unordered);
                        }
                    }
                    prev = key;
                    if !l.size.is_zero() {
                        self.levels.push(l);
                    }
                }
                Err(f) => {
                    if out.fault.is_none() {
                        out.fault = Some(f);
                    }
                }
            }
            c.ws();
            match c.peek() {
                b',' => {
                    c.i += 1;
                    c.ws();
                }
                b']' => {
                    c.i += 1;
                    break;
                }
                _ => return Err(NotJson),
            }
        }
        out.end = self.levels.len() as u32;
        Ok(())
    }

    /// One `{price, size}` level at '{'. Syntax errors are `Err(NotJson)`; the inner result is the level or its fault.
    fn level(&mut self, c: &mut Cur) -> R<Result<Level, Fault>> {
        // None = absent, Some(None) = present but invalid.
        let mut price: Option<Option<Dec>> = None;
        let mut size: Option<Option<Dec>> = None;
        let src = c.s;
        self.members(c, |p, k, c| {
            let key = p.key(src, k);
            let which = match key {
                b"price" => 1,
                b"size" => 2,
                _ => 0,
            };
            if which != 0 && c.peek() == b'"' {
                let r = p.string(c)?;
                let b = p.bytes(src, r);
                if which == 1 {
                    price = Some(Dec::parse_price(b));
                } else {
                    size = Some(Dec::parse(b));
                }
            } else {
                p.value(c)?;
                if which == 1 {
                    price = Some(None);
                } else if which == 2 {
                    size = Some(None);
                }
            }
            Ok(())
        })?;
        // Like the TS twin: an absent price or size is an invalid decimal too.
        Ok(match (price.flatten(), size.flatten()) {
            (Some(price), Some(size)) => Ok(Level::new(price, size)),
            _ => Err(Fault::Decimal),
        })
    }

    fn entries(&mut self, c: &mut Cur, out: &mut Entries) -> R<()> {
        if c.peek() != b'[' {
            self.value(c)?;
            *out = Entries { state: ArrState::NotArray, ..Entries::default() };
            return Ok(());
        }
        let start = self.entries.len() as u32;
        self.elements(c, |p, c| {
            if let Some(next) = fast_entry(c.s, c.i, &mut p.entries) {
                c.i = next;
            } else if c.peek() == b'{' {
                let e = p.entry(c)?;
                p.entries.push(e);
            } else {
                p.value(c)?;
                p.entries.push(EntryRec::default());
            }
            Ok(())
        })?;
        *out = Entries { state: ArrState::Array, start, end: self.entries.len() as u32 };
        Ok(())
    }

    fn entry(&mut self, c: &mut Cur) -> R<EntryRec> {
        let mut e = EntryRec { is_obj: true, ..EntryRec::default() };
        let src = c.s;
        self.members(c, |p, k, c| {
            let slot = match p.key(src, k) {
                b"asset_id" => Some(&mut e.asset_id),
                b"price" => Some(&mut e.price),
                b"size" => Some(&mut e.size),
                b"side" => Some(&mut e.side),
                b"hash" => Some(&mut e.hash),
                b"best_bid" => Some(&mut e.best_bid),
                b"best_ask" => Some(&mut e.best_ask),
                _ => None,
            };
            let v = p.value(c)?;
            if let Some(slot) = slot {
                *slot = v;
            }
            Ok(())
        })?;
        Ok(e)
    }

    fn id_list(&mut self, c: &mut Cur) -> R<Ids> {
        if c.peek() != b'[' {
            self.value(c)?;
            return Ok(Ids { state: ArrState::NotArray, ..Ids::default() });
        }
        let start = self.ids.len() as u32;
        let mut all = true;
        self.elements(c, |p, c| {
            match p.value(c)? {
                Val::Str(r) => p.ids.push(r),
                _ => all = false,
            }
            Ok(())
        })?;
        Ok(Ids { state: ArrState::Array, start, end: self.ids.len() as u32, all_strings: all })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        Parser::default().parse(s.as_bytes()).is_ok()
    }

    #[test]
    fn json_grammar_like_json_parse() {
        for s in [
            "{}",
            "[]",
            " [ ] ",
            "0",
            "-0",
            "1.5e-3",
            "\"x\"",
            "null",
            "true",
            "[1,[2,{\"a\":[{}]}]]",
            "{\"a\":1,\"a\":2}",
            "\"\\u00e9\\ud800\"",
            "[\"\\/\\b\\f\\n\\r\\t\"]",
            "{\"k\":\"é\"}",
            "\t\n\r {\"x\" : [ 1 , 2 ] }\n",
        ] {
            assert!(ok(s), "{s:?} should be valid");
        }
        for s in [
            "",
            " ",
            "{",
            "[",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "--1",
            "NaN",
            "[1 2]",
            "{\"a\" 1}",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"a\nb\"",
            "'a'",
            "[]]",
            "{}{}",
            "tru",
            "nul",
            "\u{feff}{}",
            "[1]\u{a0}",
            "\"abc",
            "{\"a\":[}",
            "[{]}",
        ] {
            assert!(!ok(s), "{s:?} should be invalid");
        }
        // Deep nesting is fine (no recursion).
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(ok(&format!("[{{\"x\":{deep}}}]")));
        assert!(!ok(&format!("[{{\"x\":{}}}]", "[".repeat(100_000))));
    }

    #[test]
    fn strings_decode_and_last_key_wins() {
        let src = br#"{"event_type":"bo\u006fk","asset_id":"1","asset_id":"2","market":"\ud83d\ude00\ud800x"}"#;
        let mut p = Parser::default();
        assert_eq!(p.parse(src), Ok(Top::Object));
        let ev = p.events[0];
        let s = |v: Val| match v {
            Val::Str(r) => String::from_utf8(p.bytes(src, r).to_vec()).unwrap(),
            _ => panic!(),
        };
        assert_eq!(s(ev.event_type), "book");
        assert_eq!(s(ev.asset_id), "2");
        assert_eq!(s(ev.market), "😀\u{FFFD}x");
        // Invalid UTF-8 is bad JSON (strict decoding), valid non-ASCII is fine.
        assert!(p.parse(b"{\"market\":\"a\xffb\"}").is_err());
        assert!(p.parse(b"{\"a\xff\":1}").is_err());
        assert!(p.parse(b"{\"x\":[\"\xed\xa0\x80\"]}").is_err());
        assert!(p.parse("{\"x\":[\"é😀\"],\"m\":\"é\"}".as_bytes()).is_ok());
        assert!(p.parse(b"{\"a\":1}\xff").is_err());
    }

    #[test]
    fn levels_faults_and_order() {
        let mut p = Parser::default();
        let src = br#"{"bids":[{"price":"0.1","size":"1"},{"price":"0.2","size":"0"},{"price":"0.3","size":"2"}],"asks":[{"price":"0.5","size":"1"},{"price":"0.6","size":"1"}]}"#;
        p.parse(src).unwrap();
        let ev = p.events[0];
        assert_eq!(ev.bids.end - ev.bids.start, 2);
        assert!(!ev.bids.unordered && ev.bids.fault.is_none());
        assert!(ev.asks.unordered);
        assert_eq!(ev.asks.fault, Some(Fault::Unordered));
        let src = br#"{"bids":[{"price":"0.1"},{"price":1,"size":"1"}],"asks":[5,{"price":"1","size":"1"}]}"#;
        p.parse(src).unwrap();
        let ev = p.events[0];
        assert_eq!(ev.bids.fault, Some(Fault::Decimal));
        assert_eq!(ev.asks.fault, Some(Fault::Shape));
        let src = br#"{"bids":[{"price":"1","size":"1"}],"asks":{}}"#;
        p.parse(src).unwrap();
        assert_eq!(p.events[0].bids.fault, Some(Fault::Decimal));
        assert_eq!(p.events[0].asks.state, ArrState::NotArray);
    }

    /// Everything a parse produced, with strings decoded (spans differ between two texts).
    fn canon(p: &Parser, src: &[u8], top: R<Top>) -> String {
        use std::fmt::Write;
        let mut out = format!("{top:?}\n");
        let v = |v: Val| match v {
            Val::Str(r) => format!("S{:?}", String::from_utf8_lossy(p.bytes(src, r))),
            other => format!("{other:?}"),
        };
        if top.is_err() {
            return out;
        }
        for ev in &p.events {
            let vals = [
                ev.event_type,
                ev.asset_id,
                ev.market,
                ev.timestamp,
                ev.hash,
                ev.tick_size,
                ev.last_trade_price,
                ev.new_tick_size,
                ev.price,
                ev.size,
                ev.side,
                ev.min_order_size,
                ev.neg_risk,
            ];
            writeln!(out, "event {} {:?}", ev.is_obj, vals.map(v)).unwrap();
            for l in [&ev.bids, &ev.asks] {
                writeln!(
                    out,
                    " levels {:?} {:?} {} {} {:?}",
                    l.state,
                    l.fault,
                    l.unordered,
                    l.count,
                    &p.levels[l.start as usize..l.end as usize]
                )
                .unwrap();
            }
            for e in [&ev.price_changes, &ev.changes] {
                writeln!(out, " entries {:?}", e.state).unwrap();
                for e in &p.entries[e.start as usize..e.end as usize] {
                    let vals = [e.asset_id, e.price, e.size, e.side, e.hash, e.best_bid, e.best_ask];
                    writeln!(out, "  {} {:?}", e.is_obj, vals.map(v)).unwrap();
                }
            }
            let ids: Vec<String> = p.ids[ev.assets_ids.start as usize..ev.assets_ids.end as usize]
                .iter()
                .map(|&r| v(Val::Str(r)))
                .collect();
            writeln!(out, " ids {:?} {} {ids:?}", ev.assets_ids.state, ev.assets_ids.all_strings).unwrap();
        }
        out
    }

    /// The same JSON with every object key's first character written as a `\u` escape: no
    /// fast path (level, entry, predicted key) matches it, so it takes the general path.
    fn escape_keys(src: &str) -> String {
        let b = src.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'"' {
                // A string: find its end, then see whether a ':' follows (a key).
                let mut j = i + 1;
                while b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let mut k = j + 1;
                while b[k] == b' ' {
                    k += 1;
                }
                let text = &src[i + 1..j];
                if b[k] == b':' && !text.is_empty() && text.as_bytes()[0].is_ascii_alphanumeric() {
                    write!(&mut out, "\"\\u{:04x}{}\"", text.as_bytes()[0], &text[1..]).unwrap();
                } else {
                    out.push_str(&src[i..=j]);
                }
                i = j + 1;
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        }
        out
    }
    use std::fmt::Write as _;

    #[test]
    // The generator closures take each other as `dyn FnMut` arguments; an alias would need
    // higher-ranked lifetimes for no gain in a test.
    #[allow(clippy::type_complexity)]
    fn fast_paths_agree_with_the_general_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket");
        let mut frames: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let nums = [
            "0.5",
            "0.50",
            ".5",
            "5.",
            "0",
            "1",
            "0.999999999",
            "0.0000000001",
            "13354.28",
            "11005549.53",
            "123456789012",
            "1234567890123456",
            "9007199254740991",
            "9007199254740992",
            "0.12345678",
            "12345678.123456789",
            "1e5",
            "-1",
            "",
            "0.5 ",
            "0.\\u0035",
            "00.5",
            "007",
            "0.001",
            "6105440.35",
            "99999999.9999999",
        ];
        for _ in 0..3000 {
            let mut num = |rnd: &mut dyn FnMut(u64) -> u64| -> String {
                if rnd(3) == 0 {
                    nums[rnd(nums.len() as u64) as usize].to_string()
                } else {
                    format!("0.{:0w$}", rnd(1000), w = 1 + rnd(4) as usize)
                }
            };
            let side = |rnd: &mut dyn FnMut(u64) -> u64, num: &mut dyn FnMut(&mut dyn FnMut(u64) -> u64) -> String| {
                let n = rnd(6);
                let ls: Vec<String> =
                    (0..n).map(|_| format!(r#"{{"price":"{}","size":"{}"}}"#, num(rnd), num(rnd))).collect();
                format!("[{}]", ls.join(","))
            };
            let b = side(&mut rnd, &mut num);
            let a = side(&mut rnd, &mut num);
            frames.push(format!(
                r#"{{"market":"0xm","asset_id":"1001","bids":{b},"asks":{a},"hash":"h","timestamp":"{}","event_type":"book"}}"#,
                num(&mut rnd)
            ));
            let es: Vec<String> = (0..1 + rnd(3))
                .map(|_| {
                    format!(
                        r#"{{"asset_id":"100{}","price":"{}","size":"{}","side":"{}","hash":"","best_bid":"{}","best_ask":"{}"}}"#,
                        rnd(3),
                        num(&mut rnd),
                        num(&mut rnd),
                        ["BUY", "SELL", "X"][rnd(3) as usize],
                        num(&mut rnd),
                        num(&mut rnd)
                    )
                })
                .collect();
            frames.push(format!(
                r#"[{{"market":"0xm","price_changes":[{}],"timestamp":"{}","event_type":"price_change"}}]"#,
                es.join(","),
                num(&mut rnd)
            ));
        }
        let (mut p, mut q) = (Parser::default(), Parser::default());
        for f in &frames {
            let g = escape_keys(f);
            assert_ne!(f, &g);
            let (tf, tg) = (p.parse(f.as_bytes()), q.parse(g.as_bytes()));
            assert_eq!(canon(&p, f.as_bytes(), tf), canon(&q, g.as_bytes(), tg), "{f}");
        }
    }

    #[test]
    fn never_panics_on_truncations_and_mutations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket");
        let mut p = Parser::default();
        for f in std::fs::read_dir(&dir).expect("fixtures directory") {
            let path = f.unwrap().path();
            if !path.is_file() {
                continue; // rest/: REST bodies, not frames
            }
            let data = std::fs::read(&path).unwrap();
            for cut in 0..data.len().min(700) {
                let _ = p.parse(&data[..cut]);
            }
            let mut m = data.clone();
            for i in (0..m.len()).step_by(7) {
                let keep = m[i];
                for b in [b'"', b'\\', b'{', b']', 0, 0xff, b'u', b','] {
                    m[i] = b;
                    let _ = p.parse(&m);
                }
                m[i] = keep;
            }
        }
    }
}
