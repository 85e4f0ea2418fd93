//! N-API binding of the shared-memory tables of the book server (thin: the logic is in
//! `polybook_core::shm`). TypeScript side: src/server/memory.ts.
//!
//! Errors are thrown with their kind first, `[kind] message` (`not_found`, `in_use`, `unsafe`,
//! `too_small`, `full`, `io`, `unsupported`), which src/server/memory.ts turns into error codes.

use std::ffi::c_void;
use std::path::Path;
use std::ptr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use polybook_core::layout::H_EPOCH;
use polybook_core::shm::{self, EpochWaiter, Region, ShmError, Ticker, WaiterTable, Watchdog};

use crate::guard_read;

fn shm_err(e: ShmError) -> Error {
    Error::new(Status::GenericFailure, format!("[{}] {e}", e.kind()))
}

/// Every region mapped by this process that is still alive, so that a writer given a view of one
/// keeps it mapped (see [`region_containing`]).
static REGIONS: Mutex<Vec<Weak<Region>>> = Mutex::new(Vec::new());

fn register(r: &Arc<Region>) {
    let mut all = REGIONS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(r));
}

/// The region that holds the `len` bytes at `ptr`, if they are in one: a `NativeWriter` over a
/// server's table keeps it, so its memory stays mapped as long as the writer lives whatever
/// JavaScript does with the ArrayBuffer (detaching it included).
pub(crate) fn region_containing(ptr: *const u8, len: usize) -> Option<Arc<Region>> {
    let all = REGIONS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().filter_map(Weak::upgrade).find(|r| {
        let start = r.ptr() as usize;
        let p = ptr as usize;
        p >= start && p.saturating_add(len) <= start + r.len()
    })
}

/// A table in a named shared-memory file: created by a server, opened by readers.
#[napi]
pub struct SharedTable {
    region: Arc<Region>,
    /// Whether `buffer()` made this region's ArrayBuffer (one per mapping: V8 refuses two
    /// external buffers over the same memory).
    buffer_made: bool,
    ticker: Option<Ticker>,
    watchdog: Option<Watchdog>,
}

/// Frees the region reference held by an external ArrayBuffer once V8 collects the buffer.
unsafe extern "C" fn finalize_buffer(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the Box made in `buffer`, finalized once by V8. Caught: no unwinding into V8.
    let _ = std::panic::catch_unwind(|| drop(unsafe { Box::from_raw(hint as *mut Arc<Region>) }));
}

#[napi]
impl SharedTable {
    /// Creates a server's table file of `bytes` zeros next to `path` (owner-only, locked), not yet
    /// under its name: write the header, then `publish()`.
    #[napi(factory, catch_unwind)]
    pub fn create(path: String, bytes: f64) -> Result<SharedTable> {
        if !(bytes >= 0.0 && bytes <= isize::MAX as f64) {
            return Err(Error::new(Status::InvalidArg, format!("polybook: {bytes} bytes is not a table size")));
        }
        let region = Arc::new(Region::create(Path::new(&path), bytes as usize).map_err(shm_err)?);
        register(&region);
        Ok(SharedTable { region, buffer_made: false, ticker: None, watchdog: None })
    }

    /// Opens and maps an existing table file (it must be this user's, mode 0600).
    #[napi(factory, catch_unwind)]
    pub fn open(path: String) -> Result<SharedTable> {
        let region = Arc::new(Region::open(Path::new(&path)).map_err(shm_err)?);
        register(&region);
        Ok(SharedTable { region, buffer_made: false, ticker: None, watchdog: None })
    }

    /// Gives a created file its name (atomically replacing a dead server's file).
    #[napi(catch_unwind)]
    pub fn publish(&self) -> Result<()> {
        self.region.publish().map_err(shm_err)
    }

    /// The mapped memory as an ArrayBuffer (once per table: keep it). It keeps the mapping alive
    /// until it is collected.
    #[napi(catch_unwind)]
    pub fn buffer(&mut self, env: &Env) -> Result<Unknown<'_>> {
        if self.buffer_made {
            return Err(Error::new(Status::GenericFailure, "polybook: this table's buffer was already made"));
        }
        let hint = Box::into_raw(Box::new(self.region.clone()));
        let mut out = ptr::null_mut();
        // SAFETY: the memory is the region's mapping, valid for `len` bytes for as long as the
        // `Arc` in `hint` lives, which the finalizer drops only when V8 collects the buffer.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                env.raw(),
                self.region.ptr().cast(),
                self.region.len(),
                Some(finalize_buffer),
                hint.cast(),
                &mut out,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not handed to V8: still ours to free.
            drop(unsafe { Box::from_raw(hint) });
            // A runtime without external buffers would have to copy: a copy is not shared memory.
            return Err(Error::new(
                Status::GenericFailure,
                "[unsupported] this JavaScript runtime does not allow external ArrayBuffers",
            ));
        }
        self.buffer_made = true;
        // SAFETY: `out` is the ArrayBuffer just created in this env.
        unsafe { Unknown::from_napi_value(env.raw(), out) }
    }

    /// Wakes every process waiting for the change epoch. Returns how many threads were woken.
    #[napi(catch_unwind)]
    pub fn wake(&self) -> i32 {
        shm::futex_wake(self.region.i32_at(H_EPOCH))
    }

    /// Starts the server's clock ticker (the heartbeat), which also frees the waiter entries of
    /// dead processes (the table at `waiterOffset`).
    #[napi(catch_unwind)]
    pub fn start_ticker(&mut self, period_ms: f64, waiter_offset: u32) -> Result<()> {
        if self.ticker.is_none() {
            let waiters = self.waiters(waiter_offset)?;
            let period = Duration::from_secs_f64(period_ms.clamp(0.1, 1000.0) / 1e3);
            self.ticker = Some(Ticker::start(self.region.clone(), period, Some(waiters)).map_err(shm_err)?);
        }
        Ok(())
    }

    /// Stops the ticker (the heartbeat then ages: readers see the server down).
    #[napi(catch_unwind)]
    pub fn stop_ticker(&mut self) {
        self.ticker = None;
    }

    /// Starts a reader's liveness watchdog: the heartbeat becomes NaN once older than `boundMs`.
    #[napi(catch_unwind)]
    pub fn start_watchdog(&mut self, bound_ms: f64, period_ms: f64) -> Result<()> {
        if self.watchdog.is_none() {
            let period = Duration::from_secs_f64(period_ms.clamp(1.0, 1000.0) / 1e3);
            self.watchdog = Some(Watchdog::start(self.region.clone(), bound_ms, period).map_err(shm_err)?);
        }
        Ok(())
    }

    /// Whether the file's name now names another file or none (a restarted or stopped server).
    /// With a watchdog: its flag, set while the heartbeat is down (one load); else a `stat`.
    #[napi(catch_unwind)]
    pub fn superseded(&self) -> Result<bool> {
        guard_read("superseded", || match &self.watchdog {
            Some(w) => w.superseded(),
            None => self.region.superseded(),
        })
    }

    /// Calls `callback` (on this thread, without arguments) whenever the change epoch moved,
    /// coalescing moves while a call is pending. Stop it with `stop()`.
    #[napi(catch_unwind)]
    pub fn watch(&self, waiter_offset: u32, callback: Function<(), ()>) -> Result<EpochWatch> {
        let waiters = self.waiters(waiter_offset)?;
        let pending = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clear = pending.clone();
        let tsfn = callback
            .build_threadsafe_function::<()>()
            // Weak: a watch alone does not keep the process alive (as `Atomics.waitAsync`).
            .weak::<true>()
            .build_callback(move |_ctx| {
                // Cleared before the callback runs: a change during it queues one more call.
                clear.store(false, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })?;
        let waiter = EpochWaiter::start(self.region.clone(), waiters, move || {
            if !pending.swap(true, std::sync::atomic::Ordering::SeqCst) {
                tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        })
        .map_err(shm_err)?;
        Ok(EpochWatch { waiter: Some(waiter) })
    }

    /// Removes the file's name if it still names this file (a server stopping). Returns whether it did.
    #[napi(catch_unwind)]
    pub fn unlink(&self) -> bool {
        self.region.unlink()
    }

    /// Stops the ticker and the watchdog. The memory stays mapped while buffers or writers use it.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.ticker = None;
        self.watchdog = None;
    }

    /// The file's name.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.region.path().to_string_lossy().into_owned()
    }

    /// Bytes mapped.
    #[napi(getter, catch_unwind)]
    pub fn bytes(&self) -> f64 {
        self.region.len() as f64
    }
}

impl SharedTable {
    fn waiters(&self, offset: u32) -> Result<WaiterTable> {
        let t = WaiterTable { offset: offset as usize, entries: polybook_core::layout::WAITER_ENTRIES };
        if !t.offset.is_multiple_of(4) || t.offset + 4 * t.entries > self.region.len() {
            return Err(Error::new(
                Status::InvalidArg,
                format!("polybook: waiter table at {offset} is outside the table"),
            ));
        }
        Ok(t)
    }
}

/// A running watch of the change epoch (see `SharedTable.watch`).
#[napi]
pub struct EpochWatch {
    waiter: Option<EpochWaiter>,
}

#[napi]
impl EpochWatch {
    /// Stops the watch (idempotent).
    #[napi(catch_unwind)]
    pub fn stop(&mut self) {
        self.waiter = None;
    }
}
