//! Damage found in stored data: what it is ([`DamagedRange`]), the checks
//! every reader runs on stored batches before using them ([`BatchCheck`],
//! [`verified_prefix`]), the ranges an operator chose to skip (the
//! `skipped-ranges` file), and [`Log::skip_damaged`], the one deliberate way
//! past a damaged range.
//!
//! A batch's CRC covers everything from its attributes on, but not its base
//! offset or length; so a reader checks the header parses, the batch fits in
//! its segment, its offsets follow on from the batch before, and its CRC.
//! Damage is never served and never stepped over silently: the read fails
//! with [`LogError::Damaged`], naming the log and the offsets, and the log
//! counts it ([`DamageStats`]) and logs it at WARN.
//!
//! ```text
//! skipped-ranges (big-endian; written atomically, absent when empty)
//!    0  4  magic   b"LBSK"
//!    4  2  version u16 = 1
//!    6  4  count   u32
//!   10 16  per range: first_offset i64, end_offset i64 (exclusive)
//!    .  4  crc     u32: CRC-32C of every byte before it
//! ```

use super::checkpoint::{Checkpoint, write_atomically};
use super::error::{IoContext, LogError};
use super::segment::{LOG_SUFFIX, Segment};
use super::storage::{OpenMode, Storage};
use super::{Log, lock};
use crate::record::{BatchHeader, HEADER_LEN, RecordError, header};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the file listing the ranges skipped on purpose.
pub const SKIPPED_RANGES_FILE: &str = "skipped-ranges";
const MAGIC: &[u8; 4] = b"LBSK";
const VERSION: u16 = 1;
/// Ranges kept in the file at most: each skip is an operator's decision.
const MAX_SKIPPED: usize = 1 << 16;

/// What is wrong with a damaged range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DamageKind {
    /// The bytes where a batch should start are not a batch header (bad
    /// magic, length below the header's or negative, or a partial header).
    BadHeader {
        /// What the record layer found (`None`: fewer bytes than a header).
        reason: Option<String>,
    },
    /// The batch's length runs past the end of its segment.
    PastSegmentEnd {
        /// The batch's length.
        length: usize,
        /// Bytes left in the segment from the batch's start.
        available: u64,
    },
    /// The batch's CRC does not match its bytes.
    Crc {
        /// The CRC stored in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The batch's base offset does not follow on from the batch before it
    /// (or from the index), or its offsets leave the segment's range.
    OffsetOrder {
        /// The offset the batch should start at (at least, in a segment
        /// compaction may have left gaps in).
        expected: i64,
        /// The batch's base offset.
        found: i64,
    },
    /// Offsets between two segments (or below the first, or above the
    /// last) are missing: a segment file was lost or cut short.
    MissingSegment,
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamageKind::BadHeader { reason: Some(e) } => write!(f, "not a batch header: {e}"),
            DamageKind::BadHeader { reason: None } => write!(f, "a partial batch header"),
            DamageKind::PastSegmentEnd { length, available } => write!(
                f,
                "batch length {length} runs past the segment end ({available} bytes left)"
            ),
            DamageKind::Crc { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            DamageKind::OffsetOrder { expected, found } => {
                write!(f, "base offset {found} where {expected} was expected")
            }
            DamageKind::MissingSegment => write!(f, "records missing between segments"),
        }
    }
}

/// A range of offsets that cannot be read because the stored data is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    /// The first offset that cannot be read.
    pub first_offset: i64,
    /// One past the last offset that cannot be read: the next segment's
    /// base (framing inside a segment cannot be trusted past damage).
    pub end_offset: i64,
    /// The segment file holding the damage (for a missing segment, the
    /// one after the hole).
    pub segment: PathBuf,
    /// Byte position of the damage in `segment`.
    pub position: u64,
    /// What is wrong.
    pub kind: DamageKind,
}

impl DamagedRange {
    /// Whether `offset` lies in the range.
    pub fn contains(&self, offset: i64) -> bool {
        (self.first_offset..self.end_offset).contains(&offset)
    }
}

impl fmt::Display for DamagedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "offsets {}..{} ({} at byte {} of {})",
            self.first_offset,
            self.end_offset,
            self.kind,
            self.position,
            self.segment.display()
        )
    }
}

/// What a log found and did about damage since it was opened.
#[derive(Debug, Default)]
pub(crate) struct DamageCounters {
    pub damaged_reads: AtomicU64,
    pub found_on_open: AtomicU64,
    pub truncations: AtomicU64,
    pub truncated_bytes: AtomicU64,
    pub skipped_ranges: AtomicU64,
    pub skipped_offsets: AtomicU64,
}

/// A snapshot of a log's damage counters (see [`Log::damage_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DamageStats {
    /// Reads (fetch, compaction, lookup by timestamp, scans) refused
    /// because they met damaged data.
    pub damaged_reads: u64,
    /// Damaged ranges found on open: damage in durable segments, and holes
    /// (offsets missing between segments).
    pub found_on_open: u64,
    /// Cuts recovery made on open: a torn or damaged tail cut from a
    /// segment, or a segment removed after such a cut.
    pub truncations: u64,
    /// Bytes those cuts removed.
    pub truncated_bytes: u64,
    /// Damaged ranges skipped on purpose ([`Log::skip_damaged`]).
    pub skipped_ranges: u64,
    /// Offsets inside the skipped ranges.
    pub skipped_offsets: u64,
}

impl std::ops::AddAssign for DamageStats {
    fn add_assign(&mut self, o: DamageStats) {
        self.damaged_reads += o.damaged_reads;
        self.found_on_open += o.found_on_open;
        self.truncations += o.truncations;
        self.truncated_bytes += o.truncated_bytes;
        self.skipped_ranges += o.skipped_ranges;
        self.skipped_offsets += o.skipped_offsets;
    }
}

impl DamageCounters {
    pub fn snapshot(&self) -> DamageStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DamageStats {
            damaged_reads: get(&self.damaged_reads),
            found_on_open: get(&self.found_on_open),
            truncations: get(&self.truncations),
            truncated_bytes: get(&self.truncated_bytes),
            skipped_ranges: get(&self.skipped_ranges),
            skipped_offsets: get(&self.skipped_offsets),
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The offset rules a stored batch must meet, carried from one batch to
/// the next while walking a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchCheck {
    /// Where the next batch must start (at least, with `gaps`).
    pub expected: i64,
    /// Whether the next batch may start above `expected`: compaction
    /// leaves gaps, and the first batch of a segment may start above its base.
    pub gaps: bool,
    /// Whether later batches may too (cleaned segments).
    segment_gaps: bool,
    /// One past the last offset the segment may hold.
    pub limit: i64,
}

impl BatchCheck {
    /// Checks for a walk starting at an index entry (its offset is the base
    /// of the batch there, exactly) or at the segment's start (`entry` is
    /// `None`: the first batch starts at or above `base`).
    pub fn new(base: i64, entry: Option<i64>, segment_gaps: bool, limit: i64) -> BatchCheck {
        BatchCheck {
            expected: entry.unwrap_or(base),
            gaps: entry.is_none() || segment_gaps,
            segment_gaps,
            limit,
        }
    }

    /// Checks a batch's offsets and moves on past it.
    pub fn offsets(&mut self, h: &BatchHeader) -> Result<(), DamageKind> {
        let follows = if self.gaps {
            h.base_offset >= self.expected
        } else {
            h.base_offset == self.expected
        };
        if !follows || h.last_offset_delta < 0 || h.last_offset() >= self.limit {
            return Err(DamageKind::OffsetOrder {
                expected: self.expected,
                found: h.base_offset,
            });
        }
        self.expected = h.next_offset();
        self.gaps = self.segment_gaps;
        Ok(())
    }
}

/// Checks the header at the start of `buf`, whose batch starts `available`
/// bytes before its segment's end.
pub(crate) fn check_header(buf: &[u8], available: u64) -> Result<BatchHeader, DamageKind> {
    match BatchHeader::parse(buf) {
        Ok(Some(h)) if h.total_len() as u64 <= available => Ok(h),
        Ok(Some(h)) => Err(DamageKind::PastSegmentEnd {
            length: h.total_len(),
            available,
        }),
        Ok(None) => Err(DamageKind::BadHeader { reason: None }),
        Err(e) => Err(DamageKind::BadHeader {
            reason: Some(e.to_string()),
        }),
    }
}

/// The damage a failed CRC check is.
pub(crate) fn crc_damage(e: RecordError) -> DamageKind {
    match e {
        RecordError::CrcMismatch { stored, computed } => DamageKind::Crc { stored, computed },
        other => DamageKind::BadHeader {
            reason: Some(other.to_string()),
        },
    }
}

/// Verifies the whole batches in `buf` (read from byte `from` of a segment
/// of `end` bytes): headers, offsets and CRCs. Returns how many leading
/// bytes are good batches; on damage in the first batch, where and what.
/// A last batch that `buf` holds only in part (a read cut by its byte
/// budget) ends the good prefix without being damage.
pub(crate) fn verified_prefix(
    buf: &[u8],
    from: u64,
    end: u64,
    check: &mut BatchCheck,
) -> Result<usize, (u64, DamageKind)> {
    let mut at = 0usize;
    while at < buf.len() {
        let pos = from + at as u64;
        let result = check_header(&buf[at..], end - pos).and_then(|h| {
            if at + h.total_len() > buf.len() {
                return Ok(None);
            }
            check.offsets(&h)?;
            header::verify_crc(&buf[at..at + h.total_len()]).map_err(crc_damage)?;
            Ok(Some(h))
        });
        match result {
            Ok(Some(h)) => at += h.total_len(),
            Ok(None) => break,
            // A partial header at the end of a budget-cut read is not damage.
            Err(DamageKind::BadHeader { reason: None })
                if pos + ((buf.len() - at) as u64) < end =>
            {
                break;
            }
            Err(kind) if at == 0 => return Err((pos, kind)),
            Err(_) => break,
        }
    }
    Ok(at)
}

/// Reads the skipped ranges of the log in `dir` (empty when there is no file).
///
/// # Errors
/// [`LogError::CorruptCheckpoint`] if the file fails its check, or an I/O error.
pub(crate) fn read_skipped(storage: &dyn Storage, dir: &Path) -> Result<Vec<(i64, i64)>, LogError> {
    let path = dir.join(SKIPPED_RANGES_FILE);
    let file = match storage.open(&path, OpenMode::Existing) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context("open skipped ranges", &path),
    };
    let len = file.len().context("stat skipped ranges", &path)?;
    let corrupt = || LogError::CorruptCheckpoint { path: path.clone() };
    if len > (14 + 16 * MAX_SKIPPED) as u64 {
        return Err(corrupt());
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)
        .context("read skipped ranges", &path)?;
    decode_skipped(&buf).ok_or_else(corrupt)
}

fn decode_skipped(b: &[u8]) -> Option<Vec<(i64, i64)>> {
    if b.len() < 14 || &b[..4] != MAGIC || b[4..6] != VERSION.to_be_bytes() {
        return None;
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
        return None;
    }
    let count = u32::from_be_bytes(body[6..10].try_into().ok()?) as usize;
    let ranges = &body[10..];
    if ranges.len() != count.checked_mul(16)? {
        return None;
    }
    let i64_at = |c: &[u8], at: usize| i64::from_be_bytes(c[at..at + 8].try_into().expect("8"));
    Some(
        ranges
            .chunks_exact(16)
            .map(|c| (i64_at(c, 0), i64_at(c, 8)))
            .collect(),
    )
}

fn encode_skipped(ranges: &[(i64, i64)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(14 + 16 * ranges.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_be_bytes());
    b.extend_from_slice(&(ranges.len() as u32).to_be_bytes());
    for (first, end) in ranges {
        b.extend_from_slice(&first.to_be_bytes());
        b.extend_from_slice(&end.to_be_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

/// Whether `[first, end)` lies inside one of `skipped`.
pub(crate) fn is_skipped(skipped: &[(i64, i64)], first: i64, end: i64) -> bool {
    skipped.iter().any(|&(f, e)| f <= first && end <= e)
}

impl Log {
    /// What this log has met of damage and truncation since it was opened.
    pub fn damage_stats(&self) -> DamageStats {
        self.damage.snapshot()
    }

    /// Damaged ranges known now: holes found on open, and ranges reads
    /// met since; each stays until skipped.
    pub fn known_damage(&self) -> Vec<DamagedRange> {
        lock(&self.inner).damaged.clone()
    }

    /// Fails a read that met damage: remembers the range, counts it and
    /// logs it at WARN, and returns the error naming the log and offsets.
    pub(crate) fn report_damage(&self, range: DamagedRange) -> LogError {
        bump(&self.damage.damaged_reads, 1);
        tracing::warn!(
            log = %self.dir.display(),
            first_offset = range.first_offset,
            end_offset = range.end_offset,
            "damaged log data refused: {range}"
        );
        let mut inner = lock(&self.inner);
        if !inner
            .damaged
            .iter()
            .any(|d| d.first_offset == range.first_offset)
        {
            inner.damaged.push(range.clone());
        }
        drop(inner);
        LogError::Damaged {
            dir: self.dir.clone(),
            range: Box::new(range),
        }
    }

    /// Reports damage a reader of this log returned (see
    /// [`Log::report_damage`]); other errors pass unchanged.
    pub(crate) fn reported(&self, e: LogError) -> LogError {
        match e {
            LogError::Damaged { range, .. } => self.report_damage(*range),
            e => e,
        }
    }

    /// Walks every batch of every segment from the log start, checking
    /// headers, offsets and CRCs, and returns each damaged range found
    /// (reads meeting them fail until they are skipped). A read-only scan.
    ///
    /// # Errors
    /// An I/O error.
    pub fn scan_damage(&self) -> Result<Vec<DamagedRange>, LogError> {
        let mut from = self.log_start_offset();
        let mut found: Vec<DamagedRange> = self
            .known_damage()
            .into_iter()
            .filter(|d| d.end_offset > from)
            .collect();
        loop {
            match self.read(from, 8 << 20) {
                Ok(r) if r.bytes.is_empty() => break,
                Ok(r) => {
                    let mut at = 0;
                    while let Ok(Some(h)) = BatchHeader::parse(&r.bytes[at..]) {
                        from = from.max(h.next_offset());
                        at += h.total_len();
                        if at + HEADER_LEN > r.bytes.len() {
                            break;
                        }
                    }
                }
                Err(LogError::Damaged { range, .. }) => {
                    from = range.end_offset.max(from + 1);
                    if !found.iter().any(|d| d.first_offset == range.first_offset) {
                        found.push(*range);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        found.sort_by_key(|d| d.first_offset);
        Ok(found)
    }

    /// Skips a damaged range on purpose, giving up the records in it: the
    /// segment holding the damage is cut at the damaged batch, the range is
    /// recorded in the `skipped-ranges` file (so later opens accept the gap
    /// it leaves), and reads then go from the range's end. Offsets never
    /// go back: when the damage was in the active segment, a new active
    /// segment starts where the log ended. Records before and after the
    /// range stay. Logs at WARN and counts the skip.
    ///
    /// # Errors
    /// [`LogError::Poisoned`], or an I/O error (which poisons the log).
    pub fn skip_damaged(&self, range: &DamagedRange) -> Result<(), LogError> {
        let mut inner = lock(&self.inner);
        if inner.poisoned {
            return Err(self.poisoned_error());
        }
        let result = self.skip_locked(&mut inner, range);
        if result.is_err() {
            inner.poisoned = true;
        }
        result
    }

    fn skip_locked(&self, inner: &mut super::Inner, range: &DamagedRange) -> Result<(), LogError> {
        let mut skipped = read_skipped(&*self.storage, &self.dir).unwrap_or_default();
        if skipped.len() >= MAX_SKIPPED {
            skipped.remove(0);
        }
        skipped.push((range.first_offset, range.end_offset));
        // The decision is durable before any byte goes.
        write_atomically(
            &*self.storage,
            &self.dir,
            SKIPPED_RANGES_FILE,
            &encode_skipped(&skipped),
        )?;
        let interval = inner.config.index_interval_bytes;
        let last = inner.segments.len() - 1;
        let at = inner
            .segments
            .iter()
            .position(|s| s.path(LOG_SUFFIX) == range.segment);
        if let Some(at) = at.filter(|_| range.kind != DamageKind::MissingSegment) {
            let log_end = inner.log_end_offset();
            let segment = &mut inner.segments[at];
            if segment.size > range.position {
                segment.cut_at(range.position, interval)?;
            }
            if at == last {
                // Offsets never go back: the next append starts past the range.
                let next = log_end.max(range.end_offset);
                inner.segments[at].seal()?;
                let fresh = Segment::create(&*self.storage, &self.dir, next)?;
                inner.segments.push(fresh);
                self.storage
                    .sync_dir(&self.dir)
                    .context("sync log directory", &self.dir)?;
            }
        }
        inner
            .damaged
            .retain(|d| d.first_offset != range.first_offset);
        if range.first_offset <= inner.log_start_offset {
            inner.log_start_offset = range.end_offset.min(inner.log_end_offset());
        }
        if inner.recovery_point < inner.active().base_offset {
            for segment in &inner.segments[..inner.segments.len() - 1] {
                segment.sync_all()?;
            }
            inner.recovery_point = inner.active().base_offset;
        }
        Checkpoint {
            recovery_point: inner.recovery_point,
            log_start_offset: inner.log_start_offset,
        }
        .write(&*self.storage, &self.dir)?;
        inner.skipped = skipped;
        bump(&self.damage.skipped_ranges, 1);
        bump(
            &self.damage.skipped_offsets,
            (range.end_offset - range.first_offset).max(0) as u64,
        );
        tracing::warn!(
            log = %self.dir.display(),
            first_offset = range.first_offset,
            end_offset = range.end_offset,
            "skipped damaged range on purpose: {range}"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_ranges_round_trip_and_a_flipped_byte_fails_the_check() {
        let ranges = vec![(5, 70), (140, 141)];
        let mut b = encode_skipped(&ranges);
        assert_eq!(decode_skipped(&b), Some(ranges));
        b[12] ^= 1;
        assert_eq!(decode_skipped(&b), None);
        assert_eq!(decode_skipped(&encode_skipped(&[])), Some(vec![]));
    }

    #[test]
    fn a_batch_check_refuses_offsets_going_backwards_or_leaving_the_segment() {
        let h = |base: i64, delta: i32| {
            let mut b = [0u8; HEADER_LEN];
            b[..8].copy_from_slice(&base.to_be_bytes());
            b[8..12].copy_from_slice(&((HEADER_LEN - 12) as i32).to_be_bytes());
            b[16] = 2;
            b[23..27].copy_from_slice(&delta.to_be_bytes());
            BatchHeader::parse(&b).unwrap().unwrap()
        };
        let mut check = BatchCheck::new(10, None, false, 100);
        assert!(
            check.offsets(&h(12, 2)).is_ok(),
            "the first batch may start above the base"
        );
        assert!(check.offsets(&h(14, 0)).is_err(), "exactly 15 must follow");
        let mut check = BatchCheck::new(10, Some(20), false, 100);
        assert!(
            check.offsets(&h(21, 0)).is_err(),
            "an index entry names the batch's base"
        );
        let mut check = BatchCheck::new(10, None, true, 100);
        check.offsets(&h(10, 4)).unwrap();
        assert!(
            check.offsets(&h(30, 0)).is_ok(),
            "gaps are allowed in cleaned segments"
        );
        assert!(check.offsets(&h(29, 0)).is_err(), "but never going back");
        assert!(
            check.offsets(&h(99, 1)).is_err(),
            "nor past the segment's range"
        );
    }
}
