//! Decimal strings (docs/DESIGN.md section 5.1), parsed by hand into fixed point.
//!
//! A [`Dec`] keeps everything needed to write the exact text back without allocating:
//! the mantissa (all digits as one integer), the number of fraction digits (`scale`), the number of
//! integer digits as written (leading zeros included; 0 for `".48"`) and whether a point was written.

/// Largest accepted mantissa, 2^53 - 1.
pub const MAX_MANTISSA: u64 = (1 << 53) - 1;
/// Most fraction digits accepted.
pub const MAX_SCALE: u8 = 9;

const POW10: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];
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
        let d = Dec::parse(s)?;
        if d.mant == 0 || d.mant >= POW10[d.scale as usize] {
            return None;
        }
        Some(d)
    }

    /// The correctly rounded f64 (what `parseFloat` gives): one division, both operands exact.
    #[inline]
    pub fn to_f64(&self) -> f64 {
        self.mant as f64 / POW10F[self.scale as usize]
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
            "", ".", "-1", "+1", "1e5", "1E5", " 1", "1 ", "0x1", "1.2.3", "1,5", "NaN", "Infinity", "--",
            "0.1234567890", // 10 fraction digits
            "9007199254740992", // 2^53
            "900719925474099.2", // mantissa 2^53
            "99999999999999999999999",
            "١", // non-ASCII digit
        ] {
            assert!(Dec::parse(s.as_bytes()).is_none(), "{s:?} should be rejected");
        }
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
