//! Reading a log: whole stored batches from an offset, and the offset of
//! the first record at or after a timestamp.
//!
//! Every batch served or decoded is checked first (header, offsets that
//! follow on, CRC; see [`super::damage`]): a batch that fails is never
//! returned, and no damaged byte is stepped over. A read that meets damage
//! fails with [`LogError::Damaged`], naming the log and the offsets; a read
//! that has good batches before the damage returns those, and the next read
//! fails.

use super::damage::{BatchCheck, DamageKind, DamagedRange, verified_prefix};
use super::error::{IoContext, LogError};
use super::segment::{self, LOG_SUFFIX, read_batches};
use super::storage::StorageFile;
use super::{Inner, Log, ReadResult, lock};
use crate::record::RecordBatch;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;

/// One segment as a read sees it, taken under the log's lock.
struct SegmentRead {
    file: Arc<dyn StorageFile>,
    path: PathBuf,
    /// Where the walk starts, and the check for its first batch.
    position: u64,
    check: BatchCheck,
    /// Bytes of whole batches.
    end: u64,
    /// The next segment's base (the log end for the active segment).
    next_base: i64,
}

impl Inner {
    /// Whether the sealed segment `at` may hold the gaps compaction leaves.
    fn may_have_gaps(&self, at: usize) -> bool {
        let may_clean = self.config.cleanup_policy.compacts() || self.cleaned_ever;
        may_clean
            && self
                .segments
                .get(at + 1)
                .is_some_and(|next| next.base_offset <= self.recovery_point)
    }

    /// The segment `at` set up for a walk from its index `entry` (offset
    /// and position), or from its start.
    fn segment_read(&self, at: usize, entry: Option<(i64, u64)>) -> SegmentRead {
        let segment = &self.segments[at];
        let next_base = self
            .segments
            .get(at + 1)
            .map_or(self.log_end_offset(), |s| s.base_offset);
        SegmentRead {
            file: Arc::clone(&segment.log),
            path: segment.path(LOG_SUFFIX),
            position: entry.map_or(0, |(_, position)| position),
            check: BatchCheck::new(
                segment.base_offset,
                entry.map(|(offset, _)| offset),
                self.may_have_gaps(at),
                next_base,
            ),
            end: segment.size,
            next_base,
        }
    }
}

impl SegmentRead {
    fn damaged(&self, position: u64, kind: DamageKind, first_offset: i64) -> DamagedRange {
        DamagedRange {
            first_offset,
            end_offset: self.next_base.max(first_offset + 1),
            segment: self.path.clone(),
            position,
            kind,
        }
    }
}

impl Log {
    /// Reads whole batches starting with the one that holds `offset`: at
    /// least one batch even if it is larger than `max_bytes`, then more while
    /// they fit. Reading at the log end returns no bytes. Each batch is
    /// checked (header, offsets, CRC) before it is returned.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] outside `[log_start_offset, log_end_offset]`,
    /// [`LogError::Damaged`] when the batch holding `offset` (or a hole
    /// there) is damaged, or an I/O error.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, LogError> {
        let mut from = offset;
        loop {
            let (seg, log_start_offset, log_end_offset) = {
                let inner = lock(&self.inner);
                let (log_start_offset, log_end_offset) =
                    (inner.log_start_offset, inner.log_end_offset());
                if offset < log_start_offset || offset > log_end_offset {
                    return Err(LogError::OffsetOutOfRange {
                        offset,
                        log_start_offset,
                        log_end_offset,
                    });
                }
                if let Some(range) = inner.damaged.iter().find(|d| d.contains(from)).cloned() {
                    drop(inner);
                    return Err(self.report_damage(range));
                }
                if from >= log_end_offset {
                    return Ok(ReadResult {
                        bytes: Bytes::new(),
                        log_start_offset,
                        log_end_offset,
                    });
                }
                let at = inner.segment_for(from);
                let entry = inner.segments[at].index.lookup_entry(from);
                (
                    inner.segment_read(at, entry),
                    log_start_offset,
                    log_end_offset,
                )
            };
            let mut check = seg.check;
            let mut scanner = segment::HeaderScanner::new(&*seg.file, seg.position, seg.end);
            while let Some((pos, h)) = scanner.next().context("scan segment", &seg.path)? {
                let before = check;
                if let Err(kind) = check.offsets(&h) {
                    let expected = before.expected.max(from);
                    return Err(self.report_damage(seg.damaged(pos, kind, expected)));
                }
                if h.last_offset() < from {
                    continue;
                }
                let bytes = read_batches(&*seg.file, pos, seg.end, h.total_len(), max_bytes)
                    .context("read segment", &seg.path)?;
                let mut check = before;
                return match verified_prefix(&bytes, pos, seg.end, &mut check) {
                    Ok(good) => Ok(ReadResult {
                        bytes: bytes.slice(..good),
                        log_start_offset,
                        log_end_offset,
                    }),
                    Err((pos, kind)) => {
                        let first = before.expected.max(from);
                        Err(self.report_damage(seg.damaged(pos, kind, first)))
                    }
                };
            }
            if let Some((pos, kind)) = scanner.damage().cloned() {
                let first = check.expected.max(from);
                return Err(self.report_damage(seg.damaged(pos, kind, first)));
            }
            // Nothing at or after `from` in that segment (a gap): go on with the next one.
            from = seg.next_base.max(from + 1);
        }
    }

    /// The offset of the first record whose timestamp is ≥ `timestamp`
    /// (what Kafka's ListOffsets answers), or `None` if there is none.
    ///
    /// # Errors
    /// [`LogError::Damaged`] if a batch it must look into is damaged, an
    /// I/O error, or a record error if a stored batch cannot be decoded.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>, LogError> {
        Ok(self
            .offset_and_timestamp_for(timestamp)?
            .map(|(offset, _)| offset))
    }

    /// As [`Log::offset_for_timestamp`], with that record's timestamp (the
    /// batch's for log-append-time batches), as Kafka's ListOffsets answers.
    ///
    /// # Errors
    /// As [`Log::offset_for_timestamp`].
    pub fn offset_and_timestamp_for(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let found = find_by_timestamp(&lock(&self.inner), timestamp)?;
        found.map_err(|range| self.report_damage(range))
    }
}

/// [`Log::offset_and_timestamp_for`] under the log's lock; damage met is
/// returned as the inner error, for the caller to report once unlocked.
fn find_by_timestamp(
    inner: &Inner,
    timestamp: i64,
) -> Result<Result<Option<(i64, i64)>, DamagedRange>, LogError> {
    let log_start = inner.log_start_offset;
    for (at, segment) in inner.segments.iter().enumerate() {
        if segment.max_timestamp < timestamp || segment.next_offset <= log_start {
            continue;
        }
        // Every batch before the scan's start has only smaller timestamps.
        let entry = segment
            .time_index
            .lookup(timestamp.saturating_sub(1))
            .and_then(|offset| segment.index.lookup_entry(offset));
        let seg = inner.segment_read(at, entry);
        let mut check = seg.check;
        let mut scanner = segment::HeaderScanner::new(&*seg.file, seg.position, seg.end);
        // Timestamps need not grow from batch to batch: check each candidate.
        while let Some((pos, h)) = scanner.next().context("scan segment", &seg.path)? {
            let before = check;
            if let Err(kind) = check.offsets(&h) {
                return Ok(Err(seg.damaged(pos, kind, before.expected)));
            }
            if h.max_timestamp < timestamp || h.last_offset() < log_start {
                continue;
            }
            let bytes = read_batches(&*seg.file, pos, seg.end, h.total_len(), 0)
                .context("read segment", &seg.path)?;
            if let Err((pos, kind)) = verified_prefix(&bytes, pos, seg.end, &mut before.clone()) {
                return Ok(Err(seg.damaged(pos, kind, before.expected)));
            }
            let invalid = |source| LogError::InvalidBatch {
                position: pos as usize,
                source,
            };
            let records = RecordBatch::new(bytes)
                .map_err(invalid)?
                .records()
                .map_err(invalid)?;
            let hit = records.iter().find(|r| {
                r.offset >= log_start && (h.is_log_append_time() || r.timestamp >= timestamp)
            });
            if let Some(r) = hit {
                let ts = if h.is_log_append_time() {
                    h.max_timestamp
                } else {
                    r.timestamp
                };
                return Ok(Ok(Some((r.offset, ts))));
            }
        }
        if let Some((pos, kind)) = scanner.damage().cloned() {
            return Ok(Err(seg.damaged(pos, kind, check.expected)));
        }
    }
    Ok(Ok(None))
}
