//! Decimal strings (docs/DESIGN.md section 5.1), parsed by hand into fixed point.
//!
//! A [`Dec`] keeps everything needed to write the exact text back without allocating:
//! the mantissa (all digits as one integer), the number of fraction digits (`scale`), the number of
//! integer digits as written (leading zeros included; 0 for `".48"`) and whether a point was written.

/// Largest accepted mantissa, 2^53 - 1.
pub const MAX_MANTISSA: u64 = (1 << 53) - 1;
/// Most fraction digits accepted.
pub const MAX_SCALE: u8 = 9;

pub const POW10: [u64; 10] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];
const POW10F: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// One decimal, exactly as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dec {
    /// All digits as one integer (at most 2^53 - 1).
    pub mant: u64,
    /// Integer digits as written, leading zeros included.
    pub int_digits: u32,
    /// Fraction digits (0..=9).
    pub scale: u8,
    /// A `.` was written (also for `"5."`).
    pub point: bool,
}

impl Dec {
    /// Parses `^[0-9]*\.?[0-9]*$` with at least one digit, at most 9 fraction digits and a mantissa
    /// of at most 2^53 - 1. Anything else is `None`.
    #[inline]
    pub fn parse(s: &[u8]) -> Option<Dec> {
        let mut mant: u64 = 0;
        let mut i = 0;
        let n = s.len();
        while i < n {
            let d = s[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // mant <= 2^53 - 1 before this step, so this cannot overflow u64.
            mant = mant * 10 + d as u64;
            if mant > MAX_MANTISSA {
                return None;
            }
            i += 1;
        }
        let int_digits = i;
        let mut point = false;
        let mut scale = 0usize;
        if i < n && s[i] == b'.' {
            point = true;
            i += 1;
            let f0 = i;
            while i < n {
                let d = s[i].wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                mant = mant * 10 + d as u64;
                if mant > MAX_MANTISSA {
                    return None;
                }
                i += 1;
            }
            scale = i - f0;
        }
        if i != n || int_digits + scale == 0 || scale > MAX_SCALE as usize || int_digits > u32::MAX as usize {
            return None;
        }
        Some(Dec { mant, int_digits: int_digits as u32, scale: scale as u8, point })
    }

    /// Parses a level price: a decimal with `0 < price < 1`.
    #[inline]
    pub fn parse_price(s: &[u8]) -> Option<Dec> {
        Dec::parse(s)?.as_price()
    }

    /// `self` if it is a valid price (`0 < price < 1`).
    #[inline(always)]
    pub fn as_price(self) -> Option<Dec> {
        if self.mant == 0 || self.mant >= POW10[self.scale as usize] {
            return None;
        }
        Some(self)
    }

    /// Fast path for a decimal text of known length: `s[start..start + len]`, at most 8 bytes, with
    /// 8 readable bytes from `start`. One word: the digits are checked and the point (at most one)
    /// found with SWAR masks, the point is squeezed out and the digits converted at once.
    /// `None` when not on this path (longer text, near the end of `s`, or not a valid decimal):
    /// the caller then takes the general path. When it returns `Some`, the result is exactly
    /// `Dec::parse` of the text.
    #[inline(always)]
    pub fn parse_short(s: &[u8], start: usize, len: usize) -> Option<Dec> {
        if len == 0 || len > 8 || start + 8 > s.len() {
            return None;
        }
        let keep = if len == 8 { !0u64 } else { (1u64 << (8 * len)) - 1 };
        let w = load8(s, start) & keep;
        let nondigit = nondigit8(w) & keep;
        let x = w ^ (LO * b'.' as u64);
        // High bit of each byte of `x` that is zero (exact: no carries cross bytes).
        let point = !(((x & !HI).wrapping_add(!HI)) | x) & HI & keep;
        // Only points may be non-digits, and at most one of them.
        if nondigit != point || point & point.wrapping_sub(1) != 0 {
            return None;
        }
        if point == 0 {
            return Some(Dec { mant: digits8(w, len), int_digits: len as u32, scale: 0, point: false });
        }
        if len == 1 {
            return None; // "." has no digit
        }
        let p = (point.trailing_zeros() / 8) as usize;
        // The bytes below the point, then those above it moved down by one byte.
        let below = w & ((1u64 << (8 * p)) - 1);
        let above = (w >> (8 * p)) >> 8;
        let digits = below | (above << (8 * p));
        Some(Dec { mant: digits8(digits, len - 1), int_digits: p as u32, scale: (len - 1 - p) as u8, point: true })
    }

    /// Fast path for a decimal string whose text starts at `s[i]` (after the opening quote) and
    /// that ends at a plain `"`: branch-light SWAR over 8-byte words. Returns the decimal and the
    /// index of the closing quote, or `None` when the text is not on the fast path (fewer than
    /// [`FAST_TAIL`] bytes left, 16 or more integer digits, 8 or more fraction digits, more than
    /// 15 digits in all, no digit, or any other byte): the caller then takes the general path,
    /// which decides validity. When it returns `Some`, the result is exactly `Dec::parse` of the
    /// text between `i` and the quote.
    #[inline(always)]
    pub fn parse_fast(s: &[u8], i: usize) -> Option<(Dec, usize)> {
        if i + FAST_TAIL > s.len() {
            return None;
        }
        let w0 = load8(s, i);
        let nd0 = nondigit8(w0);
        let (int_len, int_val) = if nd0 != 0 {
            let n = (nd0.trailing_zeros() / 8) as usize;
            (n, digits8(w0, n))
        } else {
            let w1 = load8(s, i + 8);
            let nd1 = nondigit8(w1);
            if nd1 == 0 {
                return None;
            }
            let n = (nd1.trailing_zeros() / 8) as usize;
            (8 + n, digits8(w0, 8) * POW10[n] + digits8(w1, n))
        };
        let j = i + int_len;
        match s[j] {
            b'"' => {
                if int_len == 0 || int_len > 15 {
                    return None;
                }
                Some((Dec { mant: int_val, int_digits: int_len as u32, scale: 0, point: false }, j))
            }
            b'.' => {
                let f = load8(s, j + 1);
                let ndf = nondigit8(f);
                if ndf == 0 {
                    return None;
                }
                let n = (ndf.trailing_zeros() / 8) as usize;
                let end = j + 1 + n;
                if s[end] != b'"' || int_len + n == 0 || int_len + n > 15 {
                    return None;
                }
                let mant = int_val * POW10[n] + digits8(f, n);
                Some((Dec { mant, int_digits: int_len as u32, scale: n as u8, point: true }, end))
            }
            _ => None,
        }
    }

    /// The correctly rounded f64 (what `parseFloat` gives): one division, both operands exact.
    #[inline]
    pub fn to_f64(&self) -> f64 {
        // mant <= 2^53 - 1: the signed conversion is exact and a single instruction on x86-64.
        (self.mant as i64) as f64 / POW10F[self.scale as usize]
    }

    /// The value in units of 10^-9 (exact: identity of a level).
    #[inline]
    pub fn fixed9(&self) -> u128 {
        self.mant as u128 * POW10[(MAX_SCALE - self.scale) as usize] as u128
    }

    /// The value in units of 10^-9 for a value below 1 (a price): fits in u64.
    #[inline]
    pub fn price_key(&self) -> u64 {
        self.mant * POW10[(MAX_SCALE - self.scale) as usize]
    }

    pub fn is_zero(&self) -> bool {
        self.mant == 0
    }

    /// The value is exactly 1.
    #[inline]
    pub fn is_one(&self) -> bool {
        self.mant == POW10[self.scale as usize]
    }

    /// The value in units of 10^-9 when it fits in a u64 (always for a price): equal values give
    /// equal keys, and a value that does not fit equals no price.
    #[inline]
    pub fn key(&self) -> Option<u64> {
        self.mant.checked_mul(POW10[(MAX_SCALE - self.scale) as usize])
    }

    /// Appends the exact text this decimal was parsed from.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let p = POW10[self.scale as usize];
        let ip = self.mant / p;
        let fp = self.mant % p;
        if self.int_digits > 0 {
            let mut tmp = [0u8; 20];
            let digits = if ip == 0 { 0 } else { write_u64(ip, &mut tmp) };
            let zeros = self.int_digits as usize - digits;
            out.extend(std::iter::repeat_n(b'0', zeros));
            out.extend_from_slice(&tmp[20 - digits..]);
        }
        if self.point {
            out.push(b'.');
            let mut tmp = [0u8; 20];
            let digits = if fp == 0 { 0 } else { write_u64(fp, &mut tmp) };
            out.extend(std::iter::repeat_n(b'0', self.scale as usize - digits));
            out.extend_from_slice(&tmp[20 - digits..]);
        }
    }

    /// The exact text as a `String`.
    pub fn text(&self) -> String {
        let mut v = Vec::with_capacity(24);
        self.write_to(&mut v);
        // Only ASCII digits and '.' were written.
        String::from_utf8(v).unwrap_or_default()
    }
}

/// Bytes [`Dec::parse_fast`] needs after the start of the text.
pub const FAST_TAIL: usize = 32;

const HI: u64 = 0x8080_8080_8080_8080;
const LO: u64 = 0x0101_0101_0101_0101;

/// The 8 bytes at `i..i + 8` as one little-endian word.
#[inline(always)]
pub(crate) fn load8(s: &[u8], i: usize) -> u64 {
    let b: [u8; 8] = s[i..i + 8].try_into().unwrap();
    u64::from_le_bytes(b)
}

/// High bit of every byte of `w` that is not an ASCII digit (exact per byte: no carries cross bytes).
#[inline(always)]
fn nondigit8(w: u64) -> u64 {
    // (b | 0x80) - 0x30 has its high bit set iff (b & 0x7f) >= 0x30; (b & 0x7f) + 0x46 iff >= 0x3a.
    let ge0 = (w | HI).wrapping_sub(LO * 0x30);
    let gt9 = (w & !HI).wrapping_add(LO * 0x46);
    (!ge0 | gt9 | w) & HI
}

/// The value of the `n <= 8` ASCII digits in the low bytes of `w` (first digit in the lowest byte).
#[inline(always)]
fn digits8(w: u64, n: usize) -> u64 {
    // Digit bytes are >= '0', so subtracting '0' borrows only from bytes above the digits, which
    // the shift drops; the shift (by 64 - 8n, done in two halves so n = 0 works) leaves the digits
    // in the top bytes and zeros (leading zero digits) below.
    let sh = (32 - 4 * n) as u32;
    let v = (w.wrapping_sub(LO * b'0' as u64) << sh) << sh;
    let v = (v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

/// Writes the decimal digits of `v > 0` right-aligned into `tmp`; returns how many.
fn write_u64(mut v: u64, tmp: &mut [u8; 20]) -> usize {
    let mut i = 20;
    while v > 0 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    20 - i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> Dec {
        let d = Dec::parse(s.as_bytes()).unwrap_or_else(|| panic!("{s:?} should parse"));
        assert_eq!(d.text(), s, "exact text of {s:?}");
        assert_eq!(d.to_f64(), s.parse::<f64>().unwrap(), "f64 of {s:?}");
        d
    }

    #[test]
    fn accepts_and_round_trips() {
        let d = rt(".48");
        assert_eq!((d.mant, d.scale, d.int_digits, d.point), (48, 2, 0, true));
        let d = rt("0.50");
        assert_eq!((d.mant, d.scale, d.int_digits), (50, 2, 1));
        assert_eq!(d.fixed9(), rt("0.5").fixed9());
        assert_eq!(d.price_key(), 500_000_000);
        rt("0");
        rt("0.0");
        rt("5.");
        rt("00.5");
        rt("007");
        rt("13354.28");
        rt("6105440.35");
        rt("1791125296863");
        rt("0.123456789");
        rt("9007199254740991");
        rt("9007199.254740991");
        rt("0.000000001");
        rt("000000000000000000000000000000000000001");
        rt(".5");
        rt("3888");
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            ".",
            "-1",
            "+1",
            "1e5",
            "1E5",
            " 1",
            "1 ",
            "0x1",
            "1.2.3",
            "1,5",
            "NaN",
            "Infinity",
            "--",
            "0.1234567890",      // 10 fraction digits
            "9007199254740992",  // 2^53
            "900719925474099.2", // mantissa 2^53
            "99999999999999999999999",
            "١", // non-ASCII digit
        ] {
            assert!(Dec::parse(s.as_bytes()).is_none(), "{s:?} should be rejected");
        }
    }

    /// `parse_fast` agrees with `parse` whenever it answers, and answers for the common texts.
    #[test]
    fn fast_path_matches_parse() {
        let mut texts: Vec<String> = [
            "0",
            "5",
            ".5",
            "5.",
            "0.5",
            "0.50",
            "00.5",
            "13354.28",
            "6105440.35",
            "11005549.53",
            "0.001",
            "1791125296863",
            "123456789012345",
            "1234567890123456",
            "12345678.1234567",
            "1.12345678",
            "9007199254740991",
            "999999999999999",
            "99999999.9999999",
            ".",
            "",
            "-1",
            "1e5",
            "0.5x",
            "0.\\u0035",
            "1.2.3",
            "00000000000000005",
            "0.0000001",
            "12345678",
            "123456789",
            ".1234567",
            "0.12345678",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let alphabet = b"0123456789012345678901234567890123456789..\"x";
            let n = (seed % 20) as usize;
            let t: String =
                (0..n).map(|k| alphabet[((seed >> (k * 3 % 60)) as usize + k * 7) % alphabet.len()] as char).collect();
            texts.push(t);
        }
        let mut answered = 0;
        for t in &texts {
            let mut frame = t.as_bytes().to_vec();
            frame.push(b'"');
            frame.extend_from_slice(&[b'7'; 40]);
            let q = frame.iter().position(|&b| b == b'"').unwrap();
            if let Some(d) = Dec::parse_short(&frame, 0, q) {
                assert_eq!(Some(d), Dec::parse(&frame[..q]), "short {t:?}");
            } else if q <= 8 {
                assert_eq!(Dec::parse(&frame[..q]), None, "short should take {t:?}");
            }
            match Dec::parse_fast(&frame, 0) {
                Some((d, end)) => {
                    answered += 1;
                    assert_eq!(Some(d), Dec::parse(&frame[..end]), "{t:?}");
                    assert!(!frame[..end].contains(&b'"'), "{t:?}");
                }
                None => {
                    // Only texts the fast path declines: anything it cannot decide alone.
                    let q = frame.iter().position(|&b| b == b'"').unwrap();
                    if let Some(d) = Dec::parse(&frame[..q]) {
                        let total = d.int_digits as usize + d.scale as usize;
                        assert!(total > 15 || d.scale >= 8 || d.int_digits >= 16, "{t:?} should be fast");
                    }
                }
            }
        }
        assert!(answered > 1000);
        // Too close to the end of the frame: declined.
        assert!(Dec::parse_fast(b"0.5\"", 0).is_none());
    }

    #[test]
    fn prices() {
        assert!(Dec::parse_price(b"0.5").is_some());
        assert!(Dec::parse_price(b".001").is_some());
        assert!(Dec::parse_price(b"0.999999999").is_some());
        for s in ["0", "0.000", "1", "1.0", "1.5", "2", ""] {
            assert!(Dec::parse_price(s.as_bytes()).is_none(), "{s:?}");
        }
    }

    #[test]
    fn f64_is_correctly_rounded_at_bounds() {
        // Exact for every mantissa <= 2^53 - 1 and scale <= 9 (both operands exact, one rounding).
        let d = Dec::parse(b"9007199254740991").unwrap();
        assert_eq!(d.to_f64(), 9007199254740991.0);
        let d = Dec::parse(b"0.1").unwrap();
        assert_eq!(d.to_f64(), 0.1);
        let d = Dec::parse(b"900719.9254740991").is_none();
        assert!(d); // 10 fraction digits
        let d = Dec::parse(b"9007199.254740991").unwrap();
        assert_eq!(d.to_f64(), "9007199.254740991".parse::<f64>().unwrap());
    }
}
