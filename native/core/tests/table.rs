//! Writer behaviour over the real fixtures and synthetic frames (docs/DESIGN.md section 5).

use polybook_core::layout::*;
use polybook_core::OwnedTable;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/polymarket");
    assert!(
        dir.is_dir(),
        "fixtures directory {} is missing: the tests need fixtures/polymarket in the repository",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixtures_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

const DEPTH: usize = 16;

fn table() -> OwnedTable {
    OwnedTable::new(8, DEPTH, 1000.0)
}

fn flags(t: &OwnedTable, slot: usize) -> i32 {
    t.read_i32(t.slot_offset(slot) + S_FLAGS)
}

fn f64_at(t: &OwnedTable, slot: usize, off: usize) -> f64 {
    t.read_f64(t.slot_offset(slot) + off)
}

/// A best level: (price, size).
type Top = Option<(f64, f64)>;

fn best(t: &OwnedTable, slot: usize) -> (Top, Top) {
    let b = t.slot_offset(slot);
    let nb = t.read_i32(b + S_NBIDS);
    let na = t.read_i32(b + S_NASKS);
    let lv = |off: usize| (t.read_f64(off), t.read_f64(off + 8));
    ((nb > 0).then(|| lv(b + S_LEVELS)), (na > 0).then(|| lv(b + S_LEVELS + DEPTH * 16)))
}

fn cnt(t: &OwnedTable, name: &str) -> f64 {
    t.counter_by_name(name)
}

fn texts(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| (l["price"].as_str().unwrap().to_string(), l["size"].as_str().unwrap().to_string()))
        .collect()
}

fn num(s: &str) -> f64 {
    s.parse().unwrap()
}

const A: &str = "1001";
const B: &str = "1002";

fn book(id: &str, bids: &[(&str, &str)], asks: &[(&str, &str)], ts: &str) -> String {
    let lv = |ls: &[(&str, &str)]| {
        ls.iter().map(|(p, s)| format!(r#"{{"price":"{p}","size":"{s}"}}"#)).collect::<Vec<_>>().join(",")
    };
    format!(
        r#"{{"event_type":"book","asset_id":"{id}","market":"0xm","timestamp":"{ts}","bids":[{}],"asks":[{}]}}"#,
        lv(bids),
        lv(asks)
    )
}

fn pc(entries: &[(&str, &str, &str, &str, &str, &str)], ts: &str) -> String {
    let e: Vec<String> = entries
        .iter()
        .map(|(id, p, s, side, bb, ba)| {
            format!(r#"{{"asset_id":"{id}","price":"{p}","size":"{s}","side":"{side}","best_bid":"{bb}","best_ask":"{ba}"}}"#)
        })
        .collect();
    format!(r#"{{"event_type":"price_change","market":"0xm","timestamp":"{ts}","price_changes":[{}]}}"#, e.join(","))
}

fn basic_book(t: &mut OwnedTable, id: &str) {
    t.ingest(book(id, &[("0.40", "10"), ("0.45", "5")], &[("0.60", "7"), ("0.55", "3")], "100").as_bytes(), 1.0);
}

#[test]
fn every_fixture_parses_and_never_panics() {
    let mut n = 0;
    for f in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = f.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let mut t = table();
        let before = cnt(&t, "badJson");
        t.ingest(&data, 1.0);
        assert_eq!(cnt(&t, "badJson"), before, "{} must parse as JSON", path.display());
        assert_eq!(cnt(&t, "events"), 1.0, "{}", path.display());
        n += 1;
    }
    assert_eq!(n, 14, "expected the 14 JSON fixtures");
}

#[test]
fn opening_book_publishes_last_wire_entries_and_hash_verifies() {
    let raw = fixture("book_opening_snapshot_2026-10-04.json");
    let v: Value = serde_json::from_slice(&raw).unwrap();
    let id = v["asset_id"].as_str().unwrap();
    let mut t = table();
    t.bind(id, 3, 1).unwrap();
    t.set_meta(3, "5", true).unwrap();
    // As the opening frame: an array of books.
    let mut frame = b"[".to_vec();
    frame.extend_from_slice(&raw);
    frame.push(b']');
    assert_eq!(t.ingest(&frame, 42.0), STATUS_PUBLISHED);
    assert_eq!(flags(&t, 3), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    let bids = texts(&v["bids"]);
    let asks = texts(&v["asks"]);
    let (bb, ba) = best(&t, 3);
    let lb = bids.last().unwrap();
    let la = asks.last().unwrap();
    assert_eq!(bb, Some((num(&lb.0), num(&lb.1))));
    assert_eq!(ba, Some((num(&la.0), num(&la.1))));
    assert_eq!(lb.0, "0.063");
    assert_eq!(la.0, "0.068");
    // Second level = second-to-last wire entry.
    let off = t.slot_offset(3) + S_LEVELS + 16;
    assert_eq!(t.read_f64(off), num(&bids[bids.len() - 2].0));
    assert_eq!(t.read_i32(t.slot_offset(3) + S_NBIDS), DEPTH as i32);
    assert_eq!(f64_at(&t, 3, S_BID_LEVELS), bids.len() as f64);
    assert_eq!(f64_at(&t, 3, S_ASK_LEVELS), asks.len() as f64);
    assert_eq!(f64_at(&t, 3, S_EXCH_TS), 1791125296863.0);
    assert_eq!(f64_at(&t, 3, S_LAST_UPDATE), 42.0);
    assert_eq!(f64_at(&t, 3, S_TICK_SIZE), 0.001);
    assert_eq!(f64_at(&t, 3, S_LAST_TRADE), 0.064);
    assert_eq!(f64_at(&t, 3, S_SEQUENCE), 1.0);
    assert_eq!(f64_at(&t, 3, S_UPDATES), 1.0);
    let (fb, fa) = t.full_book(3).unwrap();
    assert_eq!(fb, bids);
    assert_eq!(fa, asks);
    assert_eq!(cnt(&t, "snapshotsApplied"), 1.0);
    assert_eq!(cnt(&t, "bytes"), frame.len() as f64);
    t.tick(43.0);
    assert_eq!(cnt(&t, "hashChecks"), 1.0);
    assert_eq!(cnt(&t, "hashMismatches"), 0.0, "239b78d0… must reproduce");
    // Without the right meta the hash differs.
    t.set_meta(3, "1", true).unwrap();
    t.ingest(&raw, 44.0);
    t.tick(45.0);
    assert_eq!((cnt(&t, "hashChecks"), cnt(&t, "hashMismatches")), (2.0, 1.0));
}

#[test]
fn after_trade_book_hash_needs_ltp_0_889_and_matches_price_change() {
    let raw = fixture("book_after_trade_2026-10-04.json");
    let v: Value = serde_json::from_slice(&raw).unwrap();
    let id = v["asset_id"].as_str().unwrap().to_string();
    let mut t = table();
    t.bind(&id, 0, 1).unwrap();
    t.set_meta(0, "5", true).unwrap();
    let pre = format!(
        r#"[{{"event_type":"tick_size_change","asset_id":"{id}","new_tick_size":"0.001"}},{{"event_type":"last_trade_price","asset_id":"{id}","price":"0.889"}}]"#
    );
    t.ingest(pre.as_bytes(), 1.0);
    assert_eq!((cnt(&t, "tickSizeChanges"), cnt(&t, "lastTrades")), (1.0, 1.0));
    t.ingest(&raw, 2.0);
    t.tick(3.0);
    assert_eq!((cnt(&t, "hashChecks"), cnt(&t, "hashMismatches")), (1.0, 0.0));
    let (bb, ba) = best(&t, 0);
    assert_eq!(bb.unwrap().0, 0.889);
    assert_eq!(ba.unwrap().0, 0.894);

    // The price_change of the same millisecond carries the same hash and matching best_bid/best_ask.
    let other = "55404192439775628931124671719520886657525387168536821457706619003199189099864";
    t.bind(other, 1, 1).unwrap();
    t.ingest(&fixture("price_change_2026-10-04_trade.json"), 4.0);
    assert_eq!(cnt(&t, "deltasApplied"), 1.0);
    assert_eq!(cnt(&t, "deltasWithoutBook"), 1.0, "the NO token has no book");
    assert_eq!(cnt(&t, "bboMismatches"), 0.0);
    assert_eq!(flags(&t, 0) & F_MISMATCH, 0);
    t.tick(5.0);
    assert_eq!((cnt(&t, "hashChecks"), cnt(&t, "hashMismatches")), (2.0, 0.0));

    // With another last trade price the book hash no longer matches.
    let mut t = table();
    t.bind(&id, 0, 1).unwrap();
    t.set_meta(0, "5", true).unwrap();
    t.ingest(&raw, 2.0);
    t.tick(3.0);
    assert_eq!((cnt(&t, "hashChecks"), cnt(&t, "hashMismatches")), (1.0, 1.0));
}

#[test]
fn level_removed_fixture_and_legacy_formats() {
    let mut t = table();
    let yes = "79358475953126059185096320578578995575874288599466094920037110232928386404141";
    t.bind(yes, 0, 1).unwrap();
    t.ingest(&fixture("book_after_trade_2026-10-04.json"), 1.0);
    let levels = f64_at(&t, 0, S_ASK_LEVELS);
    // Removes ask 0.979 if present (absent: no-op that still counts); best_ask 0.895 != ours 0.894: mismatch.
    t.ingest(&fixture("price_change_2026-10-04_level_removed.json"), 2.0);
    assert_eq!(cnt(&t, "deltasApplied"), 1.0);
    assert_eq!(cnt(&t, "ignored"), 1.0);
    assert!(f64_at(&t, 0, S_ASK_LEVELS) <= levels);
    assert_eq!(cnt(&t, "bboMismatches"), 1.0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0);

    // Legacy 2024 book, then v0 per-level change for the same token.
    let mut t = table();
    let legacy: Value = json("book_legacy_2024-10.json");
    let id = legacy["asset_id"].as_str().unwrap();
    t.bind(id, 2, 0).unwrap();
    t.ingest(&fixture("book_legacy_2024-10.json"), 1.0);
    assert_eq!(flags(&t, 2), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    assert!(f64_at(&t, 2, S_TICK_SIZE).is_nan());
    assert_eq!(best(&t, 2).1, Some((0.514, 20230.87)));
    t.ingest(&fixture("price_change_legacy_v0_per_level_2024-08.json"), 2.0);
    assert_eq!(best(&t, 2).1, Some((0.514, 21574.08)));
    assert_eq!(f64_at(&t, 2, S_EXCH_TS), 1723967931411.0);
    assert_eq!(f64_at(&t, 2, S_UPDATES), 2.0);

    // v1 `changes` array.
    let v1: Value = json("price_change_legacy_v1_changes_array_2024-10.json");
    let id = v1["asset_id"].as_str().unwrap();
    t.bind(id, 3, 0).unwrap();
    t.ingest(book(id, &[("0.1", "1")], &[("0.9", "1")], "1").as_bytes(), 1.0);
    t.ingest(&fixture("price_change_legacy_v1_changes_array_2024-10.json"), 2.0);
    let (fb, _) = t.full_book(3).unwrap();
    let p: Vec<&str> = fb.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(p, ["0.1", "0.5", "0.6", "0.7"]);
    assert_eq!(cnt(&t, "deltasApplied"), 4.0);
}

#[test]
fn other_fixtures_counters() {
    let mut t = table();
    t.ingest(&fixture("best_bid_ask_2026-10-04.json"), 1.0);
    t.ingest(&fixture("new_market_2025-12.json"), 1.0);
    t.ingest(&fixture("tick_size_change_2025-02.json"), 1.0);
    t.ingest(&fixture("last_trade_price_2024-08.json"), 1.0);
    assert_eq!(cnt(&t, "bestBidAsk"), 1.0);
    assert_eq!(cnt(&t, "newMarkets"), 1.0);
    assert_eq!(cnt(&t, "ignored"), 2.0);
    assert_eq!(cnt(&t, "events"), 4.0);

    let tick: Value = json("tick_size_change_2025-02.json");
    t.bind(tick["asset_id"].as_str().unwrap(), 0, 0).unwrap();
    t.ingest(&fixture("tick_size_change_2025-02.json"), 5.0);
    assert_eq!(f64_at(&t, 0, S_TICK_SIZE), 0.001);
    assert_eq!(f64_at(&t, 0, S_LAST_UPDATE), 0.0, "no book: lastUpdate unchanged");
    let ltp: Value = json("last_trade_price_2024-08.json");
    t.bind(ltp["asset_id"].as_str().unwrap(), 1, 0).unwrap();
    t.ingest(&fixture("last_trade_price_2024-08.json"), 5.0);
    assert_eq!(f64_at(&t, 1, S_LAST_TRADE), 0.491);
    assert_eq!(f64_at(&t, 1, S_LAST_TRADE_SIZE), 85.36);
    assert_eq!(f64_at(&t, 1, S_LAST_TRADE_TS), 1724564136087.0);
    assert_eq!(t.read_i32(t.slot_offset(1) + S_LAST_TRADE_SIDE), SIDE_SELL);

    // market_resolved settles both named tokens.
    let res: Value = json("market_resolved_2026-10-04.json");
    let ids: Vec<&str> = res["assets_ids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    t.bind(ids[0], 4, 0).unwrap();
    t.bind(ids[1], 5, 0).unwrap();
    basic_book(&mut t, ids[0]);
    t.ingest(&fixture("market_resolved_2026-10-04.json"), 6.0);
    assert_eq!(cnt(&t, "settled"), 2.0);
    assert_eq!(flags(&t, 4), F_SUBSCRIBED | F_HAS_BOOK | F_SETTLED);
    assert_eq!(flags(&t, 5), F_SUBSCRIBED | F_SETTLED);
    assert_eq!(t.read_i32(t.slot_offset(4) + S_NBIDS), 0);
    assert!(t.full_book(4).is_none());
    assert!(t.take_resync().is_empty());

    // REST: legacy summary applied, then skipped (same timestamp), the 404 body is a bad event.
    let rest: Value = json("rest_book_legacy_2024-10.json");
    t.bind(rest["asset_id"].as_str().unwrap(), 6, 0).unwrap();
    t.rest_json(&fixture("rest_book_legacy_2024-10.json"), 7.0);
    assert_eq!(cnt(&t, "restApplied"), 1.0);
    assert_eq!(flags(&t, 6), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    assert_eq!(best(&t, 6).0, Some((0.1, 125.0)));
    t.rest_json(&fixture("rest_book_legacy_2024-10.json"), 8.0);
    assert_eq!(cnt(&t, "restSkipped"), 1.0);
    let before = cnt(&t, "badEvent");
    t.rest_json(&fixture("rest_book_404_settled_token_2026-10-04.json"), 8.0);
    assert_eq!(cnt(&t, "badEvent"), before + 1.0);
}

#[test]
fn control_frames_bad_json_and_shapes() {
    let mut t = table();
    for f in ["PONG", " PING\n", "NO NEW ASSETS", "INVALID OPERATION", "INVALID MESSAGE", "[]", "[]\n"] {
        t.ingest(f.as_bytes(), 1.0);
    }
    assert_eq!(cnt(&t, "controlFrames"), 7.0);
    for f in ["pong", "{", "[1,]", "", "\u{feff}[]", "{\"a\":1}x"] {
        t.ingest(f.as_bytes(), 1.0);
    }
    assert_eq!(cnt(&t, "badJson"), 6.0);
    t.ingest(b"42", 1.0);
    t.ingest(b"\"book\"", 1.0);
    t.ingest(b"[1, null, {}, {\"event_type\": 5}, {\"event_type\":\"trade\"}]", 1.0);
    assert_eq!(cnt(&t, "badEvent"), 2.0 + 4.0);
    assert_eq!(cnt(&t, "unknownEvents"), 1.0);
    assert_eq!(cnt(&t, "events"), 5.0);
    assert_eq!(cnt(&t, "frames"), 16.0);
    t.ingest(b"[ ]", 1.0);
    assert_eq!(cnt(&t, "events"), 5.0);
}

#[test]
fn deltas_and_exact_texts() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    t.ingest(pc(&[(A, "0.5", "1", "BUY", "", "")], "1").as_bytes(), 1.0);
    assert_eq!(cnt(&t, "deltasWithoutBook"), 1.0);
    basic_book(&mut t, A);
    let seq0 = f64_at(&t, 0, S_SEQUENCE);
    t.ingest(
        pc(&[(A, "0.450", "6.50", "BUY", "0.45", "0.55"), (A, "0.5", "1", "SELL", "0.45", "0.5")], "7").as_bytes(),
        9.0,
    );
    assert_eq!(cnt(&t, "deltasApplied"), 2.0);
    assert_eq!(cnt(&t, "bboMismatches"), 0.0);
    assert_eq!(f64_at(&t, 0, S_SEQUENCE), seq0 + 1.0, "one publish per frame");
    assert_eq!(f64_at(&t, 0, S_EXCH_TS), 7.0);
    assert_eq!(f64_at(&t, 0, S_UPDATES), 3.0);
    let (b, a) = t.full_book(0).unwrap();
    assert_eq!(b, [("0.40".into(), "10".into()), ("0.450".into(), "6.50".into())]);
    assert_eq!(a.last().unwrap(), &("0.5".to_string(), "1".to_string()));
    // "0" removes; removing a missing level is a no-op that counts.
    t.ingest(
        pc(&[(A, "0.5", "0", "SELL", "0.45", "0.55"), (A, "0.31", "0", "BUY", "0.45", "0.55")], "8").as_bytes(),
        10.0,
    );
    assert_eq!(cnt(&t, "deltasApplied"), 4.0);
    assert_eq!(best(&t, 0).1, Some((0.55, 3.0)));
    // Unordered book rejected and token reset.
    t.ingest(book(A, &[("0.45", "1"), ("0.40", "1")], &[], "9").as_bytes(), 11.0);
    assert_eq!((cnt(&t, "unorderedLevels"), cnt(&t, "snapshotsRejected")), (1.0, 1.0));
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_HAS_BOOK);
    assert_eq!(t.take_resync(), [A]);
    assert!(t.take_resync().is_empty());
    // Size-0 levels in a book are dropped.
    t.ingest(book(A, &[("0.1", "0"), ("0.2", "3")], &[("0.9", "0")], "9").as_bytes(), 12.0);
    assert_eq!(t.full_book(0).unwrap(), (vec![("0.2".into(), "3".into())], vec![]));
}

#[test]
fn crossed_book_resets() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    basic_book(&mut t, A);
    assert_eq!(
        t.ingest(pc(&[(A, "0.55", "1", "BUY", "0.55", "0.55")], "2").as_bytes(), 2.0),
        STATUS_RESYNC | STATUS_PUBLISHED
    );
    assert_eq!(cnt(&t, "crossedResets"), 1.0);
    assert_eq!(cnt(&t, "bboMismatches"), 0.0, "no further checks after a crossed reset");
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_HAS_BOOK | F_CROSSED);
    assert_eq!(t.read_i32(t.slot_offset(0) + S_NBIDS), 0);
    assert_eq!(t.take_resync(), [A]);
    // A crossed book is also reset; a good book clears CROSSED.
    t.ingest(book(A, &[("0.6", "1")], &[("0.6", "1")], "3").as_bytes(), 3.0);
    assert_eq!(cnt(&t, "crossedResets"), 2.0);
    basic_book(&mut t, A);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
}

#[test]
fn bbo_mismatch_grace_and_desync() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    basic_book(&mut t, A);
    // Ours: 0.45 / 0.55. Server says 0.46.
    t.ingest(pc(&[(A, "0.3", "1", "BUY", "0.46", "0.55")], "2").as_bytes(), 1000.0);
    assert_eq!(cnt(&t, "bboMismatches"), 1.0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0);
    t.ingest(pc(&[(A, "0.3", "2", "BUY", "0.46", "0.55")], "3").as_bytes(), 1500.0);
    assert_eq!(cnt(&t, "bboMismatches"), 2.0);
    assert_eq!(t.tick(1999.0), 0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0, "deadline is not pushed back");
    assert_eq!(t.tick(2000.0), STATUS_RESYNC | STATUS_PUBLISHED);
    assert_eq!(cnt(&t, "desyncs"), 1.0);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_HAS_BOOK);
    assert_eq!(t.take_resync(), [A]);

    // Resolved within grace; "" = empty side; "0.450" equals 0.45.
    basic_book(&mut t, A);
    t.ingest(pc(&[(A, "0.3", "1", "BUY", "0.46", "0.55")], "2").as_bytes(), 3000.0);
    t.ingest(pc(&[(A, "0.3", "2", "BUY", "0.450", "0.55")], "2").as_bytes(), 3100.0);
    assert_eq!(cnt(&t, "mismatchesResolved"), 1.0);
    assert_eq!(flags(&t, 0) & F_MISMATCH, 0);
    t.ingest(book(A, &[("0.3", "1")], &[], "5").as_bytes(), 3200.0);
    t.ingest(pc(&[(A, "0.2", "1", "BUY", "0.3", "")], "6").as_bytes(), 3300.0);
    assert_eq!(cnt(&t, "bboMismatches"), 3.0);
    // A book clears MISMATCH; expiry at the start of ingest.
    t.ingest(pc(&[(A, "0.2", "1", "BUY", "0.9", "")], "6").as_bytes(), 3400.0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0);
    basic_book(&mut t, A);
    assert_eq!(flags(&t, 0) & F_MISMATCH, 0);
    t.ingest(pc(&[(A, "0.2", "1", "BUY", "0.9", "")], "6").as_bytes(), 5000.0);
    t.ingest(b"PONG", 6000.0);
    assert_eq!(cnt(&t, "desyncs"), 2.0);
}

#[test]
fn malformed_event_never_touches_another_token() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    t.bind(B, 1, 1).unwrap();
    basic_book(&mut t, A);
    basic_book(&mut t, B);
    let seq_a = f64_at(&t, 0, S_SEQUENCE);
    let bad_b = [
        book(B, &[("0.4", "-1")], &[], "1"),
        book(B, &[("0.4", "1e5")], &[], "1"),
        book(B, &[("1.5", "1")], &[], "1"),
        format!(r#"{{"event_type":"book","asset_id":"{B}","bids":[{{"price":0.4,"size":"1"}}],"asks":[]}}"#),
        format!(r#"{{"event_type":"book","asset_id":"{B}","bids":[{{"size":"1"}}],"asks":[]}}"#),
        format!(r#"{{"event_type":"book","asset_id":"{B}","bids":{{}},"asks":[]}}"#),
        pc(&[(B, "0.4", "1", "HOLD", "", "")], "1"),
        pc(&[(B, "0.4", "1.0000000001", "BUY", "", "")], "1"),
        format!(r#"{{"event_type":"tick_size_change","asset_id":"{B}","new_tick_size":""}}"#),
        format!(r#"{{"event_type":"last_trade_price","asset_id":"{B}","price":"1"}}"#),
        format!(r#"{{"event_type":"price_change","asset_id":"{B}","changes":[{{"price":"0.4","side":"BUY"}}]}}"#),
        format!(r#"{{"event_type":"market_resolved","assets_ids":["{B}",7]}}"#),
    ];
    for (i, bad) in bad_b.iter().enumerate() {
        basic_book(&mut t, B);
        let frame = format!("[{bad},{}]", pc(&[(A, "0.3", "1", "BUY", "0.45", "0.55")], "2"));
        t.ingest(frame.as_bytes(), 10.0 + i as f64);
        assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK, "A untouched by bad event {i}: {bad}");
        assert_eq!(flags(&t, 1) & F_READY, 0, "B reset by bad event {i}: {bad}");
        assert_eq!(t.take_resync(), [B], "{bad}");
    }
    assert_eq!(f64_at(&t, 0, S_SEQUENCE), seq_a + bad_b.len() as f64);
    assert_eq!(cnt(&t, "deltasApplied"), bad_b.len() as f64);
    assert_eq!(cnt(&t, "badDecimal"), 9.0);
    assert_eq!(cnt(&t, "badEvent"), 3.0);
    assert_eq!(cnt(&t, "snapshotsRejected"), 6.0);
    // Optional fields never reject: a bad timestamp is NaN, a bad best_bid cancels the check.
    basic_book(&mut t, B);
    t.ingest(
        format!(r#"{{"event_type":"book","asset_id":"{B}","bids":[],"asks":[],"timestamp":"x"}}"#).as_bytes(),
        60.0,
    );
    assert!(f64_at(&t, 1, S_EXCH_TS).is_nan());
    t.ingest(book(B, &[("0.1", "1")], &[], "1").as_bytes(), 61.0);
    t.ingest(pc(&[(B, "0.4", "1", "BUY", "0.4.", "")], "2").as_bytes(), 62.0);
    assert_eq!(flags(&t, 1), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    assert_eq!(cnt(&t, "bboMismatches"), 0.0);
    // A bad entry rejects the whole event: both named tokens reset, nothing applied.
    basic_book(&mut t, B);
    t.ingest(pc(&[(A, "0.3", "9", "BUY", "0.45", "0.55"), (B, "x", "1", "BUY", "", "")], "3").as_bytes(), 50.0);
    assert_eq!(flags(&t, 0) & F_READY, 0);
    assert_eq!(t.take_resync(), [A, B]);
    // Entries of unsubscribed tokens are validated too, then ignored.
    t.ingest(pc(&[("999", "x", "1", "BUY", "", "")], "3").as_bytes(), 51.0);
    assert_eq!((cnt(&t, "ignored"), cnt(&t, "badDecimal")), (0.0, 11.0));
    t.ingest(pc(&[("999", "0.5", "1", "BUY", "", "")], "3").as_bytes(), 51.0);
    assert_eq!(cnt(&t, "ignored"), 1.0);
}

#[test]
fn seqlock_publish_and_bind_lifecycle() {
    let mut t = table();
    let seq = |t: &OwnedTable| t.read_i32(t.slot_offset(2) + S_SEQ);
    assert_eq!(seq(&t), 0);
    t.bind(A, 2, 3).unwrap();
    assert_eq!(seq(&t), 2);
    assert_eq!(t.read_i32(t.slot_offset(2) + S_GEN), 1);
    assert_eq!(t.read_i32(t.slot_offset(2) + S_CONN), 3);
    assert_eq!(flags(&t, 2), F_SUBSCRIBED);
    assert!(
        f64_at(&t, 2, S_EXCH_TS).is_nan()
            && f64_at(&t, 2, S_TICK_SIZE).is_nan()
            && f64_at(&t, 2, S_LAST_TRADE).is_nan()
    );
    basic_book(&mut t, A);
    assert_eq!(seq(&t), 4);
    assert_eq!(seq(&t) % 2, 0);
    t.assign(2, 7).unwrap();
    t.set_disabled(2, true).unwrap();
    assert_eq!(flags(&t, 2), F_SUBSCRIBED | F_READY | F_HAS_BOOK | F_DISABLED);
    assert_eq!(seq(&t), 8);
    t.invalidate(2, 5.0).unwrap();
    assert_eq!(cnt(&t, "invalidations"), 1.0);
    assert_eq!(flags(&t, 2), F_SUBSCRIBED | F_HAS_BOOK | F_DISABLED);
    assert_eq!(t.take_resync(), [A]);
    t.unbind(2).unwrap();
    assert_eq!(flags(&t, 2), 0);
    assert_eq!(t.read_i32(t.slot_offset(2) + S_GEN), 2);
    assert_eq!(seq(&t) % 2, 0);
    t.ingest(book(A, &[("0.1", "1")], &[], "1").as_bytes(), 6.0);
    assert_eq!(cnt(&t, "ignored"), 1.0);
    assert!(t.bind(A, 99, 0).is_err());
    t.bind(A, 1, 0).unwrap();
    assert!(t.confirm(256, 1.0).is_err());
    t.confirm(4, 10.0).unwrap();
    t.confirm(4, 5.0).unwrap();
    t.confirm(0, 10.0).unwrap();
    assert_eq!(t.read_f64(H_CONFIRMED + 4 * 8), 10.0);
    assert_eq!(t.read_f64(H_CONFIRMED), 0.0);
    assert_eq!(t.read_f64(H_COUNTERS + c::FRAMES * 8), cnt(&t, "frames"));
}

#[test]
fn fuzzed_frames_never_panic() {
    let mut t = table();
    let yes = "79358475953126059185096320578578995575874288599466094920037110232928386404141";
    t.bind(yes, 0, 1).unwrap();
    t.set_meta(0, "5", true).unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let files = [
        "book_after_trade_2026-10-04.json",
        "price_change_2026-10-04_trade.json",
        "price_change_2026-10-04_level_removed.json",
    ];
    for i in 0..20_000 {
        let mut f = fixture(files[i % 3]);
        for _ in 0..(rnd() % 4) {
            if f.is_empty() {
                break;
            }
            let at = (rnd() as usize) % f.len();
            match rnd() % 4 {
                0 => f[at] = (rnd() & 0xff) as u8,
                1 => f[at] = b"\"\\{}[],:0.5-e"[(rnd() % 13) as usize],
                2 => {
                    f.truncate(at);
                }
                _ => {
                    f.remove(at);
                }
            }
        }
        t.ingest(&f, i as f64);
        if i % 100 == 0 {
            t.tick(i as f64);
        }
    }
    assert_eq!(cnt(&t, "frames"), 20_000.0);
}

#[allow(clippy::too_many_arguments)]
fn pc_hash(id: &str, price: &str, size: &str, side: &str, hash: &str, bb: &str, ba: &str, ts: &str) -> String {
    format!(
        r#"{{"event_type":"price_change","market":"0xm","timestamp":"{ts}","price_changes":[{{"asset_id":"{id}","price":"{price}","size":"{size}","side":"{side}","hash":"{hash}","best_bid":"{bb}","best_ask":"{ba}"}}]}}"#
    )
}

#[test]
fn book_clears_earlier_top_of_book_record_of_its_frame() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    basic_book(&mut t, A);
    let bk = book(A, &[("0.40", "10"), ("0.45", "5")], &[("0.60", "7"), ("0.55", "3")], "100");
    // An entry that disagrees with the book that follows it in the same frame: not checked.
    let f = format!("[{},{bk}]", pc(&[(A, "0.3", "1", "BUY", "0.9", "0.55")], "2"));
    t.ingest(f.as_bytes(), 10.0);
    assert_eq!(cnt(&t, "bboMismatches"), 0.0);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    // Entries after the last book of the token are checked: agreeing one...
    let f = format!(
        "[{},{bk},{}]",
        pc(&[(A, "0.3", "1", "BUY", "0.9", "0.55")], "2"),
        pc(&[(A, "0.3", "2", "BUY", "0.45", "0.55")], "3")
    );
    t.ingest(f.as_bytes(), 11.0);
    assert_eq!((cnt(&t, "bboMismatches"), flags(&t, 0) & F_MISMATCH), (0.0, 0));
    // ...and a disagreeing one.
    let f = format!("[{bk},{}]", pc(&[(A, "0.3", "2", "BUY", "0.46", "0.55")], "3"));
    t.ingest(f.as_bytes(), 12.0);
    assert_eq!(cnt(&t, "bboMismatches"), 1.0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0);
    // A book of another token does not clear this token's record.
    t.bind(B, 1, 1).unwrap();
    basic_book(&mut t, A);
    let f = format!("[{},{}]", pc(&[(A, "0.3", "1", "BUY", "0.9", "0.55")], "4"), book(B, &[("0.1", "1")], &[], "4"));
    t.ingest(f.as_bytes(), 13.0);
    assert_eq!(cnt(&t, "bboMismatches"), 2.0);
}

#[test]
fn market_resolved_clears_mismatch_and_settled_tokens_are_never_resynced() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    basic_book(&mut t, A);
    t.ingest(pc(&[(A, "0.3", "1", "BUY", "0.46", "0.55")], "2").as_bytes(), 1000.0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0);
    let resolved = format!(r#"{{"event_type":"market_resolved","assets_ids":["{A}","{B}"]}}"#);
    t.ingest(resolved.as_bytes(), 1100.0);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_HAS_BOOK | F_SETTLED);
    // The deadline is gone: no desync when it would have expired.
    assert_eq!(t.tick(2500.0), 0);
    t.ingest(b"PONG", 3000.0);
    assert_eq!(cnt(&t, "desyncs"), 0.0);
    assert!(t.take_resync().is_empty());
    // Nothing marks a settled token for resync: invalidate, a rejected event, a crossed book,
    // an expired mismatch of a book received after settlement.
    t.invalidate(0, 3100.0).unwrap();
    assert_eq!(cnt(&t, "invalidations"), 1.0);
    t.ingest(book(A, &[("0.45", "1"), ("0.40", "1")], &[], "9").as_bytes(), 3200.0);
    assert_eq!(cnt(&t, "unorderedLevels"), 1.0);
    t.ingest(book(A, &[("0.6", "1")], &[("0.6", "1")], "9").as_bytes(), 3300.0);
    assert_eq!(cnt(&t, "crossedResets"), 1.0);
    basic_book(&mut t, A);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK | F_SETTLED);
    t.ingest(pc(&[(A, "0.3", "1", "BUY", "0.46", "0.55")], "2").as_bytes(), 4000.0);
    assert_ne!(flags(&t, 0) & F_MISMATCH, 0);
    t.tick(5000.0);
    assert_eq!(cnt(&t, "desyncs"), 1.0);
    assert_eq!(flags(&t, 0) & (F_READY | F_MISMATCH), 0);
    assert!(t.take_resync().is_empty());
    assert_eq!(t.resync_len(), 0);
    // A new binding is not settled any more.
    t.bind(A, 0, 1).unwrap();
    t.invalidate(0, 6000.0).unwrap();
    assert_eq!(t.take_resync(), [A]);
}

#[test]
fn empty_hash_queues_no_check() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    t.set_meta(0, "5", false).unwrap();
    let with_hash = |h: &str| {
        format!(
            r#"{{"event_type":"book","asset_id":"{A}","market":"0xm","timestamp":"1","hash":"{h}","bids":[{{"price":"0.4","size":"1"}}],"asks":[{{"price":"0.6","size":"1"}}]}}"#
        )
    };
    t.ingest(with_hash("").as_bytes(), 1.0);
    t.tick(2.0);
    assert_eq!(cnt(&t, "hashChecks"), 0.0);
    t.ingest(with_hash("0000000000000000000000000000000000000000").as_bytes(), 3.0);
    t.tick(4.0);
    assert_eq!((cnt(&t, "hashChecks"), cnt(&t, "hashMismatches")), (1.0, 1.0));
    // An entry with an empty hash queues nothing and drops the check an earlier book queued.
    t.ingest(pc_hash(A, "0.3", "1", "BUY", "", "0.4", "0.6", "5").as_bytes(), 5.0);
    t.tick(6.0);
    assert_eq!(cnt(&t, "hashChecks"), 1.0);
    t.ingest(with_hash("0000000000000000000000000000000000000000").as_bytes(), 7.0);
    t.ingest(pc_hash(A, "0.3", "2", "BUY", "", "0.4", "0.6", "8").as_bytes(), 8.0);
    t.tick(9.0);
    assert_eq!(cnt(&t, "hashChecks"), 1.0);
    t.ingest(pc_hash(A, "0.3", "3", "BUY", "ab", "0.4", "0.6", "8").as_bytes(), 10.0);
    t.tick(11.0);
    assert_eq!((cnt(&t, "hashChecks"), cnt(&t, "hashMismatches")), (2.0, 2.0));
}

#[test]
fn settlement_best_bid_0_and_best_ask_1_mean_empty_sides() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    t.ingest(book(A, &[("0.45", "5")], &[("0.55", "3")], "1").as_bytes(), 1.0);
    // The settlement burst empties the book; the server reports "0" / "1".
    t.ingest(pc(&[(A, "0.45", "0", "BUY", "0", "0.55")], "2").as_bytes(), 2.0);
    t.ingest(pc(&[(A, "0.55", "0", "SELL", "0", "1")], "3").as_bytes(), 3.0);
    assert_eq!(cnt(&t, "bboMismatches"), 0.0);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    // By value: "0.0" and "1.000" too.
    t.ingest(pc(&[(A, "0.3", "0", "BUY", "0.0", "1.000")], "4").as_bytes(), 4.0);
    assert_eq!(cnt(&t, "bboMismatches"), 0.0);
    // "1" for a side that has levels is a mismatch (ours is 0.55), as is "0" for a non-empty bid side.
    t.ingest(pc(&[(A, "0.55", "3", "SELL", "0", "1")], "5").as_bytes(), 5.0);
    assert_eq!(cnt(&t, "bboMismatches"), 1.0);
    t.ingest(pc(&[(A, "0.45", "5", "BUY", "0", "0.55")], "6").as_bytes(), 6.0);
    assert_eq!(cnt(&t, "bboMismatches"), 2.0);
    t.ingest(pc(&[(A, "0.45", "5", "BUY", "0.45", "0.55")], "7").as_bytes(), 7.0);
    assert_eq!(cnt(&t, "mismatchesResolved"), 1.0);
    assert_eq!(flags(&t, 0) & F_MISMATCH, 0);
}

/// The publish rewrites only the levels that may have changed: after any sequence of changes the
/// published levels must still be the book's best `depth` levels.
#[test]
fn published_levels_always_match_the_book() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let bids: Vec<(String, String)> = (1..=30).map(|i| (format!("0.{:03}", i * 10), "5".to_string())).collect();
    let asks: Vec<(String, String)> =
        (1..=30).rev().map(|i| (format!("0.{:03}", 500 + i * 10), "5".to_string())).collect();
    fn lv(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect()
    }
    for round in 0..3000 {
        if round % 500 == 0 {
            t.ingest(book(A, &lv(&bids), &lv(&asks), "1").as_bytes(), round as f64);
        }
        // Changes around the top, at depth and deep: updates, inserts, removals.
        let n = 1 + rnd(3);
        let mut es = Vec::new();
        for _ in 0..n {
            let bid = rnd(2) == 0;
            let k = if bid { 1 + rnd(310) } else { 501 + rnd(310) };
            let size = ["0", "1", "2.5", "7"][rnd(4) as usize];
            es.push((A, format!("0.{k:03}"), size, if bid { "BUY" } else { "SELL" }));
        }
        let es: Vec<(&str, &str, &str, &str, &str, &str)> =
            es.iter().map(|(a, p, s, side)| (*a, p.as_str(), *s, *side, "", "")).collect();
        t.ingest(pc(&es, "2").as_bytes(), round as f64);
        let Some((fb, fa)) = t.full_book(0) else {
            continue;
        };
        let base = t.slot_offset(0);
        let nb = t.read_i32(base + S_NBIDS) as usize;
        let na = t.read_i32(base + S_NASKS) as usize;
        assert_eq!(nb, fb.len().min(DEPTH));
        assert_eq!(na, fa.len().min(DEPTH));
        for (k, (p, s)) in fb.iter().rev().take(nb).enumerate() {
            let off = base + S_LEVELS + k * 16;
            assert_eq!((t.read_f64(off), t.read_f64(off + 8)), (num(p), num(s)), "round {round} bid {k}");
        }
        for (k, (p, s)) in fa.iter().rev().take(na).enumerate() {
            let off = base + S_LEVELS + DEPTH * 16 + k * 16;
            assert_eq!((t.read_f64(off), t.read_f64(off + 8)), (num(p), num(s)), "round {round} ask {k}");
        }
    }
    assert!(cnt(&t, "deltasApplied") > 1000.0);
}

/// DESIGN 5.8 rule 6: a slot is published (and `sequence` raised) only when a published field or level
/// differs from before; a rejected event that changes nothing publishes nothing.
#[test]
fn publishes_only_when_something_changed() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    let seq = |t: &OwnedTable| (t.read_i32(t.slot_offset(0) + S_SEQ), f64_at(t, 0, S_SEQUENCE));
    assert_eq!(seq(&t), (2, 0.0));
    // Rejected book for a token without a book: reset of nothing, no publish (but resync).
    t.ingest(book(A, &[("0.45", "1"), ("0.40", "1")], &[], "1").as_bytes(), 5.0);
    assert_eq!(cnt(&t, "unorderedLevels"), 1.0);
    assert_eq!(seq(&t), (2, 0.0));
    assert_eq!(t.take_resync(), [A]);
    // invalidate of a token with nothing to reset: counted, not published.
    t.invalidate(0, 6.0).unwrap();
    assert_eq!(seq(&t), (2, 0.0));
    // A delta without a book, a tick size for a token without READY (tickSize changes: published).
    t.ingest(pc(&[(A, "0.5", "1", "BUY", "", "")], "2").as_bytes(), 7.0);
    assert_eq!(seq(&t), (2, 0.0));
    let tick = format!(r#"{{"event_type":"tick_size_change","asset_id":"{A}","new_tick_size":"0.01"}}"#);
    t.ingest(tick.as_bytes(), 8.0);
    assert_eq!(seq(&t), (4, 1.0));
    // The same tick size again (no READY, so lastUpdate stays): nothing changed.
    t.ingest(tick.as_bytes(), 9.0);
    assert_eq!(seq(&t), (4, 1.0));
    // A book, then a delta that sets a level to what it is at the same time: `updates` changes.
    basic_book(&mut t, A);
    assert_eq!(seq(&t), (6, 2.0));
    t.ingest(pc(&[(A, "0.45", "5", "BUY", "0.45", "0.55")], "100").as_bytes(), 1.0);
    assert_eq!(seq(&t), (8, 3.0));
    // Removing a level that is not there changes `updates` too (an applied delta).
    t.ingest(pc(&[(A, "0.31", "0", "BUY", "0.45", "0.55")], "100").as_bytes(), 1.0);
    assert_eq!(seq(&t), (10, 4.0));
    // market_resolved twice: the second changes nothing.
    let res = format!(r#"{{"event_type":"market_resolved","assets_ids":["{A}"]}}"#);
    t.ingest(res.as_bytes(), 2.0);
    assert_eq!(seq(&t), (12, 5.0));
    t.ingest(res.as_bytes(), 3.0);
    assert_eq!(seq(&t), (12, 5.0));
}

#[test]
fn settle_marks_a_bound_token_settled_and_publishes() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    t.ingest(book(A, &[("0.40", "10")], &[("0.60", "7")], "100").as_bytes(), 1.0);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    let seq = t.read_i32(t.slot_offset(0) + S_SEQ);
    t.settle(0, 2.0).unwrap();
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_HAS_BOOK | F_SETTLED);
    assert_eq!(t.read_i32(t.slot_offset(0) + S_SEQ), seq + 2);
    assert_eq!(cnt(&t, "settled"), 1.0);
    assert!(t.full_book(0).is_none());
    // An unbound slot is left alone; a slot outside the table is an error.
    t.settle(1, 3.0).unwrap();
    assert_eq!(flags(&t, 1), 0);
    assert!(t.settle(99, 3.0).is_err());
    // A settled token is never marked for resync.
    t.invalidate(0, 4.0).unwrap();
    assert!(t.take_resync().is_empty());
}

/// The market text of a slot as a reader sees it: `S_MARKET_LENGTH` bytes of `S_MARKET`.
fn market_at(t: &OwnedTable, slot: usize) -> (i32, Vec<u8>) {
    let b = t.slot_offset(slot);
    let n = t.read_i32(b + S_MARKET_LENGTH);
    let words: Vec<u8> =
        (0..MARKET_BYTES / 8).flat_map(|k| t.read_f64(b + S_MARKET + 8 * k).to_bits().to_le_bytes()).collect();
    (t.read_i32(b + S_MARKET_VERSION), words[..n.clamp(0, MARKET_BYTES as i32) as usize].to_vec())
}

#[test]
fn market_text_meta_and_trade_are_published() {
    let mut t = table();
    let open: Value = json("book_opening_snapshot_2026-10-04.json");
    let id = open["asset_id"].as_str().unwrap();
    t.bind(id, 2, 1).unwrap();
    t.ingest(&fixture("book_opening_snapshot_2026-10-04.json"), 1.0);
    let (v1, text) = market_at(&t, 2);
    assert_eq!(text, open["market"].as_str().unwrap().as_bytes());
    assert_eq!(f64_at(&t, 2, S_LAST_TRADE), 0.064);
    assert!(f64_at(&t, 2, S_LAST_TRADE_SIZE).is_nan() && f64_at(&t, 2, S_LAST_TRADE_TS).is_nan());
    assert!(f64_at(&t, 2, S_MIN_ORDER_SIZE).is_nan());
    assert_eq!(t.read_i32(t.slot_offset(2) + S_NEG_RISK), NEG_RISK_UNKNOWN);

    // The same market again: no new version.
    t.ingest(&fixture("book_opening_snapshot_2026-10-04.json"), 2.0);
    assert_eq!(market_at(&t, 2).0, v1);

    // setMeta publishes (without a book change) the minimum order size and neg risk.
    let (seq, sequence) = (t.read_i32(t.slot_offset(2) + S_SEQ), f64_at(&t, 2, S_SEQUENCE));
    t.set_meta(2, "15", true).unwrap();
    assert_eq!(f64_at(&t, 2, S_MIN_ORDER_SIZE), 15.0);
    assert_eq!(t.read_i32(t.slot_offset(2) + S_NEG_RISK), NEG_RISK_YES);
    assert_eq!(t.read_i32(t.slot_offset(2) + S_SEQ), seq + 2);
    assert_eq!(f64_at(&t, 2, S_SEQUENCE), sequence);
    t.set_meta(2, "15", true).unwrap();
    assert_eq!(t.read_i32(t.slot_offset(2) + S_SEQ), seq + 2, "unchanged meta: no publish");

    // A market text that cannot be a condition id is not kept; the field is zeros after the text.
    let frame = |m: &str| {
        format!(
            r#"{{"event_type":"book","market":"{m}","asset_id":"{id}","timestamp":"5","bids":[{{"price":"0.4","size":"1"}}],"asks":[{{"price":"0.6","size":"1"}}]}}"#
        )
    };
    t.ingest(frame(&"x".repeat(MARKET_BYTES + 1)).as_bytes(), 3.0);
    let (v2, text) = market_at(&t, 2);
    assert!(text.is_empty() && v2 == v1 + 1);
    t.ingest(frame("0x1").as_bytes(), 4.0);
    let (v3, text) = market_at(&t, 2);
    assert_eq!((v3, &text[..]), (v1 + 2, &b"0x1"[..]));
    let b = t.slot_offset(2);
    assert_eq!(t.read_f64(b + S_MARKET).to_bits() >> 24, 0, "zeros after the text");

    // The book named no last trade price: the trade stays. Unbinding forgets everything.
    assert_eq!(f64_at(&t, 2, S_LAST_TRADE), 0.064);
    t.unbind(2).unwrap();
    t.bind("other", 2, 1).unwrap();
    let (v4, text) = market_at(&t, 2);
    assert!(text.is_empty() && v4 == v3 + 1);
    assert!(f64_at(&t, 2, S_MIN_ORDER_SIZE).is_nan() && f64_at(&t, 2, S_LAST_TRADE).is_nan());
    assert_eq!(t.read_i32(t.slot_offset(2) + S_NEG_RISK), NEG_RISK_UNKNOWN);
}

#[test]
fn diverge_resets_with_diverged_until_a_book_makes_the_token_ready() {
    let mut t = table();
    t.bind(A, 0, 1).unwrap();
    t.bind(B, 1, 1).unwrap();
    t.ingest(book(A, &[("0.40", "10")], &[("0.60", "7")], "100").as_bytes(), 1.0);
    let seq = t.read_i32(t.slot_offset(0) + S_SEQ);
    let invalidations = cnt(&t, "invalidations");
    t.diverge(0, 2.0).unwrap();
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_HAS_BOOK | F_DIVERGED);
    assert_eq!(best(&t, 0), (None, None));
    assert_eq!(t.read_i32(t.slot_offset(0) + S_SEQ), seq + 2);
    // Nothing changes the second time: not published; no counter moves.
    t.diverge(0, 3.0).unwrap();
    assert_eq!(t.read_i32(t.slot_offset(0) + S_SEQ), seq + 2);
    assert_eq!(cnt(&t, "invalidations"), invalidations);
    assert_eq!(t.take_resync(), [A]);
    // Another reset keeps DIVERGED; the next book clears it.
    t.invalidate(0, 4.0).unwrap();
    assert_eq!(flags(&t, 0) & F_DIVERGED, F_DIVERGED);
    t.ingest(book(A, &[("0.40", "11")], &[("0.60", "7")], "101").as_bytes(), 5.0);
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    // A REST book clears it too.
    t.diverge(0, 6.0).unwrap();
    let rest = format!(
        r#"{{"market":"0xm","asset_id":"{A}","timestamp":"1","bids":[],"asks":[{{"price":"0.7","size":"3"}}]}}"#
    );
    t.rest_book(&rest, 7.0).unwrap();
    assert_eq!(flags(&t, 0), F_SUBSCRIBED | F_READY | F_HAS_BOOK);
    assert_eq!(best(&t, 0), (None, Some((0.7, 3.0))));
    // A settled token and an unbound slot are left alone; a slot outside the table is an error.
    t.settle(1, 8.0).unwrap();
    let settled = flags(&t, 1);
    t.diverge(1, 9.0).unwrap();
    t.diverge(5, 9.0).unwrap();
    assert_eq!(flags(&t, 1), settled);
    assert_eq!(flags(&t, 5), 0);
    assert!(t.diverge(99, 9.0).is_err());
    assert_eq!(t.take_resync(), [A]);
}
