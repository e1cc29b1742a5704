//! The per-log checkpoint file and the clean-shutdown marker.
//!
//! ```text
//! checkpoint (26 bytes, big-endian)
//!    0  4  magic             b"LBCK"
//!    4  2  version           u16 = 1
//!    6  8  recovery_point    i64: every batch below it is durable and indexed
//!   14  8  log_start_offset  i64: reads below it are out of range
//!   22  4  crc               u32: CRC-32C of bytes 0..22
//! ```
//!
//! ```text
//! cleaner-checkpoint (18 bytes, big-endian; only compacted logs have one)
//!    0  4  magic             b"LBCC"
//!    4  2  version           u16 = 1
//!    6  8  first_dirty       i64: every offset below it has been cleaned once
//!   14  4  crc               u32: CRC-32C of bytes 0..14
//! ```
//!
//! Both are written atomically: a temp file, fsync, rename, fsync of the
//! directory. A missing or corrupt cleaner checkpoint means "nothing cleaned
//! yet" (first dirty offset 0): cleaning again is always safe, only slower.
//! The marker `clean-shutdown` is an empty file written last by a clean close
//! and removed (durably) first thing on open.

use super::error::{IoContext, LogError};
use super::storage::{OpenMode, Storage};
use std::io;
use std::path::Path;

/// Name of the checkpoint file inside a log directory.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// Name of the clean-shutdown marker inside a log directory.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";
/// Name of the cleaner's checkpoint (first dirty offset) inside a log directory.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-checkpoint";
/// Suffix of files being written atomically; leftovers are deleted on open.
pub const TEMP_SUFFIX: &str = ".tmp";

const MAGIC: &[u8; 4] = b"LBCK";
const VERSION: u16 = 1;
const AT_MAGIC: usize = 0;
const AT_VERSION: usize = 4;
const AT_RECOVERY_POINT: usize = 6;
const AT_LOG_START: usize = 14;
const AT_CRC: usize = 22;
const LEN: usize = 26;

/// What a log remembers across restarts besides its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Batches below this offset are durable and their indexes complete.
    pub recovery_point: i64,
    /// The first offset readers may see.
    pub log_start_offset: i64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[AT_MAGIC..AT_MAGIC + 4].copy_from_slice(MAGIC);
        b[AT_VERSION..AT_VERSION + 2].copy_from_slice(&VERSION.to_be_bytes());
        b[AT_RECOVERY_POINT..AT_RECOVERY_POINT + 8]
            .copy_from_slice(&self.recovery_point.to_be_bytes());
        b[AT_LOG_START..AT_LOG_START + 8].copy_from_slice(&self.log_start_offset.to_be_bytes());
        let crc = crc32c::crc32c(&b[..AT_CRC]);
        b[AT_CRC..].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() != LEN || &b[AT_MAGIC..AT_MAGIC + 4] != MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes(b[AT_CRC..].try_into().ok()?);
        if crc != crc32c::crc32c(&b[..AT_CRC])
            || u16::from_be_bytes(b[AT_VERSION..AT_VERSION + 2].try_into().ok()?) != VERSION
        {
            return None;
        }
        Some(Checkpoint {
            recovery_point: i64::from_be_bytes(
                b[AT_RECOVERY_POINT..AT_RECOVERY_POINT + 8]
                    .try_into()
                    .ok()?,
            ),
            log_start_offset: i64::from_be_bytes(
                b[AT_LOG_START..AT_LOG_START + 8].try_into().ok()?,
            ),
        })
    }

    /// Reads the checkpoint of the log in `dir`; `None` if there is none.
    ///
    /// # Errors
    /// [`LogError::CorruptCheckpoint`] if it exists but fails its CRC, or an I/O error.
    pub fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<Checkpoint>, LogError> {
        let path = dir.join(CHECKPOINT_FILE);
        let file = match storage.open(&path, OpenMode::Existing) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("open checkpoint", &path),
        };
        let len = file.len().context("stat checkpoint", &path)?;
        let mut buf = vec![0u8; len.min(LEN as u64 + 1) as usize];
        file.read_exact_at(&mut buf, 0)
            .context("read checkpoint", &path)?;
        Checkpoint::decode(&buf)
            .map(Some)
            .ok_or(LogError::CorruptCheckpoint { path })
    }

    /// Writes the checkpoint atomically.
    ///
    /// # Errors
    /// Any I/O error; the previous checkpoint then still stands.
    pub fn write(&self, storage: &dyn Storage, dir: &Path) -> Result<(), LogError> {
        write_atomically(storage, dir, CHECKPOINT_FILE, &self.encode())
    }
}

const CLEANER_MAGIC: &[u8; 4] = b"LBCC";
const CLEANER_VERSION: u16 = 1;
const CLEANER_AT_FIRST_DIRTY: usize = 6;
const CLEANER_AT_CRC: usize = 14;
const CLEANER_LEN: usize = 18;

/// The cleaner's progress in one log: everything below `first_dirty` has
/// been compacted at least once (Kafka's cleaner-offset-checkpoint entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanerCheckpoint {
    /// The first offset the cleaner has not yet cleaned.
    pub first_dirty: i64,
}

impl CleanerCheckpoint {
    fn encode(&self) -> [u8; CLEANER_LEN] {
        let mut b = [0u8; CLEANER_LEN];
        b[AT_MAGIC..AT_MAGIC + 4].copy_from_slice(CLEANER_MAGIC);
        b[AT_VERSION..AT_VERSION + 2].copy_from_slice(&CLEANER_VERSION.to_be_bytes());
        b[CLEANER_AT_FIRST_DIRTY..CLEANER_AT_FIRST_DIRTY + 8]
            .copy_from_slice(&self.first_dirty.to_be_bytes());
        let crc = crc32c::crc32c(&b[..CLEANER_AT_CRC]);
        b[CLEANER_AT_CRC..].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<CleanerCheckpoint> {
        if b.len() != CLEANER_LEN || &b[AT_MAGIC..AT_MAGIC + 4] != CLEANER_MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes(b[CLEANER_AT_CRC..].try_into().ok()?);
        if crc != crc32c::crc32c(&b[..CLEANER_AT_CRC])
            || u16::from_be_bytes(b[AT_VERSION..AT_VERSION + 2].try_into().ok()?) != CLEANER_VERSION
        {
            return None;
        }
        Some(CleanerCheckpoint {
            first_dirty: i64::from_be_bytes(
                b[CLEANER_AT_FIRST_DIRTY..CLEANER_AT_FIRST_DIRTY + 8]
                    .try_into()
                    .ok()?,
            ),
        })
    }

    /// Reads the cleaner checkpoint of the log in `dir`; `None` if there is
    /// none or it is corrupt (the cleaner then starts from the log start).
    ///
    /// # Errors
    /// An I/O error other than the file being missing.
    pub fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<CleanerCheckpoint>, LogError> {
        let path = dir.join(CLEANER_CHECKPOINT_FILE);
        let file = match storage.open(&path, OpenMode::Existing) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("open cleaner checkpoint", &path),
        };
        let len = file.len().context("stat cleaner checkpoint", &path)?;
        let mut buf = vec![0u8; len.min(CLEANER_LEN as u64 + 1) as usize];
        file.read_exact_at(&mut buf, 0)
            .context("read cleaner checkpoint", &path)?;
        Ok(CleanerCheckpoint::decode(&buf))
    }

    /// Writes the cleaner checkpoint atomically.
    ///
    /// # Errors
    /// Any I/O error; the previous checkpoint then still stands.
    pub fn write(&self, storage: &dyn Storage, dir: &Path) -> Result<(), LogError> {
        write_atomically(storage, dir, CLEANER_CHECKPOINT_FILE, &self.encode())
    }
}

/// Replaces `dir/name` with `bytes` so that a crash leaves either the old or
/// the new contents: temp file, fsync, rename, fsync of the directory.
///
/// # Errors
/// Any I/O error.
pub fn write_atomically(
    storage: &dyn Storage,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), LogError> {
    write_atomically_via(storage, dir, &format!("{name}{TEMP_SUFFIX}"), name, bytes)
}

/// As [`write_atomically`], through the temp file `dir/temp` (for names
/// too long to take a suffix).
///
/// # Errors
/// Any I/O error.
pub fn write_atomically_via(
    storage: &dyn Storage,
    dir: &Path,
    temp: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), LogError> {
    let temp = dir.join(temp);
    let path = dir.join(name);
    let file = storage
        .open(&temp, OpenMode::OpenOrCreate)
        .context("create temp file", &temp)?;
    file.set_len(0).context("reset temp file", &temp)?;
    file.write_at(bytes, 0).context("write temp file", &temp)?;
    file.sync_data().context("sync temp file", &temp)?;
    storage
        .rename(&temp, &path)
        .context("rename temp file", &path)?;
    storage.sync_dir(dir).context("sync directory", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_a_flipped_byte_is_detected() {
        let c = Checkpoint {
            recovery_point: 42,
            log_start_offset: 7,
        };
        let bytes = c.encode();
        assert_eq!(Checkpoint::decode(&bytes), Some(c));
        for i in 0..LEN {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert_eq!(Checkpoint::decode(&bad), None, "flip at {i}");
        }
        assert_eq!(Checkpoint::decode(&bytes[..LEN - 1]), None);
    }

    #[test]
    fn cleaner_checkpoint_round_trips_and_a_flipped_byte_is_detected() {
        let c = CleanerCheckpoint { first_dirty: 1234 };
        let bytes = c.encode();
        assert_eq!(CleanerCheckpoint::decode(&bytes), Some(c));
        for i in 0..CLEANER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x04;
            assert_eq!(CleanerCheckpoint::decode(&bad), None, "flip at {i}");
        }
    }
}
