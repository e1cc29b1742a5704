//! Group commit: concurrent `fsync` appends share one fsync.

mod common;

use common::batch;
use logbus::clock::ManualClock;
use logbus::log::storage::{DirLock, MemoryStorage, OpenMode, Storage, StorageFile};
use logbus::log::{Durability, LogConfig};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Counts fsyncs of `.log` files and can hold them until released.
#[derive(Debug, Default)]
struct Gate {
    syncs: AtomicUsize,
    state: Mutex<(bool, usize)>, // (closed, threads waiting inside)
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        let mut s = self.state.lock().unwrap();
        s.1 += 1;
        self.changed.notify_all();
        while s.0 {
            s = self.changed.wait(s).unwrap();
        }
        s.1 -= 1;
    }
    fn set_closed(&self, closed: bool) {
        self.state.lock().unwrap().0 = closed;
        self.changed.notify_all();
    }
    fn wait_for_waiters(&self, n: usize) {
        let s = self.state.lock().unwrap();
        let (_s, timeout) = self
            .changed
            .wait_timeout_while(s, Duration::from_secs(30), |s| s.1 < n)
            .unwrap();
        assert!(!timeout.timed_out(), "no fsync arrived");
    }
}

#[derive(Debug)]
struct GatedStorage {
    inner: MemoryStorage,
    gate: Arc<Gate>,
}

#[derive(Debug)]
struct GatedFile {
    inner: Arc<dyn StorageFile>,
    gate: Option<Arc<Gate>>,
}

impl StorageFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.inner.write_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.inner.sync_data()
    }
    fn std_file(&self) -> Option<&std::fs::File> {
        None
    }
}

impl Storage for GatedStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let is_log = path.extension().is_some_and(|e| e == "log");
        Ok(Arc::new(GatedFile {
            inner: self.inner.open(path, mode)?,
            gate: is_log.then(|| Arc::clone(&self.gate)),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<DirLock> {
        self.inner.lock_dir(path)
    }
}

#[test]
fn concurrent_fsync_appends_share_one_fsync() {
    let gate = Arc::new(Gate::default());
    let storage = Arc::new(GatedStorage {
        inner: MemoryStorage::new(),
        gate: Arc::clone(&gate),
    });
    let clock = ManualClock::new(0);
    let log = Arc::new(common::open(
        storage,
        Path::new("/d/t-0"),
        LogConfig::default(),
        &clock,
    ));
    gate.set_closed(true);
    let before = gate.syncs.load(Ordering::SeqCst);

    // The first appender becomes the leader and is held inside its fsync.
    let leader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            log.append(&mut batch("first", 1, 1), Durability::Fsync)
                .unwrap()
        })
    };
    gate.wait_for_waiters(1);
    // Seven more append while the leader's fsync is in flight, then wait for durability.
    let followers: Vec<_> = (0..7)
        .map(|i| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                log.append(&mut batch(&format!("f{i}"), 1, 1), Durability::Fsync)
                    .unwrap()
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.log_end_offset() < 8 {
        assert!(Instant::now() < deadline, "followers did not append");
        std::thread::yield_now();
    }
    gate.set_closed(false);
    leader.join().unwrap();
    for f in followers {
        f.join().unwrap();
    }
    // One fsync for the leader's batch, one shared by all seven followers.
    assert_eq!(gate.syncs.load(Ordering::SeqCst) - before, 2);
}
