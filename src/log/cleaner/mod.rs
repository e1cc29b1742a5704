//! Log compaction (Kafka's log cleaner): keeps, for every key of a
//! compacted log, only its latest record, preserving offsets and timestamps.
//!
//! One round ([`Log::clean_once`]) of one log:
//! 1. **Pick.** Only sealed segments are cleanable, and only those below the
//!    first segment whose largest timestamp is within `min_compaction_lag_ms`.
//!    The dirty section starts at the cleaner checkpoint (`first_dirty`). The
//!    round runs when dirty / (clean + dirty) bytes of the cleanable segments
//!    reach `min_cleanable_dirty_ratio`, or when the first dirty record is
//!    older than `max_compaction_lag_ms`.
//! 2. **Map.** Read the dirty section into a bounded [`OffsetMap`] of key
//!    hash → latest offset. When it is full, the round cleans only up to the
//!    first record that did not fit (`end`); the next round goes on from there.
//! 3. **Rewrite.** Every sealed segment below `end` (the clean section too:
//!    newer keys make older records obsolete there) is rewritten, segments
//!    grouped so each group's input fits `segment_bytes`. A record survives
//!    if it is at or after `end`, or it is its key's latest (offset ≥ the
//!    map's); a tombstone survives until its batch's delete horizon has passed.
//!    Keyless records (appended before the log became compacted) are dropped,
//!    as Kafka does. Batches are re-encoded with their original base offset,
//!    `last_offset_delta`, producer id/epoch/base sequence, partition leader
//!    epoch, timestamp type and codec; records keep offsets, timestamps and
//!    header bytes. A batch where nothing changes is copied byte for byte.
//! 4. **Swap** each group in crash-safely (`swap.rs`), then move the
//!    checkpoint to `end`.
//!
//! Tombstones (KIP-534): the first time a batch holding a surviving
//! tombstone is rewritten, its delete horizon is set to now +
//! `delete_retention_ms` (attribute bit 6; `base_timestamp` holds it and
//! record timestamp deltas are relative to it, so record timestamps are
//! unchanged). Later rounds drop tombstones whose horizon has passed; the
//! log remembers the earliest horizon kept, so a round runs once it passes
//! even if the log is not dirty (after a reopen that memory is gone and the
//! tombstones go with the next round the dirty ratio triggers).
//!
//! Empty batches are dropped. Kafka keeps an empty batch only for the last
//! batch of an idempotent producer, to retain its sequence state; logbus
//! rebuilds no producer state from the log yet, so it drops them all (this
//! must change when idempotence lands). Control and transactional batches
//! (logbus writes neither yet) are copied through unchanged and their
//! records are not mapped, which never changes what a replay yields.
//!
//! The module reads the log's segments through the storage seam and time
//! through the [`crate::clock::Clock`]; it knows nothing above the log.

mod background;
mod offset_map;
mod swap;
mod throttle;

pub use background::Cleaner;
pub use offset_map::{OffsetMap, Put, SLOT_BYTES};
pub use swap::{CLEANED_TAIL, SWAP_TAIL};
pub use throttle::Throttler;

pub(crate) use swap::recover as recover_swaps;

use super::checkpoint::CleanerCheckpoint;
use super::damage::{BatchCheck, DamageKind, DamagedRange, check_header, crc_damage};
use super::error::LogError;
use super::segment::{LOG_SUFFIX, Segment};
use super::storage::StorageFile;
use super::{Inner, Log, lock};
use crate::record::{
    BatchBuilder, BatchHeader, Compression, DEFAULT_MAX_DECOMPRESSED, HEADER_LEN, RecordError,
    RecordView, RecordViews, record_bytes, verify_crc,
};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of the cleaner, shared by every log it cleans (Kafka's
/// `log.cleaner.*` broker settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerConfig {
    /// Most keys one round maps (`log.cleaner.dedupe.buffer.size` divided by
    /// the bytes per key; see [`OffsetMap::max_bytes`]).
    pub max_map_entries: usize,
    /// I/O limit of the background cleaner, bytes read plus written per
    /// second; 0 is unlimited (`log.cleaner.io.max.bytes.per.second`).
    pub max_bytes_per_sec: u64,
    /// Pause of the background cleaner after a pass that found nothing to
    /// clean (`log.cleaner.backoff.ms`).
    pub backoff: Duration,
    /// Bytes read from a segment at once.
    pub read_chunk_bytes: usize,
    /// Cap on one batch's decompressed records.
    pub max_decompressed_bytes: usize,
}

impl Default for CleanerConfig {
    /// Kafka's defaults: a 128 MiB map, unlimited I/O, 15 s backoff.
    fn default() -> CleanerConfig {
        CleanerConfig {
            max_map_entries: OffsetMap::entries_for_bytes(128 << 20),
            max_bytes_per_sec: 0,
            backoff: Duration::from_secs(15),
            read_chunk_bytes: 4 << 20,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// What one cleaning round of one log did, for metrics and admin endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerStats {
    /// The clock when the round started (ms since the epoch).
    pub started_ms: i64,
    /// Wall time the round took.
    pub duration: Duration,
    /// The first dirty offset when the round started.
    pub first_dirty: i64,
    /// The first offset not cleaned by the round: the new first dirty offset.
    pub end_offset: i64,
    /// Dirty ratio of the cleanable segments when the round started.
    pub dirty_ratio: f64,
    /// Bytes of the dirty section read to build the map.
    pub dirty_bytes: u64,
    /// All bytes read: the map pass plus the rewrite pass.
    pub bytes_read: u64,
    /// Bytes of cleaned segments written.
    pub bytes_written: u64,
    /// Distinct keys in the map.
    pub keys: usize,
    /// Whether the map filled up before the end of the dirty section.
    pub map_full: bool,
    /// Bytes of the map's slot table at the end of the round (its peak).
    pub map_bytes: usize,
    /// Records read by the rewrite pass.
    pub records_read: u64,
    /// Records the rewrite pass kept.
    pub records_kept: u64,
    /// Tombstones removed because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// The earliest delete horizon of the tombstones the round kept: a
    /// round runs once it passes, dirty or not.
    pub earliest_delete_horizon: Option<i64>,
    /// Segments replaced.
    pub segments_replaced: usize,
    /// Cleaned segments swapped in (one per group).
    pub segments_written: usize,
}

/// A sealed segment as a round sees it.
#[derive(Debug, Clone)]
struct SegmentView {
    base: i64,
    /// The next segment's base: offsets in this one stay below it.
    next_base: i64,
    next_offset: i64,
    size: u64,
    log: Arc<dyn StorageFile>,
    path: PathBuf,
}

/// What a round decided from the log's state.
struct Plan {
    sealed: Vec<SegmentView>,
    first_dirty: i64,
    uncleanable: i64,
    ratio: f64,
    segment_bytes: u64,
    interval: u64,
    delete_retention_ms: i64,
}

/// How the cleanable part of a log stands, as [`Log::cleanable`] reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cleanable {
    /// The first offset not yet cleaned.
    pub first_dirty: i64,
    /// The first offset the cleaner may not touch yet (active segment or
    /// `min_compaction_lag_ms`).
    pub first_uncleanable: i64,
    /// Bytes of cleanable segments already cleaned.
    pub clean_bytes: u64,
    /// Bytes of cleanable segments not yet cleaned.
    pub dirty_bytes: u64,
    /// `dirty_bytes / (clean_bytes + dirty_bytes)`, 0 when both are 0.
    pub dirty_ratio: f64,
    /// Whether the oldest dirty record is older than `max_compaction_lag_ms`.
    pub overdue: bool,
}

fn cleanable_locked(inner: &Inner, now: i64) -> Result<Cleanable, LogError> {
    let config = &inner.config;
    let sealed = &inner.segments[..inner.segments.len() - 1];
    let first_dirty = inner.first_dirty.max(inner.log_start_offset);
    // Only segments below the recovery point are cleaned: recovery treats a
    // segment above it that ends short of its successor as torn, which a
    // cleaned segment may legitimately do. `clean_once` flushes first.
    let first_unflushed = sealed
        .iter()
        .find(|s| s.next_offset > inner.recovery_point)
        .map_or(inner.active().base_offset, |s| s.base_offset);
    let mut uncleanable = inner.active().base_offset.min(first_unflushed);
    if config.min_compaction_lag_ms > 0 {
        let newest_allowed = now.saturating_sub(config.min_compaction_lag_ms);
        if let Some(s) = sealed
            .iter()
            .find(|s| s.next_offset > first_dirty && s.max_timestamp > newest_allowed)
        {
            uncleanable = s.base_offset.max(first_dirty);
        }
    }
    let (mut clean_bytes, mut dirty_bytes) = (0, 0);
    for s in sealed.iter().filter(|s| s.base_offset < uncleanable) {
        if s.next_offset <= first_dirty {
            clean_bytes += s.size;
        } else if uncleanable > first_dirty {
            dirty_bytes += s.size;
        }
    }
    let total = clean_bytes + dirty_bytes;
    let dirty_ratio = if total == 0 {
        0.0
    } else {
        dirty_bytes as f64 / total as f64
    };
    let mut overdue = false;
    if dirty_bytes > 0 && config.max_compaction_lag_ms < i64::MAX {
        let first = sealed.iter().find(|s| s.next_offset > first_dirty);
        if let Some((_, h)) = first.map(|s| s.locate(first_dirty)).transpose()?.flatten() {
            let oldest = if h.is_log_append_time() || h.has_delete_horizon() {
                h.max_timestamp
            } else {
                h.base_timestamp
            };
            overdue = oldest < now.saturating_sub(config.max_compaction_lag_ms);
        }
    }
    Ok(Cleanable {
        first_dirty,
        first_uncleanable: uncleanable,
        clean_bytes,
        dirty_bytes,
        dirty_ratio,
        overdue,
    })
}

/// Reads whole batches of one segment file in large chunks, verifying
/// headers, offsets and CRCs: damage is [`LogError::Damaged`].
struct BatchReader<'a> {
    file: &'a dyn StorageFile,
    path: &'a PathBuf,
    end: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
    current: std::ops::Range<usize>,
    check: BatchCheck,
    next_base: i64,
}

impl<'a> BatchReader<'a> {
    /// A reader of `segment` reusing `buf`'s allocation (not its contents).
    fn new(segment: &'a SegmentView, mut buf: Vec<u8>, chunk: usize) -> BatchReader<'a> {
        buf.clear();
        BatchReader {
            file: &*segment.log,
            path: &segment.path,
            end: segment.size,
            pos: 0,
            buf,
            buf_start: 0,
            chunk: chunk.max(HEADER_LEN),
            current: 0..0,
            // Cleaned segments may hold gaps; offsets still never go back.
            check: BatchCheck::new(segment.base, None, true, segment.next_base),
            next_base: segment.next_base,
        }
    }

    fn damaged(&self, position: u64, kind: DamageKind) -> LogError {
        let first_offset = self.check.expected;
        LogError::Damaged {
            dir: self.path.parent().map(PathBuf::from).unwrap_or_default(),
            range: Box::new(DamagedRange {
                first_offset,
                end_offset: self.next_base.max(first_offset + 1),
                segment: self.path.clone(),
                position,
                kind,
            }),
        }
    }

    /// Makes `[pos, pos + len)` present in the buffer; returns its start in it.
    fn fill(&mut self, len: usize) -> Result<usize, LogError> {
        let have = self.buf_start + self.buf.len() as u64;
        if self.pos >= self.buf_start && self.pos + len as u64 <= have {
            return Ok((self.pos - self.buf_start) as usize);
        }
        let want = (len.max(self.chunk) as u64).min(self.end - self.pos) as usize;
        self.buf.resize(want, 0);
        self.file
            .read_exact_at(&mut self.buf, self.pos)
            .map_err(|source| LogError::Io {
                action: "read segment for cleaning",
                path: self.path.clone(),
                source,
            })?;
        self.buf_start = self.pos;
        Ok(0)
    }

    /// The next batch's position and header; [`BatchReader::batch`] holds its bytes.
    fn next(&mut self) -> Result<Option<(u64, BatchHeader)>, LogError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let pos = self.pos;
        let available = self.end - pos;
        let at = self.fill(HEADER_LEN.min(available as usize))?;
        let h = check_header(&self.buf[at..], available).map_err(|k| self.damaged(pos, k))?;
        let len = h.total_len();
        let at = self.fill(len)?;
        // Re-encoding a corrupt record would give it a valid CRC: check first.
        let mut check = self.check;
        check.offsets(&h).map_err(|k| self.damaged(pos, k))?;
        verify_crc(&self.buf[at..at + len]).map_err(|e| self.damaged(pos, crc_damage(e)))?;
        self.check = check;
        self.current = at..at + len;
        self.pos += len as u64;
        Ok(Some((pos, h)))
    }

    fn batch(&self) -> &[u8] {
        &self.buf[self.current.clone()]
    }

    fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// What the rewrite does with one batch.
enum Fate {
    /// Copy the batch unchanged.
    Keep,
    /// Nothing survives.
    Drop,
    /// The re-encoded batch.
    Rewrite(Vec<u8>),
}

/// Per-round settings the rewrite of a batch needs.
struct Rules<'a> {
    map: &'a OffsetMap,
    end: i64,
    now: i64,
    delete_retention_ms: i64,
    max_decompressed: usize,
}

fn filter_batch(
    h: &BatchHeader,
    bytes: &[u8],
    rules: &Rules<'_>,
    stats: &mut CleanerStats,
) -> Result<Fate, RecordError> {
    if h.is_control() || h.is_transactional() || h.base_offset >= rules.end {
        return Ok(Fate::Keep);
    }
    let run = record_bytes(bytes, h, rules.max_decompressed)?;
    let horizon = h.has_delete_horizon().then_some(h.base_timestamp);
    let horizon_passed = horizon.is_some_and(|t| t <= rules.now);
    let mut kept: Vec<RecordView<'_>> = Vec::new();
    let (mut total, mut kept_tombstone) = (0usize, false);
    for view in RecordViews::new(&run, h) {
        let view = view?;
        total += 1;
        let retain = view.offset >= rules.end
            || match view.key {
                None => false,
                Some(key) => {
                    let latest = rules.map.get(key).is_none_or(|o| view.offset >= o);
                    let expired = latest && view.value.is_none() && horizon_passed;
                    if expired {
                        stats.tombstones_removed += 1;
                    }
                    latest && !expired
                }
            };
        if retain {
            kept_tombstone |= view.value.is_none();
            kept.push(view);
        }
    }
    stats.records_read += total as u64;
    stats.records_kept += kept.len() as u64;
    if kept_tombstone {
        let horizon =
            horizon.unwrap_or_else(|| rules.now.saturating_add(rules.delete_retention_ms));
        stats.earliest_delete_horizon = Some(
            stats
                .earliest_delete_horizon
                .map_or(horizon, |e| e.min(horizon)),
        );
    }
    if kept.len() == total && (!kept_tombstone || horizon.is_some()) {
        return Ok(Fate::Keep);
    }
    if kept.is_empty() {
        return Ok(Fate::Drop);
    }
    let codec = Compression::from_code(h.compression_code())?;
    let mut builder = BatchBuilder::new(codec)
        .base_offset(h.base_offset)
        .producer(h.producer_id, h.producer_epoch, h.base_sequence)
        .partition_leader_epoch(h.partition_leader_epoch)
        .log_append_time(h.is_log_append_time())
        .last_offset_delta(h.last_offset_delta);
    if kept_tombstone {
        let horizon =
            horizon.unwrap_or_else(|| rules.now.saturating_add(rules.delete_retention_ms));
        builder = builder.delete_horizon(horizon);
    }
    for view in &kept {
        builder.push_view(view)?;
    }
    builder.build().map(Fate::Rewrite)
}

/// Groups the first `count` sealed segments so that each group's input fits
/// one segment (Kafka's `groupSegmentsBySize`) and its offsets fit the
/// indexes' 32-bit relative offsets.
fn group(sealed: &[SegmentView], count: usize, segment_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let limit = segment_bytes.min(u64::from(u32::MAX));
    let mut groups = Vec::new();
    let mut i = 0;
    while i < count {
        let (mut j, mut size) = (i + 1, sealed[i].size);
        while j < count
            && size + sealed[j].size <= limit
            && sealed[j].next_offset - sealed[i].base <= i64::from(u32::MAX)
        {
            size += sealed[j].size;
            j += 1;
        }
        groups.push(i..j);
        i = j;
    }
    groups
}

/// Output of a cleaned group not yet written to its segment.
const FLUSH_BYTES: usize = 1 << 20;

impl Log {
    /// How the cleanable part of the log stands now (dirty ratio and friends).
    ///
    /// # Errors
    /// An I/O error reading the first dirty batch (only when
    /// `max_compaction_lag_ms` is set).
    pub fn cleanable(&self) -> Result<Cleanable, LogError> {
        let now = self.clock.now_ms();
        cleanable_locked(&lock(&self.inner), now)
    }

    /// The first offset the cleaner has not cleaned yet.
    pub fn first_dirty_offset(&self) -> i64 {
        let inner = lock(&self.inner);
        inner.first_dirty.max(inner.log_start_offset)
    }

    /// What the last cleaning round of this log did, if one ran since open.
    pub fn last_cleaner_stats(&self) -> Option<CleanerStats> {
        lock(&self.cleaner).clone()
    }

    /// Runs one cleaning round without a rate limit; see [`Log::clean_once_paced`].
    ///
    /// # Errors
    /// As [`Log::clean_once_paced`].
    pub fn clean_once(&self, config: &CleanerConfig) -> Result<Option<CleanerStats>, LogError> {
        self.clean_once_paced(config, &mut |_| ControlFlow::Continue(()))
    }

    /// Runs one cleaning round (see the module doc) if the log is compacted
    /// and cleanable; returns what it did, or `None` when there was nothing
    /// to do or `pace` stopped it. `pace` is told the bytes read and written
    /// as the round goes, may pause (the background [`Cleaner`] sleeps there
    /// to honour its rate limit) and may stop the round, whose half-written
    /// files are then removed. Rounds of one log run one at a time; appends
    /// and reads go on meanwhile.
    ///
    /// # Errors
    /// [`LogError::Poisoned`]; [`LogError::CorruptBatch`] when a stored batch
    /// fails its CRC (nothing is swapped in); an I/O error, which poisons the
    /// log if it happened during a swap (the next open finishes or discards it).
    pub fn clean_once_paced(
        &self,
        config: &CleanerConfig,
        pace: &mut dyn FnMut(u64) -> ControlFlow<()>,
    ) -> Result<Option<CleanerStats>, LogError> {
        // Rounds of one log are serialised by the `cleaning` lock.
        let _round = lock(&self.cleaning);
        // Rolled segments become cleanable once durable (see `cleanable_locked`).
        self.flush_sealed()?;
        let started = Instant::now();
        let now = self.clock.now_ms();
        let Some(plan) = self.plan(now)? else {
            return Ok(None);
        };
        let mut stats = CleanerStats {
            started_ms: now,
            duration: Duration::ZERO,
            first_dirty: plan.first_dirty,
            end_offset: plan.first_dirty,
            dirty_ratio: plan.ratio,
            dirty_bytes: 0,
            bytes_read: 0,
            bytes_written: 0,
            keys: 0,
            map_full: false,
            map_bytes: 0,
            records_read: 0,
            records_kept: 0,
            tombstones_removed: 0,
            earliest_delete_horizon: None,
            segments_replaced: 0,
            segments_written: 0,
        };
        let mut map = OffsetMap::new(config.max_map_entries);
        let mut buf = Vec::new();
        let mapped = self.build_map(&plan, config, &mut map, &mut buf, &mut stats, pace);
        let Some(end) = mapped.map_err(|e| self.reported(e))? else {
            return Ok(None);
        };
        stats.end_offset = end;
        stats.keys = map.len();
        stats.map_bytes = map.memory_bytes();
        let rules = Rules {
            map: &map,
            end,
            now,
            delete_retention_ms: plan.delete_retention_ms,
            max_decompressed: config.max_decompressed_bytes,
        };
        let count = plan.sealed.iter().take_while(|s| s.base < end).count();
        for range in group(&plan.sealed, count, plan.segment_bytes) {
            let group = &plan.sealed[range];
            let cleaned =
                self.clean_group(&plan, group, &rules, config, &mut buf, &mut stats, pace);
            match cleaned.map_err(|e| self.reported(e))? {
                ControlFlow::Continue(()) => {}
                ControlFlow::Break(()) => return Ok(None),
            }
        }
        {
            let mut inner = lock(&self.inner);
            let first_dirty = end.min(inner.log_end_offset()).max(inner.first_dirty);
            inner.first_dirty = first_dirty;
            inner.tombstones_due = stats.earliest_delete_horizon;
            CleanerCheckpoint { first_dirty }.write(&*self.storage, &self.dir)?;
        }
        stats.duration = started.elapsed();
        *lock(&self.cleaner) = Some(stats.clone());
        Ok(Some(stats))
    }

    /// Step 1: whether to clean, and a snapshot of the sealed segments.
    fn plan(&self, now: i64) -> Result<Option<Plan>, LogError> {
        let inner = lock(&self.inner);
        if inner.poisoned {
            return Err(self.poisoned_error());
        }
        if !inner.config.cleanup_policy.compacts() {
            return Ok(None);
        }
        let c = cleanable_locked(&inner, now)?;
        let ratio_reached = c.dirty_ratio >= inner.config.min_cleanable_dirty_ratio;
        // Tombstones whose horizon passed are removed even from a clean log.
        let tombstones_due = inner.tombstones_due.is_some_and(|t| t <= now);
        if !(c.dirty_bytes > 0 && (ratio_reached || c.overdue) || tombstones_due) {
            return Ok(None);
        }
        let sealed = inner
            .segments
            .windows(2)
            .map(|pair| (&pair[0], pair[1].base_offset))
            .map(|(s, next_base)| SegmentView {
                base: s.base_offset,
                next_base,
                next_offset: s.next_offset,
                size: s.size,
                log: Arc::clone(&s.log),
                path: s.path(LOG_SUFFIX),
            })
            .collect();
        Ok(Some(Plan {
            sealed,
            first_dirty: c.first_dirty,
            uncleanable: c.first_uncleanable,
            ratio: c.dirty_ratio,
            segment_bytes: inner.config.segment_bytes,
            interval: inner.config.index_interval_bytes,
            delete_retention_ms: inner.config.delete_retention_ms,
        }))
    }

    /// Step 2: maps the dirty section; returns the end of what the map
    /// covers, or `None` if `pace` stopped the round.
    fn build_map(
        &self,
        plan: &Plan,
        config: &CleanerConfig,
        map: &mut OffsetMap,
        buf: &mut Vec<u8>,
        stats: &mut CleanerStats,
        pace: &mut dyn FnMut(u64) -> ControlFlow<()>,
    ) -> Result<Option<i64>, LogError> {
        let dirty = plan
            .sealed
            .iter()
            .filter(|s| s.next_offset > plan.first_dirty && s.base < plan.uncleanable);
        for segment in dirty {
            let mut reader =
                BatchReader::new(segment, std::mem::take(buf), config.read_chunk_bytes);
            while let Some((pos, h)) = reader.next()? {
                let len = h.total_len() as u64;
                stats.bytes_read += len;
                stats.dirty_bytes += len;
                if pace(len).is_break() {
                    return Ok(None);
                }
                if h.last_offset() < plan.first_dirty || h.is_control() || h.is_transactional() {
                    continue;
                }
                let corrupt = |source| LogError::CorruptBatch {
                    path: segment.path.clone(),
                    position: pos,
                    source,
                };
                let run = record_bytes(reader.batch(), &h, config.max_decompressed_bytes)
                    .map_err(corrupt)?;
                for view in RecordViews::new(&run, &h) {
                    let view = view.map_err(corrupt)?;
                    let Some(key) = view.key else { continue };
                    if view.offset < plan.first_dirty {
                        continue;
                    }
                    if map.put(key, view.offset) == Put::Full {
                        stats.map_full = true;
                        return Ok(Some(view.offset));
                    }
                }
            }
            *buf = reader.into_buf();
        }
        Ok(Some(plan.uncleanable.max(plan.first_dirty)))
    }

    /// Steps 3 and 4 for one group of segments.
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &self,
        plan: &Plan,
        group: &[SegmentView],
        rules: &Rules<'_>,
        config: &CleanerConfig,
        buf: &mut Vec<u8>,
        stats: &mut CleanerStats,
        pace: &mut dyn FnMut(u64) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, LogError> {
        let storage = &*self.storage;
        let mut cleaned =
            Segment::create_with_tail(storage, &self.dir, group[0].base, CLEANED_TAIL)?;
        let mut changed = group.len() > 1;
        let mut out: Vec<u8> = Vec::with_capacity(FLUSH_BYTES);
        let mut out_headers: Vec<(usize, BatchHeader)> = Vec::new();
        let written = (|| {
            for segment in group {
                let mut reader =
                    BatchReader::new(segment, std::mem::take(buf), config.read_chunk_bytes);
                while let Some((pos, h)) = reader.next()? {
                    let len = h.total_len() as u64;
                    stats.bytes_read += len;
                    if pace(len).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                    let fate =
                        filter_batch(&h, reader.batch(), rules, stats).map_err(|source| {
                            LogError::CorruptBatch {
                                path: segment.path.clone(),
                                position: pos,
                                source,
                            }
                        })?;
                    match fate {
                        Fate::Keep => {
                            out_headers.push((out.len(), h));
                            out.extend_from_slice(reader.batch());
                        }
                        Fate::Drop => changed = true,
                        Fate::Rewrite(bytes) => {
                            changed = true;
                            // The builder wrote a valid header: it parses.
                            let nh = BatchHeader::parse(&bytes)
                                .ok()
                                .flatten()
                                .expect("a built batch has a valid header");
                            out_headers.push((out.len(), nh));
                            out.extend_from_slice(&bytes);
                        }
                    }
                    if out.len() >= FLUSH_BYTES {
                        self.flush_cleaned(&mut cleaned, &mut out, &mut out_headers, plan, stats)?;
                        if pace(FLUSH_BYTES as u64).is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
                *buf = reader.into_buf();
            }
            self.flush_cleaned(&mut cleaned, &mut out, &mut out_headers, plan, stats)?;
            Ok(ControlFlow::Continue(()))
        })();
        match written {
            Ok(ControlFlow::Continue(())) if changed => {}
            // Nothing changed in a lone segment: keep it, drop the copy.
            Ok(ControlFlow::Continue(())) => {
                swap::discard(storage, cleaned)?;
                return Ok(ControlFlow::Continue(()));
            }
            Ok(ControlFlow::Break(())) => {
                swap::discard(storage, cleaned)?;
                return Ok(ControlFlow::Break(()));
            }
            Err(e) => {
                // Best effort: a leftover is removed on the next open anyway.
                let _ = swap::discard(storage, cleaned);
                return Err(e);
            }
        }
        if let Err(e) = cleaned.seal() {
            let _ = swap::discard(storage, cleaned);
            return Err(e);
        }
        self.swap_group(group, cleaned, stats)
    }

    fn flush_cleaned(
        &self,
        cleaned: &mut Segment,
        out: &mut Vec<u8>,
        out_headers: &mut Vec<(usize, BatchHeader)>,
        plan: &Plan,
        stats: &mut CleanerStats,
    ) -> Result<(), LogError> {
        if out.is_empty() {
            return Ok(());
        }
        cleaned.append(out, out_headers, plan.interval, stats.started_ms)?;
        stats.bytes_written += out.len() as u64;
        out.clear();
        out_headers.clear();
        Ok(())
    }

    /// Step 4 under the log's lock: checks that the group's segments are
    /// still the log's (retention or truncation may have removed them
    /// meanwhile), then swaps the cleaned segment in.
    fn swap_group(
        &self,
        group: &[SegmentView],
        mut cleaned: Segment,
        stats: &mut CleanerStats,
    ) -> Result<ControlFlow<()>, LogError> {
        let storage = &*self.storage;
        let mut inner = lock(&self.inner);
        let at = inner
            .segments
            .iter()
            .position(|s| s.base_offset == group[0].base);
        let intact = at.is_some_and(|at| {
            at + group.len() < inner.segments.len()
                && group
                    .iter()
                    .zip(&inner.segments[at..])
                    .all(|(g, s)| g.base == s.base_offset && Arc::ptr_eq(&g.log, &s.log))
        });
        if inner.poisoned || !intact {
            let poisoned = inner.poisoned;
            drop(inner);
            swap::discard(storage, cleaned)?;
            return if poisoned {
                Err(self.poisoned_error())
            } else {
                Ok(ControlFlow::Break(()))
            };
        }
        let at = at.unwrap_or_default();
        let bases: Vec<i64> = group.iter().map(|g| g.base).collect();
        if let Err(e) = swap::swap_in(storage, &self.dir, &mut cleaned, &bases) {
            inner.poisoned = true;
            return Err(e);
        }
        cleaned.sealed = true;
        inner.segments.splice(at..at + group.len(), [cleaned]);
        stats.segments_replaced += group.len();
        stats.segments_written += 1;
        Ok(ControlFlow::Continue(()))
    }
}
