//! Handing out idempotent producer ids so that none is ever reused, even
//! after a crash: ids come from blocks of [`BLOCK`], and the end of the
//! current block is written atomically to `DATA/producer-ids` before any id
//! of it is handed out. A restart continues after the recorded block end.
//!
//! ```text
//! producer-ids (18 bytes, big-endian)
//!    0  4  magic       b"LBPI"
//!    4  2  version     u16 = 1
//!    6  8  block_end   i64: every id below it may have been handed out
//!   14  4  crc         u32: CRC-32C of bytes 0..14
//! ```

use super::error::BrokerError;
use crate::log;
use crate::log::storage::Storage;
use std::path::Path;

/// Name of the producer-id file in the data directory.
pub const PRODUCER_IDS_FILE: &str = "producer-ids";
const BLOCK: i64 = 1000;
const MAGIC: &[u8; 4] = b"LBPI";
const VERSION: u16 = 1;

/// An idempotent producer's identity: the id, and the epoch that fences
/// older incarnations of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdAndEpoch {
    /// The producer id (≥ 0).
    pub producer_id: i64,
    /// The epoch (≥ 0).
    pub epoch: i16,
}

#[derive(Debug)]
pub(crate) struct ProducerIds {
    next: i64,
    block_end: i64,
}

fn encode(block_end: i64) -> [u8; 18] {
    let mut b = [0u8; 18];
    b[..4].copy_from_slice(MAGIC);
    b[4..6].copy_from_slice(&VERSION.to_be_bytes());
    b[6..14].copy_from_slice(&block_end.to_be_bytes());
    let crc = crc32c::crc32c(&b[..14]);
    b[14..].copy_from_slice(&crc.to_be_bytes());
    b
}

fn decode(b: &[u8]) -> Option<i64> {
    if b.len() != 18 || &b[..4] != MAGIC || b[4..6] != VERSION.to_be_bytes() {
        return None;
    }
    if crc32c::crc32c(&b[..14]).to_be_bytes() != b[14..] {
        return None;
    }
    Some(i64::from_be_bytes(b[6..14].try_into().ok()?))
}

impl ProducerIds {
    pub fn load(storage: &dyn Storage, dir: &Path) -> Result<ProducerIds, BrokerError> {
        let path = dir.join(PRODUCER_IDS_FILE);
        let block_end = match super::read_small_file(storage, &path, 64)? {
            None => 0,
            Some(bytes) => decode(&bytes).ok_or(BrokerError::CorruptMetadata {
                path,
                problem: "bad producer-id block",
            })?,
        };
        Ok(ProducerIds {
            next: block_end,
            block_end,
        })
    }

    pub fn next(
        &mut self,
        storage: &dyn Storage,
        dir: &Path,
        existing: Option<ProducerIdAndEpoch>,
    ) -> Result<ProducerIdAndEpoch, BrokerError> {
        if let Some(e) = existing {
            if e.producer_id < 0 || e.producer_id >= self.next {
                return Err(BrokerError::UnknownProducerId {
                    producer_id: e.producer_id,
                });
            }
            if e.epoch < i16::MAX {
                return Ok(ProducerIdAndEpoch {
                    producer_id: e.producer_id,
                    epoch: e.epoch.max(0) + 1,
                });
            }
        }
        if self.next == self.block_end {
            let end = self.block_end + BLOCK;
            log::write_atomically(storage, dir, PRODUCER_IDS_FILE, &encode(end)).map_err(
                |source| BrokerError::Metadata {
                    path: dir.join(PRODUCER_IDS_FILE),
                    source,
                },
            )?;
            self.block_end = end;
        }
        let id = self.next;
        self.next += 1;
        Ok(ProducerIdAndEpoch {
            producer_id: id,
            epoch: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::storage::MemoryStorage;

    #[test]
    fn ids_are_not_reused_after_a_restart() {
        let storage = MemoryStorage::new();
        let dir = Path::new("/d");
        storage.create_dir_all(dir).unwrap();
        let mut ids = ProducerIds::load(&storage, dir).unwrap();
        let a = ids.next(&storage, dir, None).unwrap();
        let b = ids.next(&storage, dir, None).unwrap();
        assert_eq!((a.producer_id, b.producer_id), (0, 1));
        let bumped = ids.next(&storage, dir, Some(b)).unwrap();
        assert_eq!((bumped.producer_id, bumped.epoch), (1, 1));
        let crashed = storage.crash_clean();
        let mut again = ProducerIds::load(&crashed, dir).unwrap();
        assert!(again.next(&crashed, dir, None).unwrap().producer_id >= BLOCK);
        assert!(matches!(
            again.next(
                &crashed,
                dir,
                Some(ProducerIdAndEpoch {
                    producer_id: 1 << 40,
                    epoch: 0
                })
            ),
            Err(BrokerError::UnknownProducerId { .. })
        ));
    }

    #[test]
    fn a_corrupt_block_file_is_refused() {
        let mut b = encode(5000);
        assert_eq!(decode(&b), Some(5000));
        b[8] ^= 1;
        assert_eq!(decode(&b), None);
    }
}
