//! N-API binding of the polybook writer (thin: all logic lives in `native/core`).

use std::collections::HashMap;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use polybook_core::{layout, Table, TableError, DEFAULT_GRACE_MS};

fn js_err(e: TableError) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}

/// A full-depth book with exact texts, wire order (worst first): `[price, size]` pairs.
#[napi(object)]
pub struct FullBook {
    pub bids: Vec<Vec<String>>,
    pub asks: Vec<Vec<String>>,
}

/// The Rust layout constants (checked against src/layout.ts by the smoke test).
#[napi(object)]
pub struct LayoutInfo {
    /// Every numeric constant by its src/layout.ts name.
    pub constants: HashMap<String, f64>,
    /// Counter names in header order.
    pub counters: Vec<String>,
}

#[napi]
pub fn layout_info() -> LayoutInfo {
    LayoutInfo {
        constants: layout::CONSTANTS.iter().map(|(k, v)| (k.to_string(), *v as f64)).collect(),
        counters: layout::COUNTERS.iter().map(|s| s.to_string()).collect(),
    }
}

/// The native writer of one book table (docs/DESIGN.md section 5). One per table.
#[napi]
pub struct NativeWriter {
    // Declared first so it is dropped first: `table` points into `_memory`'s buffer.
    table: Table,
    /// Holds a napi reference to the table's Uint8Array, which keeps its SharedArrayBuffer (and so
    /// the memory `table` writes to) alive for as long as this writer lives.
    _memory: Uint8Array,
}

#[napi]
impl NativeWriter {
    /// `table`: a Uint8Array over the whole SharedArrayBuffer made by `createTable`.
    /// `graceMs`: top-of-book mismatch grace period (default 1000).
    #[napi(constructor)]
    pub fn new(table: Uint8Array, grace_ms: Option<f64>) -> Result<Self> {
        let len = table.len();
        let ptr = table.as_ptr() as *mut u8;
        // SAFETY: `ptr`/`len` describe the typed array's bytes (napi_get_typedarray_info). The
        // buffer is a SharedArrayBuffer, which can be neither detached nor shrunk, and `_memory`
        // keeps it referenced until `table` is dropped, so the memory outlives the `Table`. This is
        // the only writer of the table by contract (DESIGN section 1); JS readers only read it.
        let table_w = unsafe { Table::new(ptr, len, grace_ms.unwrap_or(DEFAULT_GRACE_MS)) }.map_err(js_err)?;
        Ok(NativeWriter { table: table_w, _memory: table })
    }

    /// Binds `tokenId` to `slot` (SUBSCRIBED, empty book, generation + 1).
    #[napi]
    pub fn bind(&mut self, token_id: String, slot: u32, conn: Option<u32>) -> Result<()> {
        self.table.bind(&token_id, slot, conn.unwrap_or(0)).map_err(js_err)
    }

    /// Clears the slot and forgets its token (generation + 1).
    #[napi]
    pub fn unbind(&mut self, slot: u32) -> Result<()> {
        self.table.unbind(slot).map_err(js_err)
    }

    /// Sets the connection index (0..255) whose PONGs confirm this token.
    #[napi]
    pub fn assign(&mut self, slot: u32, conn: u32) -> Result<()> {
        self.table.assign(slot, conn).map_err(js_err)
    }

    /// `confirmed[conn] = max(confirmed[conn], sentAtMs)`.
    #[napi]
    pub fn confirm(&mut self, conn: u32, sent_at_ms: f64) -> Result<()> {
        self.table.confirm(conn, sent_at_ms).map_err(js_err)
    }

    /// Applies one raw frame given as bytes (a Buffer / Uint8Array, read in place). Never throws.
    /// Returns the number of tokens awaiting resync.
    #[napi]
    pub fn ingest(&mut self, frame: &[u8], now_ms: f64) -> u32 {
        self.table.ingest(frame, now_ms)
    }

    /// Applies one raw frame given as a JS string (converted to UTF-8). Never throws.
    #[napi]
    pub fn ingest_string(&mut self, frame: String, now_ms: f64) -> u32 {
        self.table.ingest(frame.as_bytes(), now_ms)
    }

    /// Resets the token (not ready until a fresh book), e.g. after a disconnect.
    #[napi]
    pub fn invalidate(&mut self, slot: u32, now_ms: f64) -> Result<()> {
        self.table.invalidate(slot, now_ms).map_err(js_err)
    }

    /// Sets or clears DISABLED.
    #[napi]
    pub fn set_disabled(&mut self, slot: u32, disabled: bool) -> Result<()> {
        self.table.set_disabled(slot, disabled).map_err(js_err)
    }

    /// Enables hash verification for the token.
    #[napi]
    pub fn set_meta(&mut self, slot: u32, min_order_size: String, neg_risk: bool) -> Result<()> {
        self.table.set_meta(slot, &min_order_size, neg_risk).map_err(js_err)
    }

    /// Expires grace periods and runs pending hash checks. Returns the number of tokens awaiting resync.
    #[napi]
    pub fn tick(&mut self, now_ms: f64) -> u32 {
        self.table.tick(now_ms)
    }

    /// Token ids marked for resync since the last call, in marking order.
    #[napi]
    pub fn take_resync(&mut self) -> Vec<String> {
        self.table.take_resync()
    }

    /// Applies one REST `/book` summary (JSON text) unless the table holds a newer book.
    #[napi]
    pub fn rest_book(&mut self, json: String, now_ms: f64) {
        self.table.rest_book(json.as_bytes(), now_ms)
    }

    /// Full-depth book with the exact texts, wire order, or null if the slot has no READY book
    /// (or is out of range).
    #[napi]
    pub fn full_book(&self, slot: u32) -> Option<FullBook> {
        let pairs = |v: Vec<(String, String)>| v.into_iter().map(|(p, s)| vec![p, s]).collect();
        self.table.full_book(slot).map(|(b, a)| FullBook { bids: pairs(b), asks: pairs(a) })
    }

    /// Writer counter by header index (same value as the header word).
    #[napi]
    pub fn counter(&self, index: u32) -> f64 {
        if (index as usize) < layout::COUNTERS.len() {
            self.table.counter(index as usize)
        } else {
            f64::NAN
        }
    }
}
