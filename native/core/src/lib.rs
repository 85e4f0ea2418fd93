//! polybook-core: the Polymarket order-book table writer, free of N-API types.
//!
//! - [`layout`]: the shared-memory layout constants (generated from `src/table/layout.ts`).
//! - [`decimal`]: exact decimal strings in fixed point.
//! - [`parse`]: the validating, schema-directed frame parser.
//! - [`book`]: full-depth book sides in wire order.
//! - [`hash`]: the server's book hash recipe.
//! - [`idhash`]: the hasher of the token id map.
//! - [`table`]: the writer (ingest rules, seqlock publish).
//! - [`shm`]: named shared-memory tables for the book server (files, futexes, its threads).

pub mod book;
pub mod decimal;
pub mod hash;
pub mod idhash;
// Generated from src/table/layout.ts (npm run codegen).
#[rustfmt::skip]
pub mod layout;
pub mod parse;
pub mod shm;
pub mod table;

pub use table::{OwnedTable, Table, TableError, DEFAULT_GRACE_MS};
