//! Producer-state snapshots: idempotent producers' state of one partition
//! written to a file in the partition's directory, as Kafka does, so that a
//! retry is deduplicated after a restart whatever was appended in between.
//!
//! File `DATA/TOPIC-N/OFFSET.snapshot` (OFFSET is 20 zero-padded digits;
//! big-endian; written atomically: temp file, fsync, rename, fsync of the
//! directory):
//!
//! ```text
//!  off  len  field
//!    0    4  magic            b"LBPS"
//!    4    2  version          u16 = 1
//!    6    8  offset           i64: the state of every batch below it
//!   14    4  producer_count   u32
//!   18    .  producer_count producers, each 11 + 24 × batch_count bytes:
//!              0  8  producer_id    i64 (>= 0)
//!              8  2  epoch          i16
//!             10  1  batch_count    u8 (1..=5)
//!             11  .  batches, oldest first, 24 bytes each:
//!                      0  4  first_seq     i32
//!                      4  4  last_seq      i32
//!                      8  8  first_offset  i64
//!                     16  8  last_offset   i64
//!  end-4  4  crc              u32: CRC-32C of every byte before it
//! ```
//!
//! When: the broker's periodic work writes one once a segment rolled past
//! the newest snapshot (after fsyncing the rolled segments), and a clean
//! close writes one at the log end. The two newest files are kept.
//!
//! On open the newest snapshot at or below the log end that passes its CRC
//! is loaded and the log from its offset on is replayed. One beyond the log
//! end describes batches a crash took back: it is deleted. A damaged one is
//! reported at WARN and the next older one tried; with none, the state is
//! rebuilt from the whole log. Never a silently wrong state: the log below
//! a usable snapshot's offset is exactly the log it was taken of, since
//! recovery only ever cuts the log's tail.
//!
//! Knows the producer state, the log's read API and the storage seam;
//! nothing of topics, groups or clients.

use super::lock;
use super::producer_state::{BatchMeta, MAX_CACHED_BATCHES, ProducerEntry, ProducerStates};
use super::topic::Partition;
use crate::log::storage::{OpenMode, Storage};
use crate::log::{self, Log, LogError};
use std::collections::VecDeque;
use std::io;
use std::path::Path;

/// Suffix of producer-state snapshot files in a partition's directory.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
const MAGIC: &[u8; 4] = b"LBPS";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 18;
const PRODUCER_LEN: usize = 11;
const BATCH_LEN: usize = 24;
/// Snapshot files kept per partition (the newest ones).
const KEEP: usize = 2;

/// The file name of the snapshot at `offset`.
pub(crate) fn file_name(offset: i64) -> String {
    format!("{offset:020}{SNAPSHOT_SUFFIX}")
}

/// The offset a snapshot file name stands for, if it is one.
pub(crate) fn parse_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes `states` as the snapshot at `offset`.
pub(crate) fn encode(states: &ProducerStates, offset: i64) -> Vec<u8> {
    let mut ids: Vec<&i64> = states.producers.keys().collect();
    ids.sort_unstable();
    let mut b = Vec::with_capacity(HEADER_LEN + 4 + ids.len() * (PRODUCER_LEN + BATCH_LEN));
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&(ids.len() as u32).to_be_bytes());
    for id in ids {
        let entry = &states.producers[id];
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&entry.epoch.to_be_bytes());
        // At most MAX_CACHED_BATCHES (5) are ever kept.
        b.push(entry.batches.len() as u8);
        for batch in &entry.batches {
            b.extend_from_slice(&batch.first_seq.to_be_bytes());
            b.extend_from_slice(&batch.last_seq.to_be_bytes());
            b.extend_from_slice(&batch.first_offset.to_be_bytes());
            b.extend_from_slice(&batch.last_offset.to_be_bytes());
        }
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

/// A cursor over a snapshot's bytes that never reads past them.
struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let (head, rest) = self.b.split_at_checked(N).ok_or("truncated")?;
        self.b = rest;
        Ok(head.try_into().expect("N bytes"))
    }
}

/// Decodes a snapshot; the error says what is wrong. Allocates only for
/// producers whose bytes are present.
pub(crate) fn decode(bytes: &[u8]) -> Result<(i64, ProducerStates), &'static str> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err("too short");
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return Err("CRC mismatch");
    }
    let mut r = Reader { b: body };
    if &r.take::<4>()? != MAGIC {
        return Err("bad magic");
    }
    if u16::from_be_bytes(r.take()?) != VERSION {
        return Err("unknown version");
    }
    let offset = i64::from_be_bytes(r.take()?);
    let count = u32::from_be_bytes(r.take()?) as usize;
    if offset < 0 || count > r.b.len() / (PRODUCER_LEN + BATCH_LEN) {
        return Err("bad header");
    }
    let mut states = ProducerStates::default();
    for _ in 0..count {
        let id = i64::from_be_bytes(r.take()?);
        let epoch = i16::from_be_bytes(r.take()?);
        let n = usize::from(r.take::<1>()?[0]);
        if id < 0 || n == 0 || n > MAX_CACHED_BATCHES {
            return Err("bad producer entry");
        }
        let mut batches = VecDeque::with_capacity(n);
        for _ in 0..n {
            batches.push_back(BatchMeta {
                first_seq: i32::from_be_bytes(r.take()?),
                last_seq: i32::from_be_bytes(r.take()?),
                first_offset: i64::from_be_bytes(r.take()?),
                last_offset: i64::from_be_bytes(r.take()?),
            });
        }
        if states
            .producers
            .insert(id, ProducerEntry { epoch, batches })
            .is_some()
        {
            return Err("producer listed twice");
        }
    }
    if !r.b.is_empty() {
        return Err("trailing bytes");
    }
    states.snapshot_offset = offset;
    Ok((offset, states))
}

/// Offsets of the snapshot files in `dir`, newest first.
fn list(storage: &dyn Storage, dir: &Path) -> Result<Vec<i64>, LogError> {
    let names = storage.list_dir(dir).map_err(|source| LogError::Io {
        action: "list log directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut offsets: Vec<i64> = names.iter().filter_map(|n| parse_name(n)).collect();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    Ok(offsets)
}

fn read_file(storage: &dyn Storage, path: &Path) -> io::Result<Vec<u8>> {
    let file = storage.open(path, OpenMode::Existing)?;
    let len = file.len()?;
    let mut buf = vec![0; usize::try_from(len).map_err(io::Error::other)?];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// Writes the snapshot of `states` at `offset` into `dir` (the log must be
/// durable up to `offset`), then removes all but the newest files.
///
/// # Errors
/// An I/O error of the storage.
pub(crate) fn write(
    storage: &dyn Storage,
    dir: &Path,
    states: &ProducerStates,
    offset: i64,
) -> Result<(), LogError> {
    log::write_atomically(storage, dir, &file_name(offset), &encode(states, offset))?;
    for old in list(storage, dir)?.into_iter().skip(KEEP) {
        let path = dir.join(file_name(old));
        match storage.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LogError::Io {
                    action: "remove old producer snapshot",
                    path,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Writes a snapshot of `partition`'s producer state at its log end. With
/// `only_after_roll`, does so only if a segment rolled past the newest
/// snapshot (the periodic work); without, always (a clean close).
///
/// # Errors
/// A log error flushing, or an I/O error writing the file.
pub(crate) fn take(
    storage: &dyn Storage,
    partition: &Partition,
    only_after_roll: bool,
) -> Result<(), LogError> {
    let log = &partition.log;
    let active_base = log.segment_bases().last().copied().unwrap_or(0);
    // Appends hold the producer-state lock, so the state and the log end
    // read under it agree.
    let (states, offset) = {
        let producers = lock(&partition.producers);
        if only_after_roll && active_base <= producers.snapshot_offset {
            return Ok(());
        }
        (producers.clone(), log.log_end_offset())
    };
    write(storage, log.dir(), &states, offset)?;
    let mut producers = lock(&partition.producers);
    producers.snapshot_offset = producers.snapshot_offset.max(offset);
    Ok(())
}

/// Loads the producer state of `log`: the newest valid snapshot at or
/// below the log end, then the batches after it; the whole log without one.
///
/// # Errors
/// An I/O error listing the directory, or a read error of the log.
pub(crate) fn load(
    storage: &dyn Storage,
    log: &Log,
    topic: &str,
    partition: u32,
) -> Result<ProducerStates, LogError> {
    let end = log.log_end_offset();
    let mut found = None;
    for offset in list(storage, log.dir())? {
        let path = log.dir().join(file_name(offset));
        if offset > end {
            // It describes batches a crash took back; were it kept, appends
            // after this open would make it look valid at the next one.
            tracing::info!(topic, partition, path = %path.display(), log_end = end,
                "removing a producer snapshot beyond the recovered log end");
            storage.remove_file(&path).map_err(|source| LogError::Io {
                action: "remove producer snapshot",
                path: path.clone(),
                source,
            })?;
            storage.sync_dir(log.dir()).map_err(|source| LogError::Io {
                action: "sync log directory",
                path: log.dir().to_path_buf(),
                source,
            })?;
            continue;
        }
        match read_file(storage, &path) {
            Ok(bytes) => match decode(&bytes) {
                Ok((at, states)) if at == offset => {
                    found = Some((at, states));
                    break;
                }
                Ok(_) => tracing::warn!(topic, partition, path = %path.display(),
                    "producer snapshot names another offset than its file; trying an older one"),
                Err(problem) => tracing::warn!(topic, partition, path = %path.display(), problem,
                    "damaged producer snapshot; trying an older one"),
            },
            Err(e) => tracing::warn!(topic, partition, path = %path.display(), error = %e,
                "unreadable producer snapshot; trying an older one"),
        }
    }
    let (from, mut states) = found.unwrap_or_default();
    states.replay(log, from)?;
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, BatchHeader, Compression};

    fn states() -> ProducerStates {
        let mut s = ProducerStates::default();
        for (pid, batches) in [(3_i64, 7), (11, 1)] {
            for i in 0..batches {
                let mut b = BatchBuilder::new(Compression::None).producer(pid, 2, i * 2);
                b.append(0, None, Some(b"v"), &[]).unwrap();
                b.append(0, None, Some(b"w"), &[]).unwrap();
                let h = BatchHeader::parse(&b.build().unwrap()).unwrap().unwrap();
                s.record(&h, i64::from(i) * 10, i64::from(i) * 10 + 1);
            }
        }
        s
    }

    #[test]
    fn a_snapshot_round_trips_and_every_flipped_byte_is_detected() {
        let s = states();
        let bytes = encode(&s, 1234);
        assert_eq!(
            bytes.len(),
            HEADER_LEN + 2 * PRODUCER_LEN + 6 * BATCH_LEN + 4
        );
        let (offset, back) = decode(&bytes).unwrap();
        assert_eq!(offset, 1234);
        assert_eq!(back.producers, s.producers);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad).is_err(), "flip at {i}");
        }
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn a_claimed_producer_count_beyond_the_bytes_is_refused_before_allocating() {
        let mut bytes = encode(&ProducerStates::default(), 5);
        bytes[14..18].copy_from_slice(&u32::MAX.to_be_bytes());
        let len = bytes.len();
        let crc = crc32c::crc32c(&bytes[..len - 4]);
        bytes[len - 4..].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(decode(&bytes).unwrap_err(), "bad header");
    }

    #[test]
    fn snapshot_file_names_carry_twenty_digits_and_parse_back() {
        assert_eq!(file_name(42), "00000000000000000042.snapshot");
        assert_eq!(parse_name(&file_name(42)), Some(42));
        assert_eq!(parse_name("42.snapshot"), None);
        assert_eq!(parse_name("00000000000000000042.log"), None);
    }
}
