//! Full-depth book of one side, stored in wire order: bids ascending, asks descending,
//! so the best level is always the last element.

use crate::decimal::Dec;

/// One price level with the exact texts of its price and size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    pub price: Dec,
    pub size: Dec,
}

/// One side of a book, wire order (worst first, best last).
#[derive(Clone, Debug, Default)]
pub struct Side {
    pub levels: Vec<Level>,
    /// Bids: true (ascending). Asks: false (descending).
    pub ascending: bool,
}

impl Side {
    pub fn new(ascending: bool) -> Side {
        Side { levels: Vec::new(), ascending }
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
    }

    pub fn clear(&mut self) {
        self.levels.clear();
    }

    /// Index of `key` in wire order: `Ok(i)` if present, `Err(i)` = insertion point.
    #[inline]
    fn find(&self, key: u64) -> Result<usize, usize> {
        if self.ascending {
            self.levels.binary_search_by(|l| l.price.price_key().cmp(&key))
        } else {
            self.levels.binary_search_by(|l| key.cmp(&l.price.price_key()))
        }
    }

    /// Sets the absolute size at `price` (size 0 removes the level; removing a missing level is a no-op).
    pub fn set(&mut self, price: Dec, size: Dec) {
        match self.find(price.price_key()) {
            Ok(i) => {
                if size.is_zero() {
                    self.levels.remove(i);
                } else {
                    self.levels[i] = Level { price, size };
                }
            }
            Err(i) => {
                if !size.is_zero() {
                    self.levels.insert(i, Level { price, size });
                }
            }
        }
    }
}

/// True when both sides are non-empty and best bid >= best ask (locked counts as crossed).
pub fn crossed(bids: &Side, asks: &Side) -> bool {
    match (bids.best(), asks.best()) {
        (Some(b), Some(a)) => b.price.price_key() >= a.price.price_key(),
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
