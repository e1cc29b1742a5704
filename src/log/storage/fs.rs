//! The production backend: the real file system, `pwrite`/`pread` on
//! `std::fs::File` and `fdatasync`.

use super::{DirLock, OpenMode, Storage, StorageFile};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The file system as a [`Storage`].
#[derive(Debug, Default, Clone, Copy)]
pub struct FileStorage;

impl FileStorage {
    /// The file system backend.
    pub fn new() -> FileStorage {
        FileStorage
    }
}

/// Name of the lock file a running owner holds inside a data directory.
pub const LOCK_FILE: &str = ".lock";

impl Storage for FileStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        if path.exists() && !path.is_dir() {
            // `create_dir_all` would say "File exists", which misleads.
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", path.display()),
            ));
        }
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            // Names that are not UTF-8 cannot be ours; skip rather than fail.
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::Create => {
                options.create_new(true);
            }
            OpenMode::OpenOrCreate => {
                options.create(true);
            }
        }
        Ok(Arc::new(OsFile(options.open(path)?)))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn lock_dir(&self, path: &Path) -> io::Result<DirLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock::new(Box::new(file))),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "its lock is held by another process",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// An open OS file.
#[derive(Debug)]
struct OsFile(File);

impl StorageFile for OsFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(buf, pos)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn std_file(&self) -> Option<&File> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_directory_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new();
        let first = storage.lock_dir(dir.path()).unwrap();
        let err = storage.lock_dir(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        storage.lock_dir(dir.path()).unwrap();
    }

    #[test]
    fn open_modes_respect_existence() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new();
        let path = dir.path().join("f");
        assert_eq!(
            storage.open(&path, OpenMode::Existing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let file = storage.open(&path, OpenMode::Create).unwrap();
        file.write_at(b"hello", 3).unwrap();
        assert_eq!(file.len().unwrap(), 8);
        let mut buf = [0u8; 8];
        file.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"\0\0\0hello");
        assert_eq!(
            storage.open(&path, OpenMode::Create).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        storage.open(&path, OpenMode::OpenOrCreate).unwrap();
    }
}
