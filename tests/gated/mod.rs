//! A storage for tests that counts the fsyncs of `.log` files and can hold
//! them inside `sync_data` until the test opens the gate: what the tests of
//! group commit and of produce timeouts need to stage "an fsync in flight".
#![allow(dead_code)]

use logbus::log::storage::{DirLock, MemoryStorage, OpenMode, Storage, StorageFile};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Counts fsyncs of `.log` files and can hold them until released.
#[derive(Debug, Default)]
pub struct Gate {
    pub syncs: AtomicUsize,
    state: Mutex<(bool, usize)>, // (closed, threads waiting inside)
    changed: Condvar,
}

impl Gate {
    pub fn pass(&self) {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        let mut s = self.state.lock().unwrap();
        s.1 += 1;
        self.changed.notify_all();
        while s.0 {
            s = self.changed.wait(s).unwrap();
        }
        s.1 -= 1;
    }
    pub fn set_closed(&self, closed: bool) {
        self.state.lock().unwrap().0 = closed;
        self.changed.notify_all();
    }
    pub fn held(&self) -> usize {
        self.state.lock().unwrap().1
    }
    pub fn wait_for_waiters(&self, n: usize) {
        let s = self.state.lock().unwrap();
        let (_s, timeout) = self
            .changed
            .wait_timeout_while(s, Duration::from_secs(30), |s| s.1 < n)
            .unwrap();
        assert!(!timeout.timed_out(), "no fsync arrived");
    }
}

#[derive(Debug)]
pub struct GatedStorage {
    pub inner: MemoryStorage,
    pub gate: Arc<Gate>,
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
