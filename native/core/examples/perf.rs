//! The issue's ingest scenarios, for timing (medians) and callgrind (instruction counts):
//! `cargo run --release -p polybook-core --example perf [scenario] [iters]`
//! Scenarios (as src/bench/fixtures.ts): `book100` (the 50 best levels per side of the after-trade
//! capture, as `JSON.stringify` writes it), `pc` (the real two-entry price_change, both tokens
//! subscribed with books consistent with its best_bid/best_ask), `opening` (186-level opening
//! book). Each alternates the frame with a variant whose sizes differ (13354.28 -> 13354.27), so
//! that every ingest changes the book and publishes. Without a scenario: all, timed (median of 31
//! runs).

use polybook_core::OwnedTable;
use std::time::Instant;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

pub const YES: &str = "79358475953126059185096320578578995575874288599466094920037110232928386404141";
pub const NO: &str = "55404192439775628931124671719520886657525387168536821457706619003199189099864";
pub const OPEN: &str = "38171024903091354977195167437673496224420673639143973968032407064172828043588";

fn q(s: &serde_json::Value) -> String {
    serde_json::to_string(s).unwrap()
}

/// `JSON.stringify({...AFTER, bids: AFTER.bids.slice(-50), asks: AFTER.asks.slice(-50)})`.
fn book100() -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(&fixture("book_after_trade_2026-10-04.json")).unwrap();
    let lv = |k: &str| {
        let a = v[k].as_array().unwrap();
        let parts: Vec<String> = a[a.len().saturating_sub(50)..]
            .iter()
            .map(|l| format!(r#"{{"price":{},"size":{}}}"#, q(&l["price"]), q(&l["size"])))
            .collect();
        format!("[{}]", parts.join(","))
    };
    format!(
        r#"{{"market":{},"asset_id":{},"bids":{},"asks":{},"hash":{},"timestamp":{},"event_type":"book"}}"#,
        q(&v["market"]),
        q(&v["asset_id"]),
        lv("bids"),
        lv("asks"),
        q(&v["hash"]),
        q(&v["timestamp"])
    )
    .into_bytes()
}

/// The mirror token's book of src/bench/index.ts (consistent with the price_change's best_bid/best_ask).
fn no_book() -> Vec<u8> {
    format!(
        r#"{{"event_type":"book","market":"0xce610556ec78cfd7894f4169d91fe70e31c2fb49f927fffd7fe7d06530f88d56","asset_id":"{NO}","timestamp":"1791126422417","hash":"","bids":[{{"price":"0.1","size":"100"}},{{"price":"0.106","size":"50"}}],"asks":[{{"price":"0.2","size":"100"}},{{"price":"0.111","size":"13354.28"}}]}}"#
    )
    .into_bytes()
}

fn setup() -> OwnedTable {
    let mut t = OwnedTable::new(1024, 20, 1000.0);
    t.bind(OPEN, 0, 1).unwrap();
    t.bind(YES, 1, 1).unwrap();
    t.bind(NO, 2, 1).unwrap();
    // Some other bound tokens, as in a real table.
    for i in 3..600u32 {
        t.bind(&format!("{}{:05}", &YES[..73], i), i, 1).unwrap();
    }
    t.ingest(&book100(), 0.0);
    t.ingest(&no_book(), 0.0);
    t
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let b100 = book100();
    let pc = fixture("price_change_2026-10-04_trade.json");
    let opening = fixture("book_opening_snapshot_2026-10-04.json");
    let variant = |f: &[u8], from: &str, to: &str| {
        let v = String::from_utf8(f.to_vec()).unwrap().replace(from, to).into_bytes();
        assert_ne!(v, f, "variant of a fixture");
        v
    };
    let b100_b = variant(&b100, r#"{"price":"0.889","size":"13354.28"}"#, r#"{"price":"0.889","size":"13354.27"}"#);
    let pc_b = variant(&pc, r#""size":"13354.28""#, r#""size":"13354.27""#);
    let opening_b = variant(&opening, r#"{"price":"0.063","size":"1505"}"#, r#"{"price":"0.063","size":"1506"}"#);
    let mut t = setup();
    let check = |t: &OwnedTable| {
        for n in ["badJson", "badEvent", "desyncs", "crossedResets", "bboMismatches", "deltasWithoutBook", "ignored"] {
            assert_eq!(t.counter_by_name(n), 0.0, "{n} left the happy path");
        }
    };
    if args.get(1).map(|s| s.as_str()) == Some("dump") {
        std::io::Write::write_all(&mut std::io::stdout(), &b100).unwrap();
        return;
    }
    if let Some(sc) = args.get(1) {
        let iters: u32 = args.get(2).map_or(10_000, |s| s.parse().unwrap());
        let frames = match sc.as_str() {
            "book100" => [&b100, &b100_b],
            "pc" => [&pc, &pc_b],
            "opening" => [&opening, &opening_b],
            _ => panic!("unknown scenario {sc}"),
        };
        for i in 0..iters {
            t.ingest(frames[(i & 1) as usize], i as f64);
        }
        check(&t);
        return;
    }
    let iters: u32 = 20_000;
    for (label, frames) in [
        ("book100 (3562 B, 50+50 levels)", [&b100, &b100_b]),
        ("price_change 2 entries (611 B)", [&pc, &pc_b]),
        ("opening (6403 B, 47+139)", [&opening, &opening_b]),
    ] {
        let n = if frames[0].len() > 1000 { iters } else { iters * 10 };
        let mut runs = Vec::new();
        for r in 0..31 {
            let t0 = Instant::now();
            for i in 0..n {
                t.ingest(frames[(i & 1) as usize], (r * n + i) as f64);
            }
            runs.push(t0.elapsed().as_nanos() as f64 / n as f64);
        }
        let min = runs.iter().cloned().fold(f64::MAX, f64::min);
        println!("{label:<36} median {:>8.0} ns   min {:>8.0} ns", median(runs), min);
    }
    check(&t);
}
