//! The book hash of docs/PROTOCOL.md section 2.9: SHA-1 over compact JSON with keys in the server's order,
//! all texts exactly as received. Mirrors `src/protocol/hash.ts`.

use crate::book::Side;
use crate::decimal::Dec;
use sha1::{Digest, Sha1};

/// The inputs of the hash; texts are UTF-8 bytes exactly as received.
pub struct HashInput<'a> {
    pub market: &'a [u8],
    pub asset_id: &'a [u8],
    pub timestamp: &'a [u8],
    /// Wire order (ascending price).
    pub bids: &'a Side,
    /// Wire order (descending price).
    pub asks: &'a Side,
    pub min_order_size: &'a [u8],
    /// `None` = unknown, hashed as `""`.
    pub tick_size: Option<Dec>,
    pub neg_risk: bool,
    /// `None` = unknown, hashed as `""`.
    pub last_trade_price: Option<Dec>,
}

/// Appends `s` as a JSON string the way `JSON.stringify` writes it.
pub fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn levels(out: &mut Vec<u8>, side: &Side) {
    out.push(b'[');
    for (i, l) in side.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"price\":\"");
        l.price.write_to(out);
        out.extend_from_slice(b"\",\"size\":\"");
        l.size.write_to(out);
        out.extend_from_slice(b"\"}");
    }
    out.push(b']');
}

fn opt_dec(out: &mut Vec<u8>, d: Option<Dec>) {
    out.push(b'"');
    if let Some(d) = d {
        d.write_to(out);
    }
    out.push(b'"');
}

/// Writes the canonical hash input text into `buf` (cleared first).
pub fn canonical_text(buf: &mut Vec<u8>, h: &HashInput) {
    buf.clear();
    buf.extend_from_slice(b"{\"market\":");
    json_string(buf, h.market);
    buf.extend_from_slice(b",\"asset_id\":");
    json_string(buf, h.asset_id);
    buf.extend_from_slice(b",\"timestamp\":");
    json_string(buf, h.timestamp);
    buf.extend_from_slice(b",\"hash\":\"\",\"bids\":");
    levels(buf, h.bids);
    buf.extend_from_slice(b",\"asks\":");
    levels(buf, h.asks);
    buf.extend_from_slice(b",\"min_order_size\":");
    json_string(buf, h.min_order_size);
    buf.extend_from_slice(b",\"tick_size\":");
    opt_dec(buf, h.tick_size);
    buf.extend_from_slice(if h.neg_risk { b",\"neg_risk\":true" } else { b",\"neg_risk\":false" });
    buf.extend_from_slice(b",\"last_trade_price\":");
    opt_dec(buf, h.last_trade_price);
    buf.push(b'}');
}

/// SHA-1 of the canonical text as 40 lowercase hex characters; `buf` is scratch space.
pub fn book_hash(buf: &mut Vec<u8>, h: &HashInput) -> [u8; 40] {
    canonical_text(buf, h);
    let digest = Sha1::digest(&buf[..]);
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Level;

    fn lv(p: &str, s: &str) -> Level {
        Level::new(Dec::parse(p.as_bytes()).unwrap(), Dec::parse(s.as_bytes()).unwrap())
    }

    #[test]
    fn official_vector() {
        // The official client's test vector (docs/PROTOCOL.md 2.9).
        let bids = Side::from_levels(true, &[lv("0.3", "100"), lv("0.4", "100")]);
        let asks = Side::from_levels(false, &[lv("0.6", "100"), lv("0.7", "100")]);
        let h = HashInput {
            market: b"0xaabbcc",
            asset_id: b"100",
            timestamp: b"123456789",
            bids: &bids,
            asks: &asks,
            min_order_size: b"100",
            tick_size: Dec::parse(b"0.01"),
            neg_risk: false,
            last_trade_price: Dec::parse(b"0.5"),
        };
        let mut buf = Vec::new();
        assert_eq!(&book_hash(&mut buf, &h), b"0458ea5755c9f73d64a14636fa5c36ed460ec394");
    }

    #[test]
    fn json_string_escapes_like_stringify() {
        let mut v = Vec::new();
        json_string(&mut v, "a\"b\\c\n\u{1}é".as_bytes());
        assert_eq!(String::from_utf8(v).unwrap(), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
