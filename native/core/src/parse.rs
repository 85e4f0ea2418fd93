//! The frame parser: a hand-written, validating JSON scanner directed by the shape of market-channel
//! events. One pass over the frame fills reusable pools (no per-level heap allocation once warm):
//! top-level events ([`EventRec`]), book levels already parsed to fixed point ([`Level`]),
//! `price_changes`/`changes` entries ([`EntryRec`]) and `assets_ids` strings.
//!
//! Semantics follow `JSON.parse` exactly (RFC 8259 grammar, whitespace = space/tab/LF/CR, any nesting
//! depth, duplicate keys: the last one wins, lone surrogate escapes become U+FFFD as Node's UTF-8
//! encoder writes them). Invalid UTF-8 inside strings is replaced like `TextDecoder` (WHATWG,
//! maximal subparts); bytes >= 0x80 outside strings are a syntax error. Nothing here panics on any
//! input: every index is checked (`peek` returns 0 past the end, which no rule accepts).

use crate::book::Level;
use crate::decimal::Dec;

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

type R<T> = Result<T, ()>;

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
            Err(())
        }
    }
}

const HI: u64 = 0x8080_8080_8080_8080;
const LO: u64 = 0x0101_0101_0101_0101;

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

    /// Parses one frame. `Err(())` = not valid JSON (then the pools hold garbage).
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
                let ev = self.event(&mut c)?;
                self.events.push(ev);
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
                            let ev = self.event(&mut c)?;
                            self.events.push(ev);
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
                            _ => return Err(()),
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
            return Err(());
        }
        // Bytes are decoded as strict UTF-8 (TextDecoder fatal): invalid UTF-8 is bad JSON.
        // Outside strings any byte >= 0x80 is already a syntax error.
        if self.non_ascii && std::str::from_utf8(src).is_err() {
            return Err(());
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
            while i + 8 <= s.len() {
                let w = u64::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7]]);
                let m = special8(w);
                if m == 0 {
                    i += 8;
                } else {
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            let b = match s.get(i) {
                Some(&b) => b,
                None => return Err(()),
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
                return Err(());
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
                        _ => return Err(()),
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
                        u = u * 16 + hexval(s.get(c.i + k).copied().unwrap_or(0)).ok_or(())?;
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
                0 if c.i >= s.len() => return Err(()),
                b if b < 0x20 => return Err(()),
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
            while i + 8 <= s.len() {
                let w = u64::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7]]);
                let m = stop8(w);
                if w & HI != 0 {
                    self.non_ascii = true;
                }
                if m == 0 {
                    i += 8;
                } else {
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            match s.get(i) {
                None => return Err(()),
                Some(b'"') => {
                    c.i = i + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    match s.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            for k in 0..4 {
                                hexval(s.get(i + 2 + k).copied().unwrap_or(0)).ok_or(())?;
                            }
                            i += 6;
                        }
                        _ => return Err(()),
                    }
                }
                Some(&b) if b < 0x20 => return Err(()),
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
            _ => return Err(()),
        }
        if c.peek() == b'.' {
            c.i += 1;
            if !c.peek().is_ascii_digit() {
                return Err(());
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
                return Err(());
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
            Err(())
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
                                return Err(());
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
                                    return Err(());
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
                        _ => return Err(()),
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
                return Err(());
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
                _ => return Err(()),
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
                _ => return Err(()),
            }
        }
    }

    fn key<'a>(&'a self, src: &'a [u8], k: StrRef) -> &'a [u8] {
        self.bytes(src, k)
    }

    fn event(&mut self, c: &mut Cur) -> R<EventRec> {
        let mut ev = EventRec { is_obj: true, ..EventRec::default() };
        let src = c.s;
        self.members(c, |p, k, c| {
            let key = p.key(src, k);
            match key {
                b"bids" => ev.bids = p.levels(c, true)?,
                b"asks" => ev.asks = p.levels(c, false)?,
                b"price_changes" => ev.price_changes = p.entries(c)?,
                b"changes" => ev.changes = p.entries(c)?,
                b"assets_ids" => ev.assets_ids = p.id_list(c)?,
                _ => {
                    let slot = match key {
                        b"event_type" => Some(&mut ev.event_type),
                        b"asset_id" => Some(&mut ev.asset_id),
                        b"market" => Some(&mut ev.market),
                        b"timestamp" => Some(&mut ev.timestamp),
                        b"hash" => Some(&mut ev.hash),
                        b"tick_size" => Some(&mut ev.tick_size),
                        b"last_trade_price" => Some(&mut ev.last_trade_price),
                        b"new_tick_size" => Some(&mut ev.new_tick_size),
                        b"price" => Some(&mut ev.price),
                        b"size" => Some(&mut ev.size),
                        b"side" => Some(&mut ev.side),
                        b"min_order_size" => Some(&mut ev.min_order_size),
                        b"neg_risk" => Some(&mut ev.neg_risk),
                        _ => None,
                    };
                    let v = p.value(c)?;
                    if let Some(slot) = slot {
                        *slot = v;
                    }
                }
            }
            Ok(())
        })?;
        Ok(ev)
    }

    /// A `bids` (ascending) or `asks` (descending) value.
    fn levels(&mut self, c: &mut Cur, ascending: bool) -> R<Levels> {
        if c.peek() != b'[' {
            self.value(c)?;
            return Ok(Levels { state: ArrState::NotArray, ..Levels::default() });
        }
        let start = self.levels.len() as u32;
        let mut out = Levels { state: ArrState::Array, start, ..Levels::default() };
        let mut prev: Option<u64> = None;
        self.elements(c, |p, c| {
            out.count += 1;
            let r = if c.peek() == b'{' {
                p.level(c)?
            } else {
                p.value(c)?;
                Err(Fault::Shape)
            };
            match r {
                Ok(l) => {
                    let key = l.price.price_key();
                    if let Some(pk) = prev {
                        if (ascending && key <= pk) || (!ascending && key >= pk) {
                            out.unordered = true;
                            if out.fault.is_none() {
                                out.fault = Some(Fault::Unordered);
                            }
                        }
                    }
                    prev = Some(key);
                    if !l.size.is_zero() {
                        p.levels.push(l);
                    }
                }
                Err(f) => {
                    if out.fault.is_none() {
                        out.fault = Some(f);
                    }
                }
            }
            Ok(())
        })?;
        out.end = self.levels.len() as u32;
        Ok(out)
    }

    /// One `{price, size}` level at '{'. Syntax errors are `Err(())`; the inner result is the level or its fault.
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
            (Some(price), Some(size)) => Ok(Level { price, size }),
            _ => Err(Fault::Decimal),
        })
    }

    fn entries(&mut self, c: &mut Cur) -> R<Entries> {
        if c.peek() != b'[' {
            self.value(c)?;
            return Ok(Entries { state: ArrState::NotArray, ..Entries::default() });
        }
        let start = self.entries.len() as u32;
        self.elements(c, |p, c| {
            let e = if c.peek() == b'{' {
                p.entry(c)?
            } else {
                p.value(c)?;
                EntryRec::default()
            };
            p.entries.push(e);
            Ok(())
        })?;
        Ok(Entries { state: ArrState::Array, start, end: self.entries.len() as u32 })
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
            "{}", "[]", " [ ] ", "0", "-0", "1.5e-3", "\"x\"", "null", "true", "[1,[2,{\"a\":[{}]}]]",
            "{\"a\":1,\"a\":2}", "\"\\u00e9\\ud800\"", "[\"\\/\\b\\f\\n\\r\\t\"]", "{\"k\":\"é\"}",
            "\t\n\r {\"x\" : [ 1 , 2 ] }\n",
        ] {
            assert!(ok(s), "{s:?} should be valid");
        }
        for s in [
            "", " ", "{", "[", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "+1", "1e", "--1", "NaN",
            "[1 2]", "{\"a\" 1}", "\"\\x\"", "\"\\u12G4\"", "\"a\nb\"", "'a'", "[]]", "{}{}", "tru", "nul",
            "\u{feff}{}", "[1]\u{a0}", "\"abc", "{\"a\":[}", "[{]}",
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

    #[test]
    fn never_panics_on_truncations_and_mutations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket");
        let mut p = Parser::default();
        for f in std::fs::read_dir(&dir).expect("fixtures directory") {
            let path = f.unwrap().path();
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
