//! Quick timing loop over the real fixtures (no bench harness):
//! `cargo run --release -p polybook-core --example timing`

use polybook_core::OwnedTable;
use std::time::Instant;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn time(label: &str, iters: u32, mut f: impl FnMut(u32)) {
    for i in 0..iters / 10 {
        f(i);
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for i in 0..iters {
            f(i);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    println!("{label:<52} {best:>9.0} ns/op");
}

fn main() {
    let opening = fixture("book_opening_snapshot_2026-10-04.json");
    let after = fixture("book_after_trade_2026-10-04.json");
    let pc = fixture("price_change_2026-10-04_trade.json");
    let yes = "79358475953126059185096320578578995575874288599466094920037110232928386404141";
    let no = "55404192439775628931124671719520886657525387168536821457706619003199189099864";
    let open_id = "38171024903091354977195167437673496224420673639143973968032407064172828043588";

    let mut t = OwnedTable::new(1024, 16, 1000.0);
    t.bind(open_id, 0, 1).unwrap();
    t.bind(yes, 1, 1).unwrap();
    t.bind(no, 2, 1).unwrap();
    time(&format!("book opening ({} B, 47+139 levels)", opening.len()), 200_000, |i| {
        t.ingest(&opening, i as f64);
    });
    time(&format!("book after trade ({} B, 115+73 levels)", after.len()), 200_000, |i| {
        t.ingest(&after, i as f64);
    });
    t.ingest(&after, 0.0);
    let pc2 =
        String::from_utf8(pc.clone()).unwrap().replace("\"0.889\",\"size\":\"13354.28\"", "\"0.3\",\"size\":\"5\"");
    time(&format!("price_change 2 entries ({} B)", pc.len()), 2_000_000, |i| {
        t.ingest(if i % 2 == 0 { &pc } else { pc2.as_bytes() }, 1.0);
    });
    let mut p = polybook_core::parse::Parser::default();
    time("parse only: book opening", 200_000, |_| {
        let _ = p.parse(&opening);
    });
    time("parse only: price_change", 2_000_000, |_| {
        let _ = p.parse(&pc);
    });
    time("calibration: serde_json Value, book opening", 20_000, |_| {
        let _: serde_json::Value = serde_json::from_slice(&opening).unwrap();
    });
    time("calibration: serde_json IgnoredAny, book opening", 20_000, |_| {
        let _: serde::de::IgnoredAny = serde_json::from_slice(&opening).unwrap();
    });
    let mut t2 = OwnedTable::new(1024, 16, 1000.0);
    time("book opening, token not subscribed", 200_000, |i| {
        t2.ingest(&opening, i as f64);
    });
}
