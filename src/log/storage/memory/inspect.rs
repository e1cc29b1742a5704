//! Fault injection and test accessors of [`MemoryStorage`]: killing the
//! storage after some operations, failing syncs, and reading or replacing
//! a file's contents behind the log's back (to corrupt a segment).

use super::{Inode, MemoryStorage, checked_len, lock, normalize};
use std::io;
use std::path::Path;
use std::sync::Arc;

impl MemoryStorage {
    /// Kills the storage after `ops` more mutating operations: the next one
    /// fails (a write possibly applied in part) and so does every operation
    /// afterwards, until [`MemoryStorage::clear_faults`].
    pub fn fail_after(&self, ops: u64) {
        let mut faults = lock(&self.shared.faults);
        faults.fail_at = Some(faults.ops.saturating_add(ops));
    }

    /// While `on`, `sync_data` and `sync_dir` fail and make nothing durable.
    pub fn fail_syncs(&self, on: bool) {
        lock(&self.shared.faults).fail_syncs = on;
    }

    /// Mutating operations admitted so far (those failed by an injected
    /// [`MemoryStorage::fail_after`] fault are not counted).
    pub fn mutating_ops(&self) -> u64 {
        lock(&self.shared.faults).ops
    }

    /// Revives a dead storage and turns off every injected fault.
    pub fn clear_faults(&self) {
        let mut faults = lock(&self.shared.faults);
        faults.fail_at = None;
        faults.dead = false;
        faults.fail_syncs = false;
    }

    /// Current length of the file at `path`, if there is one.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        let inode = self.namespace().file(&normalize(path))?;
        let len = lock(&inode.data).current.len();
        u64::try_from(len).ok()
    }

    /// Current contents of the file at `path`, if there is one.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let inode = self.namespace().file(&normalize(path))?;
        let bytes = lock(&inode.data).current.to_vec();
        Some(bytes)
    }

    /// Test helper: makes `bytes` the file's current and durable contents
    /// (e.g. to corrupt a segment), creating the file if needed; its entry is
    /// made durable too. Bypasses faults and the operation count.
    ///
    /// # Errors
    /// `NotFound` if the directory is missing, `IsADirectory` if `path` is a
    /// directory, `FileTooLarge` beyond [`MAX_FILE_LEN`].
    pub fn write_file_raw(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        checked_len(u64::try_from(bytes.len()).ok())?;
        let path = normalize(path);
        let mut namespace = self.namespace();
        let (dir, name) = namespace.entry_of(&path)?;
        match dir.current.get(&name) {
            Some(inode) => {
                let mut data = lock(&inode.data);
                data.current = super::contents::Contents::from_slice(bytes);
                data.durable = bytes.to_vec();
                data.pending.clear();
                drop(data);
                let inode = Arc::clone(inode);
                dir.durable.insert(name, inode);
            }
            None => {
                let inode = Arc::new(Inode::with_contents(bytes.to_vec()));
                dir.current.insert(name.clone(), Arc::clone(&inode));
                dir.durable.insert(name, inode);
            }
        }
        Ok(())
    }

    /// Sum of the current lengths of the files in the current namespace.
    pub fn total_bytes(&self) -> u64 {
        let inodes = self.namespace().current_inodes();
        inodes
            .iter()
            .map(|inode| u64::try_from(lock(&inode.data).current.len()).unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add)
    }
}
