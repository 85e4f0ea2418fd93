//! Named shared-memory tables for the book server (docs/SERVER.md): the file and its lock, the
//! mapping, futex waits and wakes across processes, and three small threads: the server's clock
//! ticker (the heartbeat), a reader's liveness watchdog and a watcher's epoch waiter.
//!
//! Free of N-API: native/src/shm.rs is the thin binding. Linux only (files in `/dev/shm`, `flock`,
//! futexes on shared mappings); elsewhere every constructor returns [`ShmError::Unsupported`].
//!
//! The table memory is shared with JavaScript readers in several processes: every access from
//! here is atomic, as in [`crate::table`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(target_os = "linux")]
use crate::layout::HEADER_BYTES;
use crate::layout::{H_CLOCK, H_EPOCH, H_WATCHERS};

/// Why a shared-memory call failed. [`ShmError::kind`] is a stable name for the binding.
#[derive(Debug)]
pub enum ShmError {
    /// Shared-memory tables are not built for this platform.
    Unsupported,
    /// No file under that path.
    NotFound(PathBuf),
    /// A live server holds the file's lock.
    InUse(PathBuf),
    /// The file belongs to another user, is not a regular file, or group or others can access it.
    Unsafe(PathBuf, String),
    /// The file is too small to be a table.
    TooSmall(PathBuf, u64),
    /// No free entry in the waiter table.
    Full,
    /// A system call failed.
    Io(&'static str, PathBuf, std::io::Error),
}

impl ShmError {
    /// A stable name of the error kind (the binding maps it to an error code).
    pub fn kind(&self) -> &'static str {
        match self {
            ShmError::Unsupported => "unsupported",
            ShmError::NotFound(_) => "not_found",
            ShmError::InUse(_) => "in_use",
            ShmError::Unsafe(..) => "unsafe",
            ShmError::TooSmall(..) => "too_small",
            ShmError::Full => "full",
            ShmError::Io(..) => "io",
        }
    }
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Unsupported => write!(f, "shared-memory tables need Linux"),
            ShmError::NotFound(p) => write!(f, "{} does not exist", p.display()),
            ShmError::InUse(p) => write!(f, "{} is held by a running server", p.display()),
            ShmError::Unsafe(p, why) => write!(f, "{} {why}", p.display()),
            ShmError::TooSmall(p, n) => write!(f, "{} has {n} bytes: not a polybook table", p.display()),
            ShmError::Full => write!(f, "every entry of the waiter table is taken"),
            ShmError::Io(what, p, e) => write!(f, "{what} {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for ShmError {}

/// The host's monotonic clock in ms: the clock of `process.hrtime` (`CLOCK_MONOTONIC` on Linux),
/// so times written here compare with `preciseNow()` in every process.
pub fn monotonic_ms() -> f64 {
    imp::monotonic_ms()
}

/// Whether a process with this id exists (signal 0: `EPERM` means it exists but is not ours).
pub fn process_alive(pid: i32) -> bool {
    imp::process_alive(pid)
}

/// A table file mapped shared, read and write. The server creates it (and holds its lock for its
/// lifetime); readers open it. Unmapped when dropped: share it with `Arc` as long as anything
/// (a JavaScript ArrayBuffer, a writer, a thread) may touch the memory.
pub struct Region {
    ptr: *mut u8,
    len: usize,
    /// Keeps the descriptor (and with it the server's lock) open.
    _file: std::fs::File,
    path: PathBuf,
    /// The file's identity (device, inode): a name that now names another file was superseded.
    ident: (u64, u64),
    /// A created region not yet published: its temporary name, and the file of the previous (dead)
    /// server under `path` whose lock is held until then.
    pending: std::sync::Mutex<Option<Pending>>,
}

/// See [`Region::publish`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Pending {
    temp: PathBuf,
    previous: Option<std::fs::File>,
}

// SAFETY: the region is a fixed mapping; every access to its memory goes through atomics (or
// JavaScript typed arrays, by contract as in `Table`), and the other fields are immutable after
// construction (`pending` is behind a mutex).
unsafe impl Send for Region {}
// SAFETY: as above; `&Region` only hands out atomics and immutable data.
unsafe impl Sync for Region {}

impl Region {
    /// Creates the table file of a server under a temporary name next to `path`, owner-only
    /// (mode 0600), `len` bytes of zeros, locked and mapped; [`Region::publish`] then gives it
    /// `path`. A file already at `path` is replaced only when no live server holds its lock.
    pub fn create(path: &Path, len: usize) -> Result<Region, ShmError> {
        imp::create(path, len)
    }

    /// Opens and maps an existing table file. It must belong to this user and be owner-only.
    pub fn open(path: &Path) -> Result<Region, ShmError> {
        imp::open(path)
    }

    /// Gives a created region its name (atomically: a reader opening `path` finds either the old
    /// file or this complete one), then releases the previous server's file.
    pub fn publish(&self) -> Result<(), ShmError> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.take() {
            None => Ok(()),
            Some(p) => imp::publish(&self.path, p).map_err(|(p, e)| {
                *pending = Some(p);
                e
            }),
        }
    }

    /// Start of the mapping (page-aligned).
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a table has at least its header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the name no longer names this file (removed, or replaced by a restarted server).
    pub fn superseded(&self) -> bool {
        imp::identity(&self.path).map(|id| id != self.ident).unwrap_or(true)
    }

    /// Removes the name if it still names this file. Returns whether it did.
    pub fn unlink(&self) -> bool {
        !self.superseded() && std::fs::remove_file(&self.path).is_ok()
    }

    /// The i32 word at byte offset `off`.
    /// # Panics
    /// When `off` is not 4-aligned or not inside the mapping (a caller's bug, never input).
    pub fn i32_at(&self, off: usize) -> &AtomicI32 {
        assert!(off.is_multiple_of(4) && off + 4 <= self.len, "polybook: i32 word {off} outside the table");
        // SAFETY: in bounds and aligned (checked; the mapping is page-aligned); the memory lives as
        // long as `self`, and every access to it is atomic.
        unsafe { AtomicI32::from_ptr(self.ptr.add(off).cast()) }
    }

    /// The f64 word (as bits) at byte offset `off`.
    /// # Panics
    /// When `off` is not 8-aligned or not inside the mapping.
    pub fn f64_at(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(8) && off + 8 <= self.len, "polybook: f64 word {off} outside the table");
        // SAFETY: as in `i32_at`.
        unsafe { AtomicU64::from_ptr(self.ptr.add(off).cast()) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is the mapping made by `create`/`open`, unmapped once, here; nothing
        // can reach it any more (every holder has an `Arc` of this region, and this is the last).
        unsafe { imp::unmap(self.ptr, self.len) };
        let pending = self.pending.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pending.take() {
            let _ = std::fs::remove_file(p.temp);
        }
    }
}

/// Blocks while the word holds `expected`, at most `timeout` (spurious returns are possible).
/// Works across processes: the mapping is shared, so the futex is keyed by the file.
pub fn futex_wait(word: &AtomicI32, expected: i32, timeout: Duration) {
    imp::futex_wait(word, expected, timeout)
}

/// Wakes every thread of every process waiting on the word. Returns how many were woken.
pub fn futex_wake(word: &AtomicI32) -> i32 {
    imp::futex_wake(word)
}

/// The waiter table of a server's file: one i32 process id per registered epoch waiter, so that
/// the server can release the entries of processes that died ([`Ticker`] does it). Each entry
/// counts in the header's `watchers` word while it is taken.
#[derive(Clone, Copy, Debug)]
pub struct WaiterTable {
    /// Byte offset of the first entry.
    pub offset: usize,
    /// Number of entries.
    pub entries: usize,
}

impl WaiterTable {
    fn entry<'a>(&self, r: &'a Region, i: usize) -> &'a AtomicI32 {
        r.i32_at(self.offset + 4 * i)
    }

    /// Takes a free entry for this process; returns its index.
    fn claim(&self, r: &Region) -> Result<usize, ShmError> {
        let pid = std::process::id() as i32;
        for i in 0..self.entries {
            if self.entry(r, i).compare_exchange(0, pid, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                r.i32_at(H_WATCHERS).fetch_add(1, Ordering::SeqCst);
                return Ok(i);
            }
        }
        Err(ShmError::Full)
    }

    /// Frees an entry taken by `pid` (no-op when the entry no longer holds it).
    fn release(&self, r: &Region, i: usize, pid: i32) -> bool {
        if self.entry(r, i).compare_exchange(pid, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
            r.i32_at(H_WATCHERS).fetch_sub(1, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Frees the entries of processes that no longer exist. Returns how many.
    pub fn sweep(&self, r: &Region) -> usize {
        let mut n = 0;
        for i in 0..self.entries {
            let pid = self.entry(r, i).load(Ordering::Relaxed);
            if pid != 0 && !process_alive(pid) && self.release(r, i, pid) {
                n += 1;
            }
        }
        n
    }
}

/// A thread that stops when told (and is joined on drop).
struct Stoppable {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stoppable {
    fn spawn(name: &str, f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Result<Stoppable, ShmError> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || f(s))
            .map_err(|e| ShmError::Io("cannot start the thread", PathBuf::from(name), e))?;
        Ok(Stoppable { stop, thread: Some(thread) })
    }

    fn stop(&mut self, wake: impl FnOnce()) {
        self.stop.store(true, Ordering::SeqCst);
        wake();
        if let Some(t) = self.thread.take() {
            // Periodic threads wait with `park_timeout`: the stop does not wait out their period.
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The server's clock ticker: writes the host's monotonic time into the header's clock word every
/// `period` (the coarse clock of every reader, and the heartbeat that tells readers the server is
/// alive), and frees the waiter entries of dead processes every 250 ms.
pub struct Ticker(Stoppable);

impl Ticker {
    pub fn start(region: Arc<Region>, period: Duration, waiters: Option<WaiterTable>) -> Result<Ticker, ShmError> {
        region.f64_at(H_CLOCK).store(monotonic_ms().to_bits(), Ordering::Release);
        Stoppable::spawn("polybook-ticker", move |stop| {
            let clock = region.f64_at(H_CLOCK);
            let mut last_sweep = monotonic_ms();
            while !stop.load(Ordering::Relaxed) {
                let now = monotonic_ms();
                clock.store(now.to_bits(), Ordering::Release);
                if let Some(w) = waiters {
                    if now - last_sweep >= 250.0 {
                        last_sweep = now;
                        w.sweep(&region);
                    }
                }
                std::thread::park_timeout(period);
            }
        })
        .map(Ticker)
    }

    /// Stops the thread (the clock keeps its last value).
    pub fn stop(&mut self) {
        self.0.stop(|| {});
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The NaN the heartbeat holds once the server is known to be down (readers test `now !== now`).
pub const DOWN: u64 = 0x7ff8_0000_0000_0000;

/// A reader's liveness watchdog: every `period`, when the heartbeat (the clock word) is older than
/// `bound_ms`, replaces it with NaN (a compare-and-swap, so a server that ticks again wins), which
/// makes every read of every reader on the host miss with `server_down`; while it is NaN, checks
/// whether a restarted server replaced the file (see [`Watchdog::superseded`]).
pub struct Watchdog {
    thread: Stoppable,
    superseded: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn start(region: Arc<Region>, bound_ms: f64, period: Duration) -> Result<Watchdog, ShmError> {
        let superseded = Arc::new(AtomicBool::new(false));
        let flag = superseded.clone();
        // Once now, on the caller's thread: a reader attaching to a dead server's file must not
        // serve its books until the first period has passed.
        Self::check(&region, bound_ms, &flag);
        let thread = Stoppable::spawn("polybook-watchdog", move |stop| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(period);
                Self::check(&region, bound_ms, &flag);
            }
        })?;
        Ok(Watchdog { thread, superseded })
    }

    /// One look at the heartbeat: NaN it when too old; while it is NaN, look for a successor file.
    fn check(region: &Region, bound_ms: f64, superseded: &AtomicBool) {
        let clock = region.f64_at(H_CLOCK);
        let bits = clock.load(Ordering::Acquire);
        let beat = f64::from_bits(bits);
        if beat.is_nan() {
            if !superseded.load(Ordering::Relaxed) && region.superseded() {
                superseded.store(true, Ordering::Release);
            }
        } else if monotonic_ms() - beat > bound_ms {
            let _ = clock.compare_exchange(bits, DOWN, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Whether the file was removed or replaced while its heartbeat was down (cheap: one load).
    pub fn superseded(&self) -> bool {
        self.superseded.load(Ordering::Acquire)
    }

    pub fn stop(&mut self) {
        self.thread.stop(|| {});
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits for the header's change epoch to move (a futex on the shared file) and calls `on_change`
/// once per observed move; moves that happen while `on_change` runs are seen as one (the caller
/// compares slot versions, as `WatchHub` does). Registered in the waiter table while it runs, so
/// the writer bumps the epoch and wakes it.
pub struct EpochWaiter {
    thread: Stoppable,
    region: Arc<Region>,
}

impl EpochWaiter {
    pub fn start(
        region: Arc<Region>,
        waiters: WaiterTable,
        mut on_change: impl FnMut() + Send + 'static,
    ) -> Result<EpochWaiter, ShmError> {
        let entry = waiters.claim(&region)?;
        // Loaded after the claim: any change published from now on moves the epoch past it.
        let seen0 = region.i32_at(H_EPOCH).load(Ordering::SeqCst);
        let r = region.clone();
        let thread = Stoppable::spawn("polybook-waiter", move |stop| {
            let epoch = r.i32_at(H_EPOCH);
            let mut seen = seen0;
            while !stop.load(Ordering::SeqCst) {
                let v = epoch.load(Ordering::SeqCst);
                if v != seen {
                    seen = v;
                    on_change();
                    continue;
                }
                // Bounded, so that a lost wake-up (a writer that died between its bump and its
                // wake) costs at most this much.
                futex_wait(epoch, seen, Duration::from_millis(250));
            }
            waiters.release(&r, entry, std::process::id() as i32);
        });
        match thread {
            Ok(thread) => Ok(EpochWaiter { thread, region }),
            Err(e) => {
                waiters.release(&region, entry, std::process::id() as i32);
                Err(e)
            }
        }
    }

    /// Stops the thread (it releases its waiter entry).
    pub fn stop(&mut self) {
        let r = self.region.clone();
        self.thread.stop(move || {
            futex_wake(r.i32_at(H_EPOCH));
        });
    }
}

impl Drop for EpochWaiter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Smallest file that can hold a table header.
#[cfg(target_os = "linux")]
const MIN_BYTES: u64 = HEADER_BYTES as u64;

#[cfg(target_os = "linux")]
mod imp {
    use super::{Pending, Region, ShmError, MIN_BYTES};
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::io::AsRawFd;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
    use std::time::Duration;

    pub fn monotonic_ms() -> f64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
    }

    pub fn process_alive(pid: i32) -> bool {
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists; no signal is sent.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }

    fn io(what: &'static str, path: &Path, e: std::io::Error) -> ShmError {
        match e.kind() {
            std::io::ErrorKind::NotFound => ShmError::NotFound(path.to_path_buf()),
            _ => ShmError::Io(what, path.to_path_buf(), e),
        }
    }

    pub fn identity(path: &Path) -> Option<(u64, u64)> {
        std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }

    /// A regular file of this user that nobody else can access.
    fn check_safe(path: &Path, file: &File) -> Result<std::fs::Metadata, ShmError> {
        let m = file.metadata().map_err(|e| io("cannot stat", path, e))?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if !m.file_type().is_file() {
            return Err(ShmError::Unsafe(path.to_path_buf(), "is not a regular file".into()));
        }
        if m.uid() != me {
            return Err(ShmError::Unsafe(
                path.to_path_buf(),
                format!("belongs to user {}, not to you ({me})", m.uid()),
            ));
        }
        if m.mode() & 0o077 != 0 {
            return Err(ShmError::Unsafe(
                path.to_path_buf(),
                format!("has mode {:o}: group or others can access it", m.mode() & 0o777),
            ));
        }
        Ok(m)
    }

    fn lock(file: &File) -> Result<bool, std::io::Error> {
        // SAFETY: a valid descriptor owned by `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(false)
        } else {
            Err(e)
        }
    }

    fn map(path: &Path, file: &File, len: usize) -> Result<*mut u8, ShmError> {
        // SAFETY: a fresh shared mapping of `len` bytes of an open file of at least that size;
        // no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io("cannot map", path, std::io::Error::last_os_error()));
        }
        Ok(p.cast())
    }

    /// # Safety
    /// `ptr`/`len` must be a mapping made by `map`, not used afterwards.
    pub unsafe fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe { libc::munmap(ptr.cast(), len) };
    }

    fn open_rw(path: &Path) -> Result<File, ShmError> {
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path).map_err(
            |e| match e.raw_os_error() {
                Some(libc::ELOOP) => ShmError::Unsafe(path.to_path_buf(), "is a symbolic link".into()),
                Some(libc::EACCES) => {
                    ShmError::Unsafe(path.to_path_buf(), "cannot be opened: permission denied".into())
                }
                _ => io("cannot open", path, e),
            },
        )
    }

    static TEMP: AtomicU32 = AtomicU32::new(0);

    pub fn create(path: &Path, len: usize) -> Result<Region, ShmError> {
        if (len as u64) < MIN_BYTES {
            return Err(ShmError::TooSmall(path.to_path_buf(), len as u64));
        }
        // A file already there: replace it only when no live server holds its lock. Its lock is
        // kept until this file is published, so that two servers starting at once cannot both
        // take the name.
        let previous = match open_rw(path) {
            Ok(f) => {
                if !lock(&f).map_err(|e| io("cannot lock", path, e))? {
                    return Err(ShmError::InUse(path.to_path_buf()));
                }
                Some(f)
            }
            Err(ShmError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let n = TEMP.fetch_add(1, Ordering::Relaxed);
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".{}.{n}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)
            .map_err(|e| io("cannot create", &temp, e))?;
        let made = (|| {
            // The umask can only take bits away; make it exactly owner read/write.
            file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| io("cannot chmod", &temp, e))?;
            file.set_len(len as u64).map_err(|e| io("cannot size", &temp, e))?;
            // Reserve the pages now: on a full tmpfs a later first write would kill the process
            // with SIGBUS instead of failing here with ENOSPC.
            // SAFETY: a valid descriptor owned by `file`; the range is the file's size.
            let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
            if r != 0 {
                return Err(io("cannot allocate", &temp, std::io::Error::from_raw_os_error(r)));
            }
            if !lock(&file).map_err(|e| io("cannot lock", &temp, e))? {
                return Err(ShmError::InUse(temp.clone()));
            }
            let m = file.metadata().map_err(|e| io("cannot stat", &temp, e))?;
            let ptr = map(&temp, &file, len)?;
            Ok((ptr, (m.dev(), m.ino())))
        })();
        match made {
            Ok((ptr, ident)) => Ok(Region {
                ptr,
                len,
                _file: file,
                path: path.to_path_buf(),
                ident,
                pending: std::sync::Mutex::new(Some(Pending { temp, previous })),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Gives the temporary file its name; on failure hands `p` back (still unpublished).
    pub fn publish(path: &Path, p: Pending) -> Result<(), (Pending, ShmError)> {
        if p.previous.is_some() {
            // We hold the dead server's lock: nobody else can be replacing it.
            if let Err(e) = std::fs::rename(&p.temp, path) {
                return Err((p, io("cannot rename", path, e)));
            }
        } else {
            // No file was there: linking fails if another server created one meanwhile.
            match std::fs::hard_link(&p.temp, path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&p.temp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err((p, ShmError::InUse(path.to_path_buf())));
                }
                Err(e) => return Err((p, io("cannot link", path, e))),
            }
        }
        // Dropping `p.previous` releases the dead server's file and its lock.
        Ok(())
    }

    pub fn open(path: &Path) -> Result<Region, ShmError> {
        let file = open_rw(path)?;
        let m = check_safe(path, &file)?;
        if m.len() < MIN_BYTES || m.len() > isize::MAX as u64 {
            return Err(ShmError::TooSmall(path.to_path_buf(), m.len()));
        }
        let len = m.len() as usize;
        let ptr = map(path, &file, len)?;
        Ok(Region {
            ptr,
            len,
            _file: file,
            path: path.to_path_buf(),
            ident: (m.dev(), m.ino()),
            pending: std::sync::Mutex::new(None),
        })
    }

    pub fn futex_wait(word: &AtomicI32, expected: i32, timeout: Duration) {
        let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as _ };
        // SAFETY: FUTEX_WAIT (shared: no PRIVATE flag, the word is in a shared mapping) only reads
        // the aligned word, which lives as long as `word`; `ts` is a valid relative timeout.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
                std::ptr::null::<u32>(),
                0,
            );
        }
    }

    pub fn futex_wake(word: &AtomicI32) -> i32 {
        // SAFETY: FUTEX_WAKE only uses the word's address as a key.
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX, 0, 0, 0) as i32 }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Pending, Region, ShmError};
    use std::path::Path;
    use std::sync::atomic::AtomicI32;
    use std::time::{Duration, Instant};

    pub fn monotonic_ms() -> f64 {
        use std::sync::OnceLock;
        static T0: OnceLock<Instant> = OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
    }
    pub fn process_alive(_pid: i32) -> bool {
        true
    }
    pub fn identity(_path: &Path) -> Option<(u64, u64)> {
        None
    }
    /// # Safety
    /// Never called: no region exists on this platform.
    pub unsafe fn unmap(_ptr: *mut u8, _len: usize) {}
    pub fn create(_path: &Path, _len: usize) -> Result<Region, ShmError> {
        Err(ShmError::Unsupported)
    }
    pub fn publish(_path: &Path, p: Pending) -> Result<(), (Pending, ShmError)> {
        Err((p, ShmError::Unsupported))
    }
    pub fn open(_path: &Path) -> Result<Region, ShmError> {
        Err(ShmError::Unsupported)
    }
    pub fn futex_wait(_word: &AtomicI32, _expected: i32, timeout: Duration) {
        std::thread::sleep(timeout.min(Duration::from_millis(1)));
    }
    pub fn futex_wake(_word: &AtomicI32) -> i32 {
        0
    }
}
