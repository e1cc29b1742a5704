//! Sparse indexes of one segment: offset → file position (`.index`) and
//! timestamp → offset (`.timeindex`), in Kafka's layout.
//!
//! ```text
//! .index      one 8-byte entry per ~index_interval_bytes of log, big-endian
//!   0  u32  relative offset   (batch base offset − segment base offset)
//!   4  u32  position          (byte position of that batch in the .log file)
//!
//! .timeindex  one 12-byte entry whenever the largest timestamp grew, big-endian
//!   0  i64  timestamp         (largest timestamp in the segment so far)
//!   8  u32  relative offset   (last offset of the batch holding it − segment base)
//! ```
//!
//! Entries only ever grow in both columns. The active segment keeps its
//! entries in memory and appends them to the file; a sealed segment's index
//! file is immutable and memory-mapped. This is the one place in logbus that
//! uses `unsafe`, for the map.

use bytes::Bytes;
use std::io;

/// Size of one `.index` entry.
pub const OFFSET_ENTRY_LEN: usize = 8;
/// Position of the relative offset within an `.index` entry.
pub const OFFSET_ENTRY_RELATIVE: usize = 0;
/// Position of the file position within an `.index` entry.
pub const OFFSET_ENTRY_POSITION: usize = 4;
/// Size of one `.timeindex` entry.
pub const TIME_ENTRY_LEN: usize = 12;
/// Position of the timestamp within a `.timeindex` entry.
pub const TIME_ENTRY_TIMESTAMP: usize = 0;
/// Position of the relative offset within a `.timeindex` entry.
pub const TIME_ENTRY_RELATIVE: usize = 8;

/// The bytes of an index: owned while the segment is active, mapped once sealed.
#[derive(Debug, Clone)]
pub(crate) enum Entries {
    /// The active segment's entries, also appended to the file as they come.
    Owned(Vec<u8>),
    /// A sealed segment's immutable file, memory-mapped (or read, for backends without files).
    Mapped(Bytes),
}

impl Entries {
    fn bytes(&self) -> &[u8] {
        match self {
            Entries::Owned(v) => v,
            Entries::Mapped(b) => b,
        }
    }

    /// Keeps the first `len` bytes.
    fn truncate(&mut self, len: usize) {
        match self {
            Entries::Owned(v) => v.truncate(len),
            Entries::Mapped(b) => b.truncate(len),
        }
    }

    /// Copies mapped entries into memory, dropping the map.
    fn make_owned(&mut self) {
        if let Entries::Mapped(b) = self {
            *self = Entries::Owned(b.to_vec());
        }
    }

    /// Appends one entry; only an active (owned) index grows.
    fn push(&mut self, entry: &[u8]) {
        match self {
            Entries::Owned(v) => v.extend_from_slice(entry),
            Entries::Mapped(_) => panic!("push to a sealed index"),
        }
    }
}

/// Maps a sealed index file read-only.
///
/// # Errors
/// Any error of `mmap`.
#[allow(unsafe_code)]
pub(crate) fn map_file(file: &std::fs::File) -> io::Result<Bytes> {
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: only sealed index files are mapped, and logbus never writes to
    // or truncates a sealed index while a map of it is alive: truncation first
    // copies the entries out and drops the map (`Entries::make_owned`). The data
    // directory lock keeps other logbus processes away. Another program
    // truncating the file under us could still raise SIGBUS, as with any mmap.
    let map = unsafe { memmap2::Mmap::map(file)? };
    Ok(Bytes::from_owner(map))
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Index of the last entry whose key is ≤ `target`, by binary search over
/// fixed-size entries whose keys grow.
fn floor_entry(
    buf: &[u8],
    entry_len: usize,
    target: i64,
    key: impl Fn(&[u8]) -> i64,
) -> Option<usize> {
    let n = buf.len() / entry_len;
    let (mut lo, mut hi) = (0usize, n);
    // Invariant: entries before `lo` have key ≤ target, entries from `hi` on have key > target.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key(&buf[mid * entry_len..(mid + 1) * entry_len]) <= target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.checked_sub(1)
}

/// The `.index` of one segment.
#[derive(Debug, Clone)]
pub(crate) struct OffsetIndex {
    base_offset: i64,
    entries: Entries,
}

impl OffsetIndex {
    /// An index over `entries`, keeping only whole entries.
    pub fn new(base_offset: i64, entries: Entries) -> OffsetIndex {
        let mut index = OffsetIndex {
            base_offset,
            entries,
        };
        let whole = index.entries.bytes().len() / OFFSET_ENTRY_LEN * OFFSET_ENTRY_LEN;
        index.entries.truncate(whole);
        index
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.bytes().len() / OFFSET_ENTRY_LEN
    }

    /// Size of the entries in bytes.
    pub fn byte_len(&self) -> usize {
        self.entries.bytes().len()
    }

    /// Entry `i` as (absolute offset, position).
    pub fn entry(&self, i: usize) -> (i64, u64) {
        let e = &self.entries.bytes()[i * OFFSET_ENTRY_LEN..(i + 1) * OFFSET_ENTRY_LEN];
        (
            self.base_offset + i64::from(u32_at(e, OFFSET_ENTRY_RELATIVE)),
            u64::from(u32_at(e, OFFSET_ENTRY_POSITION)),
        )
    }

    /// The position of the last indexed batch starting at or before `offset`
    /// (0, the segment's start, when none is).
    pub fn lookup(&self, offset: i64) -> u64 {
        let base = self.base_offset;
        floor_entry(self.entries.bytes(), OFFSET_ENTRY_LEN, offset, |e| {
            base + i64::from(u32_at(e, OFFSET_ENTRY_RELATIVE))
        })
        .map_or(0, |i| self.entry(i).1)
    }

    /// The entry at or below `offset`: the base offset of the batch at its
    /// position, and the position; `None` before the first entry.
    pub fn lookup_entry(&self, offset: i64) -> Option<(i64, u64)> {
        let base = self.base_offset;
        floor_entry(self.entries.bytes(), OFFSET_ENTRY_LEN, offset, |e| {
            base + i64::from(u32_at(e, OFFSET_ENTRY_RELATIVE))
        })
        .map(|i| self.entry(i))
    }

    /// Whether the entries grow in both columns and stay inside a log of `log_size` bytes.
    pub fn is_sane(&self, log_size: u64) -> bool {
        let mut last: Option<(i64, u64)> = None;
        for i in 0..self.len() {
            let (offset, position) = self.entry(i);
            if position >= log_size || last.is_some_and(|(o, p)| offset <= o || position <= p) {
                return false;
            }
            last = Some((offset, position));
        }
        true
    }

    /// Appends an entry (the segment must be active); returns its bytes for the file.
    ///
    /// # Panics
    /// If the index is mapped, or the offset or position does not fit 32 bits
    /// (the segment rolls before either can happen).
    pub fn push(&mut self, offset: i64, position: u64) -> [u8; OFFSET_ENTRY_LEN] {
        let mut e = [0u8; OFFSET_ENTRY_LEN];
        let relative = u32::try_from(offset - self.base_offset).expect("relative offset fits u32");
        let position = u32::try_from(position).expect("segment position fits u32");
        e[OFFSET_ENTRY_RELATIVE..OFFSET_ENTRY_RELATIVE + 4]
            .copy_from_slice(&relative.to_be_bytes());
        e[OFFSET_ENTRY_POSITION..OFFSET_ENTRY_POSITION + 4]
            .copy_from_slice(&position.to_be_bytes());
        self.entries.push(&e);
        e
    }

    /// Copies a mapped index into memory so the segment can be written again.
    pub fn make_owned(&mut self) {
        self.entries.make_owned();
    }

    /// Replaces the entries with a map of the sealed file (same contents).
    pub fn set_mapped(&mut self, mapped: Bytes) {
        self.entries = Entries::Mapped(mapped);
    }

    /// The entries' bytes, as they stand in the file.
    pub fn as_bytes(&self) -> &[u8] {
        self.entries.bytes()
    }
}

/// The `.timeindex` of one segment.
#[derive(Debug, Clone)]
pub(crate) struct TimeIndex {
    base_offset: i64,
    entries: Entries,
}

impl TimeIndex {
    /// An index over `entries`, keeping only whole entries.
    pub fn new(base_offset: i64, entries: Entries) -> TimeIndex {
        let mut index = TimeIndex {
            base_offset,
            entries,
        };
        let whole = index.entries.bytes().len() / TIME_ENTRY_LEN * TIME_ENTRY_LEN;
        index.entries.truncate(whole);
        index
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.bytes().len() / TIME_ENTRY_LEN
    }

    /// Size of the entries in bytes.
    pub fn byte_len(&self) -> usize {
        self.entries.bytes().len()
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub fn entry(&self, i: usize) -> (i64, i64) {
        let e = &self.entries.bytes()[i * TIME_ENTRY_LEN..(i + 1) * TIME_ENTRY_LEN];
        (
            i64_at(e, TIME_ENTRY_TIMESTAMP),
            self.base_offset + i64::from(u32_at(e, TIME_ENTRY_RELATIVE)),
        )
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<(i64, i64)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// The offset of the last entry whose timestamp is ≤ `timestamp`: every
    /// batch before it has only smaller timestamps.
    pub fn lookup(&self, timestamp: i64) -> Option<i64> {
        floor_entry(self.entries.bytes(), TIME_ENTRY_LEN, timestamp, |e| {
            i64_at(e, TIME_ENTRY_TIMESTAMP)
        })
        .map(|i| self.entry(i).1)
    }

    /// Whether the entries grow in both columns and stay below `next_offset`.
    pub fn is_sane(&self, next_offset: i64) -> bool {
        let mut last: Option<(i64, i64)> = None;
        for i in 0..self.len() {
            let (ts, offset) = self.entry(i);
            if offset >= next_offset || last.is_some_and(|(t, o)| ts <= t || offset < o) {
                return false;
            }
            last = Some((ts, offset));
        }
        true
    }

    /// Appends an entry (the segment must be active); returns its bytes for the file.
    ///
    /// # Panics
    /// If the index is mapped or the relative offset does not fit 32 bits.
    pub fn push(&mut self, timestamp: i64, offset: i64) -> [u8; TIME_ENTRY_LEN] {
        let mut e = [0u8; TIME_ENTRY_LEN];
        let relative = u32::try_from(offset - self.base_offset).expect("relative offset fits u32");
        e[TIME_ENTRY_TIMESTAMP..TIME_ENTRY_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
        e[TIME_ENTRY_RELATIVE..TIME_ENTRY_RELATIVE + 4].copy_from_slice(&relative.to_be_bytes());
        self.entries.push(&e);
        e
    }

    /// Copies a mapped index into memory so the segment can be written again.
    pub fn make_owned(&mut self) {
        self.entries.make_owned();
    }

    /// Replaces the entries with a map of the sealed file (same contents).
    pub fn set_mapped(&mut self, mapped: Bytes) {
        self.entries = Entries::Mapped(mapped);
    }

    /// The entries' bytes, as they stand in the file.
    pub fn as_bytes(&self) -> &[u8] {
        self.entries.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_the_last_entry_at_or_before_the_target() {
        let mut index = OffsetIndex::new(100, Entries::Owned(Vec::new()));
        assert_eq!(index.lookup(150), 0);
        index.push(110, 4096);
        index.push(130, 8192);
        assert_eq!(index.lookup(105), 0);
        assert_eq!(index.lookup(110), 4096);
        assert_eq!(index.lookup(129), 4096);
        assert_eq!(index.lookup(1000), 8192);
        assert!(index.is_sane(8193));
        assert!(!index.is_sane(8192));
    }

    #[test]
    fn time_lookup_and_truncation_follow_the_entries() {
        let mut index = TimeIndex::new(0, Entries::Owned(Vec::new()));
        index.push(1_000, 9);
        index.push(2_000, 19);
        assert_eq!(index.lookup(999), None);
        assert_eq!(index.lookup(1_500), Some(9));
        assert_eq!(index.lookup(2_000), Some(19));
        assert!(index.is_sane(20));
        assert!(!index.is_sane(19));
        assert_eq!(index.last(), Some((2_000, 19)));
    }

    #[test]
    fn partial_trailing_entries_are_ignored() {
        let index = OffsetIndex::new(0, Entries::Owned(vec![0, 0, 0, 1, 0, 0, 0, 2, 9, 9]));
        assert_eq!(index.len(), 1);
        assert_eq!(index.entry(0), (1, 2));
    }
}
