//! A partition's log: an append-only sequence of Kafka record batches split
//! into segments, with sparse indexes, group-committed durability, crash
//! recovery by CRC, and retention.
//!
//! It knows nothing of tokio, sockets or the broker; it writes only through
//! the [`storage`] seam and reads time only from a [`Clock`]. All calls
//! block: async callers run them on a blocking thread, never on a runtime
//! worker (an fsync can take milliseconds).
//!
//! Invariants:
//! - every batch in a segment passed [`crate::record::validate`] when it was
//!   appended or its CRC when it was recovered; offsets strictly increase;
//! - everything below the checkpoint's recovery point is durable;
//! - after a failed write or fsync the log refuses writes until reopened.

mod checkpoint;
pub mod cleaner;
mod config;
mod damage;
mod error;
mod index;
mod open;
mod read;
mod segment;
pub mod storage;

pub use checkpoint::{
    CHECKPOINT_FILE, CLEAN_SHUTDOWN_FILE, CLEANER_CHECKPOINT_FILE, Checkpoint, CleanerCheckpoint,
    TEMP_SUFFIX, write_atomically, write_atomically_via,
};
pub use cleaner::{Cleanable, Cleaner, CleanerConfig, CleanerStats};
pub use config::{CleanupPolicy, Durability, LogConfig};
pub use damage::{DamageKind, DamageStats, DamagedRange, SKIPPED_RANGES_FILE};
pub use error::LogError;
pub use segment::{INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, file_stem, parse_stem};

use crate::clock::Clock;
use crate::record::{self, BatchHeader, header};
use bytes::Bytes;
use error::IoContext;
use segment::{Segment, SegmentFiles};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use storage::{DirLock, Storage};

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub first_offset: i64,
    /// Offset of the last record (or of the last offset slot a batch reserves).
    pub last_offset: i64,
    /// Number of batches appended.
    pub batches: usize,
}

/// Bytes read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole stored batches, unchanged; empty at the end of the log.
    pub bytes: Bytes,
    /// The log's first offset at the time of the read.
    pub log_start_offset: i64,
    /// The offset the next append will get.
    pub log_end_offset: i64,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub segments: usize,
    /// Bytes of log deleted.
    pub bytes: u64,
}

/// How the last open went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    /// The directory held no log.
    New,
    /// A clean-shutdown marker was found: nothing was scanned.
    Clean,
    /// Segments from the recovery point on were scanned and verified.
    Recovered {
        /// Segments scanned.
        segments_scanned: usize,
        /// Whether a torn or corrupt tail was cut.
        truncated: bool,
    },
}

/// Takes the exclusive lock of a data directory (`DIR/.lock`).
///
/// # Errors
/// [`LogError::Locked`] if another owner holds it, or an I/O error.
pub fn lock_data_dir(storage: &dyn Storage, dir: &Path) -> Result<DirLock, LogError> {
    storage
        .create_dir_all(dir)
        .context("create data directory", dir)?;
    storage.lock_dir(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::WouldBlock => LogError::Locked {
            dir: dir.to_path_buf(),
            source,
        },
        _ => LogError::Io {
            action: "lock data directory",
            path: dir.to_path_buf(),
            source,
        },
    })
}

struct Inner {
    config: LogConfig,
    /// Sorted by base offset; the last one is active, the others sealed.
    segments: Vec<Segment>,
    log_start_offset: i64,
    recovery_point: i64,
    /// The cleaner's first dirty offset (see [`CleanerCheckpoint`]).
    first_dirty: i64,
    /// Earliest delete horizon among kept tombstones, learnt by the last
    /// cleaning round: once it passes, a round is due.
    tombstones_due: Option<i64>,
    /// Bytes appended since open: the group commit's sequence numbers.
    written: u64,
    /// Counts truncations, so a flush that raced one does not move the
    /// recovery point past the cut.
    truncations: u64,
    /// Counts rolls, and the rolls whose new file's directory entry is
    /// known durable: an `fsync` append into a new segment must first sync
    /// the directory, or a crash could drop the whole file.
    rolls: u64,
    rolls_synced: u64,
    poisoned: bool,
    /// Damaged ranges known (found on open, or met by reads) and not yet
    /// skipped: reads of them fail.
    damaged: Vec<damage::DamagedRange>,
    /// Ranges skipped on purpose (the `skipped-ranges` file).
    skipped: Vec<(i64, i64)>,
    /// Whether a cleaner checkpoint existed at open: the log was compacted
    /// once, so its sealed segments may hold gaps.
    cleaned_ever: bool,
}

impl Inner {
    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }

    fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Index of the segment that holds `offset` (the last one starting at or before it).
    fn segment_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }
}

/// Rolled segments awaiting their fsync, as seen at one moment.
struct Unsynced {
    files: Vec<SegmentFiles>,
    /// The roll count then, if a roll's new file may not be in the
    /// directory durably yet.
    rolls: Option<u64>,
    /// The active segment's base then: the recovery point once they are durable.
    upto: i64,
    truncations: u64,
}

struct SyncState {
    /// Sequence number up to which everything is durable.
    synced: u64,
    /// Whether a group-commit leader is inside fsync right now.
    syncing: bool,
    failed: bool,
}

/// One partition's log.
pub struct Log {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
    sync: Mutex<SyncState>,
    /// Held for a whole cleaning round, so rounds of one log never overlap.
    cleaning: Mutex<()>,
    /// The last cleaning round's statistics.
    cleaner: Mutex<Option<CleanerStats>>,
    synced: Condvar,
    open_kind: OpenKind,
    /// Damage met and recovery cuts made since open.
    damage: damage::DamageCounters,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; the poisoned
    // flag of the log, not the mutex's, decides whether writes go on.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Log {
    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How the open that made this `Log` went.
    pub fn open_kind(&self) -> OpenKind {
        self.open_kind
    }

    /// The first offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        lock(&self.inner).log_start_offset
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        lock(&self.inner).log_end_offset()
    }

    /// Bytes of log on storage (indexes excluded).
    pub fn size_bytes(&self) -> u64 {
        lock(&self.inner).size()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        lock(&self.inner).segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_bases(&self) -> Vec<i64> {
        lock(&self.inner)
            .segments
            .iter()
            .map(|s| s.base_offset)
            .collect()
    }

    /// The log's current settings.
    pub fn config(&self) -> LogConfig {
        lock(&self.inner).config.clone()
    }

    /// The largest batch timestamp in the log and the last offset of the
    /// first batch carrying it (Kafka's ListOffsets `MAX_TIMESTAMP`), or
    /// `None` when the log holds no readable record.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let inner = lock(&self.inner);
        let log_start = inner.log_start_offset;
        let mut best: Option<(i64, i64)> = None;
        for s in inner
            .segments
            .iter()
            .filter(|s| s.max_timestamp >= 0 && s.offset_of_max_timestamp >= log_start)
        {
            if best.is_none_or(|(ts, _)| s.max_timestamp > ts) {
                best = Some((s.max_timestamp, s.offset_of_max_timestamp));
            }
        }
        best.map(|(ts, offset)| (offset, ts))
    }

    /// Replaces the log's settings; they apply from the next append or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        lock(&self.inner).config = config;
    }

    /// Whether an earlier failure makes the log refuse writes.
    pub fn is_poisoned(&self) -> bool {
        lock(&self.inner).poisoned || lock(&self.sync).failed
    }

    fn poisoned_error(&self) -> LogError {
        LogError::Poisoned {
            dir: self.dir.clone(),
        }
    }

    /// Appends one or more whole record batches. Each is validated (length,
    /// magic, CRC, records, offsets inside the batch); then the broker's
    /// offsets are assigned by rewriting each batch's base offset in `batches`
    /// (the CRC does not cover it), and all of them are written with one write.
    /// Returns once the bytes are as durable as `durability` asks.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`] or [`LogError::EmptyAppend`] (nothing
    /// written), [`LogError::Poisoned`] after an earlier failure, or an I/O
    /// error, which poisons the log.
    pub fn append(
        &self,
        batches: &mut [u8],
        durability: Durability,
    ) -> Result<AppendInfo, LogError> {
        let (max_batch, compacted) = {
            let inner = lock(&self.inner);
            (
                inner.config.max_batch_bytes,
                inner.config.cleanup_policy.compacts(),
            )
        };
        let headers = split_and_validate(batches, max_batch)?;
        if compacted {
            // Only compacted logs pay for decoding records here.
            check_keys(batches, &headers)?;
        }
        let target = {
            let mut inner = lock(&self.inner);
            if inner.poisoned {
                return Err(self.poisoned_error());
            }
            let first_offset = inner.log_end_offset();
            let mut next = first_offset;
            for (at, h) in &headers {
                header::set_base_offset(&mut batches[*at..], next);
                next += i64::from(h.last_offset_delta) + 1;
            }
            let last_offset = next - 1;
            let now = self.clock.now_ms();
            if self.should_roll(&inner, batches.len() as u64, last_offset, now) {
                self.roll_locked(&mut inner)?;
            }
            let headers: Vec<(usize, BatchHeader)> = headers
                .into_iter()
                .map(|(at, mut h)| {
                    h.base_offset =
                        i64::from_be_bytes(batches[at..at + 8].try_into().expect("8 bytes"));
                    (at, h)
                })
                .collect();
            let interval = inner.config.index_interval_bytes;
            if let Err(e) = inner.active_mut().append(batches, &headers, interval, now) {
                inner.poisoned = true;
                return Err(e);
            }
            inner.written += batches.len() as u64;
            (
                inner.written,
                AppendInfo {
                    first_offset,
                    last_offset,
                    batches: headers.len(),
                },
            )
        };
        let (seq, info) = target;
        if durability == Durability::Fsync {
            self.wait_durable(seq)?;
        }
        Ok(info)
    }

    fn should_roll(&self, inner: &Inner, len: u64, last_offset: i64, now: i64) -> bool {
        let active = inner.active();
        if active.size == 0 {
            return false;
        }
        let config = &inner.config;
        active.size + len > config.segment_bytes.min(u64::from(u32::MAX))
            || active
                .rolling_base
                .is_some_and(|t| now.saturating_sub(t) >= config.segment_ms)
            || last_offset - active.base_offset > i64::from(u32::MAX)
    }

    /// Seals the active segment and starts a new one at the log end, with
    /// no fsync (as Kafka rolls): the sealed segment stays above the
    /// recovery point until a flush ([`Log::flush_sealed`], the group commit
    /// of an `fsync` append, or `close`) makes it and the new file's
    /// directory entry durable. So an append at `written` never waits on
    /// the disk, and neither does a reader waiting for the lock.
    ///
    /// The next segment's files are created first: failing that (out of
    /// file descriptors, say) writes nothing the log holds and leaves the
    /// active segment as it was, so the error is returned without poisoning
    /// the log and the next append tries the roll again. Sealing the active
    /// segment writes its time index; a failure there poisons the log as
    /// any failed data write does.
    fn roll_locked(&self, inner: &mut Inner) -> Result<(), LogError> {
        let next = inner.log_end_offset();
        let segment = Segment::create(&*self.storage, &self.dir, next)?;
        let sealed = (|| {
            let active = inner.active_mut();
            active.finish_time_index()?;
            active.map_indexes()
        })();
        if let Err(e) = sealed {
            inner.poisoned = true;
            return Err(e);
        }
        inner.segments.push(segment);
        inner.rolls += 1;
        Ok(())
    }

    /// Seals the active segment and starts a new one, if the active one holds anything.
    ///
    /// # Errors
    /// [`LogError::Poisoned`], or an I/O error, which poisons the log.
    pub fn roll(&self) -> Result<(), LogError> {
        let mut inner = lock(&self.inner);
        if inner.poisoned {
            return Err(self.poisoned_error());
        }
        if inner.active().size == 0 {
            return Ok(());
        }
        self.roll_locked(&mut inner)
    }

    /// Blocks until everything appended up to sequence `seq` is durable.
    /// Concurrent callers share one fsync: the first to arrive syncs for
    /// everyone who appended before it started (group commit).
    fn wait_durable(&self, seq: u64) -> Result<(), LogError> {
        let mut state = lock(&self.sync);
        loop {
            if state.failed {
                return Err(self.poisoned_error());
            }
            if state.synced >= seq {
                return Ok(());
            }
            if state.syncing {
                state = self
                    .synced
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            drop(state);
            // One snapshot: bytes counted in `upto` are in the active file
            // or in a segment rolled since the last flush.
            let (file, upto, sealed) = {
                let inner = lock(&self.inner);
                (
                    Arc::clone(&inner.active().log),
                    inner.written,
                    Self::unsynced_sealed(&inner),
                )
            };
            let result = self
                .sync_sealed(&sealed)
                .and_then(|()| file.sync_data().context("sync segment", &self.dir));
            let result = result.and_then(|()| self.advance_recovery_point(&sealed));
            state = lock(&self.sync);
            state.syncing = false;
            match result {
                Ok(()) => state.synced = state.synced.max(upto),
                Err(_) => {
                    state.failed = true;
                    lock(&self.inner).poisoned = true;
                }
            }
            self.synced.notify_all();
        }
    }

    /// The rolled segments not yet fsynced (those at or above the recovery
    /// point), and the offset the recovery point may move to once they are.
    fn unsynced_sealed(inner: &Inner) -> Unsynced {
        let last = inner.segments.len() - 1;
        Unsynced {
            files: inner.segments[..last]
                .iter()
                .filter(|s| s.next_offset > inner.recovery_point)
                .map(Segment::files)
                .collect(),
            upto: inner.segments[last].base_offset,
            truncations: inner.truncations,
            rolls: (inner.rolls > inner.rolls_synced).then_some(inner.rolls),
        }
    }

    /// fsyncs rolled segments and then the directory, which holds the
    /// entries of the files created when they rolled.
    fn sync_sealed(&self, sealed: &Unsynced) -> Result<(), LogError> {
        for files in &sealed.files {
            files.sync_all()?;
        }
        if let Some(rolls) = sealed.rolls {
            self.storage
                .sync_dir(&self.dir)
                .context("sync log directory", &self.dir)?;
            let mut inner = lock(&self.inner);
            inner.rolls_synced = inner.rolls_synced.max(rolls);
        }
        Ok(())
    }

    /// Records in the checkpoint that everything below `sealed.upto` is
    /// durable, unless a truncation came in between.
    fn advance_recovery_point(&self, sealed: &Unsynced) -> Result<(), LogError> {
        if sealed.files.is_empty() {
            return Ok(());
        }
        let mut inner = lock(&self.inner);
        if inner.truncations != sealed.truncations || inner.recovery_point >= sealed.upto {
            return Ok(());
        }
        let result = Checkpoint {
            recovery_point: sealed.upto,
            log_start_offset: inner.log_start_offset,
        }
        .write(&*self.storage, &self.dir);
        match result {
            Ok(()) => inner.recovery_point = sealed.upto,
            Err(_) => inner.poisoned = true,
        }
        result
    }

    /// fsyncs the segments rolled since the last flush and moves the
    /// recovery point past them, so a crash recovery need not scan them.
    /// The broker's periodic tick calls it; the active segment is left to
    /// `fsync` appends and [`Log::flush`].
    ///
    /// # Errors
    /// [`LogError::Poisoned`], or an I/O error, which poisons the log.
    pub fn flush_sealed(&self) -> Result<(), LogError> {
        let sealed = {
            let inner = lock(&self.inner);
            if inner.poisoned {
                return Err(self.poisoned_error());
            }
            Self::unsynced_sealed(&inner)
        };
        let result = self.sync_sealed(&sealed);
        if result.is_err() {
            lock(&self.inner).poisoned = true;
            lock(&self.sync).failed = true;
        }
        result?;
        self.advance_recovery_point(&sealed)
    }

    /// Makes everything appended so far durable.
    ///
    /// # Errors
    /// [`LogError::Poisoned`] if this or an earlier fsync failed.
    pub fn flush(&self) -> Result<(), LogError> {
        let seq = lock(&self.inner).written;
        self.wait_durable(seq)
    }

    /// Deletes the oldest sealed segments that `retention_ms` or
    /// `retention_bytes` put out of date; the active segment is never
    /// deleted. Does nothing unless the cleanup policy includes `delete`.
    ///
    /// # Errors
    /// [`LogError::Poisoned`], or an I/O error, which poisons the log.
    pub fn apply_retention(&self) -> Result<RetentionOutcome, LogError> {
        let now = self.clock.now_ms();
        let mut inner = lock(&self.inner);
        if inner.poisoned {
            return Err(self.poisoned_error());
        }
        if !inner.config.cleanup_policy.deletes() {
            return Ok(RetentionOutcome::default());
        }
        let mut doomed = 0;
        let mut size = inner.size();
        for segment in &inner.segments[..inner.segments.len() - 1] {
            let expired = inner
                .config
                .retention_ms
                .is_some_and(|ms| segment.max_timestamp < now.saturating_sub(ms));
            let oversized = inner
                .config
                .retention_bytes
                .is_some_and(|limit| size.saturating_sub(segment.size) >= limit);
            if !(expired || oversized) {
                break;
            }
            size -= segment.size;
            doomed += 1;
        }
        self.delete_oldest_locked(&mut inner, doomed, None)
    }

    /// Removes the `count` oldest segments and moves the log start offset to
    /// `new_start`, or to the first remaining segment's base.
    fn delete_oldest_locked(
        &self,
        inner: &mut Inner,
        count: usize,
        new_start: Option<i64>,
    ) -> Result<RetentionOutcome, LogError> {
        let next_base = inner.segments[count].base_offset;
        let new_start = new_start.unwrap_or(next_base).max(inner.log_start_offset);
        if count == 0 && new_start == inner.log_start_offset {
            return Ok(RetentionOutcome::default());
        }
        let result = (|| {
            // The checkpoint moves first: a crash between the two steps leaves
            // files that the next open ignores below the start offset.
            Checkpoint {
                recovery_point: inner.recovery_point,
                log_start_offset: new_start,
            }
            .write(&*self.storage, &self.dir)?;
            inner.log_start_offset = new_start;
            let mut outcome = RetentionOutcome::default();
            for segment in inner.segments.drain(..count) {
                outcome.segments += 1;
                outcome.bytes += segment.size;
                segment.delete(&*self.storage)?;
            }
            if count > 0 {
                self.storage
                    .sync_dir(&self.dir)
                    .context("sync log directory", &self.dir)?;
            }
            Ok(outcome)
        })();
        if result.is_err() {
            inner.poisoned = true;
        }
        result
    }

    /// Moves the log start offset to `offset` (Kafka's DeleteRecords):
    /// reads below it fail, and whole segments below it are deleted.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] if `offset` is beyond the log end,
    /// [`LogError::Poisoned`], or an I/O error, which poisons the log.
    pub fn delete_records_before(&self, offset: i64) -> Result<RetentionOutcome, LogError> {
        let mut inner = lock(&self.inner);
        if inner.poisoned {
            return Err(self.poisoned_error());
        }
        let (log_start_offset, log_end_offset) = (inner.log_start_offset, inner.log_end_offset());
        if offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset <= log_start_offset {
            return Ok(RetentionOutcome::default());
        }
        let last = inner.segments.len() - 1;
        let count = inner.segments[..last]
            .iter()
            .enumerate()
            .take_while(|(i, _)| inner.segments[i + 1].base_offset <= offset)
            .count();
        self.delete_oldest_locked(&mut inner, count, Some(offset))
    }

    /// Removes every batch at or after `offset`, so the log ends at the
    /// batch boundary at or below it (a batch holding `offset` goes whole).
    ///
    /// # Errors
    /// [`LogError::Poisoned`], or an I/O error, which poisons the log.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let mut inner = lock(&self.inner);
        if inner.poisoned {
            return Err(self.poisoned_error());
        }
        if offset >= inner.log_end_offset() {
            return Ok(());
        }
        let result = self.truncate_locked(&mut inner, offset);
        if result.is_err() {
            inner.poisoned = true;
        }
        result
    }

    fn truncate_locked(&self, inner: &mut Inner, offset: i64) -> Result<(), LogError> {
        let interval = inner.config.index_interval_bytes;
        let offset = offset.max(inner.log_start_offset);
        // Segments starting at or after the cut go whole; the first one is kept
        // (emptied) so the log always has an active segment.
        let keep = inner
            .segments
            .partition_point(|s| s.base_offset < offset)
            .max(1);
        let removed: Vec<Segment> = inner.segments.drain(keep..).collect();
        for segment in removed {
            segment.delete(&*self.storage)?;
        }
        let active = inner.active_mut();
        active.truncate_to(offset, interval)?;
        let new_end = active.next_offset;
        // Only the (now active) last segment may be written again.
        inner.recovery_point = inner.recovery_point.min(inner.active().base_offset);
        inner.truncations += 1;
        Checkpoint {
            recovery_point: inner.recovery_point,
            log_start_offset: inner.log_start_offset.min(new_end),
        }
        .write(&*self.storage, &self.dir)?;
        inner.log_start_offset = inner.log_start_offset.min(new_end);
        // Offsets appended again after the cut are dirty.
        if inner.first_dirty > new_end {
            inner.first_dirty = new_end;
            CleanerCheckpoint {
                first_dirty: new_end,
            }
            .write(&*self.storage, &self.dir)?;
        }
        // Appends must not be acknowledged on a sync of bytes that are gone.
        let mut state = lock(&self.sync);
        state.synced = state.synced.max(inner.written);
        Ok(())
    }

    /// Shuts the log down cleanly: everything is fsynced, the checkpoint
    /// records the log end as the recovery point, and the clean-shutdown
    /// marker lets the next open skip the scan.
    ///
    /// # Errors
    /// [`LogError::Poisoned`] (no marker is written, so the next open
    /// recovers), or an I/O error.
    pub fn close(self) -> Result<(), LogError> {
        let mut inner = lock(&self.inner);
        if inner.poisoned || lock(&self.sync).failed {
            return Err(self.poisoned_error());
        }
        let active = inner.active_mut();
        active.finish_time_index()?;
        active.sync_all()?;
        for files in Self::unsynced_sealed(&inner).files {
            files.sync_all()?;
        }
        let log_end = inner.log_end_offset();
        Checkpoint {
            recovery_point: log_end,
            log_start_offset: inner.log_start_offset,
        }
        .write(&*self.storage, &self.dir)?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        let file = self
            .storage
            .open(&marker, storage::OpenMode::OpenOrCreate)
            .context("write clean-shutdown marker", &marker)?;
        file.sync_data()
            .context("sync clean-shutdown marker", &marker)?;
        self.storage
            .sync_dir(&self.dir)
            .context("sync log directory", &self.dir)
    }
}

/// Rejects a batch holding a record without a key (compacted logs only).
/// Control batches are exempt: their records are markers, not data.
fn check_keys(buf: &[u8], headers: &[(usize, BatchHeader)]) -> Result<(), LogError> {
    for (at, h) in headers.iter().filter(|(_, h)| !h.is_control()) {
        let invalid = |source| LogError::InvalidBatch {
            position: *at,
            source,
        };
        let batch = &buf[*at..*at + h.total_len()];
        let run =
            record::record_bytes(batch, h, record::DEFAULT_MAX_DECOMPRESSED).map_err(invalid)?;
        for (index, view) in record::RecordViews::new(&run, h).enumerate() {
            if view.map_err(invalid)?.key.is_none() {
                return Err(LogError::MissingKey {
                    position: *at,
                    record: index,
                });
            }
        }
    }
    Ok(())
}

/// Splits an append buffer into whole batches and validates each one.
fn split_and_validate(buf: &[u8], max_batch: usize) -> Result<Vec<(usize, BatchHeader)>, LogError> {
    let mut headers = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let invalid = |source| LogError::InvalidBatch {
            position: at,
            source,
        };
        let rest = &buf[at..];
        let h = BatchHeader::parse(rest).map_err(invalid)?.ok_or(invalid(
            record::RecordError::Truncated {
                needed: record::HEADER_LEN,
                available: rest.len(),
            },
        ))?;
        let len = h.total_len();
        if len > max_batch {
            return Err(invalid(record::RecordError::BatchTooLarge {
                size: len,
                max: max_batch,
            }));
        }
        if len > rest.len() {
            return Err(invalid(record::RecordError::Truncated {
                needed: len,
                available: rest.len(),
            }));
        }
        let h = record::validate(&rest[..len]).map_err(invalid)?;
        headers.push((at, h));
        at += len;
    }
    if headers.is_empty() {
        return Err(LogError::EmptyAppend);
    }
    Ok(headers)
}
