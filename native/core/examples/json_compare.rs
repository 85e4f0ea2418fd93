//! Why a hand-written scanner: the frame parser of native/core/src/parse.rs against `serde_json`
//! and `sonic-rs` on the real frames (fixtures/polymarket), parse-to-levels, same machine:
//! `cargo run --release -p polybook-core --example json_compare [-- --json] [-- --quick]`
//!
//! Each contestant turns a frame into what the writer needs from it: the book levels of a `book`
//! frame as [`Level`]s (price and size parsed to fixed point, size-0 levels dropped, wire order),
//! and the entries of a `price_change` frame with their price and size parsed. The crates
//! deserialize into structs that borrow their strings from the frame (zero-copy: no string is
//! copied; the level and entry lists are `Vec`s, as serde builds them), then convert the decimals
//! with the same [`Dec::parse`] the writer uses. Before timing, every contestant's output is
//! checked equal to the scanner's. Allocations are counted by a wrapping global allocator.
//!
//! What the scanner does and the crates here do not: the writer's full validation (every field's
//! type checked and the first problem per event classified for its counters, DESIGN.md 5),
//! `JSON.parse`-exact semantics (duplicate keys, lone surrogates, invalid UTF-8 reported as the
//! writer's `badJson`), and every event type of the market channel in one pass.

use polybook_core::book::Level;
use polybook_core::decimal::Dec;
use polybook_core::parse::{Parser, Val};
use serde::Deserialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counts allocations (not frees) of the whole process: read around a measured loop.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds GlobalAlloc's
// contract; the counter is a relaxed atomic increment with no effect on the allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's (forwarded).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes through `alloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` and `layout` come from `System` as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

#[derive(Deserialize)]
struct RawLevel<'a> {
    price: &'a str,
    size: &'a str,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    asset_id: &'a str,
    price: &'a str,
    size: &'a str,
    side: &'a str,
    #[serde(borrow, default)]
    hash: Option<&'a str>,
    #[serde(borrow, default)]
    best_bid: Option<&'a str>,
    #[serde(borrow, default)]
    best_ask: Option<&'a str>,
}

/// The fields of `book` and `price_change` events the writer reads.
#[derive(Deserialize)]
struct RawEvent<'a> {
    event_type: &'a str,
    #[serde(borrow, default)]
    asset_id: Option<&'a str>,
    #[serde(borrow, default)]
    market: Option<&'a str>,
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
    #[serde(borrow, default)]
    hash: Option<&'a str>,
    #[serde(borrow, default)]
    tick_size: Option<&'a str>,
    #[serde(borrow, default)]
    last_trade_price: Option<&'a str>,
    #[serde(borrow, default)]
    bids: Vec<RawLevel<'a>>,
    #[serde(borrow, default)]
    asks: Vec<RawLevel<'a>>,
    #[serde(borrow, default)]
    price_changes: Vec<RawEntry<'a>>,
}

/// What a contestant produces from one frame (reused between frames: no allocation once warm).
#[derive(Default, PartialEq, Debug)]
struct Out {
    bids: Vec<Level>,
    asks: Vec<Level>,
    /// (price, size, BUY side) of each price_change entry.
    entries: Vec<(Dec, Dec, bool)>,
    /// Bytes of the strings the writer keeps (asset ids, market, hash, timestamps): all read.
    text_bytes: usize,
}

impl Out {
    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.entries.clear();
        self.text_bytes = 0;
    }
}

fn levels_from(raw: &[RawLevel], out: &mut Vec<Level>) -> Option<()> {
    for l in raw {
        let price = Dec::parse_price(l.price.as_bytes())?;
        let size = Dec::parse(l.size.as_bytes())?;
        if size.mant != 0 {
            out.push(Level::new(price, size));
        }
    }
    Some(())
}

fn from_raw(ev: &RawEvent, out: &mut Out) -> Option<()> {
    let opt = |s: Option<&str>| s.map_or(0, str::len);
    out.text_bytes += ev.event_type.len()
        + opt(ev.asset_id)
        + opt(ev.market)
        + opt(ev.timestamp)
        + opt(ev.hash)
        + opt(ev.tick_size)
        + opt(ev.last_trade_price);
    levels_from(&ev.bids, &mut out.bids)?;
    levels_from(&ev.asks, &mut out.asks)?;
    for e in &ev.price_changes {
        let price = Dec::parse_price(e.price.as_bytes())?;
        let size = Dec::parse(e.size.as_bytes())?;
        out.entries.push((price, size, e.side == "BUY"));
        out.text_bytes += e.asset_id.len() + opt(e.hash) + opt(e.best_bid) + opt(e.best_ask);
    }
    Some(())
}

fn str_len(v: Val) -> usize {
    match v {
        Val::Str(r) => r.len as usize,
        _ => 0,
    }
}

/// The writer's parser, then the decimals of price_change entries (the writer parses those when it
/// applies them; book levels come out of the parser already parsed).
fn scanner(p: &mut Parser, frame: &[u8], out: &mut Out) -> Option<()> {
    p.parse(frame).ok()?;
    let ev = *p.events.first()?;
    out.text_bytes += str_len(ev.event_type)
        + str_len(ev.asset_id)
        + str_len(ev.market)
        + str_len(ev.timestamp)
        + str_len(ev.hash)
        + str_len(ev.tick_size)
        + str_len(ev.last_trade_price);
    out.bids.extend_from_slice(&p.levels[ev.bids.start as usize..ev.bids.end as usize]);
    out.asks.extend_from_slice(&p.levels[ev.asks.start as usize..ev.asks.end as usize]);
    for e in &p.entries[ev.price_changes.start as usize..ev.price_changes.end as usize] {
        let (Val::Str(pr), Val::Str(sz), Val::Str(sd)) = (e.price, e.size, e.side) else {
            return None;
        };
        let price = Dec::parse_price(p.bytes(frame, pr))?;
        let size = Dec::parse(p.bytes(frame, sz))?;
        out.entries.push((price, size, p.bytes(frame, sd) == b"BUY"));
        out.text_bytes += str_len(e.asset_id) + str_len(e.hash) + str_len(e.best_bid) + str_len(e.best_ask);
    }
    Some(())
}

fn serde_json_parse(frame: &[u8], out: &mut Out) -> Option<()> {
    let ev: RawEvent = serde_json::from_slice(frame).ok()?;
    from_raw(&ev, out)
}

fn sonic_parse(frame: &[u8], out: &mut Out) -> Option<()> {
    let ev: RawEvent = sonic_rs::from_slice(frame).ok()?;
    from_raw(&ev, out)
}

struct Timing {
    ns: f64,
    allocs: f64,
}

/// Median ns per frame of each contestant over `runs` rounds of `iters` parses, the contestants
/// interleaved in every round (so they share the machine's disturbances), and allocations per parse.
fn time(iters: u32, runs: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<Timing> {
    for f in fs.iter_mut() {
        for _ in 0..iters {
            f();
        }
    }
    let mut ns = vec![Vec::with_capacity(runs); fs.len()];
    let mut allocs = vec![0u64; fs.len()];
    for _ in 0..runs {
        for (k, f) in fs.iter_mut().enumerate() {
            let a0 = ALLOCS.load(Ordering::Relaxed);
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            ns[k].push(t.elapsed().as_nanos() as f64 / iters as f64);
            // `ns[k]` has its capacity: the push above does not allocate.
            allocs[k] += ALLOCS.load(Ordering::Relaxed) - a0;
        }
    }
    ns.into_iter()
        .zip(allocs)
        .map(|(mut v, a)| {
            v.sort_by(f64::total_cmp);
            Timing { ns: v[v.len() / 2], allocs: a as f64 / (iters as f64 * runs as f64) }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let frames = [
        ("book_opening_snapshot_2026-10-04.json", "opening book (186 levels)"),
        ("book_after_trade_2026-10-04.json", "book after a trade"),
        ("price_change_2026-10-04_trade.json", "price_change, 2 entries"),
        ("price_change_2026-10-04_level_removed.json", "price_change, level removed"),
    ];
    let mut rows = Vec::new();
    for (file, label) in frames {
        let frame = fixture(file);
        let mut p = Parser::default();
        let (mut a, mut b, mut c) = (Out::default(), Out::default(), Out::default());
        scanner(&mut p, &frame, &mut a).expect("scanner parses the fixture");
        serde_json_parse(&frame, &mut b).expect("serde_json parses the fixture");
        sonic_parse(&frame, &mut c).expect("sonic-rs parses the fixture");
        assert_eq!(a, b, "{file}: serde_json gives other levels");
        assert_eq!(a, c, "{file}: sonic-rs gives other levels");
        let levels = a.bids.len() + a.asks.len();
        let entries = a.entries.len();
        let iters: u32 = if quick {
            2_000
        } else if frame.len() > 2000 {
            20_000
        } else {
            200_000
        };
        let runs = if quick { 7 } else { 31 };
        let (mut o1, mut o2, mut o3) = (Out::default(), Out::default(), Out::default());
        let t = time(
            iters,
            runs,
            &mut [
                &mut || {
                    o1.clear();
                    std::hint::black_box(scanner(&mut p, std::hint::black_box(&frame), &mut o1));
                },
                &mut || {
                    o2.clear();
                    std::hint::black_box(sonic_parse(std::hint::black_box(&frame), &mut o2));
                },
                &mut || {
                    o3.clear();
                    std::hint::black_box(serde_json_parse(std::hint::black_box(&frame), &mut o3));
                },
            ],
        );
        let (ts, tn, tj) = (&t[0], &t[1], &t[2]);
        if !json {
            println!(
                "{label:<30} {:>5} B  scanner {:>8.0} ns ({:.1} allocs)  sonic-rs {:>8.0} ns ({:.1})  serde_json {:>8.0} ns ({:.1})",
                frame.len(),
                ts.ns,
                ts.allocs,
                tn.ns,
                tn.allocs,
                tj.ns,
                tj.allocs
            );
        }
        rows.push(format!(
            r#"{{"frame":"{label}","file":"{file}","bytes":{},"levels":{levels},"entries":{entries},"scannerNs":{:.1},"sonicNs":{:.1},"serdeJsonNs":{:.1},"scannerAllocs":{:.2},"sonicAllocs":{:.2},"serdeJsonAllocs":{:.2}}}"#,
            frame.len(),
            ts.ns,
            tn.ns,
            tj.ns,
            ts.allocs,
            tn.allocs,
            tj.allocs
        ));
    }
    if json {
        println!("[{}]", rows.join(","));
    }
}
