//! Fuzzing of the native ingest path on the stable toolchain (docs/RELIABILITY.md, "Fuzzing").
//!
//! Every input goes through the entry points the addon calls (`Table::ingest` with the raw frame
//! bytes, `Table::rest_book`, and the other writer calls in between) on a table with several
//! subscribed tokens, including the tokens named in the fixtures. Inputs come from a corpus seeded
//! with every file of `fixtures/polymarket/` and from a generator of market-channel frames (books,
//! price changes in the three formats, tick size, last trade, best bid/ask, new market, market
//! resolved, unknown events, arrays of events, text frames, REST bodies), then go through stacked
//! mutations (bit flips, truncation at classes of positions, splicing of two inputs, absurd
//! decimals and numbers, wrong JSON types, duplicated keys, deep nesting, unicode escapes and bad
//! UTF-8, enormous arrays, ...).
//!
//! After every call the harness checks, through the public API only:
//! - nothing panicked (a panic is caught, the seed and the input are reported);
//! - the published table: even seqlock versions, consistent flags, `nBids`/`nAsks` equal to
//!   `min(full depth, depth)`, published levels equal to the best levels of the full book
//!   (`full_book`), full-book levels strictly ordered with valid prices and non-zero sizes, no
//!   READY book crossed (so no served crossed book), one publish = `sequence` + 1, generation
//!   untouched by ingest;
//! - counters monotone, the header words equal to `counter()`, `frames`/`bytes` exact, the
//!   outcome of a frame (control, bad JSON, scalar, `events` = number of elements) equal to what
//!   `serde_json` says of the same bytes;
//! - a differential: a shadow table gets the same calls, with each frame rewritten into
//!   semantically equal JSON that misses the parser's fast paths (whitespace after structural
//!   characters, string characters as `\u` escapes, an object wrapped in an array). Both tables
//!   must end in exactly the same state (every slot word, counters but `bytes`, full books, resync
//!   lists).
//!
//! Feedback (a cheap form of guidance, not code coverage): an input whose outcome signature (the
//! bucketed delta of every counter plus the set of flag transitions it caused) was not seen before
//! is kept in the corpus and mutated further.
//!
//! Knobs (environment): `POLYBOOK_FUZZ_ITERS` (default 60000 in release, 5000 in debug),
//! `POLYBOOK_FUZZ_SECS` (time budget, optional), `POLYBOOK_FUZZ_SEED` (default fixed; `random`),
//! `POLYBOOK_FUZZ_THREADS` (default 1), `POLYBOOK_FUZZ_REPLAY=<file>` (replays a failure file
//! written by a failing run). `npm run fuzz` is the long run: 600 s on every core unless the knobs
//! say otherwise. The report is written to stderr directly, so it shows without `--nocapture`.

// `polybook_fuzz_cov` is set by the coverage-guided build (see the `cov` module).
#![allow(unexpected_cfgs)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use polybook_core::decimal::Dec;
use polybook_core::layout::*;
use polybook_core::parse::{Parser, Top};
use polybook_core::OwnedTable;

const NC: usize = COUNTERS.len();

// ---------------------------------------------------------------------------------------------
// Randomness

/// xorshift64* seeded through splitmix64: deterministic, so a seed reproduces a whole run.
#[derive(Clone)]
struct Rng(u64);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// A small count, mostly 1, sometimes up to `max`.
    fn geometric(&mut self, max: usize) -> usize {
        let mut n = 1;
        while n < max && self.one_in(2) {
            n += 1;
        }
        n
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage guidance (optional build)

/// Code-coverage feedback on the stable toolchain: built with
/// `RUSTFLAGS="-C instrument-coverage --cfg polybook_fuzz_cov"`, every instrumented region has a
/// 64-bit counter in LLVM's profile section, which the profile runtime exposes through
/// `__llvm_profile_begin_counters`/`__llvm_profile_end_counters`. Before each writer call the
/// harness marks every counter already non-zero as seen; after it, a counter that became non-zero
/// is a region of the writer reached for the first time, and the input is kept. (Edge coverage
/// without hit counts. Counters are read while nothing else runs instrumented code: run the one
/// test on one thread.) In the normal build these are no-ops.
#[cfg(polybook_fuzz_cov)]
mod cov {
    use std::sync::Mutex;

    extern "C" {
        fn __llvm_profile_begin_counters() -> *mut u8;
        fn __llvm_profile_end_counters() -> *mut u8;
    }

    static SEEN: Mutex<Vec<bool>> = Mutex::new(Vec::new());

    fn counters() -> (*const u64, usize) {
        // SAFETY: the profile runtime's bounds of its counter section (8-byte counters).
        unsafe {
            let (b, e) = (__llvm_profile_begin_counters(), __llvm_profile_end_counters());
            (b as *const u64, (e as usize - b as usize) / 8)
        }
    }

    /// Marks every non-zero counter as seen; returns how many are newly seen.
    pub fn scan() -> usize {
        let (p, n) = counters();
        let mut seen = SEEN.lock().unwrap();
        seen.resize(n, false);
        let mut new = 0;
        for (i, s) in seen.iter_mut().enumerate() {
            // SAFETY: i < n, inside the section; volatile because instrumented code writes them.
            if !*s && unsafe { std::ptr::read_volatile(p.add(i)) } != 0 {
                *s = true;
                new += 1;
            }
        }
        new
    }

    /// (counters seen non-zero, counters in all)
    pub fn totals() -> (usize, usize) {
        let seen = SEEN.lock().unwrap();
        (seen.iter().filter(|s| **s).count(), seen.len())
    }

    pub const ENABLED: bool = true;
}

#[cfg(not(polybook_fuzz_cov))]
mod cov {
    pub fn scan() -> usize {
        0
    }
    pub fn totals() -> (usize, usize) {
        (0, 0)
    }
    pub const ENABLED: bool = false;
}

// ---------------------------------------------------------------------------------------------
// Seeds

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket")
}

/// Every file of fixtures/polymarket (name, bytes), sorted by name.
fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/polymarket must exist")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    assert!(v.len() >= 14, "expected the fixtures of fixtures/polymarket");
    v
}

/// Token ids named in the fixtures: runs of at least 40 digits.
fn fixture_ids(files: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, b) in files {
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i - s >= 40 {
                    let id = String::from_utf8(b[s..i].to_vec()).unwrap();
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
            } else {
                i += 1;
            }
        }
    }
    out
}

/// Token ids beside the fixtures': short synthetic ones and ids that need JSON escaping.
const SYNTHETIC_IDS: [&str; 8] = ["1001", "1002", "1003", "1004", "a\"b\\c", "é\u{1F600}", "", " 1001"];

// ---------------------------------------------------------------------------------------------
// JSON writing

#[derive(Clone, Copy, PartialEq)]
enum Esc {
    Plain,
    Some,
    All,
}

#[derive(Clone, Copy)]
struct Style {
    comma: &'static str,
    colon: &'static str,
}

const STYLES: [Style; 4] = [
    Style { comma: ",", colon: ":" },
    Style { comma: ",", colon: ":" },
    Style { comma: ", ", colon: ": " },
    Style { comma: ",\n  ", colon: ": " },
];

fn hex_escape(out: &mut Vec<u8>, u: u32, upper: bool) {
    let digits: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(digits[((u >> shift) & 15) as usize]);
    }
}

/// A JSON string for `s`, with some or all characters written as `\u` escapes.
fn jstr(out: &mut Vec<u8>, s: &str, esc: Esc, r: &mut Rng) {
    out.push(b'"');
    for ch in s.chars() {
        let escape = match esc {
            Esc::Plain => false,
            Esc::All => true,
            Esc::Some => r.one_in(4),
        };
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => hex_escape(out, c as u32, false),
            c if escape => {
                let mut buf = [0u16; 2];
                let upper = r.one_in(2);
                for u in c.encode_utf16(&mut buf) {
                    hex_escape(out, *u as u32, upper);
                }
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn plain(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    let mut r = Rng::new(0);
    jstr(&mut out, s, Esc::Plain, &mut r);
    out
}

fn obj(st: Style, members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![b'{'];
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(st.comma.as_bytes());
        }
        out.extend_from_slice(&plain(k));
        out.extend_from_slice(st.colon.as_bytes());
        out.extend_from_slice(v);
    }
    out.push(b'}');
    out
}

fn arr(st: Style, items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(st.comma.as_bytes());
        }
        out.extend_from_slice(v);
    }
    out.push(b']');
    out
}

/// A decimal text for a value in units of 10^-9, written in one of the accepted ways.
fn dec_text(nanos: u64, r: &mut Rng) -> String {
    let int = nanos / 1_000_000_000;
    let mut frac = format!("{:09}", nanos % 1_000_000_000);
    let min = if r.one_in(8) { r.range(1, 9) as usize } else { 1 };
    while frac.len() > min && frac.ends_with('0') {
        frac.pop();
    }
    let ip = match r.below(40) {
        0 if int == 0 => String::new(),
        1 => format!("00{int}"),
        _ => int.to_string(),
    };
    if frac == "0" && min == 1 && r.one_in(3) {
        return if ip.is_empty() { "0".to_string() } else { ip };
    }
    format!("{ip}.{frac}")
}

fn size_text(r: &mut Rng) -> String {
    if r.one_in(8) {
        // Around the edges of the packed level storage (30-bit mantissa, up to 3 decimals).
        return r
            .pick(&[
                "1073741823",
                "1073741824",
                "107374182.3",
                "1073741.823",
                "0.001",
                "0.0001",
                "007",
                "5.",
                ".5",
                "0.1",
                "999999999",
                "9999999.999",
                "100000000.00",
                "1e3",
                "00",
                "000.5",
                "12345678901",
            ])
            .to_string();
    }
    match r.below(24) {
        0 => "0.00".into(),
        1 => "9007199254740991".into(),
        2 => "0.000001".into(),
        3 => "1000000000".into(),
        4 => "0.5".into(),
        5..=12 => r.range(1, 100_000).to_string(),
        _ => format!("{}.{:02}", r.below(100_000), r.range(1, 99)),
    }
}

/// Grid steps of prices, in units of 10^-9.
const GRIDS: [u64; 5] = [1_000_000, 1_000_000, 10_000_000, 100_000, 1];

// ---------------------------------------------------------------------------------------------
// The generator of market-channel frames

type BookSide = BTreeMap<u64, (String, String)>;
/// A full book with exact texts, wire order (as `Table::full_book` gives it).
type Texts = polybook_core::table::TextBook;

#[derive(Clone, Default)]
struct Model {
    bids: BookSide,
    asks: BookSide,
}

impl Model {
    fn best_bid(&self) -> Option<u64> {
        self.bids.keys().next_back().copied()
    }
    fn best_ask(&self) -> Option<u64> {
        self.asks.keys().next().copied()
    }
}

fn price_key(text: &str) -> Option<u64> {
    Dec::parse_price(text.as_bytes()).map(|d| d.price_key())
}

/// Per-frame generation context: style, escaping and what the books will look like.
struct Ctx {
    st: Style,
    esc: Esc,
    /// Token id -> its book after the events generated so far in this frame (None: no READY book).
    models: HashMap<String, Option<Model>>,
}

struct Gen {
    fixture_ids: Vec<String>,
    universe: Vec<String>,
    /// Mid price per token, in units of 10^-9.
    mids: HashMap<String, u64>,
    ts: u64,
    new_market: Vec<u8>,
}

impl Gen {
    fn new(files: &[(String, Vec<u8>)]) -> Gen {
        let fixture_ids = fixture_ids(files);
        let mut universe = fixture_ids.clone();
        universe.extend(SYNTHETIC_IDS.iter().map(|s| s.to_string()));
        let new_market =
            files.iter().find(|(n, _)| n.starts_with("new_market")).map(|(_, b)| b.clone()).unwrap_or_default();
        Gen { fixture_ids, universe, mids: HashMap::new(), ts: 1_791_125_296_863, new_market }
    }

    fn s(&self, ctx: &Ctx, r: &mut Rng, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 2);
        jstr(&mut out, text, ctx.esc, r);
        out
    }

    fn pick_id(&self, r: &mut Rng, h: &Harness) -> String {
        match r.below(100) {
            0..=74 if !h.ids.is_empty() => {
                let n = r.below(h.ids.len());
                h.ids.keys().nth(n).unwrap().clone()
            }
            75..=89 => r.pick(&self.universe).clone(),
            90..=94 => r.pick(&self.fixture_ids).clone(),
            _ => format!("{}", r.next() % 100_000),
        }
    }

    fn mid(&mut self, r: &mut Rng, id: &str) -> u64 {
        let m = self.mids.entry(id.to_string()).or_insert_with(|| r.range(20, 980) * 1_000_000);
        let step = r.range(0, 6) * 1_000_000;
        *m = (*m + step).saturating_sub(3_000_000).clamp(5_000_000, 995_000_000);
        *m
    }

    fn timestamp(&mut self, r: &mut Rng, ctx: &Ctx) -> Vec<u8> {
        self.ts += r.below(1500) as u64;
        match r.below(60) {
            0 => self.s(ctx, r, ""),
            1 => self.s(ctx, r, "abc"),
            2 => self.ts.to_string().into_bytes(),
            3 => self.s(ctx, r, &format!("{}.5", self.ts)),
            4 => self.s(ctx, r, &(self.ts - 10_000).to_string()),
            _ => {
                let t = self.ts.to_string();
                self.s(ctx, r, &t)
            }
        }
    }

    fn hash(&self, r: &mut Rng, ctx: &Ctx) -> Vec<u8> {
        match r.below(10) {
            0 => self.s(ctx, r, ""),
            1 => b"null".to_vec(),
            _ => {
                let h = format!("{:016x}{:016x}{:08x}", r.next(), r.next(), r.next() as u32);
                self.s(ctx, r, &h)
            }
        }
    }

    /// The model of `id` at the current point of the frame (from the table on first use).
    fn model<'a>(&self, ctx: &'a mut Ctx, h: &Harness, id: &str) -> &'a mut Option<Model> {
        ctx.models.entry(id.to_string()).or_insert_with(|| {
            let slot = *h.ids.get(id)?;
            let (b, a) = h.a.full_book(slot)?;
            let side = |v: Vec<(String, String)>| -> BookSide {
                v.into_iter().filter_map(|(p, s)| Some((price_key(&p)?, (p, s)))).collect()
            };
            Some(Model { bids: side(b), asks: side(a) })
        })
    }

    /// Book levels in wire order (bids ascending, asks descending), with occasional faults.
    fn levels(&mut self, r: &mut Rng, id: &str) -> Texts {
        let mid = self.mid(r, id);
        let count = |r: &mut Rng| match r.below(1000) {
            0..=49 => 0,
            50..=699 => r.range(1, 10) as usize,
            700..=989 => r.range(10, 60) as usize,
            990..=998 => r.range(200, 2000) as usize,
            _ if r.one_in(4) => r.range(10_000, 30_000) as usize,
            _ => r.range(60, 200) as usize,
        };
        let (nb, na) = (count(r), count(r));
        let mut grid = *r.pick(&GRIDS);
        if nb.max(na) > 400 {
            grid = 1_000.min(grid);
        }
        let mut bids = Vec::new();
        let mut p = mid;
        for _ in 0..nb {
            let gap = grid * r.range(1, 3);
            if p <= gap {
                break;
            }
            p -= gap;
            bids.push((dec_text(p, r), size_text(r)));
        }
        bids.reverse();
        let mut asks = Vec::new();
        let mut p = if r.one_in(30) { mid.saturating_sub(grid * r.range(1, 4)) } else { mid };
        for _ in 0..na {
            p += grid * r.range(1, 3);
            if p >= 1_000_000_000 {
                break;
            }
            asks.push((dec_text(p, r), size_text(r)));
        }
        asks.reverse();
        for side in [&mut bids, &mut asks] {
            let n = side.len();
            if n >= 2 && r.one_in(25) {
                let i = r.below(n - 1);
                side.swap(i, i + 1);
            }
            if n >= 1 && r.one_in(40) {
                let i = r.below(n);
                let l = side[i].clone();
                side.insert(i, l);
            }
            if n >= 1 && r.one_in(20) {
                let i = r.below(n);
                side[i].1 = "0".into();
            }
        }
        (bids, asks)
    }

    fn level_array(&self, r: &mut Rng, ctx: &Ctx, ls: &[(String, String)]) -> Vec<u8> {
        let items: Vec<Vec<u8>> = ls
            .iter()
            .map(|(p, s)| {
                if r.one_in(500) {
                    obj(ctx.st, &[("size", self.s(ctx, r, s)), ("price", self.s(ctx, r, p))])
                } else {
                    obj(ctx.st, &[("price", self.s(ctx, r, p)), ("size", self.s(ctx, r, s))])
                }
            })
            .collect();
        arr(ctx.st, &items)
    }

    fn book(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness, rest: bool) -> Vec<u8> {
        let id = self.pick_id(r, h);
        let (bids, asks) = self.levels(r, &id);
        // The model after this book (when it is valid; a rejected one resets the token).
        let ordered = |ls: &[(String, String)], asc: bool| {
            ls.windows(2).all(|w| {
                let (a, b) = (price_key(&w[0].0), price_key(&w[1].0));
                matches!((a, b), (Some(a), Some(b)) if (a < b) == asc && a != b)
            })
        };
        let valid = ordered(&bids, true) && ordered(&asks, false);
        let side = |ls: &[(String, String)]| -> BookSide {
            ls.iter()
                .filter(|(_, s)| Dec::parse(s.as_bytes()).is_some_and(|d| !d.is_zero()))
                .filter_map(|(p, s)| Some((price_key(p)?, (p.clone(), s.clone()))))
                .collect()
        };
        let m = valid.then(|| Model { bids: side(&bids), asks: side(&asks) });
        *self.model(ctx, h, &id) = m.filter(|m| !matches!((m.best_bid(), m.best_ask()), (Some(b), Some(a)) if b >= a));
        // The condition id, now and then one the slot cannot keep (too long, not ASCII) or another one.
        let m = if r.one_in(20) {
            *r.pick(&[
                "0xce610556ec78cfd7894f4169d91fe70e31c2fb49f927fffd7fe7d06530f88d56ce610556ec78cfd7",
                "0x\u{e9}",
                "",
                "0x1",
            ])
        } else {
            "0xce610556ec78cfd7894f4169d91fe70e31c2fb49f927fffd7fe7d06530f88d56"
        };
        let market = self.s(ctx, r, m);
        let idv = self.s(ctx, r, &id);
        let ts = self.timestamp(r, ctx);
        let hash = self.hash(r, ctx);
        let b = self.level_array(r, ctx, &bids);
        let a = self.level_array(r, ctx, &asks);
        let tick = *r.pick(&["0.01", "0.001", "0.0001", "abc", ""]);
        let tick = self.s(ctx, r, tick);
        let ltp = {
            let p = dec_text(self.mid(r, &id), r);
            self.s(ctx, r, &p)
        };
        let et = self.s(ctx, r, "book");
        let mut members: Vec<(&str, Vec<u8>)> = if rest {
            let mos = *r.pick(&["5", "1", "0.5", "abc"]);
            let mos = self.s(ctx, r, mos);
            let neg = if r.one_in(2) { b"true".to_vec() } else { b"false".to_vec() };
            vec![
                ("market", market),
                ("asset_id", idv),
                ("timestamp", ts),
                ("hash", hash),
                ("bids", b),
                ("asks", a),
                ("min_order_size", mos),
                ("tick_size", tick),
                ("neg_risk", neg),
                ("last_trade_price", ltp),
            ]
        } else if r.one_in(2) {
            vec![
                ("market", market),
                ("asset_id", idv),
                ("timestamp", ts),
                ("hash", hash),
                ("bids", b),
                ("asks", a),
                ("tick_size", tick),
                ("event_type", et),
                ("last_trade_price", ltp),
            ]
        } else {
            vec![
                ("market", market),
                ("asset_id", idv),
                ("bids", b),
                ("asks", a),
                ("hash", hash),
                ("timestamp", ts),
                ("event_type", et),
            ]
        };
        self.shake(r, &mut members);
        obj(ctx.st, &members)
    }

    /// Sometimes: members in another order, or one of them missing.
    fn shake(&self, r: &mut Rng, members: &mut Vec<(&str, Vec<u8>)>) {
        if r.one_in(10) {
            for i in (1..members.len()).rev() {
                let j = r.below(i + 1);
                members.swap(i, j);
            }
        }
        if r.one_in(20) && !members.is_empty() {
            let i = r.below(members.len());
            members.remove(i);
        }
    }

    /// One level change for `id`: (price, size, BUY?) applied to the frame's model.
    fn change(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness, id: &str) -> (String, String, bool) {
        let mid = self.mid(r, id);
        let bid = r.one_in(2);
        let grid = *r.pick(&GRIDS[..4]);
        let model = self.model(ctx, h, id).clone();
        let (key, remove) = match (&model, r.below(100)) {
            (Some(m), 0..=34) if !(if bid { &m.bids } else { &m.asks }).is_empty() => {
                let side = if bid { &m.bids } else { &m.asks };
                let n = side.len();
                let k = r.geometric(n).min(n) - 1;
                let key = if bid { *side.keys().nth(n - 1 - k).unwrap() } else { *side.keys().nth(k).unwrap() };
                (key, r.one_in(3))
            }
            (Some(m), 35..=69) => {
                let best = if bid { m.best_bid() } else { m.best_ask() }.unwrap_or(mid);
                let k = grid * r.range(0, 6);
                let key = if bid { (best + grid * 2).saturating_sub(k) } else { (best + k).saturating_sub(grid * 2) };
                (key.clamp(1, 999_999_999), r.one_in(5))
            }
            (Some(m), 70..=79) => {
                let key = if bid {
                    m.best_ask().unwrap_or(mid) + grid * r.range(0, 2)
                } else {
                    m.best_bid().unwrap_or(mid).saturating_sub(grid * r.range(0, 2))
                };
                (key.clamp(1, 999_999_999), false)
            }
            _ => ((mid + grid * r.range(0, 40)).saturating_sub(grid * 20).clamp(1, 999_999_999), r.one_in(4)),
        };
        let price = dec_text(key, r);
        let size = if remove { "0".to_string() } else { size_text(r) };
        if let Some(Some(m)) = ctx.models.get_mut(id) {
            let side = if bid { &mut m.bids } else { &mut m.asks };
            if Dec::parse(size.as_bytes()).is_some_and(|d| d.is_zero()) {
                side.remove(&key);
            } else {
                side.insert(key, (price.clone(), size.clone()));
            }
        }
        (price, size, bid)
    }

    /// The server's best bid / best ask for `id` after the changes so far: right most of the time.
    fn bbo(&self, r: &mut Rng, ctx: &Ctx, id: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let m = ctx.models.get(id).cloned().flatten();
        let one = |r: &mut Rng, key: Option<u64>, empty: &str| -> Option<Vec<u8>> {
            let text = match (r.below(100), key) {
                (0..=84, Some(k)) => dec_text(k, r),
                (0..=84, None) => {
                    if r.one_in(4) {
                        empty.to_string()
                    } else {
                        String::new()
                    }
                }
                (85..=89, _) => return None,
                (90..=94, _) => String::new(),
                _ => dec_text(r.range(1, 999) * 1_000_000, r),
            };
            Some(self.s(ctx, r, &text))
        };
        match m {
            Some(m) => (one(r, m.best_bid(), "0"), one(r, m.best_ask(), "1")),
            None => (one(r, None, "0"), one(r, None, "1")),
        }
    }

    fn price_change(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness) -> Vec<u8> {
        let ntok = r.geometric(3);
        let ids: Vec<String> = (0..ntok).map(|_| self.pick_id(r, h)).collect();
        let n = if r.one_in(100) { r.range(10, 60) as usize } else { r.geometric(5) };
        let mut entries = Vec::new();
        for _ in 0..n {
            let id = r.pick(&ids).clone();
            let (p, s, bid) = self.change(r, ctx, h, &id);
            let (bb, ba) = self.bbo(r, ctx, &id);
            let side = if r.one_in(100) {
                r.pick(&["buy", "", "BID", "SELL "]).to_string()
            } else if bid {
                "BUY".into()
            } else {
                "SELL".into()
            };
            let mut m: Vec<(&str, Vec<u8>)> = vec![
                ("asset_id", self.s(ctx, r, &id)),
                ("price", self.s(ctx, r, &p)),
                ("size", self.s(ctx, r, &s)),
                ("side", self.s(ctx, r, &side)),
                ("hash", self.hash(r, ctx)),
            ];
            if let Some(bb) = bb {
                m.push(("best_bid", bb));
            }
            if let Some(ba) = ba {
                m.push(("best_ask", ba));
            }
            self.shake(r, &mut m);
            entries.push(obj(ctx.st, &m));
        }
        let mut members: Vec<(&str, Vec<u8>)> = vec![
            ("market", self.s(ctx, r, "0xce610556ec78cfd7894f4169d91fe70e31c2fb49f927fffd7fe7d06530f88d56")),
            ("price_changes", arr(ctx.st, &entries)),
            ("timestamp", self.timestamp(r, ctx)),
            ("event_type", self.s(ctx, r, "price_change")),
        ];
        self.shake(r, &mut members);
        obj(ctx.st, &members)
    }

    fn legacy_change(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness, v1: bool) -> Vec<u8> {
        let id = self.pick_id(r, h);
        let mut members: Vec<(&str, Vec<u8>)> = vec![
            ("asset_id", self.s(ctx, r, &id)),
            ("event_type", self.s(ctx, r, "price_change")),
            ("hash", self.hash(r, ctx)),
            ("market", self.s(ctx, r, "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917")),
            ("timestamp", self.timestamp(r, ctx)),
        ];
        if v1 {
            let n = r.geometric(4);
            let mut items = Vec::new();
            for _ in 0..n {
                let (p, s, bid) = self.change(r, ctx, h, &id);
                items.push(obj(
                    ctx.st,
                    &[
                        ("price", self.s(ctx, r, &p)),
                        ("side", self.s(ctx, r, if bid { "BUY" } else { "SELL" })),
                        ("size", self.s(ctx, r, &s)),
                    ],
                ));
            }
            members.push(("changes", arr(ctx.st, &items)));
        } else {
            let (p, s, bid) = self.change(r, ctx, h, &id);
            members.push(("price", self.s(ctx, r, &p)));
            members.push(("side", self.s(ctx, r, if bid { "BUY" } else { "SELL" })));
            members.push(("size", self.s(ctx, r, &s)));
        }
        self.shake(r, &mut members);
        obj(ctx.st, &members)
    }

    fn meta_event(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness, kind: usize) -> Vec<u8> {
        let id = self.pick_id(r, h);
        let idv = self.s(ctx, r, &id);
        let market = self.s(ctx, r, "0xbacdf04bf7f22a670dc4fb408878ec56b76f9934599829455b9371693ba84b8b");
        let ts = self.timestamp(r, ctx);
        let mut members: Vec<(&str, Vec<u8>)> = match kind {
            0 => {
                let t = r.pick(&["0.01", "0.001", "0.0001", "0.1", "1", "0", "abc", "", "0.00000000001"]).to_string();
                vec![
                    ("asset_id", idv),
                    ("event_type", self.s(ctx, r, "tick_size_change")),
                    ("market", market),
                    ("new_tick_size", self.s(ctx, r, &t)),
                    ("old_tick_size", self.s(ctx, r, "0.01")),
                    ("timestamp", ts),
                ]
            }
            1 => {
                let p = if r.one_in(10) {
                    r.pick(&["1", "0", "1.5", "", "-0.5"]).to_string()
                } else {
                    dec_text(self.mid(r, &id), r)
                };
                vec![
                    ("asset_id", idv),
                    ("event_type", self.s(ctx, r, "last_trade_price")),
                    ("fee_rate_bps", self.s(ctx, r, "0")),
                    ("market", market),
                    ("price", self.s(ctx, r, &p)),
                    ("side", {
                        let side = *r.pick(&["SELL", "BUY", "BUY", "sell", ""]);
                        self.s(ctx, r, side)
                    }),
                    ("size", {
                        let z = size_text(r);
                        self.s(ctx, r, &z)
                    }),
                    ("timestamp", ts),
                ]
            }
            _ => {
                let (bb, ba) = self.bbo(r, ctx, &id);
                let mut m = vec![("market", market), ("asset_id", idv)];
                if let Some(bb) = bb {
                    m.push(("best_bid", bb));
                }
                if let Some(ba) = ba {
                    m.push(("best_ask", ba));
                }
                m.push(("spread", self.s(ctx, r, "0.005")));
                m.push(("timestamp", ts));
                m.push(("event_type", self.s(ctx, r, "best_bid_ask")));
                m
            }
        };
        self.shake(r, &mut members);
        obj(ctx.st, &members)
    }

    fn resolved(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness) -> Vec<u8> {
        let n = r.geometric(3);
        let mut ids = Vec::new();
        for _ in 0..n {
            if r.one_in(30) {
                ids.push(b"null".to_vec());
            } else {
                let id = self.pick_id(r, h);
                ctx.models.insert(id.clone(), None);
                ids.push(self.s(ctx, r, &id));
            }
        }
        let mut members: Vec<(&str, Vec<u8>)> = vec![
            ("id", self.s(ctx, r, "5234673")),
            ("market", self.s(ctx, r, "0x0c1b")),
            ("assets_ids", arr(ctx.st, &ids)),
            ("winning_outcome", self.s(ctx, r, "Down")),
            ("timestamp", self.timestamp(r, ctx)),
            ("event_type", self.s(ctx, r, "market_resolved")),
        ];
        self.shake(r, &mut members);
        obj(ctx.st, &members)
    }

    fn unknown(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness) -> Vec<u8> {
        let id = self.pick_id(r, h);
        let et: Vec<u8> = match r.below(8) {
            0 => b"null".to_vec(),
            1 => b"7".to_vec(),
            2 => b"[\"book\"]".to_vec(),
            _ => {
                let t = *r.pick(&["foo", "Book", "book ", "", "price_change\u{0}", "PRICE_CHANGE", "tick_size"]);
                self.s(ctx, r, t)
            }
        };
        obj(ctx.st, &[("event_type", et), ("asset_id", self.s(ctx, r, &id))])
    }

    fn event(&mut self, r: &mut Rng, ctx: &mut Ctx, h: &Harness) -> Vec<u8> {
        match r.below(100) {
            0..=29 => self.book(r, ctx, h, false),
            30..=69 => self.price_change(r, ctx, h),
            70..=73 => self.legacy_change(r, ctx, h, true),
            74..=76 => self.legacy_change(r, ctx, h, false),
            77..=81 => self.meta_event(r, ctx, h, 0),
            82..=86 => self.meta_event(r, ctx, h, 1),
            87..=90 => self.meta_event(r, ctx, h, 2),
            91 => self.new_market.clone(),
            92 => self.resolved(r, ctx, h),
            _ => self.unknown(r, ctx, h),
        }
    }

    fn ctx(&self, r: &mut Rng) -> Ctx {
        let esc = match r.below(20) {
            0 => Esc::All,
            1..=2 => Esc::Some,
            _ => Esc::Plain,
        };
        Ctx { st: *r.pick(&STYLES), esc, models: HashMap::new() }
    }

    /// One frame: an event, an array of events, a text frame or a JSON scalar.
    fn frame(&mut self, r: &mut Rng, h: &Harness) -> Vec<u8> {
        let mut ctx = self.ctx(r);
        match r.below(100) {
            0..=69 => self.event(r, &mut ctx, h),
            70..=91 => {
                let n = if r.one_in(50) { r.range(20, 200) as usize } else { r.range(1, 6) as usize };
                let items: Vec<Vec<u8>> = (0..n).map(|_| self.event(r, &mut ctx, h)).collect();
                arr(ctx.st, &items)
            }
            92..=97 => {
                let word = r.pick(&[
                    "PONG",
                    "PING",
                    "NO NEW ASSETS",
                    "INVALID OPERATION",
                    "INVALID MESSAGE",
                    "[]",
                    "pong",
                    "PONG PONG",
                    "",
                    "[ ]",
                    "P",
                    "NO NEW ASSETS.",
                ]);
                let pad = |r: &mut Rng| -> String {
                    let n = r.below(3);
                    (0..n).map(|_| *r.pick(&[" ", "\t", "\n", "\r", "\x0c", "\x0b", "\u{a0}"])).collect()
                };
                format!("{}{word}{}", pad(r), pad(r)).into_bytes()
            }
            _ => r
                .pick(&["null", "0", "-1.5e3", "\"PONG\"", "true", "{}", "[[]]", "[null, 1, \"x\"]", "[{}]"])
                .as_bytes()
                .to_vec(),
        }
    }

    fn rest(&mut self, r: &mut Rng, h: &Harness) -> Vec<u8> {
        let mut ctx = self.ctx(r);
        self.book(r, &mut ctx, h, true)
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations

#[derive(Clone, Copy, Debug, PartialEq)]
enum TokKind {
    Str,
    Num,
    Lit,
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: TokKind,
    start: usize,
    end: usize,
}

/// A lenient tokenizer (never fails): strings (with quotes), numbers, literals, punctuation.
fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let start = i;
        let kind = match s[i] {
            b'"' => {
                i += 1;
                while i < s.len() {
                    match s[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                i = i.min(s.len());
                TokKind::Str
            }
            b'-' | b'0'..=b'9' => {
                while i < s.len() && matches!(s[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                TokKind::Num
            }
            b'a'..=b'z' => {
                while i < s.len() && s[i].is_ascii_lowercase() {
                    i += 1;
                }
                TokKind::Lit
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                i += 1;
                TokKind::Punct
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(Tok { kind, start, end: i });
    }
    out
}

/// The end of the JSON value starting at `i` (lenient: stops at the end of the input).
fn value_end(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        Some(b'"') => tokenize_one_string(s, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < s.len() {
                match s[j] {
                    b'"' => {
                        j = tokenize_one_string(s, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            s.len()
        }
        Some(_) => {
            let mut j = i;
            while j < s.len() && !matches!(s[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                j += 1;
            }
            j.max(i + 1).min(s.len())
        }
        None => i,
    }
}

fn tokenize_one_string(s: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    s.len()
}

/// Value spans of the input: every string, number, literal and container that follows ':' or
/// '[' or ',' (inside arrays), i.e. member values and array elements.
fn value_spans(s: &[u8], toks: &[Tok]) -> Vec<(usize, usize)> {
    // Ends of all containers in one pass (value_end per element would be quadratic in the depth).
    let mut close: HashMap<usize, usize> = HashMap::new();
    let mut stack = Vec::new();
    for t in toks {
        if t.kind == TokKind::Punct {
            match s[t.start] {
                b'{' | b'[' => stack.push(t.start),
                b'}' | b']' => {
                    if let Some(o) = stack.pop() {
                        close.insert(o, t.start + 1);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for (i, w) in toks.windows(2).enumerate() {
        let (p, v) = (w[0], w[1]);
        if p.kind == TokKind::Punct && matches!(s[p.start], b':' | b'[' | b',') {
            let is_key = v.kind == TokKind::Str
                && toks.get(i + 2).is_some_and(|t| t.kind == TokKind::Punct && s[t.start] == b':');
            if !is_key {
                let end = match s[v.start] {
                    b'{' | b'[' => close.get(&v.start).copied().unwrap_or(s.len()),
                    b'}' | b']' | b',' | b':' => continue,
                    _ => v.end,
                };
                out.push((v.start, end));
            }
        }
    }
    out
}

/// Member key tokens: a string followed by ':'.
fn key_spans(s: &[u8], toks: &[Tok]) -> Vec<(usize, usize)> {
    toks.windows(2)
        .filter(|w| w[0].kind == TokKind::Str && w[1].kind == TokKind::Punct && s[w[1].start] == b':')
        .map(|w| (w[0].start, w[0].end))
        .collect()
}

const ABSURD_DECIMALS: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "-0.5",
    "+0.5",
    "1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "0.5e1",
    "1.0",
    "0.0",
    "00",
    ".",
    "..5",
    "0..5",
    "0.5.5",
    "5.",
    ".5",
    "0.1234567890",
    "0.000000001",
    "0.0000000001",
    "999999999999999999999999",
    "9007199254740991",
    "9007199254740992",
    "18446744073709551616",
    "0.99999999999999999999",
    "0.999999999",
    "\u{661}",
    "\u{ff10}.\u{ff15}",
    " 0.5",
    "0.5 ",
    "0.5\\t",
    "0,5",
    "\u{bd}",
    "0.5x",
    "null",
    "true",
    "1_000",
    "4294967296",
    "0.000000000000000000000000001",
    "\\u0030.\\u0035",
    "0.\\u0035",
    "0.5\\u0000",
    "1.",
    "0.",
    "00000000000000000000000000000000000000.5",
    "9007199.254740991",
    "9007199.2547409911",
    "0.9007199254740991",
];

const WRONG_TYPES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e400",
    "-0",
    "0.5",
    "{}",
    "[]",
    "[[]]",
    "{\"price\":\"0.5\"}",
    "[{\"price\":\"0.5\",\"size\":\"1\"}]",
    "\"\"",
    "\"x\"",
    "[null]",
    "[1,2,3]",
    "{\"a\":{\"b\":[]}}",
    "\"BUY\"",
    "{\"price\":\"0.5\",\"size\":\"1\",\"side\":\"BUY\",\"asset_id\":\"1001\"}",
];

const ABSURD_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "123456789012345678901234567890",
    "-0",
    "0.1e+5",
    "1E5",
    "9007199254740993",
    "0.0000000000000000000001",
    "-9223372036854775809",
    "1.5",
    "0",
    "-",
    "01",
    "1.",
    ".5",
    "1e",
    "--1",
    "+1",
    "NaN",
];

const EVENT_TYPES: &[&str] = &[
    "book",
    "price_change",
    "tick_size_change",
    "last_trade_price",
    "best_bid_ask",
    "new_market",
    "market_resolved",
    "BOOK",
    "unknown",
    "",
];

const KEYS: &[&str] = &[
    "event_type",
    "asset_id",
    "market",
    "timestamp",
    "hash",
    "tick_size",
    "last_trade_price",
    "new_tick_size",
    "price",
    "size",
    "side",
    "min_order_size",
    "neg_risk",
    "bids",
    "asks",
    "price_changes",
    "changes",
    "assets_ids",
    "best_bid",
    "best_ask",
    "x",
];

const INSERTS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-",
    b"e",
    b".",
    b"0",
    b"\\u",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b"\\u0000",
    b" ",
    b"\x00",
    b"\x7f",
    b"\"\"",
    b"{}",
    b"[]",
    b",,",
    b"::",
    b"\"x\":1,",
];

const UNICODE: &[&[u8]] = &[
    b"\\ud800",
    b"\\udfff",
    b"\\ud83d\\ude00",
    b"\\ud83d",
    b"\\ude00\\ud83d",
    b"\\u0000",
    b"\\x",
    b"\\u12G4",
    b"\\U0041",
    b"\\u00e9",
    b"\\",
    b"\\\"",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"\xc0\x80",
    b"\xe0\x80\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b"\x01",
    b"\x7f",
    b"\t",
    b"\n",
    b"\\/",
    b"\\b\\f\\n\\r\\t",
    b"\xe2\x80\xa8",
    b"\xc2\xa0",
];

/// Names of the mutators (indices of [`Mutator::apply`]).
const MUTATORS: [&str; 20] = [
    "bit_flip",
    "byte_set",
    "delete_range",
    "insert_token",
    "duplicate_range",
    "truncate",
    "splice",
    "absurd_decimal",
    "wrong_type",
    "absurd_number",
    "duplicate_key",
    "deep_nesting",
    "unicode",
    "huge_array",
    "retarget_id",
    "event_type",
    "key_swap",
    "whitespace",
    "swap_strings",
    "long_digits",
];

const MAX_INPUT: usize = 4 << 20;

struct Mutator<'a> {
    universe: &'a [String],
}

impl Mutator<'_> {
    fn replace(data: &mut Vec<u8>, a: usize, b: usize, with: &[u8]) {
        let b = b.min(data.len());
        let a = a.min(b);
        data.splice(a..b, with.iter().copied());
    }

    fn string_spans(toks: &[Tok]) -> Vec<(usize, usize)> {
        toks.iter().filter(|t| t.kind == TokKind::Str && t.end - t.start >= 2).map(|t| (t.start, t.end)).collect()
    }

    fn long_digits(r: &mut Rng) -> String {
        let n = *r.pick(&[17usize, 20, 30, 100, 1000, 100_000]);
        let mut s: String = (0..n).map(|_| (b'0' + r.below(10) as u8) as char).collect();
        if r.one_in(2) {
            let at = r.below(n);
            s.insert(at, '.');
        }
        if r.one_in(3) {
            s = format!("0.{}", "0".repeat(n.min(1000)));
        } else if r.one_in(3) {
            s = format!("{}0.5", "0".repeat(n));
        }
        s
    }

    /// Applies mutator `k` (may do nothing when the input has no place for it). Returns the name.
    fn apply(&self, r: &mut Rng, data: &mut Vec<u8>, k: usize, donor: &[u8]) -> &'static str {
        let n = data.len();
        // Token-level mutators need tokens; byte-level ones do not. Very large inputs only get
        // byte-level mutations (tokenizing 8 MB per input would dominate the run).
        let toks = if k >= 7 && n <= 1 << 20 { tokenize(data) } else { Vec::new() };
        match k {
            0 if n > 0 => {
                let i = r.below(n);
                data[i] ^= 1 << r.below(8);
            }
            1 if n > 0 => {
                let i = r.below(n);
                data[i] = if r.one_in(2) { r.next() as u8 } else { *r.pick(b"\"\\{}[],:0.5-e \x00\xff") };
            }
            2 if n > 0 => {
                let a = r.below(n);
                let len = r.range(1, 16.min((n - a) as u64)) as usize;
                data.drain(a..a + len);
            }
            3 => {
                let at = r.below(n + 1);
                Self::replace(data, at, at, r.pick::<&[u8]>(INSERTS));
            }
            4 if n > 0 && n < MAX_INPUT / 2 => {
                let a = r.below(n);
                let len = r.range(1, 64.min((n - a) as u64)) as usize;
                let chunk = data[a..a + len].to_vec();
                let at = r.below(n + 1);
                Self::replace(data, at, at, &chunk);
            }
            5 if n > 0 => {
                // Truncation at a class of positions.
                let class: &[u8] =
                    r.pick::<&[u8]>(&[b"", b"\"", b":", b",", b"{[", b"0123456789", b"\\", b"u", b"}]", b"."]);
                let cands: Vec<usize> = if class.is_empty() {
                    vec![r.below(n)]
                } else {
                    data.iter().enumerate().filter(|(_, b)| class.contains(b)).map(|(i, _)| i).collect()
                };
                let mut cut = if cands.is_empty() { r.below(n) } else { *r.pick(&cands) + r.below(2) };
                // Inside a multi-byte character now and then.
                if r.one_in(4) {
                    if let Some(j) = data.iter().position(|&b| b >= 0xc0) {
                        cut = j + 1;
                    }
                }
                data.truncate(cut.min(n - 1));
            }
            6 if !donor.is_empty() => {
                // Splice: prefix of this input, suffix of the donor, preferably at the same class of byte.
                let class = *r.pick(b",{[:\"}");
                let pos = |s: &[u8], r: &mut Rng| -> usize {
                    let c: Vec<usize> = s.iter().enumerate().filter(|(_, &b)| b == class).map(|(i, _)| i).collect();
                    if c.is_empty() || r.one_in(3) {
                        r.below(s.len() + 1)
                    } else {
                        *r.pick(&c)
                    }
                };
                let a = pos(data, r);
                let b = pos(donor, r);
                data.truncate(a);
                data.extend_from_slice(&donor[b.min(donor.len())..]);
            }
            7 => {
                let spans = Self::string_spans(&toks);
                if spans.is_empty() {
                    return "absurd_decimal(none)";
                }
                let (a, b) = *r.pick(&spans);
                let v = if r.one_in(6) { Self::long_digits(r) } else { r.pick(ABSURD_DECIMALS).to_string() };
                Self::replace(data, a + 1, b - 1, v.as_bytes());
            }
            8 => {
                let spans = value_spans(data, &toks);
                if spans.is_empty() {
                    return "wrong_type(none)";
                }
                let (a, b) = *r.pick(&spans);
                Self::replace(data, a, b, r.pick(WRONG_TYPES).as_bytes());
            }
            9 => {
                let spans: Vec<(usize, usize)> = toks
                    .iter()
                    .filter(|t| t.kind == TokKind::Num || (t.kind == TokKind::Str && r.one_in(3)))
                    .map(|t| (t.start, t.end))
                    .collect();
                if spans.is_empty() {
                    return "absurd_number(none)";
                }
                let (a, b) = *r.pick(&spans);
                let v = if r.one_in(5) {
                    format!("1{}", "0".repeat(r.range(20, 400) as usize))
                } else {
                    r.pick(ABSURD_NUMBERS).to_string()
                };
                Self::replace(data, a, b, v.as_bytes());
            }
            10 => {
                // Duplicate a member: the same key again with another value, before or after.
                let keys = key_spans(data, &toks);
                if keys.is_empty() {
                    return "duplicate_key(none)";
                }
                let (ka, kb) = *r.pick(&keys);
                let key = data[ka..kb].to_vec();
                let Some(colon) = data[kb..].iter().position(|&b| b == b':').map(|p| kb + p) else {
                    return "duplicate_key(none)";
                };
                let mut vs = colon + 1;
                while vs < data.len() && data[vs].is_ascii_whitespace() {
                    vs += 1;
                }
                let ve = value_end(data, vs);
                let other: Vec<u8> = if r.one_in(2) && ve > vs {
                    data[vs..ve].to_vec()
                } else if r.one_in(2) {
                    r.pick(WRONG_TYPES).as_bytes().to_vec()
                } else {
                    plain(r.pick::<&str>(ABSURD_DECIMALS))
                };
                let mut member = key;
                member.push(b':');
                member.extend_from_slice(&other);
                if r.one_in(2) {
                    let mut ins = b",".to_vec();
                    ins.extend_from_slice(&member);
                    Self::replace(data, ve, ve, &ins);
                } else {
                    member.push(b',');
                    Self::replace(data, ka, ka, &member);
                }
            }
            11 => {
                let d = *r.pick(&[1usize, 2, 3, 10, 127, 128, 129, 1000, 100_000]);
                let spans = value_spans(data, &toks);
                if spans.is_empty() || r.one_in(5) {
                    let at = r.below(n + 1);
                    let open = if r.one_in(2) { b'[' } else { b'{' };
                    Self::replace(data, at, at, &vec![open; d]);
                } else {
                    let (a, b) = *r.pick(&spans);
                    let (open, close): (&[u8], &[u8]) = if r.one_in(3) { (b"{\"k\":", b"}") } else { (b"[", b"]") };
                    let mut v = open.repeat(d);
                    v.extend_from_slice(&data[a..b]);
                    v.extend_from_slice(&close.repeat(d));
                    Self::replace(data, a, b, &v);
                }
            }
            12 => {
                let spans = Self::string_spans(&toks);
                if spans.is_empty() {
                    return "unicode(none)";
                }
                let (a, b) = *r.pick(&spans);
                let inner = a + 1..b - 1;
                if r.one_in(2) && !inner.is_empty() {
                    // One printable character as a \u escape (not inside an escape sequence).
                    let i = r.range(inner.start as u64, inner.end as u64 - 1) as usize;
                    let c = data[i];
                    if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' && (i == 0 || data[i - 1] != b'\\') {
                        let mut e = Vec::new();
                        hex_escape(&mut e, c as u32, r.one_in(2));
                        Self::replace(data, i, i + 1, &e);
                    }
                } else {
                    let at = r.range(inner.start as u64, inner.end as u64) as usize;
                    Self::replace(data, at, at, r.pick::<&[u8]>(UNICODE));
                }
            }
            13 => {
                // Repeat an element of an array of objects many times.
                let opens: Vec<usize> = toks
                    .windows(2)
                    .filter(|w| data[w[0].start] == b'[' && w[1].kind == TokKind::Punct && data[w[1].start] == b'{')
                    .map(|w| w[1].start)
                    .collect();
                if opens.is_empty() {
                    return "huge_array(none)";
                }
                let a = *r.pick(&opens);
                let b = value_end(data, a);
                let copies =
                    if r.one_in(20) { *r.pick(&[10_000usize, 100_000]) } else { *r.pick(&[10usize, 100, 1000]) };
                let elem = data[a..b].to_vec();
                if elem.len() * copies > MAX_INPUT {
                    return "huge_array(too big)";
                }
                let mut v = Vec::with_capacity((elem.len() + 1) * copies);
                for _ in 0..copies {
                    v.extend_from_slice(&elem);
                    v.push(b',');
                }
                Self::replace(data, a, a, &v);
            }
            14 => {
                let spans: Vec<(usize, usize)> = toks
                    .iter()
                    .filter(|t| {
                        t.kind == TokKind::Str
                            && t.end - t.start > 3
                            && data[t.start + 1..t.end - 1].iter().all(|b| b.is_ascii_digit())
                    })
                    .map(|t| (t.start, t.end))
                    .collect();
                if spans.is_empty() {
                    return "retarget_id(none)";
                }
                let (a, b) = *r.pick(&spans);
                Self::replace(data, a, b, &plain(r.pick::<String>(self.universe)));
            }
            15 => {
                let spans: Vec<usize> = key_spans(data, &toks)
                    .into_iter()
                    .filter(|&(a, b)| &data[a..b] == b"\"event_type\"")
                    .map(|(_, b)| b)
                    .collect();
                if spans.is_empty() {
                    return "event_type(none)";
                }
                let kb = *r.pick(&spans);
                let Some(colon) = data[kb..].iter().position(|&b| b == b':').map(|p| kb + p) else {
                    return "event_type(none)";
                };
                let mut vs = colon + 1;
                while vs < data.len() && data[vs].is_ascii_whitespace() {
                    vs += 1;
                }
                let ve = value_end(data, vs);
                Self::replace(data, vs, ve, &plain(r.pick::<&str>(EVENT_TYPES)));
            }
            16 => {
                let keys = key_spans(data, &toks);
                if keys.is_empty() {
                    return "key_swap(none)";
                }
                let (a, b) = *r.pick(&keys);
                Self::replace(data, a, b, &plain(r.pick::<&str>(KEYS)));
            }
            17 => {
                let at = r.below(n + 1);
                let ws: &[u8] = r.pick::<&[u8]>(&[
                    b" ",
                    b"\t",
                    b"\n",
                    b"\r\n",
                    b"\x0b",
                    b"\x0c",
                    b"\xc2\xa0",
                    b"\xe2\x80\xa8",
                    b"\xef\xbb\xbf",
                ]);
                Self::replace(data, at, at, ws);
            }
            18 => {
                let spans = Self::string_spans(&toks);
                if spans.len() < 2 {
                    return "swap_strings(none)";
                }
                let i = r.below(spans.len() - 1);
                let j = (i + 1 + r.below(3)).min(spans.len() - 1);
                let (a, b) = (spans[i], spans[j]);
                let (sa, sb) = (data[a.0..a.1].to_vec(), data[b.0..b.1].to_vec());
                // Later span first, so the earlier indices stay valid.
                Self::replace(data, b.0, b.1, &sa);
                Self::replace(data, a.0, a.1, &sb);
            }
            19 => {
                let spans = Self::string_spans(&toks);
                if spans.is_empty() {
                    return "long_digits(none)";
                }
                let (a, b) = *r.pick(&spans);
                Self::replace(data, a + 1, b - 1, Self::long_digits(r).as_bytes());
            }
            _ => return "noop",
        }
        data.truncate(MAX_INPUT);
        MUTATORS[k]
    }
}

// ---------------------------------------------------------------------------------------------
// Rewriting a frame into semantically equal JSON that misses the parser's fast paths

fn ascii_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// DESIGN 5 step 2, written independently of the crate.
fn is_control_oracle(frame: &[u8]) -> bool {
    let mut a = 0;
    let mut b = frame.len();
    while a < b && ascii_ws(frame[a]) {
        a += 1;
    }
    while b > a && ascii_ws(frame[b - 1]) {
        b -= 1;
    }
    matches!(&frame[a..b], b"PONG" | b"PING" | b"NO NEW ASSETS" | b"INVALID OPERATION" | b"INVALID MESSAGE" | b"[]")
}

/// Whitespace after structural characters outside strings; `\u` escapes of printable ASCII inside
/// strings (never inside an escape sequence). Both keep the JSON (and any error) as it is.
fn rewrite(src: &[u8], r: &mut Rng, ws: bool, esc: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() + src.len() / 2 + 8);
    let mut in_str = false;
    let mut skip = 0usize;
    // Probabilities 1/2, 1/4 or 1/8 per place, drawn from a reservoir of random bits.
    let ws_bits = r.range(1, 2) as u32;
    let esc_bits = r.range(1, 3) as u32;
    let (mut bits, mut left) = (0u64, 0u32);
    let mut hit = |r: &mut Rng, n: u32| -> bool {
        if left < n {
            bits = r.next();
            left = 64;
        }
        let h = bits & ((1 << n) - 1) == 0;
        bits >>= n;
        left -= n;
        h
    };
    for (i, &b) in src.iter().enumerate() {
        if in_str {
            if skip > 0 {
                skip -= 1;
                if skip == 0 && b == b'u' && src.get(i - 1) == Some(&b'\\') {
                    skip = 4;
                }
                out.push(b);
                continue;
            }
            match b {
                b'\\' => {
                    skip = 1;
                    out.push(b);
                }
                b'"' => {
                    in_str = false;
                    out.push(b);
                }
                0x20..=0x7e if esc && hit(r, esc_bits) => hex_escape(&mut out, b as u32, r.one_in(2)),
                _ => out.push(b),
            }
            continue;
        }
        out.push(b);
        match b {
            b'"' => in_str = true,
            b'{' | b'[' | b',' | b':' | b'}' | b']' if ws && hit(r, ws_bits) => {
                out.extend_from_slice(r.pick::<&[u8]>(&[b" ", b"\n", b"\t", b"\r\n  ", b"  "]));
            }
            _ => {}
        }
    }
    out
}

/// The shadow frame: a random semantically equal rewrite (or the frame itself).
fn shadow_of(frame: &[u8], r: &mut Rng, parser: &mut Parser, rest: bool) -> (Vec<u8>, bool) {
    if is_control_oracle(frame) || frame.len() > 1 << 20 || r.one_in(3) {
        return (frame.to_vec(), false);
    }
    let (ws, esc) = match r.below(3) {
        0 => (true, false),
        1 => (false, true),
        _ => (true, true),
    };
    let mut out = rewrite(frame, r, ws, esc);
    if !rest && r.one_in(3) && parser.parse(&out) == Ok(Top::Object) {
        out.insert(0, b'[');
        out.push(b']');
    }
    (out, true)
}

// ---------------------------------------------------------------------------------------------
// The harness: a table and its shadow, every call checked

#[derive(Clone, Debug)]
enum Op {
    Table { capacity: usize, depth: usize, grace: f64 },
    Bind { slot: u32, conn: u32, id: String },
    Unbind { slot: u32 },
    Meta { slot: u32, mos: String, neg: bool },
    Disable { slot: u32, on: bool },
    Invalidate { slot: u32, now: f64 },
    Tick { now: f64 },
    Take,
    Ingest { now: f64, frame: Vec<u8>, shadow: Vec<u8> },
    Rest { now: f64, json: Vec<u8>, shadow: Vec<u8> },
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn fbits(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn unbits(s: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(s, 16).expect("f64 bits"))
}

impl Op {
    fn line(&self) -> String {
        match self {
            Op::Table { capacity, depth, grace } => format!("table {capacity} {depth} {}", fbits(*grace)),
            Op::Bind { slot, conn, id } => format!("bind {slot} {conn} {}", hex(id.as_bytes())),
            Op::Unbind { slot } => format!("unbind {slot}"),
            Op::Meta { slot, mos, neg } => format!("meta {slot} {} {}", hex(mos.as_bytes()), *neg as u8),
            Op::Disable { slot, on } => format!("disable {slot} {}", *on as u8),
            Op::Invalidate { slot, now } => format!("invalidate {slot} {}", fbits(*now)),
            Op::Tick { now } => format!("tick {}", fbits(*now)),
            Op::Take => "take".to_string(),
            Op::Ingest { now, frame, shadow } => format!("ingest {} {} {}", fbits(*now), hex(frame), hex(shadow)),
            Op::Rest { now, json, shadow } => format!("rest {} {} {}", fbits(*now), hex(json), hex(shadow)),
        }
    }

    fn parse(line: &str) -> Op {
        let w: Vec<&str> = line.split(' ').collect();
        let u = |i: usize| w[i].parse::<u32>().expect("number");
        let h = |i: usize| if w.len() > i { unhex(w[i]) } else { Vec::new() };
        match w[0] {
            "table" => Op::Table { capacity: w[1].parse().unwrap(), depth: w[2].parse().unwrap(), grace: unbits(w[3]) },
            "bind" => Op::Bind { slot: u(1), conn: u(2), id: String::from_utf8(h(3)).unwrap() },
            "unbind" => Op::Unbind { slot: u(1) },
            "meta" => Op::Meta { slot: u(1), mos: String::from_utf8(h(2)).unwrap(), neg: w[3] == "1" },
            "disable" => Op::Disable { slot: u(1), on: w[2] == "1" },
            "invalidate" => Op::Invalidate { slot: u(1), now: unbits(w[2]) },
            "tick" => Op::Tick { now: unbits(w[1]) },
            "take" => Op::Take,
            "ingest" => Op::Ingest { now: unbits(w[1]), frame: h(2), shadow: h(3) },
            "rest" => Op::Rest { now: unbits(w[1]), json: h(2), shadow: h(3) },
            other => panic!("unknown op {other:?}"),
        }
    }
}

/// Everything the API shows of a table: every word of every slot, and the counters.
#[derive(Clone, PartialEq)]
struct Snap {
    slots: Vec<Vec<u64>>,
    counters: [f64; NC],
}

fn snap(t: &OwnedTable) -> Snap {
    let words = slot_bytes(t.depth()) / 8;
    let slots = (0..t.capacity())
        .map(|s| {
            let base = t.slot_offset(s);
            (0..words).map(|w| t.read_f64(base + 8 * w).to_bits()).collect()
        })
        .collect();
    let mut counters = [0.0; NC];
    for (i, c) in counters.iter_mut().enumerate() {
        *c = t.counter(i);
    }
    Snap { slots, counters }
}

fn lo(w: u64) -> i32 {
    w as u32 as i32
}
fn hi(w: u64) -> i32 {
    (w >> 32) as u32 as i32
}
fn fw(words: &[u64], off: usize) -> f64 {
    f64::from_bits(words[off / 8])
}

/// The outcome of an ingest, for the report and the feedback signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Control,
    BadJson,
    Scalar,
    Events,
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !$cond {
            panic!("invariant violated: {}", format!($($arg)*));
        }
    };
}

struct Harness {
    a: OwnedTable,
    b: OwnedTable,
    prev: Snap,
    /// Mirror of the table's id -> slot map (latest bind wins).
    ids: BTreeMap<String, u32>,
    slot_ids: Vec<Option<String>>,
    now: f64,
    weird_time: bool,
    log: Vec<Op>,
    /// Per op of the current table: counter deltas (for the caller).
    last_delta: [f64; NC],
    last_outcome: Option<Outcome>,
    /// Flag transitions (before, after) of the last op.
    last_transitions: Vec<(i32, i32)>,
    checks: u64,
    serde_agree: u64,
    prev_b_bytes: f64,
    text_checks: u64,
    /// Coverage counters first reached by the last call (coverage build only).
    last_new_cov: usize,
}

/// A slot named by a `price_change`, its book before (None: not READY) and its changes
/// (bid?, price text, size text) in order.
type SlotChanges = (u32, Option<Texts>, Vec<(bool, String, String)>);

/// What a single-event frame must do to the exact texts of the books it names (checked when the
/// counters say it was applied as a whole): computed with serde_json, independently of the crate.
enum Expect {
    /// `book`: the full book becomes these levels (size-0 levels dropped), wire order.
    Book { slot: u32, bids: Vec<(String, String)>, asks: Vec<(String, String)> },
    /// Current-format `price_change`: per named slot, the book before and the changes in order.
    Changes { entries: usize, slots: Vec<SlotChanges> },
}

fn text_levels(v: &serde_json::Value) -> Option<Vec<(String, String)>> {
    v.as_array()?
        .iter()
        .map(|l| Some((l.get("price")?.as_str()?.to_string(), l.get("size")?.as_str()?.to_string())))
        .collect()
}

/// Applies changes to a book of exact texts (a level's identity is its price value; the last text
/// received for it wins; size 0 removes), wire order kept.
fn apply_texts(book: Texts, changes: &[(bool, String, String)]) -> Option<Texts> {
    let side = |v: Vec<(String, String)>| -> Option<BTreeMap<u64, (String, String)>> {
        v.into_iter().map(|(p, z)| Some((price_key(&p)?, (p, z)))).collect()
    };
    let (mut b, mut a) = (side(book.0)?, side(book.1)?);
    for (bid, p, z) in changes {
        let m = if *bid { &mut b } else { &mut a };
        let k = price_key(p)?;
        if Dec::parse(z.as_bytes())?.is_zero() {
            m.remove(&k);
        } else {
            m.insert(k, (p.clone(), z.clone()));
        }
    }
    Some((b.into_values().collect(), a.into_values().rev().collect()))
}

impl Harness {
    /// The expected effect of `frame` on exact texts, if it is one `book` or one current-format
    /// `price_change` event naming subscribed tokens.
    fn expect(&self, frame: &[u8]) -> Option<Expect> {
        if frame.len() > 256 << 10 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(frame).ok()?;
        let ev = match &v {
            serde_json::Value::Array(a) if a.len() == 1 => &a[0],
            serde_json::Value::Object(_) => &v,
            _ => return None,
        };
        let slot_of = |id: &serde_json::Value| -> Option<u32> { self.ids.get(id.as_str()?).copied() };
        match ev.get("event_type")?.as_str()? {
            "book" => {
                let slot = slot_of(ev.get("asset_id")?)?;
                let keep = |ls: Vec<(String, String)>| {
                    ls.into_iter().filter(|(_, z)| Dec::parse(z.as_bytes()).is_some_and(|d| !d.is_zero())).collect()
                };
                Some(Expect::Book {
                    slot,
                    bids: keep(text_levels(ev.get("bids")?)?),
                    asks: keep(text_levels(ev.get("asks")?)?),
                })
            }
            "price_change" => {
                let list = ev.get("price_changes")?.as_array()?;
                let mut slots: Vec<SlotChanges> = Vec::new();
                let mut entries = 0;
                for e in list {
                    let side = match e.get("side")?.as_str()? {
                        "BUY" => true,
                        "SELL" => false,
                        _ => return None,
                    };
                    let (p, z) = (e.get("price")?.as_str()?.to_string(), e.get("size")?.as_str()?.to_string());
                    let Some(slot) = slot_of(e.get("asset_id")?) else { continue };
                    let i = match slots.iter().position(|x| x.0 == slot) {
                        Some(i) => i,
                        None => {
                            slots.push((slot, self.a.full_book(slot), Vec::new()));
                            slots.len() - 1
                        }
                    };
                    if slots[i].1.is_some() {
                        entries += 1;
                        slots[i].2.push((side, p, z));
                    }
                }
                Some(Expect::Changes { entries, slots })
            }
            _ => None,
        }
    }

    /// Checks an [`Expect`] after the frame, when the counters say it applied cleanly.
    fn check_expect(&self, ex: Expect) -> u64 {
        let d = &self.last_delta;
        let clean =
            [c::DESYNCS, c::CROSSED_RESETS, c::BAD_EVENT, c::BAD_DECIMAL, c::UNORDERED_LEVELS, c::SNAPSHOTS_REJECTED]
                .iter()
                .all(|&i| d[i] == 0.0);
        if !clean {
            return 0;
        }
        match ex {
            Expect::Book { slot, bids, asks } => {
                if d[c::SNAPSHOTS_APPLIED] != 1.0 {
                    return 0;
                }
                let got = self.a.full_book(slot);
                ensure!(
                    got.as_ref() == Some(&(bids.clone(), asks.clone())),
                    "slot {slot}: full book after a book event differs from its levels:\n  got {got:?}\n  want {:?}",
                    (bids, asks)
                );
                1
            }
            Expect::Changes { entries, slots } => {
                if d[c::DELTAS_APPLIED] != entries as f64 || entries == 0 {
                    return 0;
                }
                for (slot, before, changes) in slots {
                    let Some(before) = before else { continue };
                    let Some(want) = apply_texts(before, &changes) else { continue };
                    let got = self.a.full_book(slot);
                    ensure!(got.as_ref() == Some(&want), "slot {slot}: full book after {} changes differs:\n  changes {changes:?}\n  got {got:?}\n  want {want:?}", changes.len());
                }
                1
            }
        }
    }

    fn new(capacity: usize, depth: usize, grace: f64) -> Harness {
        let a = OwnedTable::new(capacity, depth, grace);
        let b = OwnedTable::new(capacity, depth, grace);
        let prev = snap(&a);
        Harness {
            a,
            b,
            prev,
            ids: BTreeMap::new(),
            slot_ids: vec![None; capacity],
            now: 1000.0,
            weird_time: false,
            log: vec![Op::Table { capacity, depth, grace }],
            last_delta: [0.0; NC],
            last_outcome: None,
            last_transitions: Vec::new(),
            checks: 0,
            serde_agree: 0,
            prev_b_bytes: 0.0,
            text_checks: 0,
            last_new_cov: 0,
        }
    }

    fn apply(&mut self, op: Op) {
        self.log.push(op.clone());
        self.last_outcome = None;
        self.last_new_cov = 0;
        let mut expect = None;
        match &op {
            Op::Table { .. } => {}
            Op::Bind { slot, conn, id } => {
                let (ra, rb) = (self.a.bind(id, *slot, *conn), self.b.bind(id, *slot, *conn));
                ensure!(ra == rb, "bind results differ");
                if ra.is_ok() {
                    let s = *slot as usize;
                    if let Some(old) = self.slot_ids[s].take() {
                        if self.ids.get(&old) == Some(slot) {
                            self.ids.remove(&old);
                        }
                    }
                    self.slot_ids[s] = Some(id.clone());
                    self.ids.insert(id.clone(), *slot);
                }
            }
            Op::Unbind { slot } => {
                let (ra, rb) = (self.a.unbind(*slot), self.b.unbind(*slot));
                ensure!(ra == rb, "unbind results differ");
                if ra.is_ok() {
                    if let Some(old) = self.slot_ids[*slot as usize].take() {
                        if self.ids.get(&old) == Some(slot) {
                            self.ids.remove(&old);
                        }
                    }
                }
            }
            Op::Meta { slot, mos, neg } => {
                let (ra, rb) = (self.a.set_meta(*slot, mos, *neg), self.b.set_meta(*slot, mos, *neg));
                ensure!(ra == rb, "set_meta results differ");
            }
            Op::Disable { slot, on } => {
                let (ra, rb) = (self.a.set_disabled(*slot, *on), self.b.set_disabled(*slot, *on));
                ensure!(ra == rb, "set_disabled results differ");
            }
            Op::Invalidate { slot, now } => {
                self.now = *now;
                let (ra, rb) = (self.a.invalidate(*slot, *now), self.b.invalidate(*slot, *now));
                ensure!(ra == rb, "invalidate results differ");
            }
            Op::Tick { now } => {
                self.now = *now;
                let seqs = slot_versions(&self.a);
                let (ra, rb) = (self.a.tick(*now), self.b.tick(*now));
                ensure!(ra == rb, "tick results differ: {ra} vs {rb}");
                let published = slot_versions(&self.a) != seqs;
                ensure!(
                    ra == status(self.a.resync_len(), false, published),
                    "tick returned {ra}, resync_len {}, published {published}",
                    self.a.resync_len()
                );
            }
            Op::Take => {
                let (ra, rb) = (self.a.take_resync(), self.b.take_resync());
                ensure!(ra == rb, "resync lists differ: {ra:?} vs {rb:?}");
                let set: HashSet<&String> = ra.iter().collect();
                ensure!(set.len() == ra.len(), "resync list has duplicates: {ra:?}");
                ensure!(self.a.resync_len() == 0, "resync_len after take_resync");
            }
            Op::Ingest { now, frame, shadow } => {
                self.now = *now;
                expect = self.expect(frame);
                cov::scan();
                let bad_before = self.a.counter(c::BAD_JSON);
                let seqs = slot_versions(&self.a);
                let ra = self.a.ingest(frame, *now);
                let rb = self.b.ingest(shadow, *now);
                self.last_new_cov = cov::scan();
                ensure!(ra == rb, "ingest returned {ra} on the table, {rb} on the shadow");
                let bad = self.a.counter(c::BAD_JSON) > bad_before;
                let published = slot_versions(&self.a) != seqs;
                ensure!(
                    ra == status(self.a.resync_len(), bad, published),
                    "ingest returned {ra}, resync_len {}, bad frame {bad}, published {published}",
                    self.a.resync_len()
                );
            }
            Op::Rest { now, json, shadow } => {
                self.now = *now;
                cov::scan();
                self.a.rest_json(json, *now);
                self.b.rest_json(shadow, *now);
                self.last_new_cov = cov::scan();
            }
        }
        self.check(&op);
        if let Some(ex) = expect {
            self.text_checks += self.check_expect(ex);
        }
    }

    /// Every invariant, after every call.
    fn check(&mut self, op: &Op) {
        self.checks += 1;
        let sa = snap(&self.a);
        let sb = snap(&self.b);
        let prev = std::mem::replace(&mut self.prev, sa.clone());
        let depth = self.a.depth();
        let writes_books = matches!(op, Op::Ingest { .. } | Op::Rest { .. } | Op::Tick { .. } | Op::Invalidate { .. });

        // ----- counters
        let mut d = [0.0; NC];
        for i in 0..NC {
            let header = self.a.read_f64(H_COUNTERS + i * 8);
            ensure!(
                header.to_bits() == sa.counters[i].to_bits(),
                "header counter {} = {header}, counter() = {}",
                COUNTERS[i],
                sa.counters[i]
            );
            ensure!(
                sa.counters[i].is_finite() && sa.counters[i] >= 0.0 && sa.counters[i].fract() == 0.0,
                "counter {} = {}",
                COUNTERS[i],
                sa.counters[i]
            );
            ensure!(
                sa.counters[i] >= prev.counters[i],
                "counter {} went down: {} -> {}",
                COUNTERS[i],
                prev.counters[i],
                sa.counters[i]
            );
            if i != c::BYTES {
                ensure!(
                    sa.counters[i] == sb.counters[i],
                    "counter {}: table {} vs shadow {}",
                    COUNTERS[i],
                    sa.counters[i],
                    sb.counters[i]
                );
            }
            d[i] = sa.counters[i] - prev.counters[i];
        }
        self.last_delta = d;
        let prev_b_bytes = std::mem::replace(&mut self.prev_b_bytes, sb.counters[c::BYTES]);
        match op {
            Op::Ingest { frame, shadow, .. } => {
                ensure!(d[c::FRAMES] == 1.0, "frames += {}", d[c::FRAMES]);
                ensure!(d[c::BYTES] == frame.len() as f64, "bytes += {} for {} bytes", d[c::BYTES], frame.len());
                let db = sb.counters[c::BYTES] - prev_b_bytes;
                ensure!(db == shadow.len() as f64, "shadow bytes += {db} for {} bytes", shadow.len());
                self.outcome(frame, &d);
            }
            _ => {
                ensure!(
                    d[c::FRAMES] == 0.0 && d[c::BYTES] == 0.0 && d[c::EVENTS] == 0.0 && d[c::CONTROL_FRAMES] == 0.0,
                    "a non-ingest call counted frames"
                );
                if !matches!(op, Op::Rest { .. }) {
                    for i in 0..NC {
                        let allowed = match op {
                            Op::Tick { .. } => [c::DESYNCS, c::HASH_CHECKS, c::HASH_MISMATCHES].contains(&i),
                            Op::Invalidate { .. } => i == c::INVALIDATIONS,
                            _ => false,
                        };
                        ensure!(allowed || d[i] == 0.0, "{op:?} changed counter {} by {}", COUNTERS[i], d[i]);
                    }
                }
            }
        }

        // ----- slots
        self.last_transitions.clear();
        for s in 0..self.a.capacity() {
            let (w, p) = (&sa.slots[s], &prev.slots[s]);
            ensure!(
                w == &sb.slots[s],
                "slot {s}: table and shadow differ (byte offset, table word, shadow word: {:?})",
                first_diff(w, &sb.slots[s])
            );
            let (seq, flags, nb, na, conn, gen) = (lo(w[0]), hi(w[0]), lo(w[1]), hi(w[1]), lo(w[2]), hi(w[2]));
            let (pseq, pflags, pgen) = (lo(p[0]), hi(p[0]), hi(p[2]));
            if flags != pflags {
                self.last_transitions.push((pflags, flags));
            }
            ensure!(seq & 1 == 0, "slot {s}: seqlock version {seq} is odd after the call");
            ensure!(seq.wrapping_sub(pseq) >= 0, "slot {s}: seqlock version went back {pseq} -> {seq}");
            ensure!(flags & !0x7f == 0, "slot {s}: unknown flag bits {flags:#x}");
            // (`disable` of an unbound slot sets DISABLED alone.)
            ensure!(
                flags & !F_DISABLED == 0 || flags & F_SUBSCRIBED != 0,
                "slot {s}: flags {flags:#x} without SUBSCRIBED"
            );
            let ready = flags & F_READY != 0;
            if ready {
                ensure!(flags & F_HAS_BOOK != 0, "slot {s}: READY without HAS_BOOK ({flags:#x})");
                // (READY with SETTLED is allowed: a book for a settled token is stored, never served.)
                ensure!(flags & F_CROSSED == 0, "slot {s}: READY with CROSSED ({flags:#x})");
            }
            ensure!(flags & F_MISMATCH == 0 || ready, "slot {s}: MISMATCH without READY ({flags:#x})");
            ensure!((0..=255).contains(&conn), "slot {s}: conn {conn}");
            let (bl, al) = (fw(w, S_BID_LEVELS), fw(w, S_ASK_LEVELS));
            ensure!(
                bl >= 0.0 && al >= 0.0 && bl.fract() == 0.0 && al.fract() == 0.0,
                "slot {s}: level counts {bl} {al}"
            );
            ensure!(
                nb as f64 == bl.min(depth as f64) && na as f64 == al.min(depth as f64),
                "slot {s}: nBids {nb} nAsks {na}, full depth {bl} {al}, depth {depth}"
            );
            if !ready {
                ensure!(bl == 0.0 && al == 0.0, "slot {s}: a book of {bl}/{al} levels without READY ({flags:#x})");
            }
            let (tick, ltp, exch, lu, sq, upd) = (
                fw(w, S_TICK_SIZE),
                fw(w, S_LAST_TRADE),
                fw(w, S_EXCH_TS),
                fw(w, S_LAST_UPDATE),
                fw(w, S_SEQUENCE),
                fw(w, S_UPDATES),
            );
            ensure!(tick.is_nan() || (tick.is_finite() && tick >= 0.0), "slot {s}: tickSize {tick}");
            // A slot never bound still holds the zeros of a fresh table.
            let fresh = gen == 0 && flags == 0;
            ensure!(ltp.is_nan() || (ltp > 0.0 && ltp < 1.0) || (fresh && ltp == 0.0), "slot {s}: lastTrade {ltp}");
            ensure!(exch.is_nan() || (exch.is_finite() && exch >= 0.0), "slot {s}: exchTs {exch}");
            let (lts, ltt, mos) = (fw(w, S_LAST_TRADE_SIZE), fw(w, S_LAST_TRADE_TS), fw(w, S_MIN_ORDER_SIZE));
            ensure!(lts.is_nan() || (lts.is_finite() && lts >= 0.0), "slot {s}: lastTradeSize {lts}");
            ensure!(ltt.is_nan() || (ltt.is_finite() && ltt >= 0.0), "slot {s}: lastTradeTs {ltt}");
            ensure!(mos.is_nan() || (mos.is_finite() && mos >= 0.0), "slot {s}: minOrderSize {mos}");
            let (side, neg) = (lo(w[S_LAST_TRADE_SIDE / 8]), hi(w[S_NEG_RISK / 8]));
            ensure!((SIDE_UNKNOWN..=SIDE_SELL).contains(&side), "slot {s}: lastTradeSide {side}");
            ensure!((NEG_RISK_UNKNOWN..=NEG_RISK_YES).contains(&neg), "slot {s}: negRisk {neg}");
            // A bound token's trade details only come with its price.
            ensure!(
                flags & F_SUBSCRIBED == 0 || !ltp.is_nan() || (lts.is_nan() && ltt.is_nan() && side == SIDE_UNKNOWN),
                "slot {s}: trade details without a price"
            );
            let mlen = hi(w[S_MARKET_LENGTH / 8]);
            ensure!((0..=MARKET_BYTES as i32).contains(&mlen), "slot {s}: market length {mlen}");
            let text: Vec<u8> =
                (S_MARKET..S_MARKET + MARKET_BYTES).map(|i| (w[i / 8] >> (8 * (i % 8))) as u8).collect();
            ensure!(
                text[..mlen as usize].iter().all(|b| (0x20..=0x7e).contains(b))
                    && text[mlen as usize..].iter().all(|&b| b == 0),
                "slot {s}: market field {text:?} (length {mlen})"
            );
            ensure!(
                sq >= 0.0 && sq.fract() == 0.0 && upd >= 0.0 && upd.fract() == 0.0,
                "slot {s}: sequence {sq} updates {upd}"
            );
            if writes_books {
                let (psq, pupd, plu) = (fw(p, S_SEQUENCE), fw(p, S_UPDATES), fw(p, S_LAST_UPDATE));
                ensure!(gen == pgen && conn == lo(p[2]), "slot {s}: {op:?} changed gen/conn");
                let pubs = seq.wrapping_sub(pseq) / 2;
                ensure!(sq - psq == pubs as f64, "slot {s}: {pubs} publishes but sequence {psq} -> {sq}");
                ensure!(pubs <= 2, "slot {s}: {pubs} publishes in one call");
                ensure!(upd >= pupd, "slot {s}: updates went down {pupd} -> {upd}");
                if !self.weird_time {
                    ensure!(lu == plu || lu == self.now, "slot {s}: lastUpdate {plu} -> {lu}, now {}", self.now);
                }
                if pubs == 1 {
                    // DESIGN 5.8 rule 6: a publish means a published field or level changed (the seqlock
                    // version and `sequence` aside; level words are only written below nBids/nAsks).
                    let changed = hi(w[0]) != hi(p[0]) || (1..w.len()).any(|i| i != S_SEQUENCE / 8 && w[i] != p[i]);
                    ensure!(changed, "slot {s}: published with nothing changed");
                }
            }

            // The full book (exact texts) against the published view: after every publish, and
            // in rotation otherwise (copying every full book after every call would dominate).
            if seq == pseq && !(self.checks as usize + s).is_multiple_of(16) {
                continue;
            }
            let fb = self.a.full_book(s as u32);
            ensure!(
                fb.is_some() == ready,
                "slot {s}: full_book {} but READY {ready}",
                if fb.is_some() { "Some" } else { "None" }
            );
            ensure!(fb == self.b.full_book(s as u32), "slot {s}: full books of table and shadow differ");
            let Some((bids, asks)) = fb else {
                continue;
            };
            ensure!(
                bids.len() as f64 == bl && asks.len() as f64 == al,
                "slot {s}: full book {}/{} levels, published counts {bl}/{al}",
                bids.len(),
                asks.len()
            );
            let keys = |side: &[(String, String)], what: &str| -> Vec<u64> {
                side.iter()
                    .map(|(p, z)| {
                        let k = price_key(p).unwrap_or_else(|| {
                            panic!("invariant violated: slot {s}: {what} price {p:?} is not a price")
                        });
                        let size = Dec::parse(z.as_bytes()).unwrap_or_else(|| {
                            panic!("invariant violated: slot {s}: {what} size {z:?} is not a decimal")
                        });
                        ensure!(!size.is_zero(), "slot {s}: {what} level {p} has size {z:?}");
                        k
                    })
                    .collect()
            };
            let (bk, ak) = (keys(&bids, "bid"), keys(&asks, "ask"));
            ensure!(bk.windows(2).all(|x| x[0] < x[1]), "slot {s}: bids not strictly ascending (wire order): {bids:?}");
            ensure!(
                ak.windows(2).all(|x| x[0] > x[1]),
                "slot {s}: asks not strictly descending (wire order): {asks:?}"
            );
            if let (Some(b), Some(a)) = (bk.last(), ak.last()) {
                ensure!(
                    b < a,
                    "slot {s}: READY book is crossed: best bid {} >= best ask {}",
                    bids.last().unwrap().0,
                    asks.last().unwrap().0
                );
            }
            for (side, n, first) in [(&bids, nb as usize, S_LEVELS), (&asks, na as usize, S_LEVELS + depth * 16)] {
                for k in 0..n {
                    let (pt, st) = &side[side.len() - 1 - k];
                    let (pp, ps) = (fw(w, first + 16 * k), fw(w, first + 16 * k + 8));
                    let (ep, es) = (pt.parse::<f64>().unwrap(), st.parse::<f64>().unwrap());
                    ensure!(
                        pp.to_bits() == ep.to_bits() && ps.to_bits() == es.to_bits(),
                        "slot {s}: published level {k} = ({pp}, {ps}), full book has ({pt}, {st})"
                    );
                }
            }
            let served =
                flags & (F_SUBSCRIBED | F_READY | F_DISABLED | F_SETTLED | F_MISMATCH) == F_SUBSCRIBED | F_READY;
            if served && nb > 0 && na > 0 {
                let (b0, a0) = (fw(w, S_LEVELS), fw(w, S_LEVELS + depth * 16));
                ensure!(b0 < a0, "slot {s}: served book is crossed: {b0} >= {a0}");
            }
        }
    }

    /// The frame's outcome by the counters, against an independent JSON parser.
    fn outcome(&mut self, frame: &[u8], d: &[f64; NC]) {
        let control = d[c::CONTROL_FRAMES];
        let bad_json = d[c::BAD_JSON];
        ensure!(control <= 1.0 && bad_json <= 1.0 && control + bad_json <= 1.0, "control {control} badJson {bad_json}");
        ensure!(
            (control == 1.0) == is_control_oracle(frame),
            "controlFrames += {control} for {:?}",
            String::from_utf8_lossy(&frame[..frame.len().min(40)])
        );
        let outcome = if control == 1.0 {
            Outcome::Control
        } else if bad_json == 1.0 {
            Outcome::BadJson
        } else if d[c::EVENTS] == 0.0
            && d[c::BAD_EVENT] == 1.0
            && !matches!(frame.iter().find(|b| !ascii_ws(**b)), Some(b'[') | Some(b'{'))
        {
            Outcome::Scalar
        } else {
            Outcome::Events
        };
        self.last_outcome = Some(outcome);
        if matches!(outcome, Outcome::Control | Outcome::BadJson) {
            for i in 0..NC {
                ensure!(
                    d[i] == 0.0 || [c::FRAMES, c::BYTES, c::DESYNCS, c::CONTROL_FRAMES, c::BAD_JSON].contains(&i),
                    "{outcome:?} frame changed counter {}",
                    COUNTERS[i]
                );
            }
        }
        if control == 1.0 || frame.len() > 256 << 10 {
            return;
        }
        // serde_json is strict RFC 8259 like JSON.parse, but also refuses lone surrogate escapes,
        // numbers out of f64 range and nesting deeper than 128: only those may disagree.
        match serde_json::from_slice::<serde_json::Value>(frame) {
            Ok(v) => {
                ensure!(bad_json == 0.0, "serde_json accepts the frame, the parser does not");
                let n = match &v {
                    serde_json::Value::Array(a) => a.len() as f64,
                    serde_json::Value::Object(_) => 1.0,
                    _ => 0.0,
                };
                ensure!(d[c::EVENTS] == n, "events += {} but serde_json sees {n} events", d[c::EVENTS]);
                if n == 0.0 && !v.is_array() {
                    ensure!(outcome == Outcome::Scalar, "a JSON scalar frame was not counted as badEvent");
                }
                self.serde_agree += 1;
            }
            Err(e) => {
                let msg = e.to_string();
                let excused = msg.contains("recursion limit")
                    || msg.contains("number out of range")
                    || msg.contains("surrogate")
                    || has_surrogate_escape(frame);
                if !excused {
                    ensure!(bad_json == 1.0, "serde_json refuses the frame ({msg}), the parser accepts it");
                }
                if bad_json == 1.0 {
                    self.serde_agree += 1;
                }
            }
        }
    }
}

fn has_surrogate_escape(s: &[u8]) -> bool {
    s.windows(4).any(|w| {
        w[0] == b'\\'
            && (w[1] == b'u')
            && (w[2] | 0x20) == b'd'
            && matches!(w[3] | 0x20, b'8' | b'9' | b'a' | b'b' | b'c' | b'd' | b'e' | b'f')
    })
}

fn first_diff(a: &[u64], b: &[u64]) -> Option<(usize, u64, u64)> {
    a.iter().zip(b).enumerate().find(|(_, (x, y))| x != y).map(|(i, (x, y))| (i * 8, *x, *y))
}

// ---------------------------------------------------------------------------------------------
// The fuzzer

#[derive(Clone, Default)]
struct Stats {
    ops: u64,
    ingests: u64,
    rest: u64,
    ticks: u64,
    other_ops: u64,
    tables: u64,
    src_generated: u64,
    src_seed: u64,
    src_mutated: u64,
    src_corpus: u64,
    shadow_rewritten: u64,
    src_bytes: [u64; 5],
    outcomes: [u64; 4],
    counters: [f64; NC],
    mutations: BTreeMap<&'static str, u64>,
    checks: u64,
    serde_agree: u64,
    text_checks: u64,
    signatures: u64,
    cov_inputs: u64,
    corpus: usize,
    bytes: u64,
    max_frame: usize,
    secs: f64,
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.ops += o.ops;
        self.ingests += o.ingests;
        self.rest += o.rest;
        self.ticks += o.ticks;
        self.other_ops += o.other_ops;
        self.tables += o.tables;
        self.src_generated += o.src_generated;
        self.src_seed += o.src_seed;
        self.src_mutated += o.src_mutated;
        self.src_corpus += o.src_corpus;
        self.shadow_rewritten += o.shadow_rewritten;
        for i in 0..4 {
            self.outcomes[i] += o.outcomes[i];
        }
        for i in 0..5 {
            self.src_bytes[i] += o.src_bytes[i];
        }
        for i in 0..NC {
            self.counters[i] += o.counters[i];
        }
        for (k, v) in &o.mutations {
            *self.mutations.entry(k).or_default() += v;
        }
        self.checks += o.checks;
        self.serde_agree += o.serde_agree;
        self.text_checks += o.text_checks;
        self.signatures += o.signatures;
        self.cov_inputs += o.cov_inputs;
        self.corpus += o.corpus;
        self.bytes += o.bytes;
        self.max_frame = self.max_frame.max(o.max_frame);
        self.secs = self.secs.max(o.secs);
    }

    fn report(&self, seeds: &[u64]) -> String {
        let cn = |name: &str| self.counters[COUNTERS.iter().position(|n| *n == name).unwrap()] as u64;
        let list = |names: &[&str]| names.iter().map(|n| format!("{n} {}", cn(n))).collect::<Vec<_>>().join(", ");
        let seeds: Vec<String> = seeds.iter().map(|s| format!("{s:#x}")).collect();
        let mut out = String::new();
        out += &format!(
            "polybook fuzz (seed {}): {} inputs = {} frames + {} REST bodies, plus {} ticks and {} other writer calls, on {} tables, in {:.1} s ({:.0} calls/s), {:.1} MB, largest frame {} bytes\n",
            seeds.join(","),
            self.ingests + self.rest,
            self.ingests,
            self.rest,
            self.ticks,
            self.other_ops,
            self.tables,
            self.secs,
            self.ops as f64 / self.secs.max(1e-9),
            self.bytes as f64 / 1e6,
            self.max_frame
        );
        out += &format!(
            "  frames by source: generated {}, fixture seeds {}, mutated {}, corpus replays {}; shadow rewrites (fast path vs general path) {}\n",
            self.src_generated, self.src_seed, self.src_mutated, self.src_corpus, self.shadow_rewritten
        );
        out += &format!(
            "  input MB by source (generated, fixture seeds, mutated generated, mutated corpus, corpus replays): {:?}\n",
            self.src_bytes.map(|b| b / 1_000_000)
        );
        out += &format!(
            "  frame outcomes: control {}, badJson {}, JSON scalar (badEvent) {}, JSON events {} (events {})\n",
            self.outcomes[0],
            self.outcomes[1],
            self.outcomes[2],
            self.outcomes[3],
            cn("events")
        );
        out += &format!(
            "  accepted: {}\n",
            list(&[
                "snapshotsApplied",
                "deltasApplied",
                "tickSizeChanges",
                "lastTrades",
                "bestBidAsk",
                "newMarkets",
                "settled",
                "restApplied"
            ])
        );
        out += &format!(
            "  rejected: {}\n",
            list(&[
                "badEvent",
                "badDecimal",
                "unorderedLevels",
                "unknownEvents",
                "snapshotsRejected",
                "deltasWithoutBook",
                "ignored",
                "restSkipped"
            ])
        );
        out += &format!(
            "  book checks: {}\n",
            list(&[
                "crossedResets",
                "bboMismatches",
                "mismatchesResolved",
                "desyncs",
                "invalidations",
                "hashChecks",
                "hashMismatches"
            ])
        );
        let muts: Vec<String> =
            self.mutations.iter().filter(|(k, _)| !k.contains('(')).map(|(k, v)| format!("{k} {v}")).collect();
        out += &format!("  mutations applied: {}\n", muts.join(", "));
        out += &format!(
            "  checks: invariant checks {}, serde_json oracle agreements {}, exact-text book oracle checks {}\n",
            self.checks, self.serde_agree, self.text_checks
        );
        let guidance = if cov::ENABLED {
            let (hit, all) = cov::totals();
            format!("code coverage (instrument-coverage build): {hit} of {all} counters reached, {} inputs reached new code; ", self.cov_inputs)
        } else {
            String::from("outcome signatures only (not code coverage); ")
        };
        out += &format!("  feedback: {guidance}{} new outcome signatures, corpus {}\n", self.signatures, self.corpus);
        out
    }
}

/// Writes to the process's stderr directly (not captured by the test harness).
fn say(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_bytes());
    let _ = e.flush();
}

fn bucket(x: f64) -> u64 {
    match x as u64 {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=15 => 3,
        _ => 4,
    }
}

fn signature(h: &Harness, kind: u64) -> u64 {
    let mut z = kind;
    for (i, d) in h.last_delta.iter().enumerate() {
        if i != c::FRAMES && i != c::BYTES {
            z = splitmix(z ^ (bucket(*d) << 8 | i as u64));
        }
    }
    let mut t = h.last_transitions.clone();
    t.sort_unstable();
    t.dedup();
    for (a, b) in t {
        z = splitmix(z ^ ((a as u64) << 32 | b as u64));
    }
    z
}

struct Fuzzer<'a> {
    r: Rng,
    gen: Gen,
    files: &'a [(String, Vec<u8>)],
    corpus: Vec<Vec<u8>>,
    pinned: usize,
    sigs: HashSet<u64>,
    parser: Parser,
    stats: Stats,
    seed: u64,
    inputs: u64,
}

const CORPUS_MAX: usize = 4096;
const CORPUS_ITEM_MAX: usize = 16 << 10;

impl<'a> Fuzzer<'a> {
    fn new(seed: u64, files: &'a [(String, Vec<u8>)]) -> Fuzzer<'a> {
        let gen = Gen::new(files);
        let mut corpus: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
        // Seeds: every fixture as is, as an array of one, and compacted.
        for (_, b) in files {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) {
                let compact = serde_json::to_vec(&v).unwrap();
                corpus.push(format!("[{}]", String::from_utf8_lossy(&compact)).into_bytes());
                corpus.push(compact);
            }
        }
        corpus.extend(
            [
                "PONG",
                " PING\n",
                "NO NEW ASSETS",
                "INVALID OPERATION",
                "INVALID MESSAGE",
                "[]",
                "",
                "null",
                "{}",
                "[{}]",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec()),
        );
        let pinned = corpus.len();
        Fuzzer {
            r: Rng::new(seed),
            gen,
            files,
            corpus,
            pinned,
            sigs: HashSet::new(),
            parser: Parser::default(),
            stats: Stats::default(),
            seed,
            inputs: 0,
        }
    }

    fn new_table(&mut self) -> Harness {
        let r = &mut self.r;
        let capacity = r.range(4, 16) as usize;
        let depth = *r.pick(&[0usize, 1, 2, 3, 4, 5, 8, 10, 16]);
        let grace = *r.pick(&[1000.0, 1000.0, 0.0, 1.0, 50.0, 1e9, f64::NAN, f64::INFINITY]);
        let mut h = Harness::new(capacity, depth, grace);
        h.weird_time = r.one_in(50);
        self.stats.tables += 1;
        // Bind most slots: fixture tokens first (their frames then apply), synthetic ones, some
        // slots left free.
        let mut ids: Vec<String> = self.gen.universe.clone();
        for i in (1..ids.len()).rev() {
            let j = self.r.below(i + 1);
            ids.swap(i, j);
        }
        let fixture_first: Vec<String> = self.gen.fixture_ids.iter().filter(|_| !self.r.one_in(5)).cloned().collect();
        let order: Vec<String> = fixture_first.into_iter().chain(ids).collect();
        let mut next = 0;
        for slot in 0..capacity as u32 {
            if self.r.one_in(8) {
                continue;
            }
            while next < order.len() && h.ids.contains_key(&order[next]) {
                next += 1;
            }
            let Some(id) = order.get(next).cloned() else { break };
            let conn = self.r.range(0, 3) as u32;
            exec(&mut h, Op::Bind { slot, conn, id }, self.seed, self.inputs);
            if self.r.one_in(3) {
                exec(&mut h, Op::Meta { slot, mos: "5".into(), neg: self.r.one_in(2) }, self.seed, self.inputs);
            }
        }
        h
    }

    fn donor(&mut self) -> Vec<u8> {
        self.corpus[self.r.below(self.corpus.len())].clone()
    }

    fn mutate(&mut self, data: &mut Vec<u8>) {
        let n = self.r.geometric(8);
        let donor = self.donor();
        let m = Mutator { universe: &self.gen.universe };
        for _ in 0..n {
            // Byte-level and structure-level mutators equally often; expensive ones rarely.
            let k = loop {
                let k = self.r.below(MUTATORS.len());
                if (k == 11 || k == 13) && !self.r.one_in(8) {
                    continue;
                }
                break k;
            };
            let name = m.apply(&mut self.r, data, k, &donor);
            *self.stats.mutations.entry(name).or_default() += 1;
        }
    }

    fn now(&mut self, h: &Harness) -> f64 {
        if h.weird_time && self.r.one_in(4) {
            return *self.r.pick(&[f64::NAN, -1.0, 0.0, 1e308, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e15]);
        }
        let step = if self.r.one_in(100) { self.r.range(500, 3000) } else { self.r.below(50) as u64 };
        let base = if h.now.is_finite() { h.now } else { 1000.0 };
        base + step as f64
    }

    fn frame(&mut self, h: &Harness) -> Vec<u8> {
        let pick = self.r.below(100);
        let f = match pick {
            0..=29 => {
                self.stats.src_generated += 1;
                self.gen.frame(&mut self.r, h)
            }
            30..=37 => {
                self.stats.src_seed += 1;
                self.files[self.r.below(self.files.len())].1.clone()
            }
            38..=59 => {
                self.stats.src_mutated += 1;
                let mut f = self.gen.frame(&mut self.r, h);
                self.mutate(&mut f);
                f
            }
            60..=91 => {
                self.stats.src_mutated += 1;
                let mut f = self.donor();
                self.mutate(&mut f);
                f
            }
            _ => {
                self.stats.src_corpus += 1;
                self.donor()
            }
        };
        let k = match pick {
            0..=29 => 0,
            30..=37 => 1,
            38..=59 => 2,
            60..=91 => 3,
            _ => 4,
        };
        self.stats.src_bytes[k] += f.len() as u64;
        f
    }

    fn next_op(&mut self, h: &Harness) -> Op {
        let cap = h.a.capacity() as u32;
        let slot = self.r.below(cap as usize + 1) as u32; // sometimes out of range
        match self.r.below(1000) {
            0..=799 => {
                let frame = self.frame(h);
                let (shadow, rewritten) = shadow_of(&frame, &mut self.r, &mut self.parser, false);
                self.stats.shadow_rewritten += rewritten as u64;
                Op::Ingest { now: self.now(h), frame, shadow }
            }
            800..=849 => {
                let mut json = if self.r.one_in(10) {
                    self.files[self.r.below(self.files.len())].1.clone()
                } else {
                    self.gen.rest(&mut self.r, h)
                };
                if self.r.one_in(3) {
                    self.mutate(&mut json);
                }
                let (shadow, rewritten) = shadow_of(&json, &mut self.r, &mut self.parser, true);
                self.stats.shadow_rewritten += rewritten as u64;
                Op::Rest { now: self.now(h), json, shadow }
            }
            850..=909 => Op::Tick { now: self.now(h) },
            910..=929 => Op::Invalidate { slot, now: self.now(h) },
            930..=949 => Op::Take,
            950..=959 => {
                Op::Meta { slot, mos: self.r.pick(&["5", "1", "", "0.001"]).to_string(), neg: self.r.one_in(2) }
            }
            960..=974 => Op::Disable { slot, on: self.r.one_in(2) },
            975..=992 => {
                let id = if self.r.one_in(2) {
                    self.r.pick(&self.gen.fixture_ids).clone()
                } else {
                    self.r.pick(&self.gen.universe).clone()
                };
                Op::Bind { slot, conn: self.r.below(257) as u32, id }
            }
            _ => Op::Unbind { slot },
        }
    }

    /// Runs until `iters` inputs or the deadline; panics (after writing a failure file) on any
    /// panic or broken invariant.
    fn run(&mut self, seed: u64, iters: u64, deadline: Option<Instant>, progress: bool) {
        let start = Instant::now();
        let mut last_progress = Instant::now();
        let mut h = self.new_table();
        let mut left = self.r.range(50, 3000);
        let mut inputs = 0u64;
        while inputs < iters {
            if inputs.is_multiple_of(64) && deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if left == 0 {
                self.stats.checks += h.checks;
                self.stats.serde_agree += h.serde_agree;
                self.stats.text_checks += h.text_checks;
                h = self.new_table();
                left = self.r.range(50, 3000);
            }
            left -= 1;
            let op = self.next_op(&h);
            let (is_input, len) = match &op {
                Op::Ingest { frame, shadow, .. } => {
                    self.stats.ingests += 1;
                    (true, frame.len() + shadow.len())
                }
                Op::Rest { json, shadow, .. } => {
                    self.stats.rest += 1;
                    (true, json.len() + shadow.len())
                }
                Op::Tick { .. } => {
                    self.stats.ticks += 1;
                    (false, 0)
                }
                _ => {
                    self.stats.other_ops += 1;
                    (false, 0)
                }
            };
            self.stats.ops += 1;
            self.stats.bytes += len as u64;
            if is_input {
                inputs += 1;
                self.inputs = inputs;
                self.stats.max_frame = self.stats.max_frame.max(len);
            }
            let frame = match &op {
                Op::Ingest { frame, .. } => Some(frame.clone()),
                _ => None,
            };
            let before = snap(&h.a).counters;
            exec(&mut h, op, seed, inputs);
            for (i, b) in before.iter().enumerate() {
                self.stats.counters[i] += h.a.counter(i) - b;
            }
            if let Some(o) = h.last_outcome {
                self.stats.outcomes[o as usize] += 1;
            }
            // Feedback: keep inputs with an outcome signature not seen before, or (coverage
            // build) that reached new code.
            if h.last_new_cov > 0 {
                self.stats.cov_inputs += 1;
            }
            if let Some(f) = frame {
                let sig = signature(&h, h.last_outcome.map_or(9, |o| o as u64));
                let new_sig = self.sigs.insert(sig);
                self.stats.signatures += new_sig as u64;
                if (new_sig || h.last_new_cov > 0) && f.len() <= CORPUS_ITEM_MAX {
                    if self.corpus.len() < CORPUS_MAX {
                        self.corpus.push(f);
                    } else {
                        let i = self.pinned + self.r.below(CORPUS_MAX - self.pinned);
                        self.corpus[i] = f;
                    }
                }
            }
            if progress && last_progress.elapsed() > Duration::from_secs(60) {
                last_progress = Instant::now();
                say(&format!(
                    "polybook fuzz (seed {seed:#x}): {inputs} inputs, {:.0} s, {} signatures, corpus {}\n",
                    start.elapsed().as_secs_f64(),
                    self.stats.signatures,
                    self.corpus.len()
                ));
            }
        }
        self.stats.checks += h.checks;
        self.stats.serde_agree += h.serde_agree;
        self.stats.text_checks += h.text_checks;
        self.stats.corpus = self.corpus.len();
        self.stats.secs = start.elapsed().as_secs_f64();
    }
}

/// Applies one call; on a panic (in the writer or a broken invariant) writes the failure file,
/// reports the seed and the input (hex and text) and fails the test.
fn exec(h: &mut Harness, op: Op, seed: u64, inputs: u64) {
    let Err(e) = catch_unwind(AssertUnwindSafe(|| h.apply(op))) else {
        return;
    };
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let path = write_failure(seed, inputs, &h.log);
    let last = h.log.last().map(Op::line).unwrap_or_default();
    let input = match h.log.last() {
        Some(Op::Ingest { frame, .. }) | Some(Op::Rest { json: frame, .. }) => frame.clone(),
        _ => Vec::new(),
    };
    let shown = &input[..input.len().min(1024)];
    let report = format!(
        "\npolybook fuzz FAILURE: seed {seed:#x}, input #{inputs}: {msg}\n  last call: {}\n  input ({} bytes, hex{}): {}\n  input as text: {:?}\n  replay: POLYBOOK_FUZZ_REPLAY={} cargo test -p polybook-core --release --test fuzz -- --nocapture\n",
        last.split(' ').next().unwrap_or(""),
        input.len(),
        if shown.len() < input.len() { ", first 1024" } else { "" },
        hex(shown),
        String::from_utf8_lossy(shown),
        path.display()
    );
    say(&report);
    panic!("polybook fuzz failure (seed {seed:#x}, input #{inputs}, see the report above): {msg}");
}

fn write_failure(seed: u64, input: u64, log: &[Op]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("seed-{seed:x}-input-{input}.ops"));
    let text: String = log.iter().map(|o| o.line() + "\n").collect();
    let _ = std::fs::write(&path, text);
    path
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    if let Some(h) = v.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok();
    }
    v.parse().ok()
}

/// The fuzz run: a few seconds in `cargo test --release` (CI), longer with the knobs above.
#[test]
fn fuzz_ingest() {
    if let Ok(path) = std::env::var("POLYBOOK_FUZZ_REPLAY") {
        replay(&path);
        return;
    }
    // `npm run fuzz` (npm sets npm_lifecycle_event) is the long run: 10 minutes on every core,
    // unless the knobs say otherwise.
    let npm_fuzz = std::env::var("npm_lifecycle_event").as_deref() == Ok("fuzz");
    let default_iters = if cfg!(debug_assertions) { 5_000 } else { 60_000 };
    let secs =
        env_u64("POLYBOOK_FUZZ_SECS").or((npm_fuzz && std::env::var("POLYBOOK_FUZZ_ITERS").is_err()).then_some(600));
    let iters = env_u64("POLYBOOK_FUZZ_ITERS").unwrap_or(if secs.is_some() { u64::MAX } else { default_iters });
    let seed = match std::env::var("POLYBOOK_FUZZ_SEED").as_deref() {
        Ok("random") => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
        _ => env_u64("POLYBOOK_FUZZ_SEED").unwrap_or(0x5eed_0001),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = env_u64("POLYBOOK_FUZZ_THREADS").unwrap_or(if npm_fuzz { cores } else { 1 }).max(1);
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let files = fixture_files();
    let long = secs.is_some() || iters > 1_000_000;
    let seeds: Vec<u64> = (0..threads).map(|k| seed.wrapping_add(k)).collect();
    let per_thread = iters.div_ceil(threads);
    let results: Vec<Stats> = std::thread::scope(|sc| {
        let handles: Vec<_> = seeds
            .iter()
            .map(|&s| {
                let files = &files;
                sc.spawn(move || {
                    let mut f = Fuzzer::new(s, files);
                    f.run(s, per_thread, deadline, long);
                    f.stats
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut total = Stats::default();
    for s in &results {
        total.merge(s);
    }
    say(&total.report(&seeds));
    assert!(total.ingests + total.rest > 0);
    // The run must reach the interesting places, or it proves little.
    for name in [
        "snapshotsApplied",
        "deltasApplied",
        "crossedResets",
        "bboMismatches",
        "mismatchesResolved",
        "badDecimal",
        "unorderedLevels",
        "badJson",
        "controlFrames",
        "hashChecks",
    ] {
        let i = COUNTERS.iter().position(|n| *n == name).unwrap();
        assert!(total.counters[i] > 0.0 || total.ingests < 2_000, "the fuzz run never reached {name}");
    }
}

/// Replays a failure file (`POLYBOOK_FUZZ_REPLAY`): the calls of the failing table, checked the same way.
fn replay(path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut h: Option<Harness> = None;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let op = Op::parse(line.trim());
        say(&format!("replay {}: {}\n", n + 1, line.chars().take(120).collect::<String>()));
        match op {
            Op::Table { capacity, depth, grace } => h = Some(Harness::new(capacity, depth, grace)),
            op => h.as_mut().expect("the file starts with a table line").apply(op),
        }
    }
    say("replay finished without a failure\n");
}

/// The mutators and the rewrite keep their promises (a check of the harness itself).
#[test]
fn fuzz_harness_self_check() {
    // The rewrite keeps valid JSON valid and equal.
    let files = fixture_files();
    let mut r = Rng::new(7);
    for (_, b) in &files {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) else { continue };
        for _ in 0..20 {
            let w = rewrite(b, &mut r, true, true);
            let v2: serde_json::Value =
                serde_json::from_slice(&w).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&w)));
            assert_eq!(v, v2);
        }
    }
    // Generated frames are valid JSON most of the time, and the failure-file format round-trips.
    let mut gen = Gen::new(&files);
    let mut h = Harness::new(8, 4, 1000.0);
    for (slot, id) in gen.fixture_ids.clone().iter().enumerate().take(4) {
        h.apply(Op::Bind { slot: slot as u32, conn: 1, id: id.clone() });
    }
    let mut valid = 0;
    for _ in 0..500 {
        let f = gen.frame(&mut r, &h);
        valid += serde_json::from_slice::<serde_json::Value>(&f).is_ok() as u32;
        let op = Op::Ingest { now: 5.0, frame: f.clone(), shadow: f };
        assert_eq!(Op::parse(&op.line()).line(), op.line());
    }
    assert!(valid > 400, "only {valid} of 500 generated frames are JSON");
}

/// The status bits `ingest` and `tick` must answer.
fn status(resync_len: u32, bad_frame: bool, published: bool) -> u32 {
    (if resync_len > 0 { STATUS_RESYNC } else { 0 })
        | (if bad_frame { STATUS_BAD_FRAME } else { 0 })
        | if published { STATUS_PUBLISHED } else { 0 }
}

/// The seqlock version of every slot (a publication changes its slot's).
fn slot_versions(t: &OwnedTable) -> Vec<i32> {
    (0..t.capacity()).map(|s| t.read_i32(t.slot_offset(s) + S_SEQ)).collect()
}
