//! The in-memory backend: a model of a disk that knows what a power loss
//! would keep, so tests can crash the log at any instant and inject faults.
//!
//! Model (what [`MemoryStorage::crash`] relies on):
//! - **Files.** Each file is an inode shared by `Arc` between its directory
//!   entries and its open handles. It holds its *current* contents (what
//!   reads see) and its *durable* contents (what survives power loss), plus
//!   the ordered list of operations (`write_at`, `set_len`) applied to the
//!   current contents since the last `sync_data`. `sync_data` replays that
//!   list onto the durable contents, so its cost is proportional to the bytes
//!   written since the last sync, not to the file size.
//! - **Directory entries.** Creating, renaming and removing a file changes
//!   the current namespace at once; a directory's entries become durable only
//!   on `sync_dir` of that directory (for a rename, of both directories: if
//!   only the target's is synced, both names survive, like a hard link). A
//!   removed file stays readable and writable through handles already open.
//! - **Directories** are simplified: `create_dir_all` is durable at once, and
//!   `remove_dir_all` drops the current *and* durable entries below it at once.
//!   Renaming a directory is not supported (the log renames only files).
//! - **Paths** are normalised to their normal components: `.` is skipped,
//!   `..` pops, and absolute and relative paths name the same tree (`/a/b`
//!   is `a/b`). The root always exists.
//! - **Size.** A file is capped at [`MAX_FILE_LEN`] bytes (`FileTooLarge`
//!   beyond), since memory cannot be sparse.
//! - **Crashes** return a new, independent storage: [`MemoryStorage::crash`]
//!   keeps the durable namespace and, per file, its durable contents plus a
//!   pseudo-random prefix of its unsynced operations whose last write may be
//!   torn; [`MemoryStorage::crash_clean`] keeps nothing unsynced;
//!   [`MemoryStorage::crash_keep_all`] keeps everything (a process crash with
//!   the OS still up). Locks and fault settings are not carried over.
//! - **Faults.** [`MemoryStorage::fail_after`] kills the storage after a
//!   number of mutating operations: the one that trips fails (a write is
//!   applied only in part, as a real failed write may be) and every operation
//!   afterwards fails too, reads included, and `exists` answers `false`.
//!   [`MemoryStorage::fail_syncs`] makes `sync_data` and `sync_dir` fail,
//!   leaving what they would have made durable unsynced. The test accessors
//!   (`read_file`, `file_len`, ...) and the crash functions ignore faults.
//!
//! - **Without crash simulation** ([`MemoryStorage::plain`], what an
//!   in-memory broker uses): each file keeps only its current contents, one
//!   copy of each byte; syncs do nothing and every crash function keeps
//!   everything, as a disk that never loses a byte would.
//!
//! Lock order: the namespace lock before the fault lock or any inode lock;
//! file handles take the fault lock and release it before the inode lock.

use super::{DirLock, OpenMode, Storage, StorageFile};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fmt::{self, Debug};
use std::io::{self, ErrorKind};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

mod contents;
mod inspect;
#[cfg(test)]
mod tests;

/// The largest file [`MemoryStorage`] holds (4 GiB); a write or `set_len`
/// beyond it fails with `FileTooLarge` instead of exhausting memory.
pub const MAX_FILE_LEN: u64 = 1 << 32;

/// An in-memory [`Storage`] that models what survives a crash; clones share
/// one state, as two handles to one disk.
#[derive(Clone)]
pub struct MemoryStorage {
    shared: Arc<Shared>,
}

/// Everything one "disk" holds; clones of a [`MemoryStorage`] point here.
struct Shared {
    namespace: Mutex<Namespace>,
    faults: Mutex<Faults>,
    /// Paths currently locked by [`Storage::lock_dir`].
    locks: Mutex<HashSet<PathBuf>>,
    /// Whether files keep what a crash would leave (durable contents and
    /// unsynced operations), or only their current contents.
    simulate: bool,
}

/// The directory tree: every existing directory (by normalised path, the
/// root being the empty path) with its file entries.
struct Namespace {
    dirs: BTreeMap<PathBuf, Dir>,
}

#[derive(Default)]
struct Dir {
    /// File entries as the running system sees them.
    current: BTreeMap<OsString, Arc<Inode>>,
    /// File entries as of the last `sync_dir` of this directory.
    durable: BTreeMap<OsString, Arc<Inode>>,
}

/// One file's contents, shared by its directory entries and open handles.
#[derive(Default)]
struct Inode {
    data: Mutex<InodeData>,
}

#[derive(Default)]
struct InodeData {
    current: contents::Contents,
    durable: Vec<u8>,
    /// Operations applied to `current` but not yet to `durable`, in order.
    pending: Vec<PendingOp>,
}

enum PendingOp {
    Write { pos: usize, data: Vec<u8> },
    SetLen(usize),
}

#[derive(Default)]
struct Faults {
    /// Mutating operations admitted so far.
    ops: u64,
    /// Value of `ops` at which the next mutating operation trips.
    fail_at: Option<u64>,
    /// Set once tripped: every operation fails.
    dead: bool,
    fail_syncs: bool,
}

/// What an operation asks of the fault gate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Read,
    Mutate,
    Sync,
}

/// Why the fault gate refused an operation.
enum Refusal {
    /// This operation killed the storage; carries its index (a seed for tearing).
    Tripped(u64),
    /// The storage was already dead, or syncs are set to fail.
    Failed(io::Error),
}

/// Which unsynced state a crash keeps.
#[derive(Clone, Copy)]
enum Survival {
    Clean,
    KeepAll,
    Seeded(u64),
}

/// Locks a mutex, ignoring poisoning: our critical sections never leave
/// the data half-updated in a way a panic elsewhere could expose.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

fn err(kind: ErrorKind, path: &Path, what: &str) -> io::Error {
    io::Error::new(kind, format!("{}: {what}", path.display()))
}

fn not_found(path: &Path) -> io::Error {
    err(ErrorKind::NotFound, path, "no such file or directory")
}

/// The path reduced to its normal components (see the module doc).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Splits a normalised path into its directory and name; `None` for the root.
fn split(path: &Path) -> Option<(PathBuf, OsString)> {
    let name = path.file_name()?;
    let parent = path.parent().unwrap_or(Path::new(""));
    Some((parent.to_path_buf(), name.to_os_string()))
}

/// A converted file length or end position, refused beyond [`MAX_FILE_LEN`].
fn checked_len(len: Option<u64>) -> io::Result<usize> {
    len.filter(|&len| len <= MAX_FILE_LEN)
        .and_then(|len| usize::try_from(len).ok())
        .ok_or_else(|| {
            io::Error::new(
                ErrorKind::FileTooLarge,
                format!("in-memory files are capped at {MAX_FILE_LEN} bytes"),
            )
        })
}

/// splitmix64: a tiny deterministic generator for crash choices.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0); modulo bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        match u64::try_from(n) {
            Ok(0) | Err(_) => 0,
            // The result is below `n`, so it fits in usize.
            Ok(n) => usize::try_from(self.next() % n).unwrap_or(0),
        }
    }
}

impl PendingOp {
    /// Applies the operation to `bytes`. Lengths were checked against
    /// [`MAX_FILE_LEN`] when the operation was first applied.
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            PendingOp::Write { pos, data } => write_into(bytes, *pos, data),
            PendingOp::SetLen(len) => bytes.resize(*len, 0),
        }
    }
}

fn write_into(bytes: &mut Vec<u8>, pos: usize, data: &[u8]) {
    let end = pos + data.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[pos..end].copy_from_slice(data);
}

impl InodeData {
    fn write(&mut self, data: &[u8], pos: u64, simulate: bool) -> io::Result<()> {
        if data.is_empty() {
            // Like pwrite of zero bytes: the file is not extended.
            return Ok(());
        }
        let len = u64::try_from(data.len()).ok();
        let end = checked_len(len.and_then(|len| pos.checked_add(len)))?;
        let pos = end - data.len();
        self.current.write(pos, data)?;
        if simulate {
            self.pending.push(PendingOp::Write {
                pos,
                data: data.to_vec(),
            });
        }
        Ok(())
    }

    fn set_len(&mut self, len: u64, simulate: bool) -> io::Result<()> {
        let len = checked_len(Some(len))?;
        // A cut file gives its memory back, chunk by chunk.
        self.current.resize(len)?;
        if simulate {
            self.pending.push(PendingOp::SetLen(len));
        }
        Ok(())
    }

    /// Bytes of memory the file's contents hold.
    fn memory_bytes(&self) -> usize {
        let pending: usize = self
            .pending
            .iter()
            .map(|op| match op {
                PendingOp::Write { data, .. } => data.len(),
                PendingOp::SetLen(_) => 0,
            })
            .sum();
        self.current.len() + self.durable.len() + pending
    }

    fn sync(&mut self) {
        for op in self.pending.drain(..) {
            op.apply(&mut self.durable);
        }
    }

    /// The contents a crash leaves, drawing choices from `rng`.
    fn survivor(&self, survival: Survival, rng: &mut SplitMix) -> Vec<u8> {
        match survival {
            Survival::KeepAll => self.current.to_vec(),
            Survival::Clean => self.durable.clone(),
            Survival::Seeded(_) => {
                let mut bytes = self.durable.clone();
                let applied = rng.below(self.pending.len() + 1);
                for op in &self.pending[..applied] {
                    op.apply(&mut bytes);
                }
                // The first lost write may have reached the disk in part.
                if let Some(PendingOp::Write { pos, data }) = self.pending.get(applied)
                    && data.len() >= 2
                    && rng.next() & 1 == 0
                {
                    let torn = 1 + rng.below(data.len() - 1);
                    write_into(&mut bytes, *pos, &data[..torn]);
                }
                bytes
            }
        }
    }
}

impl Inode {
    fn with_contents(bytes: Vec<u8>) -> Inode {
        Inode {
            data: Mutex::new(InodeData {
                current: contents::Contents::from_slice(&bytes),
                durable: bytes,
                pending: Vec::new(),
            }),
        }
    }
}

impl Shared {
    /// The fault gate every storage operation passes first.
    fn admit(&self, kind: OpKind) -> Result<(), Refusal> {
        let mut faults = lock(&self.faults);
        if faults.dead {
            return Err(Refusal::Failed(injected("storage is dead (fail_after)")));
        }
        if kind == OpKind::Read {
            return Ok(());
        }
        if faults.fail_at.is_some_and(|at| faults.ops >= at) {
            faults.dead = true;
            return Err(Refusal::Tripped(faults.ops));
        }
        faults.ops += 1;
        if kind == OpKind::Sync && faults.fail_syncs {
            return Err(Refusal::Failed(injected("sync failure (fail_syncs)")));
        }
        Ok(())
    }

    /// [`Shared::admit`] for operations that have nothing to tear.
    fn check(&self, kind: OpKind) -> io::Result<()> {
        self.admit(kind).map_err(|refusal| match refusal {
            Refusal::Tripped(_) => injected("storage died here (fail_after)"),
            Refusal::Failed(e) => e,
        })
    }
}

impl Namespace {
    fn new() -> Namespace {
        let mut dirs = BTreeMap::new();
        dirs.insert(PathBuf::new(), Dir::default());
        Namespace { dirs }
    }

    /// The directory holding `path` and the entry's name.
    ///
    /// Errors: `NotFound` if the directory is missing, `IsADirectory` if
    /// `path` itself is a directory.
    fn entry_of(&mut self, path: &Path) -> io::Result<(&mut Dir, OsString)> {
        if self.dirs.contains_key(path) {
            return Err(err(ErrorKind::IsADirectory, path, "is a directory"));
        }
        let (parent, name) = split(path).ok_or_else(|| not_found(path))?;
        let dir = self.dirs.get_mut(&parent).ok_or_else(|| not_found(path))?;
        Ok((dir, name))
    }

    /// The current inode at `path`, if it is a file.
    fn file(&self, path: &Path) -> Option<Arc<Inode>> {
        let (parent, name) = split(path)?;
        self.dirs.get(&parent)?.current.get(&name).cloned()
    }

    fn dir(&mut self, path: &Path) -> io::Result<&mut Dir> {
        if self.file(path).is_some() {
            return Err(err(ErrorKind::NotADirectory, path, "not a directory"));
        }
        self.dirs.get_mut(path).ok_or_else(|| not_found(path))
    }

    /// Every distinct inode reachable in the current namespace.
    fn current_inodes(&self) -> Vec<Arc<Inode>> {
        let mut seen = HashSet::new();
        self.dirs
            .values()
            .flat_map(|dir| dir.current.values())
            .filter(|inode| seen.insert(Arc::as_ptr(inode)))
            .cloned()
            .collect()
    }
}

impl Default for MemoryStorage {
    fn default() -> MemoryStorage {
        MemoryStorage::new()
    }
}

impl Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Contents can be megabytes; say only what this is.
        f.write_str("MemoryStorage { .. }")
    }
}

impl MemoryStorage {
    /// An empty storage holding only the root directory.
    pub fn new() -> MemoryStorage {
        MemoryStorage::from_namespace(Namespace::new())
    }

    /// An empty storage without crash simulation: each written byte is
    /// kept once, syncs do nothing, and a crash keeps everything (see the
    /// module doc). For an in-memory broker that no test crashes.
    pub fn plain() -> MemoryStorage {
        MemoryStorage::from_namespace_with(Namespace::new(), false)
    }

    fn from_namespace(namespace: Namespace) -> MemoryStorage {
        MemoryStorage::from_namespace_with(namespace, true)
    }

    fn from_namespace_with(namespace: Namespace, simulate: bool) -> MemoryStorage {
        MemoryStorage {
            shared: Arc::new(Shared {
                namespace: Mutex::new(namespace),
                faults: Mutex::default(),
                locks: Mutex::default(),
                simulate,
            }),
        }
    }

    fn namespace(&self) -> MutexGuard<'_, Namespace> {
        lock(&self.shared.namespace)
    }

    /// What survives a power loss now: the durable namespace and, per file,
    /// its durable contents plus a prefix, chosen from `seed`, of its unsynced
    /// operations, the last write possibly torn. Deterministic for a given
    /// seed and state; the result shares nothing with `self`.
    pub fn crash(&self, seed: u64) -> MemoryStorage {
        self.survive(Survival::Seeded(seed))
    }

    /// What survives a power loss that keeps nothing unsynced.
    pub fn crash_clean(&self) -> MemoryStorage {
        self.survive(Survival::Clean)
    }

    /// What survives a process crash with the OS still up: the current
    /// namespace and contents, synced or not.
    pub fn crash_keep_all(&self) -> MemoryStorage {
        self.survive(Survival::KeepAll)
    }

    fn survive(&self, survival: Survival) -> MemoryStorage {
        // Without simulation nothing was ever unsynced.
        let survival = if self.shared.simulate {
            survival
        } else {
            Survival::KeepAll
        };
        let seed = match survival {
            Survival::Seeded(seed) => seed,
            Survival::Clean | Survival::KeepAll => 0,
        };
        let mut rng = SplitMix(seed);
        let namespace = self.namespace();
        // One new inode per old one, so names that shared a file still do.
        let mut copies: HashMap<*const Inode, Arc<Inode>> = HashMap::new();
        let mut dirs = BTreeMap::new();
        // BTreeMap order makes the draws from `rng` deterministic.
        for (path, dir) in &namespace.dirs {
            let entries = match survival {
                Survival::KeepAll => &dir.current,
                Survival::Clean | Survival::Seeded(_) => &dir.durable,
            };
            let mut survived = BTreeMap::new();
            for (name, inode) in entries {
                let copy = copies.entry(Arc::as_ptr(inode)).or_insert_with(|| {
                    let bytes = lock(&inode.data).survivor(survival, &mut rng);
                    Arc::new(Inode::with_contents(bytes))
                });
                survived.insert(name.clone(), Arc::clone(copy));
            }
            dirs.insert(
                path.clone(),
                Dir {
                    current: survived.clone(),
                    durable: survived,
                },
            );
        }
        MemoryStorage::from_namespace_with(Namespace { dirs }, self.shared.simulate)
    }
}

impl Storage for MemoryStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut namespace = self.namespace();
        self.shared.check(OpKind::Mutate)?;
        let mut prefix = PathBuf::new();
        let mut missing = Vec::new();
        for name in path.iter() {
            prefix.push(name);
            if namespace.file(&prefix).is_some() {
                let kind = if prefix == path {
                    ErrorKind::AlreadyExists
                } else {
                    ErrorKind::NotADirectory
                };
                return Err(err(kind, &prefix, "is a file"));
            }
            if !namespace.dirs.contains_key(&prefix) {
                missing.push(prefix.clone());
            }
        }
        for dir in missing {
            namespace.dirs.insert(dir, Dir::default());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let path = normalize(path);
        let namespace = self.namespace();
        self.shared.check(OpKind::Read)?;
        let dir = namespace.dirs.get(&path).ok_or_else(|| not_found(&path))?;
        // Subdirectories sort right after their parent in a BTreeMap.
        let subdirs = namespace
            .dirs
            .range(path.clone()..)
            .skip(1)
            .take_while(|(sub, _)| sub.starts_with(&path))
            .filter(|(sub, _)| sub.parent() == Some(path.as_path()))
            .filter_map(|(sub, _)| sub.file_name());
        let mut names: Vec<String> = dir
            .current
            .keys()
            .map(OsString::as_os_str)
            .chain(subdirs)
            // Names that are not UTF-8 cannot be ours; skip, as the fs backend does.
            .filter_map(|name| name.to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let path = normalize(path);
        let namespace = self.namespace();
        // A dead storage answers nothing truthfully; `false` is the closest.
        self.shared.check(OpKind::Read).is_ok()
            && (namespace.dirs.contains_key(&path) || namespace.file(&path).is_some())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let path = normalize(path);
        let mut namespace = self.namespace();
        let existing = namespace.file(&path);
        let creates = match mode {
            OpenMode::Existing => false,
            OpenMode::Create => true,
            OpenMode::OpenOrCreate => existing.is_none(),
        };
        let kind = if creates {
            OpKind::Mutate
        } else {
            OpKind::Read
        };
        self.shared.check(kind)?;
        let (dir, name) = namespace.entry_of(&path)?;
        let inode = match (mode, existing) {
            (OpenMode::Create, Some(_)) => {
                return Err(err(ErrorKind::AlreadyExists, &path, "file exists"));
            }
            (_, Some(inode)) => inode,
            (OpenMode::Existing, None) => return Err(not_found(&path)),
            (OpenMode::Create | OpenMode::OpenOrCreate, None) => {
                let inode = Arc::new(Inode::default());
                dir.current.insert(name, Arc::clone(&inode));
                inode
            }
        };
        Ok(Arc::new(MemoryFile {
            shared: Arc::clone(&self.shared),
            inode,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut namespace = self.namespace();
        self.shared.check(OpKind::Mutate)?;
        let (dir, name) = namespace.entry_of(&path)?;
        match dir.current.remove(&name) {
            Some(_) => Ok(()),
            None => Err(not_found(&path)),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut namespace = self.namespace();
        self.shared.check(OpKind::Mutate)?;
        if path.as_os_str().is_empty() {
            return Err(err(ErrorKind::InvalidInput, &path, "is the root"));
        }
        namespace.dir(&path)?;
        // Simplification (module doc): durable entries go at once too.
        namespace.dirs.retain(|dir, _| !dir.starts_with(&path));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (normalize(from), normalize(to));
        let mut namespace = self.namespace();
        self.shared.check(OpKind::Mutate)?;
        if namespace.dirs.contains_key(&from) {
            // Unsupported (module doc): the log renames only files.
            return Err(err(ErrorKind::Unsupported, &from, "is a directory"));
        }
        let inode = namespace.file(&from).ok_or_else(|| not_found(&from))?;
        // Check the target before touching the source, so a failure changes nothing.
        namespace.entry_of(&to)?;
        let (from_dir, from_name) = namespace.entry_of(&from)?;
        from_dir.current.remove(&from_name);
        let (to_dir, to_name) = namespace.entry_of(&to)?;
        to_dir.current.insert(to_name, inode);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut namespace = self.namespace();
        self.shared.check(OpKind::Sync)?;
        let dir = namespace.dir(&path)?;
        dir.durable = dir.current.clone();
        Ok(())
    }

    fn memory_bytes(&self) -> Option<u64> {
        let inodes = self.namespace().current_inodes();
        let bytes: usize = inodes
            .iter()
            .map(|inode| lock(&inode.data).memory_bytes())
            .sum();
        Some(u64::try_from(bytes).unwrap_or(u64::MAX))
    }

    fn lock_dir(&self, path: &Path) -> io::Result<DirLock> {
        let path = normalize(path);
        let namespace = self.namespace();
        self.shared.check(OpKind::Read)?;
        if !namespace.dirs.contains_key(&path) {
            return Err(not_found(&path));
        }
        drop(namespace);
        if !lock(&self.shared.locks).insert(path.clone()) {
            return Err(err(ErrorKind::WouldBlock, &path, "is already locked"));
        }
        Ok(DirLock::new(Box::new(LockGuard {
            shared: Arc::clone(&self.shared),
            path,
        })))
    }
}

/// Releases a [`Storage::lock_dir`] lock when dropped.
struct LockGuard {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        lock(&self.shared.locks).remove(&self.path);
    }
}

/// An open file of a [`MemoryStorage`].
struct MemoryFile {
    shared: Arc<Shared>,
    inode: Arc<Inode>,
}

impl Debug for MemoryFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryFile { .. }")
    }
}

impl StorageFile for MemoryFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.shared.check(OpKind::Read)?;
        let data = lock(&self.inode.data);
        let start = usize::try_from(pos).unwrap_or(usize::MAX);
        Ok(data.current.read(start, buf))
    }

    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        match self.shared.admit(OpKind::Mutate) {
            Ok(()) => lock(&self.inode.data).write(buf, pos, self.shared.simulate),
            Err(Refusal::Tripped(op)) => {
                // A real failed write may have reached the file in part:
                // apply a strict prefix, chosen deterministically.
                let torn = SplitMix(op ^ 0x746f_726e).below(buf.len());
                // The write fails either way; an error applying the prefix
                // (e.g. FileTooLarge) just means nothing was applied.
                let _ = lock(&self.inode.data).write(&buf[..torn], pos, self.shared.simulate);
                Err(injected("storage died during this write (fail_after)"))
            }
            Err(Refusal::Failed(e)) => Err(e),
        }
    }

    fn len(&self) -> io::Result<u64> {
        self.shared.check(OpKind::Read)?;
        let len = lock(&self.inode.data).current.len();
        Ok(u64::try_from(len).unwrap_or(u64::MAX))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.shared.check(OpKind::Mutate)?;
        lock(&self.inode.data).set_len(len, self.shared.simulate)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.shared.check(OpKind::Sync)?;
        lock(&self.inode.data).sync();
        Ok(())
    }

    fn std_file(&self) -> Option<&std::fs::File> {
        None
    }
}
