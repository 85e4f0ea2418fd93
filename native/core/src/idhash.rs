//! A hasher for token ids in the id -> slot map, tuned for the hot path of `ingest`.
//!
//! Token ids are 70-80 digit decimal strings. Hashing all of them byte-wise (or even word-wise)
//! costs more than the rest of a lookup; three 8-byte windows (first, middle, last) plus the
//! length carry some 80 bits of the id's entropy, which is plenty for a table of thousands.
//! Collisions only cost time (the map compares whole keys); ids are not chosen by an attacker.

use std::hash::{BuildHasherDefault, Hasher};

/// The hasher (see the module docs).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

/// `HashMap` builder for [`IdHasher`].
pub type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// The hash of a token id (as a `HashMap<Box<[u8]>, _, IdBuildHasher>` would hash it).
#[inline]
pub fn id_hash(id: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    IdBuildHasher::default().hash_one(id)
}

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    let w: [u8; 8] = b[i..i + 8].try_into().unwrap();
    u64::from_le_bytes(w)
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;
const K3: u64 = 0x082e_fa98_ec4e_6c89;

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, b: &[u8]) {
        let n = b.len();
        let (first, middle, last) = if n >= 8 {
            (word(b, 0), word(b, (n - 8) / 2), word(b, n - 8))
        } else {
            let mut x = 0u64;
            for (i, &c) in b.iter().enumerate() {
                x |= (c as u64) << (8 * i);
            }
            (x, 0, 0)
        };
        let h = fold(first ^ K0, last ^ K1) ^ fold(middle ^ K2, (n as u64) ^ self.0 ^ K3);
        self.0 = fold(h, K0);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        // The length prefix `[u8]`'s `Hash` writes before the bytes.
        self.0 = self.0.rotate_left(17) ^ n as u64;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn map_of_ids_works_and_spreads() {
        let mut m: HashMap<Box<[u8]>, u32, IdBuildHasher> = HashMap::default();
        let base = "79358475953126059185096320578578995575874288599466094920037110232928386404141";
        let mut ids: Vec<String> = (0..5000).map(|i| format!("{}{:05}", &base[..73], i)).collect();
        ids.extend((0..100).map(|i| i.to_string()));
        ids.push(String::new());
        for (i, id) in ids.iter().enumerate() {
            assert!(m.insert(id.as_bytes().into(), i as u32).is_none(), "{id}");
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(m.get(id.as_bytes()), Some(&(i as u32)));
        }
        assert_eq!(m.get(&b"1001x"[..]), None);
        // The low 10 bits (bucket) and the top 7 bits (hashbrown's tag) both spread.
        let hash = |s: &str| {
            let mut h = IdHasher::default();
            std::hash::Hash::hash(s.as_bytes(), &mut h);
            h.finish()
        };
        let lows: std::collections::HashSet<u64> = ids.iter().map(|s| hash(s) & 1023).collect();
        let tops: std::collections::HashSet<u64> = ids.iter().map(|s| hash(s) >> 57).collect();
        assert!(lows.len() > 950, "{}", lows.len());
        assert_eq!(tops.len(), 128);
    }
}
