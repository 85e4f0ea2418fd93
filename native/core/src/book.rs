//! Full-depth book of one side, stored in wire order: bids ascending, asks descending,
//! so the best level is always the last element.

use crate::decimal::Dec;

/// One price level with the exact texts of its price and size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// `price.price_key()`, kept: every search and comparison of levels uses it, and computing
    /// it (load the scale, look up a power of ten, multiply) sits on their critical path.
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

/// One side of a book, wire order (worst first, best last).
///
/// The side also tracks which of its best levels may differ from what was last published
/// (`dirty_lo..dirty_hi`, counted from the best level), so that a publish rewrites only those.
#[derive(Clone, Debug)]
pub struct Side {
    pub levels: Vec<Level>,
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

impl Side {
    pub fn new(ascending: bool) -> Side {
        Side { levels: Vec::new(), ascending, dirty_lo: 0, dirty_hi: u32::MAX }
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

    /// Best level (highest bid / lowest ask).
    #[inline]
    pub fn best(&self) -> Option<&Level> {
        self.levels.last()
    }

    /// Replaces all levels (reusing the capacity).
    pub fn replace(&mut self, levels: &[Level]) {
        self.levels.clear();
        self.levels.extend_from_slice(levels);
        self.mark_all();
    }

    pub fn clear(&mut self) {
        self.levels.clear();
        self.mark_all();
    }

    /// Index of `key` in wire order: `Ok(i)` if present, `Err(i)` = insertion point.
    ///
    /// Changes mostly touch the best levels, so the 8 best levels (the end of the vector) are
    /// scanned first: a match there costs a few well-predicted compares instead of a binary search
    /// whose every step is a dependent load and a coin-flip branch. Deeper keys: binary search.
    #[inline]
    fn find(&self, key: u64) -> Result<usize, usize> {
        let n = self.levels.len();
        let top = n.min(8);
        for k in 0..top {
            let i = n - 1 - k;
            let at = self.levels[i].key;
            if at == key {
                return Ok(i);
            }
            // The key lies between level i and the better level i + 1.
            if (at < key) == self.ascending {
                return Err(i + 1);
            }
        }
        let rest = &self.levels[..n - top];
        if self.ascending {
            rest.binary_search_by(|l| l.key.cmp(&key))
        } else {
            rest.binary_search_by(|l| key.cmp(&l.key))
        }
    }

    /// Sets the absolute size at `price` (size 0 removes the level; removing a missing level is a no-op).
    pub fn set(&mut self, price: Dec, size: Dec) {
        let n = self.levels.len();
        match self.find(price.price_key()) {
            Ok(i) => {
                // Best-first position n - 1 - i. A removal moves every worse level up by one.
                if size.is_zero() {
                    self.levels.remove(i);
                    self.mark(n - 1 - i, u32::MAX);
                } else {
                    self.levels[i] = Level::new(price, size);
                    self.mark(n - 1 - i, (n - i) as u32);
                }
            }
            Err(i) => {
                // The new level is at best-first position n - i; every worse level moves down.
                if !size.is_zero() {
                    self.levels.insert(i, Level::new(price, size));
                    self.mark(n - i, u32::MAX);
                }
            }
        }
    }
}

/// True when both sides are non-empty and best bid >= best ask (locked counts as crossed).
pub fn crossed(bids: &Side, asks: &Side) -> bool {
    match (bids.best(), asks.best()) {
        (Some(b), Some(a)) => b.key >= a.key,
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
        s.levels.iter().map(|l| l.price.text()).collect()
    }

    /// `find` agrees with a plain binary search at every depth, for both sides.
    #[test]
    fn find_matches_binary_search() {
        for ascending in [true, false] {
            for n in 0..24usize {
                let mut side = Side::new(ascending);
                let mut keys: Vec<u64> = (0..n as u64).map(|i| 10 + 10 * i).collect();
                if !ascending {
                    keys.reverse();
                }
                for &k in &keys {
                    side.levels.push(Level::new(d(&format!("0.{k:03}")), d("1")));
                }
                for probe in (0..=(10 * n as u64 + 20)).step_by(5) {
                    let key = probe * 1_000_000;
                    let want = if ascending {
                        side.levels.binary_search_by(|l| l.price.price_key().cmp(&key))
                    } else {
                        side.levels.binary_search_by(|l| key.cmp(&l.price.price_key()))
                    };
                    assert_eq!(side.find(key), want, "ascending {ascending} n {n} key {key}");
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
    }
}
