//! The journal of a topic change in progress (create, grow or delete), so
//! that the broker deletes only what it can prove it created and abandoned.
//! It is written atomically before a change touches any partition directory
//! and removed once the change is complete; changes are serialised by the
//! broker's admin lock, so there is at most one. On open, a journal found
//! means a crash interrupted its change: a create or grow whose metadata
//! file was not written is rolled back (the directories it names were
//! checked absent before it began, so they are its own); a delete is
//! finished. Partition-like directories no journal names are left alone.
//!
//! File `DATA/topic-change` (big-endian):
//!
//! ```text
//!  off  len  field
//!    0    4  magic       b"LBTC"
//!    4    2  version     u16 = 1
//!    6    1  kind        u8: 1 create, 2 grow, 3 delete
//!    7    4  from        u32: first partition the change touches
//!   11    4  to          u32: one past the last partition it touches
//!   15    2  name_len    u16 (1..=249)
//!   17    n  name        UTF-8 topic name
//! 17+n    4  crc         u32: CRC-32C of bytes 0..17+n
//! ```
//!
//! Knows the storage seam and topic names; nothing of logs or groups.

use super::error::BrokerError;
use super::topic::validate_topic_name;
use crate::log;
use crate::log::storage::Storage;
use std::io;
use std::path::Path;

/// Name of the journal file in the data directory.
pub const TOPIC_CHANGE_FILE: &str = "topic-change";
const MAGIC: &[u8; 4] = b"LBTC";
const VERSION: u16 = 1;

/// What a journalled change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    /// Creates partitions `from..to` (from 0) and then the metadata file.
    Create,
    /// Creates partitions `from..to` and then rewrites the metadata file.
    Grow,
    /// Removes the metadata file and then partitions `from..to`.
    Delete,
}

/// A topic change in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicChange {
    pub kind: ChangeKind,
    pub topic: String,
    pub from: u32,
    pub to: u32,
}

impl TopicChange {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(21 + self.topic.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.push(match self.kind {
            ChangeKind::Create => 1,
            ChangeKind::Grow => 2,
            ChangeKind::Delete => 3,
        });
        b.extend_from_slice(&self.from.to_be_bytes());
        b.extend_from_slice(&self.to.to_be_bytes());
        // Names are validated to at most 249 bytes before they get here.
        b.extend_from_slice(&(self.topic.len() as u16).to_be_bytes());
        b.extend_from_slice(self.topic.as_bytes());
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes a journal; the error names what is wrong.
    pub fn decode(b: &[u8]) -> Result<TopicChange, &'static str> {
        if b.len() < 21 {
            return Err("too short");
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return Err("CRC mismatch");
        }
        if &body[..4] != MAGIC {
            return Err("bad magic");
        }
        if body[4..6] != VERSION.to_be_bytes() {
            return Err("unknown version");
        }
        let kind = match body[6] {
            1 => ChangeKind::Create,
            2 => ChangeKind::Grow,
            3 => ChangeKind::Delete,
            _ => return Err("unknown kind"),
        };
        let u32_at = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let (from, to) = (u32_at(7), u32_at(11));
        let n = usize::from(u16::from_be_bytes([body[15], body[16]]));
        if body.len() != 17 + n {
            return Err("wrong length");
        }
        let topic = std::str::from_utf8(&body[17..]).map_err(|_| "name is not UTF-8")?;
        if validate_topic_name(topic).is_err() || from > to {
            return Err("invalid change");
        }
        Ok(TopicChange {
            kind,
            topic: topic.to_owned(),
            from,
            to,
        })
    }

    /// Records the change durably before it begins.
    pub fn begin(&self, storage: &dyn Storage, dir: &Path) -> Result<(), BrokerError> {
        log::write_atomically(storage, dir, TOPIC_CHANGE_FILE, &self.encode()).map_err(|source| {
            BrokerError::Metadata {
                path: dir.join(TOPIC_CHANGE_FILE),
                source,
            }
        })
    }
}

/// Removes the journal durably once its change is complete.
pub(crate) fn end(storage: &dyn Storage, dir: &Path) -> Result<(), BrokerError> {
    let path = dir.join(TOPIC_CHANGE_FILE);
    match storage.remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(super::io_err("remove topic-change journal", &path)(e)),
    }
    storage
        .sync_dir(dir)
        .map_err(super::io_err("sync data directory", dir))
}

/// The journal left by a change a crash interrupted, if any. A damaged
/// journal proves nothing: it is reported and treated as absent, so
/// nothing is rolled back on its word.
pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<TopicChange>, BrokerError> {
    let path = dir.join(TOPIC_CHANGE_FILE);
    let Some(bytes) = super::read_small_file(storage, &path, 4096)? else {
        return Ok(None);
    };
    match TopicChange::decode(&bytes) {
        Ok(change) => Ok(Some(change)),
        Err(problem) => {
            tracing::warn!(path = %path.display(), problem,
                "damaged topic-change journal: nothing is rolled back on its word");
            Ok(None)
        }
    }
}

/// Removes the partition directories `from..to` of `topic` that exist.
pub(crate) fn remove_partitions(
    storage: &dyn Storage,
    dir: &Path,
    topic: &str,
    from: u32,
    to: u32,
) -> Result<(), BrokerError> {
    for p in from..to {
        let path = super::topic::partition_dir(dir, topic, p);
        match storage.remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(super::io_err("remove partition", &path)(e)),
        }
    }
    storage
        .sync_dir(dir)
        .map_err(super::io_err("sync data directory", dir))
}

/// Fails if any partition directory `from..to` of `topic` already exists:
/// a change creates only directories it can later prove its own.
pub(crate) fn check_absent(
    storage: &dyn Storage,
    dir: &Path,
    topic: &str,
    from: u32,
    to: u32,
) -> Result<(), BrokerError> {
    for p in from..to {
        let path = super::topic::partition_dir(dir, topic, p);
        if storage.exists(&path) {
            return Err(BrokerError::Io {
                action: "create partition: an entry of that name exists and belongs to no topic; move it away",
                path,
                source: io::ErrorKind::AlreadyExists.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_every_flipped_byte_is_detected() {
        let change = TopicChange {
            kind: ChangeKind::Grow,
            topic: "orders".into(),
            from: 2,
            to: 5,
        };
        let bytes = change.encode();
        assert_eq!(TopicChange::decode(&bytes), Ok(change));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x08;
            assert!(TopicChange::decode(&bad).is_err(), "flip at {i}");
        }
        assert!(TopicChange::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
