//! The shared-memory file of a book server (polybook_core::shm): names, locks, modes, futexes and
//! the three threads. Linux only (elsewhere every constructor is `Unsupported`).
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polybook_core::layout::{H_CLOCK, H_EPOCH, H_WATCHERS};
use polybook_core::shm::{self, EpochWaiter, Region, ShmError, Ticker, WaiterTable, Watchdog};

const BYTES: usize = 8192;
const WAITERS: WaiterTable = WaiterTable { offset: 4096, entries: 8 };

fn path(tag: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/polybook-rusttest-{}-{tag}", std::process::id()))
}

struct Cleanup(PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn create_publish_open_and_the_name_lock() {
    let p = path("lock");
    let _c = Cleanup(p.clone());
    let server = Region::create(&p, BYTES).unwrap();
    // Not under its name until published.
    assert!(matches!(Region::open(&p), Err(ShmError::NotFound(_))));
    server.i32_at(0).store(0x504f4c59, Ordering::Relaxed);
    server.publish().unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    let reader = Region::open(&p).unwrap();
    assert_eq!(reader.i32_at(0).load(Ordering::Relaxed), 0x504f4c59);
    assert_eq!(reader.len(), BYTES);
    // A live server holds the name.
    assert!(matches!(Region::create(&p, BYTES), Err(ShmError::InUse(_))));
    assert!(!reader.superseded());
    // The server dies: the next one replaces the file; the old reader still maps the old one.
    drop(server);
    let next = Region::create(&p, BYTES).unwrap();
    next.publish().unwrap();
    assert!(reader.superseded());
    assert_eq!(reader.i32_at(0).load(Ordering::Relaxed), 0x504f4c59);
    assert_eq!(Region::open(&p).unwrap().i32_at(0).load(Ordering::Relaxed), 0);
    assert!(next.unlink());
    assert!(!p.exists());
}

#[test]
fn open_refuses_files_others_can_read_and_symlinks() {
    let p = path("mode");
    let _c = Cleanup(p.clone());
    std::fs::write(&p, vec![0u8; BYTES]).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(Region::open(&p), Err(ShmError::Unsafe(..))));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Region::open(&p).is_ok());
    let link = path("link");
    let _l = Cleanup(link.clone());
    std::os::unix::fs::symlink(&p, &link).unwrap();
    assert!(matches!(Region::open(&link), Err(ShmError::Unsafe(..))));
    let small = path("small");
    let _s = Cleanup(small.clone());
    std::fs::write(&small, [0u8; 16]).unwrap();
    std::fs::set_permissions(&small, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(Region::open(&small), Err(ShmError::TooSmall(..))));
}

#[test]
fn a_waiter_is_woken_across_mappings() {
    let p = path("wait");
    let _c = Cleanup(p.clone());
    let server = Arc::new(Region::create(&p, BYTES).unwrap());
    server.publish().unwrap();
    let reader = Arc::new(Region::open(&p).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let mut w = EpochWaiter::start(reader.clone(), WAITERS, move || {
        n.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(server.i32_at(H_WATCHERS).load(Ordering::SeqCst), 1);
    assert_eq!(server.i32_at(WAITERS.offset).load(Ordering::SeqCst), std::process::id() as i32);
    server.i32_at(H_EPOCH).fetch_add(1, Ordering::SeqCst);
    shm::futex_wake(server.i32_at(H_EPOCH));
    wait_until("a call", || calls.load(Ordering::SeqCst) >= 1);
    w.stop();
    assert_eq!(server.i32_at(H_WATCHERS).load(Ordering::SeqCst), 0);
    assert_eq!(server.i32_at(WAITERS.offset).load(Ordering::SeqCst), 0);
}

#[test]
fn the_waiter_table_frees_entries_of_dead_processes() {
    let p = path("sweep");
    let _c = Cleanup(p.clone());
    let r = Region::create(&p, BYTES).unwrap();
    // A process id that does not exist (above the kernel's pid_max).
    r.i32_at(WAITERS.offset + 4).store(i32::MAX - 1, Ordering::SeqCst);
    r.i32_at(WAITERS.offset + 8).store(std::process::id() as i32, Ordering::SeqCst);
    r.i32_at(H_WATCHERS).store(2, Ordering::SeqCst);
    assert_eq!(WAITERS.sweep(&r), 1);
    assert_eq!(r.i32_at(H_WATCHERS).load(Ordering::SeqCst), 1);
    assert_eq!(r.i32_at(WAITERS.offset + 4).load(Ordering::SeqCst), 0);
}

#[test]
fn the_heartbeat_ticks_and_a_watchdog_marks_it_down_once_old() {
    let p = path("beat");
    let _c = Cleanup(p.clone());
    let server = Arc::new(Region::create(&p, BYTES).unwrap());
    server.publish().unwrap();
    let reader = Arc::new(Region::open(&p).unwrap());
    let clock = || f64::from_bits(reader.f64_at(H_CLOCK).load(Ordering::Acquire));
    let mut ticker = Ticker::start(server.clone(), Duration::from_millis(1), None).unwrap();
    let dog = Watchdog::start(reader.clone(), 100.0, Duration::from_millis(5)).unwrap();
    let t = clock();
    assert!((shm::monotonic_ms() - t).abs() < 1000.0);
    wait_until("the clock to move", || clock() > t);
    ticker.stop();
    wait_until("the heartbeat marked down", || clock().is_nan());
    assert!(!dog.superseded());
    // The name goes (a clean stop): the watchdog notices.
    std::fs::remove_file(&p).unwrap();
    wait_until("superseded", || dog.superseded());
}

#[test]
fn a_watchdog_started_on_a_dead_servers_file_marks_it_down_before_returning() {
    let p = path("dead");
    let _c = Cleanup(p.clone());
    let server = Region::create(&p, BYTES).unwrap();
    server.publish().unwrap();
    server.f64_at(H_CLOCK).store((shm::monotonic_ms() - 1000.0).to_bits(), Ordering::Release);
    drop(server);
    let reader = Arc::new(Region::open(&p).unwrap());
    let _dog = Watchdog::start(reader.clone(), 200.0, Duration::from_secs(3600)).unwrap();
    assert!(f64::from_bits(reader.f64_at(H_CLOCK).load(Ordering::Acquire)).is_nan());
}
