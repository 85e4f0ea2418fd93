//! Full-depth book of one side, stored in wire order: bids ascending, asks descending,
//! so the best level is always the last element.
//!
//! Levels are packed (docs/DESIGN.md section 5.7): 50,000 tokens with real-depth books hold some
//! nine million levels, and at 40 bytes per unpacked [`Level`] they alone would take 370 MB. A side
//! whose prices are all on the 10^-4 grid (every Polymarket tick size is) and written the way the
//! server writes them (`"0.52"`, or with one trailing zero, `"0.520"`) is *narrow*: 6 bytes per
//! level, the price as a 14-bit count of 10^-4 and the size as 30 bits of mantissa with up to 3
//! decimals (`"1234.56"`, `"3888"`); a size that does not fit (`"6105440.35"`, `"007"`, more
//! decimals) sits in the side's `sizes` list and its record holds the index. Any other price text
//! (`".5"`, `"0.12345"`, `"0.5000"`) turns the side *wide*: full [`Level`]s, 40 bytes each, until
//! the next snapshot. Texts come back exactly in both forms (the hash check needs them).

use crate::decimal::{Dec, POW10};

/// One price level with the exact texts of its price and size (the unpacked form: what the parser
/// produces and what readers of a side get).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// `price.price_key()`: every search and comparison of levels uses it.
    pub key: u64,
    pub price: Dec,
    pub size: Dec,
}

impl Level {
    #[inline(always)]
    pub fn new(price: Dec, size: Dec) -> Level {
        Level { key: price.price_key(), price, size }
    }
}

/// A narrow level: `[price, size low half, size high half]`.
///
/// `price`: bits 0..14 the price in units of 10^-4 (1..=9999), bit 14 one trailing zero written,
/// bit 15 the size is in `Extra::sizes`. `size` (32 bits): bits 0..30 mantissa, bits 30..32 scale
/// (0..=3 decimals), or the index into `Extra::sizes`.
type Rec = [u16; 3];

const P_MASK: u16 = 0x3fff;
const P_EXTRA_ZERO: u16 = 1 << 14;
const P_SIZE_OUT: u16 = 1 << 15;
/// Keys are in units of 10^-9; narrow prices in units of 10^-4.
const P_UNIT: u64 = 100_000;
const S_MANT_MASK: u32 = (1 << 30) - 1;
const S_MAX_SCALE: u8 = 3;
const POW10F: [f64; 4] = [1e0, 1e1, 1e2, 1e3];

/// Number of decimal digits of `v > 0`.
#[inline]
fn digits(v: u64) -> u32 {
    let mut n = 1;
    let mut p = 10u64;
    while n < 20 && v >= p {
        n += 1;
        p = p.wrapping_mul(10);
    }
    n
}

/// The narrow price bits of `p` (a level price, `0 < p < 1`), or `None` if the side must go wide
/// for it: `0.` then at most 4 significant decimals, with at most one trailing zero written.
#[inline(always)]
fn narrow_price(p: &Dec) -> Option<u16> {
    if p.int_digits != 1 || !p.point {
        return None;
    }
    let zero = p.mant.is_multiple_of(10);
    if p.scale <= 4 {
        let units = (p.mant * POW10[4 - p.scale as usize]) as u16;
        if !zero {
            Some(units)
        } else if !p.mant.is_multiple_of(100) {
            Some(units | P_EXTRA_ZERO)
        } else {
            None
        }
    } else if p.scale == 5 && zero && !p.mant.is_multiple_of(100) {
        Some((p.mant / 10) as u16 | P_EXTRA_ZERO)
    } else {
        None
    }
}

/// The 32 narrow size bits of `s`, or `None` when the size goes to the side's `sizes` list.
#[inline(always)]
fn narrow_size(s: &Dec) -> Option<u32> {
    if s.scale > S_MAX_SCALE || s.mant > S_MANT_MASK as u64 || s.point != (s.scale > 0) {
        return None;
    }
    // The plain form has `d` integer digits with 10^(d-1) <= integer part < 10^d (d = 1 for an
    // integer part of 0), i.e. 10^(d-1+scale) <= mant < 10^(d+scale): no division needed.
    let (d, sc) = (s.int_digits as usize, s.scale as usize);
    // mant < 2^30 < 10^10: at most 10 digits in all.
    if d == 0 || d + sc > 10 {
        return None;
    }
    let lo = if d == 1 { 0 } else { POW10[d - 1 + sc] };
    let hi = if d + sc == 10 { u64::MAX } else { POW10[d + sc] };
    if s.mant < lo || s.mant >= hi {
        return None;
    }
    Some(((s.scale as u32) << 30) | s.mant as u32)
}

#[inline(always)]
fn rec_key(r: &Rec) -> u64 {
    (r[0] & P_MASK) as u64 * P_UNIT
}

#[inline(always)]
fn rec_size_bits(r: &Rec) -> u32 {
    r[1] as u32 | (r[2] as u32) << 16
}

/// The exact price text of a record: the shortest text of its value, plus the flagged zero.
#[inline]
fn rec_price(r: &Rec) -> Dec {
    let mut mant = (r[0] & P_MASK) as u64;
    let mut scale = 4u8;
    // mant >= 1, so this stops.
    while mant.is_multiple_of(10) && scale > 1 {
        mant /= 10;
        scale -= 1;
    }
    if r[0] & P_EXTRA_ZERO != 0 {
        mant *= 10;
        scale += 1;
    }
    Dec { mant, int_digits: 1, scale, point: true }
}

/// A narrow size from its 32 bits.
#[inline]
fn size_from_bits(b: u32) -> Dec {
    let mant = (b & S_MANT_MASK) as u64;
    let scale = (b >> 30) as u8;
    let ip = mant / POW10[scale as usize];
    Dec { mant, int_digits: if ip == 0 { 1 } else { digits(ip) }, scale, point: scale > 0 }
}

/// What a side keeps beside its records; boxed and absent in the common case.
#[derive(Clone, Debug, Default)]
struct Extra {
    /// Sizes that do not fit a record, indexed by the record's size bits.
    sizes: Vec<Dec>,
    /// Indices of `sizes` no record refers to any more, for reuse.
    free: Vec<u32>,
    /// A wide side: every level in full (`recs` is empty).
    wide: Vec<Level>,
}

/// One side of a book, wire order (worst first, best last).
///
/// The side also tracks which of its best levels may differ from what was last published
/// (`dirty_lo..dirty_hi`, counted from the best level), so that a publish rewrites only those.
#[derive(Clone, Debug)]
pub struct Side {
    recs: Vec<Rec>,
    extra: Option<Box<Extra>>,
    /// Levels are in `extra.wide`, not `recs`.
    wide: bool,
    /// Bids: true (ascending). Asks: false (descending).
    pub ascending: bool,
    dirty_lo: u32,
    dirty_hi: u32,
}

impl Default for Side {
    fn default() -> Side {
        Side::new(false)
    }
}

/// `Ok(i)` if `key` is at `i`, else `Err(insertion point)`, in a slice in wire order.
///
/// Changes mostly touch the best levels, so the 8 best levels (the end of the slice) are
/// scanned first: a match there costs a few well-predicted compares instead of a binary search
/// whose every step is a dependent load and a coin-flip branch. Deeper keys: binary search.
#[inline(always)]
fn find_in<T>(v: &[T], key: u64, ascending: bool, key_of: impl Fn(&T) -> u64) -> Result<usize, usize> {
    let n = v.len();
    let top = n.min(8);
    for k in 0..top {
        let i = n - 1 - k;
        let at = key_of(&v[i]);
        if at == key {
            return Ok(i);
        }
        // The key lies between level i and the better level i + 1.
        if (at < key) == ascending {
            return Err(i + 1);
        }
    }
    let rest = &v[..n - top];
    if ascending {
        rest.binary_search_by(|l| key_of(l).cmp(&key))
    } else {
        rest.binary_search_by(|l| key.cmp(&key_of(l)))
    }
}

/// Grows `v` by an eighth (at least 4) when full, not by doubling: books are large and many, and
/// an insert already moves the worse levels.
#[inline(always)]
fn room<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 8).max(4));
    }
}

impl Side {
    pub fn new(ascending: bool) -> Side {
        Side { recs: Vec::new(), extra: None, wide: false, ascending, dirty_lo: 0, dirty_hi: u32::MAX }
    }

    /// A side holding `levels` (wire order).
    pub fn from_levels(ascending: bool, levels: &[Level]) -> Side {
        let mut s = Side::new(ascending);
        s.replace(levels);
        s
    }

    /// Number of levels.
    #[inline(always)]
    pub fn len(&self) -> usize {
        if self.wide {
            self.wide_levels().len()
        } else {
            self.recs.len()
        }
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the side holds full levels (a price text off the narrow forms).
    pub fn is_wide(&self) -> bool {
        self.wide
    }

    #[inline(always)]
    fn wide_levels(&self) -> &[Level] {
        self.extra.as_ref().map_or(&[], |e| &e.wide)
    }

    #[inline]
    fn out_size(&self, i: u32) -> Dec {
        // A record flags P_SIZE_OUT only with an entry written by `store_size`.
        self.extra.as_ref().map(|e| e.sizes[i as usize]).unwrap_or_default()
    }

    /// The level at wire position `i` (0 = worst), unpacked.
    #[inline]
    pub fn get(&self, i: usize) -> Level {
        if self.wide {
            return self.wide_levels()[i];
        }
        let r = &self.recs[i];
        let b = rec_size_bits(r);
        let size = if r[0] & P_SIZE_OUT != 0 { self.out_size(b) } else { size_from_bits(b) };
        Level { key: rec_key(r), price: rec_price(r), size }
    }

    /// Price and size of the level at wire position `i` as f64 (what `parseFloat` of the texts gives).
    #[inline]
    pub fn values(&self, i: usize) -> (f64, f64) {
        if self.wide {
            let l = &self.wide_levels()[i];
            return (l.price.to_f64(), l.size.to_f64());
        }
        let r = &self.recs[i];
        let b = rec_size_bits(r);
        // Units and powers of ten are exact, so each single division is the correctly rounded
        // value of the text, as `Dec::to_f64`.
        let price = (r[0] & P_MASK) as f64 / 1e4;
        let size = if r[0] & P_SIZE_OUT != 0 {
            self.out_size(b).to_f64()
        } else {
            (b & S_MANT_MASK) as f64 / POW10F[(b >> 30) as usize]
        };
        (price, size)
    }

    /// The levels in wire order, unpacked.
    pub fn iter(&self) -> impl Iterator<Item = Level> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Key of the best level (highest bid / lowest ask).
    #[inline(always)]
    pub fn best_key(&self) -> Option<u64> {
        if self.wide {
            self.wide_levels().last().map(|l| l.key)
        } else {
            self.recs.last().map(rec_key)
        }
    }

    /// Best level (highest bid / lowest ask).
    #[inline]
    pub fn best(&self) -> Option<Level> {
        let n = self.len();
        (n > 0).then(|| self.get(n - 1))
    }

    /// Bytes this side holds on the heap (capacities), for memory accounting and tests.
    pub fn heap_bytes(&self) -> usize {
        self.recs.capacity() * std::mem::size_of::<Rec>()
            + self.extra.as_ref().map_or(0, |e| {
                std::mem::size_of::<Extra>()
                    + e.sizes.capacity() * std::mem::size_of::<Dec>()
                    + e.free.capacity() * 4
                    + e.wide.capacity() * std::mem::size_of::<Level>()
            })
    }

    /// Number of sizes kept outside the records (texts that do not fit 32 bits).
    pub fn out_sizes(&self) -> usize {
        self.extra.as_ref().map_or(0, |e| e.sizes.len() - e.free.len())
    }

    /// The record's size bits for `size`, storing it outside when it does not fit. `old` is the
    /// record being replaced (its outside entry is reused or freed).
    #[inline]
    fn store_size(&mut self, size: &Dec, old: Option<Rec>) -> (u32, bool) {
        let old_out = old.filter(|r| r[0] & P_SIZE_OUT != 0).map(|r| rec_size_bits(&r));
        match narrow_size(size) {
            Some(b) => {
                if let Some(i) = old_out {
                    self.free_size(i);
                }
                (b, false)
            }
            None => (self.store_out(*size, old_out), true),
        }
    }

    #[inline(never)]
    fn store_out(&mut self, size: Dec, reuse: Option<u32>) -> u32 {
        let e = self.extra.get_or_insert_with(Box::default);
        let i = match reuse.or_else(|| e.free.pop()) {
            Some(i) => i,
            None => {
                e.sizes.push(Dec::default());
                (e.sizes.len() - 1) as u32
            }
        };
        e.sizes[i as usize] = size;
        i
    }

    #[inline(never)]
    fn free_size(&mut self, i: u32) {
        if let Some(e) = self.extra.as_mut() {
            e.free.push(i);
            if e.free.len() == e.sizes.len() && e.wide.is_empty() {
                self.extra = None;
            }
        }
    }

    /// Turns a narrow side into a wide one (a price text off the narrow forms arrived).
    #[inline(never)]
    fn widen(&mut self) {
        let levels: Vec<Level> = self.iter().collect();
        self.recs = Vec::new();
        let e = self.extra.get_or_insert_with(Box::default);
        e.sizes = Vec::new();
        e.free = Vec::new();
        e.wide = levels;
        self.wide = true;
    }

    /// Levels `lo..hi` (0 = best) may differ from the published ones.
    #[inline(always)]
    fn mark(&mut self, lo: usize, hi: u32) {
        self.dirty_lo = self.dirty_lo.min(lo as u32);
        self.dirty_hi = self.dirty_hi.max(hi);
    }

    /// Every level may differ from the published ones (e.g. the table memory was written elsewhere).
    pub fn mark_all(&mut self) {
        self.dirty_lo = 0;
        self.dirty_hi = u32::MAX;
    }

    /// The range of best-first positions below `published` (the number of levels about to be
    /// published) that may differ from what the last publish wrote.
    #[inline]
    pub fn dirty(&self, published: usize) -> std::ops::Range<usize> {
        let lo = (self.dirty_lo as usize).min(published);
        let hi = (self.dirty_hi as usize).min(published).max(lo);
        lo..hi
    }

    /// [`Side::dirty`], then the side counts as published.
    #[inline]
    pub fn take_dirty(&mut self, published: usize) -> std::ops::Range<usize> {
        let r = self.dirty(published);
        self.dirty_lo = u32::MAX;
        self.dirty_hi = 0;
        r
    }

    /// Replaces all levels. The record capacity is reused when it fits and trimmed when it is
    /// more than twice what the new book needs (a book that shrank should not pin its old size).
    pub fn replace(&mut self, levels: &[Level]) {
        self.clear();
        if self.recs.capacity() > 2 * levels.len() + 8 {
            self.recs.shrink_to(levels.len());
        }
        self.recs.reserve_exact(levels.len());
        for l in levels {
            let Some(p) = narrow_price(&l.price) else {
                return self.replace_wide(levels);
            };
            let r = match narrow_size(&l.size) {
                Some(b) => [p, b as u16, (b >> 16) as u16],
                None => {
                    let b = self.store_out(l.size, None);
                    [p | P_SIZE_OUT, b as u16, (b >> 16) as u16]
                }
            };
            self.recs.push(r);
        }
    }

    #[inline(never)]
    fn replace_wide(&mut self, levels: &[Level]) {
        self.recs = Vec::new();
        let e = self.extra.get_or_insert_with(Box::default);
        e.sizes = Vec::new();
        e.free = Vec::new();
        e.wide = levels.to_vec();
        self.wide = true;
    }

    /// Removes every level (the record capacity stays for the next snapshot).
    pub fn clear(&mut self) {
        self.recs.clear();
        self.extra = None;
        self.wide = false;
        self.mark_all();
    }

    /// Sets the absolute size at `price` (size 0 removes the level; removing a missing level is a no-op).
    pub fn set(&mut self, price: Dec, size: Dec) {
        let l = Level::new(price, size);
        if !self.wide {
            match narrow_price(&price) {
                Some(p) => return self.set_narrow(p, l),
                // Another text of a price may name a level held narrow ("0.300" for "0.30"):
                // removal goes by the key. Setting such a text widens the side.
                None if size.is_zero() => return self.remove_narrow(l.key),
                None => self.widen(),
            }
        }
        let ascending = self.ascending;
        let Some(e) = self.extra.as_mut() else { return };
        let v = &mut e.wide;
        let n = v.len();
        // Best-first positions that may differ afterwards.
        let (lo, hi) = match find_in(v, l.key, ascending, |l| l.key) {
            Ok(i) if size.is_zero() => {
                // A removal moves every worse level up by one.
                v.remove(i);
                (n - 1 - i, u32::MAX)
            }
            Ok(i) => {
                v[i] = l;
                (n - 1 - i, (n - i) as u32)
            }
            Err(_) if size.is_zero() => return,
            Err(i) => {
                // The new level is at best-first position n - i; every worse level moves down.
                room(v);
                v.insert(i, l);
                (n - i, u32::MAX)
            }
        };
        self.mark(lo, hi);
    }

    /// Removes the narrow level at `key`, if any.
    fn remove_narrow(&mut self, key: u64) {
        if let Ok(i) = find_in(&self.recs, key, self.ascending, rec_key) {
            self.remove_rec(i);
        }
    }

    /// Removes record `i`; every worse level moves up by one.
    #[inline]
    fn remove_rec(&mut self, i: usize) {
        let n = self.recs.len();
        let old = self.recs[i];
        if old[0] & P_SIZE_OUT != 0 {
            self.free_size(rec_size_bits(&old));
        }
        self.recs.remove(i);
        self.mark(n - 1 - i, u32::MAX);
    }

    #[inline]
    fn set_narrow(&mut self, p: u16, l: Level) {
        let n = self.recs.len();
        match find_in(&self.recs, l.key, self.ascending, rec_key) {
            Ok(i) => {
                let old = self.recs[i];
                if l.size.is_zero() {
                    self.remove_rec(i);
                } else {
                    let (b, out) = self.store_size(&l.size, Some(old));
                    self.recs[i] = [p | if out { P_SIZE_OUT } else { 0 }, b as u16, (b >> 16) as u16];
                    self.mark(n - 1 - i, (n - i) as u32);
                }
            }
            Err(i) => {
                if !l.size.is_zero() {
                    let (b, out) = self.store_size(&l.size, None);
                    room(&mut self.recs);
                    self.recs.insert(i, [p | if out { P_SIZE_OUT } else { 0 }, b as u16, (b >> 16) as u16]);
                    self.mark(n - i, u32::MAX);
                }
            }
        }
    }
}

/// True when both sides are non-empty and best bid >= best ask (locked counts as crossed).
pub fn crossed(bids: &Side, asks: &Side) -> bool {
    match (bids.best_key(), asks.best_key()) {
        (Some(b), Some(a)) => b >= a,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s.as_bytes()).unwrap()
    }

    fn prices(s: &Side) -> Vec<String> {
        s.iter().map(|l| l.price.text()).collect()
    }

    /// Every text comes back exactly, narrow or wide, with the values `Dec::to_f64` gives.
    #[test]
    fn packing_keeps_exact_texts() {
        let prices = [
            "0.5",
            "0.50",
            "0.500",
            ".5",
            "00.5",
            "0.001",
            "0.0010",
            "0.0001",
            "0.00010",
            "0.999",
            "0.9999",
            "0.12345",
            "0.123456789",
            "0.000000001",
            "0.9",
            "0.90",
            "0.05",
            "0.050",
        ];
        let sizes = [
            "1",
            "12",
            "0.5",
            ".5",
            "5.",
            "007",
            "1234.56",
            "1234.5",
            "1234.560",
            "1234.5600",
            "0.001",
            "0.0001",
            "1073741.823",
            "1073741.824",
            "6105440.35",
            "11005549.53",
            "1791125296863",
            "9007199254740991",
            "0.10",
            "10",
            "100.00",
        ];
        for p in prices {
            for s in sizes {
                let l = Level::new(d(p), d(s));
                for side in [Side::from_levels(true, &[l]), {
                    let mut x = Side::new(false);
                    x.set(d(p), d(s));
                    x
                }] {
                    let got = side.get(0);
                    assert_eq!(got, l, "{p} {s}");
                    assert_eq!((got.price.text(), got.size.text()), (p.to_string(), s.to_string()));
                    assert_eq!(side.values(0), (l.price.to_f64(), l.size.to_f64()), "{p} {s}");
                }
            }
        }
        // The server's forms stay narrow, sizes in the record.
        for (p, s) in [("0.52", "1234.56"), ("0.520", "3888"), ("0.001", "0.5"), ("0.9999", "1073741.823")] {
            let side = Side::from_levels(true, &[Level::new(d(p), d(s))]);
            assert!(!side.is_wide() && side.out_sizes() == 0, "{p} {s}");
        }
        for p in [".5", "0.12345", "0.500", "00.5"] {
            assert!(Side::from_levels(true, &[Level::new(d(p), d("1"))]).is_wide(), "{p}");
        }
    }

    /// `find_in` agrees with a plain binary search at every depth, for both sides.
    #[test]
    fn find_matches_binary_search() {
        for ascending in [true, false] {
            for n in 0..24usize {
                let mut keys: Vec<u64> = (0..n as u64).map(|i| 10 + 10 * i).collect();
                if !ascending {
                    keys.reverse();
                }
                let levels: Vec<Level> =
                    keys.iter().map(|k| Level::new(d(format!("0.{k:03}").trim_end_matches('0')), d("1"))).collect();
                let side = Side::from_levels(ascending, &levels);
                assert!(!side.is_wide());
                for probe in (0..=(10 * n as u64 + 20)).step_by(5) {
                    let key = probe * 1_000_000;
                    let want = if ascending {
                        levels.binary_search_by(|l| l.key.cmp(&key))
                    } else {
                        levels.binary_search_by(|l| key.cmp(&l.key))
                    };
                    assert_eq!(
                        find_in(&side.recs, key, ascending, rec_key),
                        want,
                        "ascending {ascending} n {n} key {key}"
                    );
                    assert_eq!(find_in(&levels, key, ascending, |l| l.key), want);
                }
            }
        }
    }

    #[test]
    fn set_remove_and_order() {
        let mut bids = Side::new(true);
        bids.set(d("0.5"), d("10"));
        bids.set(d("0.3"), d("10"));
        bids.set(d("0.4"), d("10"));
        assert_eq!(prices(&bids), ["0.3", "0.4", "0.5"]);
        assert_eq!(bids.best().unwrap().price.text(), "0.5");
        // Same level written differently: the last text wins.
        bids.set(d("0.50"), d("7.0"));
        assert_eq!(prices(&bids), ["0.3", "0.4", "0.50"]);
        assert_eq!(bids.best().unwrap().size.text(), "7.0");
        bids.set(d("0.4"), d("0"));
        bids.set(d("0.45"), d("0"));
        assert_eq!(prices(&bids), ["0.3", "0.50"]);

        let mut asks = Side::new(false);
        asks.set(d("0.6"), d("1"));
        asks.set(d("0.9"), d("1"));
        asks.set(d("0.7"), d("1"));
        assert_eq!(prices(&asks), ["0.9", "0.7", "0.6"]);
        assert!(!crossed(&bids, &asks));
        asks.set(d("0.5"), d("1"));
        assert!(crossed(&bids, &asks), "locked counts as crossed");
        assert!(!crossed(&Side::new(true), &asks));
        // A price off the grid widens the side; the levels stay.
        asks.set(d("0.55555"), d("2"));
        assert!(asks.is_wide());
        assert_eq!(prices(&asks), ["0.9", "0.7", "0.6", "0.55555", "0.5"]);
    }

    /// Random snapshots and sets against a plain sorted list of unpacked levels: same levels and
    /// texts, the wide form exactly when a price off the narrow forms arrived since the snapshot,
    /// and outside sizes never more than the levels that need them.
    #[test]
    fn random_sets_match_a_plain_model() {
        let mut price_texts: Vec<String> = (1..60).flat_map(|k| [format!("0.{k:02}"), format!("0.{k:02}0")]).collect();
        let odd: Vec<String> =
            (1..8).flat_map(|k| [format!(".{k:02}"), format!("0.{k:02}000"), format!("0.{k:02}001")]).collect();
        let size_texts = ["0", "0", "1", "2.5", "1234.56", "6105440.35", "007", "1791125296863", "0.0001", "12.50"];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..4 {
            let ascending = round % 2 == 0;
            if round >= 2 {
                price_texts.extend(odd.iter().cloned());
            }
            let pick = |r: u64, v: &[String]| d(&v[(r % v.len() as u64) as usize]);
            let mut side = Side::new(ascending);
            let mut model: Vec<Level> = Vec::new();
            let mut widened = false;
            for step in 0..20_000 {
                if step % 2_500 == 0 {
                    model.clear();
                    for _ in 0..(next() % 40) {
                        let l = Level::new(pick(next(), &price_texts), d(size_texts[2 + (next() % 8) as usize]));
                        match model.iter_mut().find(|m| m.key == l.key) {
                            Some(m) => *m = l,
                            None => model.push(l),
                        }
                    }
                    model.sort_by_key(|l| l.key);
                    if !ascending {
                        model.reverse();
                    }
                    side.replace(&model);
                    widened = model.iter().any(|l| narrow_price(&l.price).is_none());
                }
                let p = pick(next(), &price_texts);
                let s = d(size_texts[(next() % size_texts.len() as u64) as usize]);
                side.set(p, s);
                let l = Level::new(p, s);
                if !s.is_zero() && narrow_price(&p).is_none() {
                    widened = true;
                }
                match model.iter().position(|m| m.key == l.key) {
                    Some(i) if s.is_zero() => {
                        model.remove(i);
                    }
                    Some(i) => model[i] = l,
                    None if s.is_zero() => {}
                    None => {
                        let i = model.partition_point(|m| if ascending { m.key < l.key } else { m.key > l.key });
                        model.insert(i, l);
                    }
                }
                assert_eq!(side.iter().collect::<Vec<_>>(), model, "round {round} step {step}");
                assert_eq!(side.is_wide(), widened, "round {round} step {step}");
                if !widened {
                    let out = model.iter().filter(|l| narrow_size(&l.size).is_none()).count();
                    assert_eq!(side.out_sizes(), out, "round {round} step {step}");
                    let held = side.extra.as_ref().map_or(0, |e| e.sizes.len());
                    assert!(held <= 40 + out, "round {round} step {step}: {held} sizes held for {out}");
                }
            }
        }
    }

    /// A level goes away (or changes) whatever text of its price the change uses.
    #[test]
    fn any_text_of_a_price_names_its_level() {
        for ascending in [true, false] {
            let mut levels = [Level::new(d("0.30"), d("5")), Level::new(d("0.4"), d("6"))];
            if !ascending {
                levels.reverse();
            }
            let mut side = Side::from_levels(ascending, &levels);
            side.set(d("0.300"), d("0"));
            assert_eq!(prices(&side), ["0.4"], "removal by \"0.300\"");
            side.set(d(".4"), d("0"));
            assert!(side.is_empty() && !side.is_wide(), "removal by \".4\"");
            let mut side = Side::from_levels(ascending, &[Level::new(d("0.30"), d("5"))]);
            side.set(d("0.3000"), d("7"));
            assert_eq!(
                side.iter().map(|l| (l.price.text(), l.size.text())).collect::<Vec<_>>(),
                [("0.3000".into(), "7".into())]
            );
            assert!(side.is_wide());
        }
    }

    /// A real-sized book takes 6 bytes per level when its texts are the server's forms.
    #[test]
    fn six_bytes_per_level() {
        let levels: Vec<Level> = (1..=93).map(|k| Level::new(d(&format!("0.{k:02}")), d("1234.56"))).collect();
        let side = Side::from_levels(true, &levels);
        assert_eq!(side.heap_bytes(), 93 * 6);
        assert!(std::mem::size_of::<Side>() <= 48);
    }
}
