//! The narrow storage seam the log writes through (docs/design.md §5): the file
//! system in production ([`FileStorage`]), and an in-memory backend for
//! tests and the embedded in-memory mode ([`MemoryStorage`]) that can
//! simulate a crash at any point and inject faults.
//!
//! The seam knows files and directories, nothing of segments or batches.
//! Every call is blocking; callers keep it off async runtime threads.

mod fs;
mod memory;

pub use fs::FileStorage;
pub use memory::{MAX_FILE_LEN, MemoryStorage};

use std::any::Any;
use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// How [`Storage::open`] treats a file that does or does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist.
    Existing,
    /// The file must not exist; it is created empty.
    Create,
    /// Open the file, creating it empty if it does not exist.
    OpenOrCreate,
}

/// A held exclusive lock on a directory; released when dropped.
pub struct DirLock {
    _guard: Box<dyn Any + Send + Sync>,
}

impl DirLock {
    /// Wraps a backend's lock guard.
    pub fn new(guard: Box<dyn Any + Send + Sync>) -> DirLock {
        DirLock { _guard: guard }
    }
}

impl Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirLock")
    }
}

/// A directory tree of files: the file system or an in-memory model of one.
///
/// Crash semantics the log relies on, which both backends honour: data
/// written to a file survives a crash only after [`StorageFile::sync_data`];
/// creating, renaming or removing a directory entry survives only after
/// [`Storage::sync_dir`] on its directory.
pub trait Storage: Send + Sync + Debug {
    /// Creates `path` and any missing parents.
    ///
    /// # Errors
    /// Any I/O error of the backend.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;

    /// Names of the entries (files and directories) directly inside `path`, sorted.
    ///
    /// # Errors
    /// `NotFound` if `path` is not a directory, or any I/O error.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;

    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;

    /// Opens a file for reading and writing.
    ///
    /// # Errors
    /// `NotFound` for [`OpenMode::Existing`] on a missing file,
    /// `AlreadyExists` for [`OpenMode::Create`] on an existing one, or any I/O error.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>>;

    /// Removes a file.
    ///
    /// # Errors
    /// `NotFound` if it does not exist, or any I/O error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Removes a directory and everything inside it.
    ///
    /// # Errors
    /// `NotFound` if it does not exist, or any I/O error.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;

    /// Atomically renames a file, replacing any file at `to`.
    ///
    /// # Errors
    /// `NotFound` if `from` does not exist, or any I/O error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Makes the entries of directory `path` (creations, renames, removals) durable.
    ///
    /// # Errors
    /// Any I/O error of the backend.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// Takes an exclusive lock on directory `path` (the file `path/.lock` on
    /// the file system) for as long as the returned guard lives.
    ///
    /// # Errors
    /// `WouldBlock` if another holder has it, or any I/O error.
    fn lock_dir(&self, path: &Path) -> io::Result<DirLock>;

    /// Bytes of memory an in-memory backend holds for file contents
    /// (`None` for a backend whose files live on disk).
    fn memory_bytes(&self) -> Option<u64> {
        None
    }
}

/// One open file of a [`Storage`]. Positions are explicit, so one handle is
/// shared by readers and the single writer without a seek cursor.
// `len` is a fallible I/O query, not a collection size; an `is_empty`
// would be a second query no caller needs.
#[allow(clippy::len_without_is_empty)]
pub trait StorageFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read
    /// (fewer only at the end of the file).
    ///
    /// # Errors
    /// Any I/O error of the backend.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;

    /// Writes all of `buf` at `pos`, extending the file if needed.
    ///
    /// # Errors
    /// Any I/O error of the backend; part of `buf` may have been written.
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;

    /// The file's current length in bytes.
    ///
    /// # Errors
    /// Any I/O error of the backend.
    fn len(&self) -> io::Result<u64>;

    /// Truncates or extends (with zeros) the file to `len` bytes.
    ///
    /// # Errors
    /// Any I/O error of the backend.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes everything written so far durable (`fdatasync`).
    ///
    /// # Errors
    /// Any I/O error of the backend. After an error, what was written since
    /// the last successful sync may or may not survive a crash.
    fn sync_data(&self) -> io::Result<()>;

    /// The underlying OS file, when there is one (used to memory-map sealed indexes).
    fn std_file(&self) -> Option<&std::fs::File>;

    /// Reads exactly `buf.len()` bytes at `pos`.
    ///
    /// # Errors
    /// `UnexpectedEof` if the file ends first, or any I/O error.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], pos + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}
