//! N-API binding of the polybook writer (thin: all logic lives in `native/core`).
//!
//! No Rust panic may unwind into Node (docs/RELIABILITY.md, "Panics at the N-API boundary"):
//! every writer call runs inside [`NativeWriter::guarded`] (or [`guard_read`] for the read-only
//! ones), the raw N-API callbacks of [`fast`] catch around their whole body, and every `#[napi]`
//! item also has napi-rs's own `catch_unwind` around the argument/return conversions. A caught
//! panic becomes a thrown JS `Error`; what the table is left in is decided in
//! [`NativeWriter::recover`].

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use polybook_core::{layout, Table, TableError, DEFAULT_GRACE_MS};

// catch_unwind only works when panics unwind: a `panic = "abort"` profile would turn every
// panic into a process abort again.
#[cfg(panic = "abort")]
compile_error!("polybook-node must be built with panic = \"unwind\": the N-API boundary catches panics");

fn js_err(e: TableError) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}

/// The message of a panic payload (`panic!` gives a `String` or a `&str`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Drops a panic payload without letting a panicking `Drop` of it escape (it is leaked instead).
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Runs a read-only call; a panic becomes an `Error` (nothing was written, nothing to repair).
fn guard_read<R>(what: &str, f: impl FnOnce() -> R) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let msg = panic_message(&*payload);
        drop_payload(payload);
        Error::new(Status::GenericFailure, format!("polybook native: internal error in {what} (panic: {msg})"))
    })
}

/// A full-depth book with exact texts, wire order (worst first): `[price, size]` pairs.
#[napi(object)]
pub struct FullBook {
    pub bids: Vec<Vec<String>>,
    pub asks: Vec<Vec<String>>,
}

impl From<polybook_core::table::TextBook> for FullBook {
    fn from((bids, asks): polybook_core::table::TextBook) -> Self {
        let pairs = |v: Vec<(String, String)>| v.into_iter().map(|(p, s)| vec![p, s]).collect();
        FullBook { bids: pairs(bids), asks: pairs(asks) }
    }
}

// The writer commands (one `#[napi]` method each), generated from src/table/writer.ts.
#[rustfmt::skip]
mod commands;
// Shared-memory tables of the book server (docs/SERVER.md).
mod shm;

/// The native writer of one book table (docs/DESIGN.md section 5). One per table.
#[napi]
pub struct NativeWriter {
    // Declared first so it is dropped first: `table` points into `_memory`'s buffer.
    table: Table,
    /// Holds a napi reference to the table's Uint8Array, which keeps its SharedArrayBuffer (and so
    /// the memory `table` writes to) alive for as long as this writer lives.
    _memory: Uint8Array,
    /// A server's table (a mapped file, see `shm`): the mapping itself, so that it stays mapped even
    /// if JavaScript detaches the ArrayBuffer the view is over.
    _region: Option<std::sync::Arc<polybook_core::shm::Region>>,
    /// The handle shared with this writer's bound fast `ingest`/`ingestString` (see [`fast`]);
    /// null until the first call installs them.
    fast: std::cell::Cell<*mut fast::Handle>,
    /// The table memory (the bytes of `_memory`), for the last-resort repair of [`Self::recover`].
    mem: *mut u8,
    /// Set when the recovery from a panic itself failed: every later writer call throws.
    poisoned: Option<String>,
    /// Test hook (`__testArmPanic`): the next writer call panics once its work is done, after
    /// making this slot's seqlock version odd (as a panic in the middle of a publish would), and
    /// with `.1` the recovery panics too.
    armed: Option<(i64, bool)>,
}

impl Drop for NativeWriter {
    fn drop(&mut self) {
        // SAFETY: the handle (if any) is alive: this writer holds one of its counts.
        unsafe { fast::detach(self.fast.get()) }
    }
}

#[napi]
impl NativeWriter {
    /// `table`: a Uint8Array over the whole SharedArrayBuffer made by `createTable`.
    /// `graceMs`: top-of-book mismatch grace period (default 1000).
    #[napi(constructor, catch_unwind)]
    pub fn new(table: Uint8Array, grace_ms: Option<f64>) -> Result<Self> {
        let len = table.len();
        let ptr = table.as_ptr() as *mut u8;
        let region = shm::region_containing(ptr, len);
        // SAFETY: `ptr`/`len` describe the typed array's bytes (napi_get_typedarray_info). Either
        // the buffer is a SharedArrayBuffer, which can be neither detached nor shrunk, and `_memory`
        // keeps it referenced until `table` is dropped; or the bytes are in a mapped region, which
        // `_region` keeps mapped until then. So the memory outlives the `Table`. This is the only
        // writer of the table by contract (DESIGN section 1); JS readers only read it.
        let table_w = guard_read("the NativeWriter constructor", || unsafe {
            Table::new(ptr, len, grace_ms.unwrap_or(DEFAULT_GRACE_MS))
        })?
        .map_err(js_err)?;
        Ok(NativeWriter {
            table: table_w,
            _memory: table,
            _region: region,
            fast: std::cell::Cell::new(std::ptr::null_mut()),
            mem: ptr,
            poisoned: None,
            armed: None,
        })
    }

    /// Writer counter by header index (same value as the header word).
    #[napi(catch_unwind)]
    pub fn counter(&self, index: u32) -> Result<f64> {
        guard_read("counter", || {
            if (index as usize) < layout::COUNTERS.len() {
                self.table.counter(index as usize)
            } else {
                f64::NAN
            }
        })
    }

    /// Test hook, not part of the API (absent from the TypeScript types): the next writer call
    /// panics inside its guarded region once its work is done, after making `slot`'s seqlock
    /// version odd (`slot < 0`: no slot), as a panic in the middle of a publish would leave it;
    /// with `failRecovery` the recovery panics too (the writer ends poisoned). Only code holding
    /// this writer can arm it, and only for one call; no input can.
    #[napi(js_name = "__testArmPanic", skip_typescript, catch_unwind)]
    pub fn test_arm_panic(&mut self, slot: i64, fail_recovery: Option<bool>) {
        self.armed = Some((slot, fail_recovery.unwrap_or(false)));
    }
}

impl NativeWriter {
    /// Runs one writer call on the table. A Rust panic inside it does not unwind into Node: it is
    /// caught here, the table is made safe to read ([`Self::recover`]) and the call fails with an
    /// `Error`.
    fn guarded<R>(&mut self, what: &str, f: impl FnOnce(&mut Table) -> R) -> Result<R> {
        self.check_poisoned()?;
        let armed = self.armed.take();
        let (table, mem) = (&mut self.table, self.mem);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let out = f(table);
            if let Some((slot, _)) = armed {
                test_panic(table, mem, slot);
            }
            out
        }));
        r.map_err(|payload| self.recover(what, payload, armed.is_some_and(|a| a.1)))
    }

    /// A poisoned writer refuses every call but `counter` (its books are not trusted).
    fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            None => Ok(()),
            Some(first) => Err(Error::new(
                Status::GenericFailure,
                format!("polybook native: this writer is unusable after an internal error ({first}); create a new table and writer"),
            )),
        }
    }

    /// After a caught panic. The writer's state may be half-updated (a book half-applied, a slot
    /// half-published), so nothing the table held is trusted any more, but the process and the
    /// other tables are fine. Decision (docs/RELIABILITY.md): every book of the table is reset as
    /// on a disconnect (`invalidate` of every slot: READY cleared, book emptied, token marked for
    /// resync, `invalidations` counted), so no possibly-corrupt book is ever served and the feed
    /// refetches every book (`takeResync`); any seqlock version left odd is made even so readers
    /// do not spin. The writer stays usable. If that recovery itself panics, the writer is
    /// poisoned: READY is cleared directly in the memory of every slot and every later call throws.
    /// `fail`: the test hook's panic during the recovery.
    fn recover(&mut self, what: &str, payload: Box<dyn Any + Send>, fail: bool) -> Error {
        let msg = panic_message(&*payload);
        drop_payload(payload);
        let mut ok = true;
        for slot in 0..self.table.capacity() as u32 {
            let table = &mut self.table;
            match catch_unwind(AssertUnwindSafe(|| {
                if fail && slot == 0 {
                    panic!("polybook test panic during the recovery (armed by __testArmPanic)");
                }
                // (`invalidate` does not use its time.)
                table.invalidate(slot, 0.0)
            })) {
                Ok(_) => {}
                Err(p) => {
                    drop_payload(p);
                    ok = false;
                }
            }
        }
        // SAFETY: `mem` is the table memory (see `new`), and no other code writes it now.
        unsafe { repair(self.mem, self.table.capacity(), self.table.depth(), !ok) };
        let state = if ok {
            "every book of this table was reset and its tokens are marked for resync"
        } else {
            "the recovery failed too, so every book was cleared and this writer is now unusable"
        };
        if !ok {
            self.poisoned = Some(format!("panic in {what}: {msg}"));
        }
        Error::new(Status::GenericFailure, format!("polybook native: internal error in {what} (panic: {msg}); {state}"))
    }
}

/// Last-resort repair of the table memory after a panic: a slot whose seqlock version is odd (a
/// publish that stopped half-way) gets an even one; with `clear`, every slot is also republished
/// without READY and without levels (nothing can be served from it).
///
/// # Safety
/// `mem` must be the table memory of a writer with this capacity and depth (8-aligned, valid),
/// and no other writer may write it.
unsafe fn repair(mem: *mut u8, capacity: usize, depth: usize, clear: bool) {
    use layout::*;
    for slot in 0..capacity {
        let base = HEADER_BYTES + slot * slot_bytes(depth);
        // SAFETY: in bounds of the table (checked by `Table::new`) and 4-aligned; every access to
        // table memory is atomic or a JS typed-array access, as in `Table`.
        let word = |off: usize| unsafe { AtomicI32::from_ptr(mem.add(base + off) as *mut i32) };
        let seq = word(S_SEQ);
        let v = seq.load(Ordering::Relaxed);
        if !clear {
            if v & 1 != 0 {
                seq.store(v.wrapping_add(1), Ordering::Release);
            }
            continue;
        }
        let v = v.wrapping_add(v & 1);
        seq.store(v.wrapping_add(1), Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        let flags = word(S_FLAGS);
        flags.store(flags.load(Ordering::Relaxed) & !(F_READY | F_MISMATCH), Ordering::Relaxed);
        word(S_NBIDS).store(0, Ordering::Relaxed);
        word(S_NASKS).store(0, Ordering::Relaxed);
        seq.store(v.wrapping_add(2), Ordering::Release);
    }
}

/// The armed test panic (see `__testArmPanic`).
fn test_panic(table: &Table, mem: *mut u8, slot: i64) {
    if slot >= 0 && (slot as usize) < table.capacity() {
        let off = table.slot_offset(slot as usize) + layout::S_SEQ;
        // SAFETY: in bounds (slot < capacity) and 4-aligned: a slot's first word.
        let seq = unsafe { AtomicI32::from_ptr(mem.add(off) as *mut i32) };
        seq.store(seq.load(Ordering::Relaxed) | 1, Ordering::Release);
    }
    panic!("polybook test panic (armed by __testArmPanic)");
}

/// Installs the raw N-API fast paths of `ingest` / `ingestString` on `NativeWriter.prototype`.
#[napi(module_exports)]
pub fn install_fast_paths(exports: Object, env: Env) -> Result<()> {
    // SAFETY: called by napi-rs during module registration on the env's thread, with its exports.
    guard_read("module registration", || unsafe { fast::install(env.raw(), exports.raw()) })?
}

/// The hot path without the generic napi-rs callback machinery.
///
/// A `#[napi]` method call goes through napi-rs's receiver/argument borrow bookkeeping (a scope
/// object, thread-local stacks, a class registry) and finds its Rust struct with a type-tag check
/// plus `napi_unwrap` (two private-property lookups in V8): together several times the cost of
/// applying a price_change. `ingest` and `ingestString` only read their arguments, never call
/// back into JavaScript and return a number, so they need none of that:
///
/// - At module load, `NativeWriter.prototype.ingest`/`ingestString` are replaced by raw callbacks
///   that check the receiver the way napi-rs does (type tag, then unwrap) and, on a writer's
///   first call, give that writer its own `ingest`/`ingestString` properties: functions whose
///   N-API callback data is a [`Handle`] pointing to the writer. Every later call goes straight
///   from `napi_get_cb_info` to the table (no receiver lookup at all).
/// - Anything unusual (a frame that is not a Uint8Array/string, a time that is not a number, a
///   writer already released, a failing N-API call) is handed to the original napi-rs method
///   with the call's receiver, so errors are exactly those of the checked method.
///
/// A bound function ignores its `this` (like a bound method): `w.ingest` always feeds `w`.
/// The handle is counted by the writer and by each bound function (napi finalizer) and freed by
/// the last one; the writer clears its pointer when it is dropped.
mod fast {
    use super::NativeWriter;
    use napi::bindgen_prelude::{Error, JsError, Result, Status, TypeTag};
    use napi::sys;
    use std::cell::Cell;
    use std::ffi::{c_void, CStr};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::ptr;

    /// Per env and method: the original checked napi-rs method.
    struct Original {
        method: sys::napi_ref,
    }

    /// Per env: the two originals and a scratch buffer for string frames.
    pub struct Env {
        bytes: Original,
        string: Original,
        text: Vec<u8>,
    }

    /// Shared by a writer and its bound functions.
    pub struct Handle {
        writer: Cell<*mut NativeWriter>,
        refs: Cell<u32>,
        env: *mut Env,
    }

    const NAMES: [&CStr; 2] = [c"ingest", c"ingestString"];
    const OK: sys::napi_status = sys::Status::napi_ok;

    fn check(status: sys::napi_status, what: &str) -> Result<()> {
        if status == OK {
            Ok(())
        } else {
            Err(Error::new(Status::GenericFailure, format!("polybook: cannot install the fast path ({what})")))
        }
    }

    unsafe fn named(env: sys::napi_env, obj: sys::napi_value, name: &CStr) -> Result<sys::napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { sys::napi_get_named_property(env, obj, name.as_ptr(), &mut v) }, "lookup")?;
        Ok(v)
    }

    fn method(
        name: &CStr,
        cb: sys::napi_callback,
        data: *mut c_void,
        enumerable: bool,
    ) -> sys::napi_property_descriptor {
        let mut attributes = sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable;
        if enumerable {
            attributes |= sys::PropertyAttributes::enumerable;
        }
        sys::napi_property_descriptor {
            utf8name: name.as_ptr(),
            name: ptr::null_mut(),
            method: cb,
            getter: None,
            setter: None,
            value: ptr::null_mut(),
            attributes,
            data,
        }
    }

    pub unsafe fn install(env: sys::napi_env, exports: sys::napi_value) -> Result<()> {
        unsafe {
            let class = named(env, exports, c"NativeWriter")?;
            let proto = named(env, class, c"prototype")?;
            let mut refs = [ptr::null_mut(); 2];
            for (r, name) in refs.iter_mut().zip(NAMES) {
                let original = named(env, proto, name)?;
                check(sys::napi_create_reference(env, original, 1, r), "reference")?;
            }
            let e = Box::into_raw(Box::new(Env {
                bytes: Original { method: refs[0] },
                string: Original { method: refs[1] },
                text: Vec::new(),
            }));
            // Freed with the env: no callback of this env can run after that.
            check(sys::napi_add_env_cleanup_hook(env, Some(free_env), e.cast()), "cleanup hook")?;
            // The attributes napi-rs gives prototype methods (writable, enumerable, configurable).
            let props = [
                method(NAMES[0], Some(proto_ingest_bytes), e.cast(), true),
                method(NAMES[1], Some(proto_ingest_string), e.cast(), true),
            ];
            check(sys::napi_define_properties(env, proto, props.len(), props.as_ptr()), "define")
        }
    }

    unsafe extern "C" fn free_env(data: *mut c_void) {
        // SAFETY: the Box made in `install`, freed once. (Caught like every callback of this module.)
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(data as *mut Env) })));
    }

    /// Drops one count of the handle; frees it at zero.
    unsafe fn release(h: *mut Handle) {
        unsafe {
            let n = (*h).refs.get() - 1;
            (*h).refs.set(n);
            if n == 0 {
                drop(Box::from_raw(h));
            }
        }
    }

    /// The writer is being dropped: its bound functions must not reach it any more.
    pub unsafe fn detach(h: *mut Handle) {
        if !h.is_null() {
            unsafe {
                (*h).writer.set(ptr::null_mut());
                release(h);
            }
        }
    }

    unsafe extern "C" fn finalize_bound(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { release(data.cast()) }));
    }

    struct Call {
        args: [sys::napi_value; 2],
        argc: usize,
        this: sys::napi_value,
        data: *mut c_void,
    }

    unsafe fn call_info(env: sys::napi_env, info: sys::napi_callback_info) -> Option<Call> {
        let mut c = Call { args: [ptr::null_mut(); 2], argc: 2, this: ptr::null_mut(), data: ptr::null_mut() };
        let st =
            unsafe { sys::napi_get_cb_info(env, info, &mut c.argc, c.args.as_mut_ptr(), &mut c.this, &mut c.data) };
        (st == OK).then_some(c)
    }

    /// Calls the original checked method with the call's receiver and arguments (it throws the
    /// usual napi-rs errors).
    unsafe fn fallback(env: sys::napi_env, original: &Original, c: &Call) -> sys::napi_value {
        let mut f = ptr::null_mut();
        let mut out = ptr::null_mut();
        unsafe {
            if sys::napi_get_reference_value(env, original.method, &mut f) == OK {
                let argc = c.argc.min(2);
                sys::napi_call_function(env, c.this, f, argc, c.args.as_ptr(), &mut out);
            }
        }
        out
    }

    unsafe fn uint(env: sys::napi_env, n: u32) -> sys::napi_value {
        let mut out = ptr::null_mut();
        unsafe { sys::napi_create_uint32(env, n, &mut out) };
        out
    }

    /// The number, or the error thrown (the callback then returns null with the exception pending).
    unsafe fn result(env: sys::napi_env, r: Result<u32>) -> sys::napi_value {
        match r {
            Ok(n) => unsafe { uint(env, n) },
            Err(e) => {
                unsafe { JsError::from(e).throw_into(env) };
                ptr::null_mut()
            }
        }
    }

    /// The whole body of a raw callback: a panic anywhere in it (the writer calls are already
    /// guarded; this covers the rest) is thrown as an `Error` instead of unwinding into Node.
    unsafe fn shield(env: sys::napi_env, f: impl FnOnce() -> sys::napi_value) -> sys::napi_value {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => v,
            Err(payload) => {
                let msg = super::panic_message(&*payload);
                super::drop_payload(payload);
                let e = Error::new(
                    Status::GenericFailure,
                    format!("polybook native: internal error in ingest (panic: {msg})"),
                );
                unsafe { JsError::from(e).throw_into(env) };
                ptr::null_mut()
            }
        }
    }

    /// `ingest(frame: Uint8Array, nowMs: number)` on `w`; `None` = unusual arguments.
    unsafe fn ingest_bytes(env: sys::napi_env, w: *mut NativeWriter, c: &Call) -> Option<sys::napi_value> {
        unsafe {
            if c.argc < 2 {
                return None;
            }
            let mut kind = 0;
            let mut len = 0usize;
            let mut data = ptr::null_mut();
            let st = sys::napi_get_typedarray_info(
                env,
                c.args[0],
                &mut kind,
                &mut len,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            );
            if st != OK || kind != sys::TypedarrayType::uint8_array {
                return None;
            }
            let mut now = 0.0;
            if sys::napi_get_value_double(env, c.args[1], &mut now) != OK {
                return None;
            }
            let frame: &[u8] =
                if len == 0 || data.is_null() { &[] } else { std::slice::from_raw_parts(data as *const u8, len) };
            // SAFETY: `w` is a live NativeWriter (see the callers). No other reference to it is
            // active: every method of this addon runs synchronously on this thread and none calls
            // back into JavaScript, so this call cannot be nested inside another one.
            Some(result(env, (*w).guarded("ingest", |t| t.ingest(frame, now))))
        }
    }

    /// `ingestString(frame: string, nowMs: number)` on `w`; `None` = unusual arguments.
    unsafe fn ingest_string(
        env: sys::napi_env,
        w: *mut NativeWriter,
        e: *mut Env,
        c: &Call,
    ) -> Option<sys::napi_value> {
        unsafe {
            if c.argc < 2 {
                return None;
            }
            let mut now = 0.0;
            if sys::napi_get_value_double(env, c.args[1], &mut now) != OK {
                return None;
            }
            // Copy into the reused buffer at once; only when the text may not have fitted (a
            // truncated copy stops before the last whole character, so it ends within 4 bytes of
            // the buffer's end), ask for its exact UTF-8 length and copy again.
            let text = &mut (*e).text;
            text.clear();
            text.reserve(16 * 1024);
            let cap = text.capacity();
            let mut got = 0usize;
            if sys::napi_get_value_string_utf8(env, c.args[0], text.as_mut_ptr().cast(), cap, &mut got) != OK {
                return None;
            }
            if got + 5 > cap {
                let mut len = 0usize;
                if sys::napi_get_value_string_utf8(env, c.args[0], ptr::null_mut(), 0, &mut len) != OK {
                    return None;
                }
                text.reserve(len + 1);
                if sys::napi_get_value_string_utf8(env, c.args[0], text.as_mut_ptr().cast(), len + 1, &mut got) != OK {
                    return None;
                }
                got = got.min(len);
            }
            text.set_len(got.min(text.capacity()));
            // SAFETY: as in `ingest_bytes`.
            let text: &[u8] = text;
            Some(result(env, (*w).guarded("ingestString", |t| t.ingest(text, now))))
        }
    }

    /// The prototype methods: check the receiver as napi-rs does, bind the fast functions to it
    /// (first call only), then run the call.
    unsafe fn proto_call(env: sys::napi_env, info: sys::napi_callback_info, string: bool) -> sys::napi_value {
        unsafe {
            let Some(c) = call_info(env, info) else {
                return ptr::null_mut();
            };
            let e: *mut Env = c.data.cast();
            let original = if string { &(*e).string } else { &(*e).bytes };
            // napi-rs stamps every NativeWriter it constructs with this tag (feature napi8) and
            // checks it the same way before it trusts the wrapped pointer.
            let tag = <NativeWriter as TypeTag>::type_tag();
            let mut tagged = false;
            let mut wrapped = ptr::null_mut();
            if sys::napi_check_object_type_tag(env, c.this, &tag, &mut tagged) != OK
                || !tagged
                || sys::napi_unwrap(env, c.this, &mut wrapped) != OK
                || wrapped.is_null()
            {
                return fallback(env, original, &c);
            }
            let w: *mut NativeWriter = wrapped.cast();
            if (*w).fast.get().is_null() {
                bind(env, w, e, c.this);
            }
            let done = if string { ingest_string(env, w, e, &c) } else { ingest_bytes(env, w, &c) };
            done.unwrap_or_else(|| fallback(env, original, &c))
        }
    }

    /// Gives the writer object its own fast `ingest`/`ingestString` (not enumerable). On any
    /// failure nothing is bound and the prototype path keeps serving the calls.
    unsafe fn bind(env: sys::napi_env, w: *mut NativeWriter, e: *mut Env, this: sys::napi_value) {
        unsafe {
            let h = Box::into_raw(Box::new(Handle { writer: Cell::new(w), refs: Cell::new(1), env: e }));
            let cbs: [sys::napi_callback; 2] = [Some(bound_ingest_bytes), Some(bound_ingest_string)];
            let mut props = Vec::with_capacity(2);
            for (name, cb) in NAMES.into_iter().zip(cbs) {
                let mut f = ptr::null_mut();
                if sys::napi_create_function(env, name.as_ptr(), name.to_bytes().len() as isize, cb, h.cast(), &mut f)
                    != OK
                {
                    break;
                }
                (*h).refs.set((*h).refs.get() + 1);
                if sys::napi_add_finalizer(env, f, h.cast(), Some(finalize_bound), ptr::null_mut(), ptr::null_mut())
                    != OK
                {
                    // Never finalized: keep the count (a small leak rather than a dangling handle).
                    break;
                }
                props.push(sys::napi_property_descriptor {
                    value: f,
                    method: None,
                    ..method(name, None, ptr::null_mut(), false)
                });
            }
            if props.len() == 2 && sys::napi_define_properties(env, this, 2, props.as_ptr()) == OK {
                (*w).fast.set(h);
            } else {
                // Unused: the functions (if any) hold their counts until they are collected.
                release(h);
            }
        }
    }

    unsafe fn bound_call(env: sys::napi_env, info: sys::napi_callback_info, string: bool) -> sys::napi_value {
        unsafe {
            let Some(c) = call_info(env, info) else {
                return ptr::null_mut();
            };
            let h: *mut Handle = c.data.cast();
            let e = (*h).env;
            let original = if string { &(*e).string } else { &(*e).bytes };
            let w = (*h).writer.get();
            if w.is_null() {
                return fallback(env, original, &c);
            }
            let done = if string { ingest_string(env, w, e, &c) } else { ingest_bytes(env, w, &c) };
            done.unwrap_or_else(|| fallback(env, original, &c))
        }
    }

    unsafe extern "C" fn proto_ingest_bytes(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        unsafe { shield(env, || proto_call(env, info, false)) }
    }

    unsafe extern "C" fn proto_ingest_string(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        unsafe { shield(env, || proto_call(env, info, true)) }
    }

    unsafe extern "C" fn bound_ingest_bytes(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        unsafe { shield(env, || bound_call(env, info, false)) }
    }

    unsafe extern "C" fn bound_ingest_string(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        unsafe { shield(env, || bound_call(env, info, true)) }
    }
}
