//! Opening a log: finishing an interrupted cleaning round, reading the
//! checkpoints, opening every segment (trusted below the recovery point or
//! after a clean shutdown, scanned and cut at a torn tail otherwise), and
//! checking that the segments' offsets join up.
//!
//! What recovery cuts is logged at WARN with the offsets and bytes, and
//! counted. Damage in durable data (below the recovery point, or after a
//! clean shutdown) is never cut: the bytes stay, the damaged range is
//! remembered, and reads of it fail until an operator skips it
//! ([`Log::skip_damaged`]). So is a hole: offsets missing between segments
//! (a deleted segment file) outside the gaps compaction or a deliberate
//! skip leaves, below the first segment, or above the last one.

use super::checkpoint::{self, CLEAN_SHUTDOWN_FILE, Checkpoint, CleanerCheckpoint};
use super::cleaner;
use super::damage::{self, DamageCounters, DamageKind, DamagedRange, bump};
use super::error::{IoContext, LogError};
use super::segment::{self, INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX, parse_stem};
use super::storage::Storage;
use super::{Inner, Log, LogConfig, OpenKind, SyncState};
use crate::clock::Clock;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

impl Log {
    /// Opens the log in `dir`, creating it if it does not exist. After a
    /// clean shutdown nothing is scanned; otherwise every segment from the
    /// recovery point on is scanned, CRCs verified, a torn or corrupt tail
    /// truncated (logged at WARN) and the indexes rebuilt. Damage in
    /// durable segments and holes between segments are kept as damaged
    /// ranges (logged at WARN; see [`Log::known_damage`]), never cut.
    ///
    /// # Errors
    /// Any I/O error of the storage.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: impl Into<PathBuf>,
        config: LogConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Log, LogError> {
        let dir = dir.into();
        storage
            .create_dir_all(&dir)
            .context("create log directory", &dir)?;
        let mut names = storage.list_dir(&dir).context("list log directory", &dir)?;
        // A cleaning round a crash interrupted is finished or discarded first.
        if cleaner::recover_swaps(&*storage, &dir, &names)? {
            names = storage.list_dir(&dir).context("list log directory", &dir)?;
        }
        for name in names
            .iter()
            .filter(|n| n.ends_with(checkpoint::TEMP_SUFFIX))
        {
            let path = dir.join(name);
            storage
                .remove_file(&path)
                .context("remove temp file", &path)?;
        }
        // A checkpoint that fails its CRC is ignored: a full scan is always safe.
        let checkpoint = match Checkpoint::read(&*storage, &dir) {
            Err(LogError::CorruptCheckpoint { .. }) => None,
            other => other?,
        };
        let skipped = match damage::read_skipped(&*storage, &dir) {
            Ok(skipped) => skipped,
            Err(e) => {
                tracing::warn!(log = %dir.display(), "ignoring the skipped-ranges file: {e}");
                Vec::new()
            }
        };
        let clean = names.iter().any(|n| n == CLEAN_SHUTDOWN_FILE);
        if clean {
            // Remove the marker durably before anything is written, so a crash
            // from now on is never mistaken for a clean shutdown.
            let marker = dir.join(CLEAN_SHUTDOWN_FILE);
            storage
                .remove_file(&marker)
                .context("remove clean-shutdown marker", &marker)?;
            storage.sync_dir(&dir).context("sync log directory", &dir)?;
        }
        let recovery_point = checkpoint.map_or(0, |c| c.recovery_point);
        let mut bases: Vec<i64> = names
            .iter()
            .filter_map(|n| parse_stem(n, LOG_SUFFIX))
            .collect();
        bases.sort_unstable();

        let counters = DamageCounters::default();
        let interval = config.index_interval_bytes;
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
        let mut scanned = 0;
        let mut truncated = false;
        for (i, &base) in bases.iter().enumerate() {
            let below_recovery_point = bases.get(i + 1).is_some_and(|&next| next <= recovery_point);
            if truncated {
                // Everything after a cut goes: offsets must stay contiguous in time.
                let path = segment::segment_path(&dir, base, LOG_SUFFIX);
                let bytes = storage
                    .open(&path, super::storage::OpenMode::Existing)
                    .and_then(|f| f.len())
                    .unwrap_or(0);
                tracing::warn!(
                    log = %dir.display(),
                    segment_base = base,
                    bytes,
                    "recovery removes segment {} after a cut tail: offsets from {base} on are lost",
                    path.display()
                );
                bump(&counters.truncations, 1);
                bump(&counters.truncated_bytes, bytes);
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    let path = segment::segment_path(&dir, base, suffix);
                    let _ = storage.remove_file(&path);
                }
                continue;
            }
            // Only sealed segments may hold the gaps compaction leaves.
            let allow_gaps = i + 1 < bases.len();
            let trusted = clean || below_recovery_point;
            let segment = if trusted {
                // Durable data: damage is kept and reported, never cut.
                let (segment, _) =
                    Segment::open_trusted(&*storage, &dir, base, interval, allow_gaps, false)?;
                segment
            } else {
                let (segment, cut) =
                    Segment::open_recovering(&*storage, &dir, base, interval, allow_gaps)?;
                scanned += 1;
                if cut.bytes > 0 {
                    tracing::warn!(
                        log = %dir.display(),
                        from_offset = segment.next_offset,
                        bytes = cut.bytes,
                        "recovery cut {} bytes of torn or damaged batches from offset {} on in {}",
                        cut.bytes,
                        segment.next_offset,
                        segment.path(LOG_SUFFIX).display()
                    );
                    bump(&counters.truncations, 1);
                    bump(&counters.truncated_bytes, cut.bytes);
                }
                // Rolls do not fsync, and the cleaner never touches a segment
                // above the recovery point, so a scanned segment that ends
                // short of its successor's base lost its tail in the crash:
                // what follows is not contiguous and goes too.
                // Without a checkpoint (lost, or damaged) nothing is known of
                // what was cleaned: gaps are accepted, as they always were.
                let short = checkpoint.is_some()
                    && bases
                        .get(i + 1)
                        .is_some_and(|&next| segment.next_offset != next);
                if short {
                    tracing::warn!(
                        log = %dir.display(),
                        segment_end = segment.next_offset,
                        "recovery found {} ending short of the next segment: the segments after it go",
                        segment.path(LOG_SUFFIX).display()
                    );
                }
                truncated |= cut.bytes > 0 || short;
                segment
            };
            if let Some(prev) = segments.last_mut()
                && segment.base_offset < prev.next_offset
            {
                if trusted {
                    // Durable segments never overlap: the predecessor's last
                    // base offset is damaged. Its reads find where.
                    tracing::warn!(
                        log = %dir.display(),
                        "segment {} ends at {} past the next segment's base {}",
                        prev.path(LOG_SUFFIX).display(),
                        prev.next_offset,
                        segment.base_offset
                    );
                    prev.next_offset = segment.base_offset;
                } else {
                    // A segment overlapping its predecessor cannot be trusted.
                    tracing::warn!(
                        log = %dir.display(),
                        "recovery removes segment {} overlapping its predecessor",
                        segment.path(LOG_SUFFIX).display()
                    );
                    bump(&counters.truncations, 1);
                    bump(&counters.truncated_bytes, segment.size);
                    truncated = true;
                    segment.delete(&*storage)?;
                    continue;
                }
            }
            segments.push(segment);
        }
        if truncated {
            storage.sync_dir(&dir).context("sync log directory", &dir)?;
        }
        let kind = match (bases.is_empty(), clean) {
            (true, _) => OpenKind::New,
            (false, true) => OpenKind::Clean,
            (false, false) => OpenKind::Recovered {
                segments_scanned: scanned,
                truncated,
            },
        };
        let start_hint = checkpoint.map_or(0, |c| c.log_start_offset);
        if segments.is_empty() {
            segments.push(Segment::create(&*storage, &dir, start_hint.max(0))?);
            storage.sync_dir(&dir).context("sync log directory", &dir)?;
        }
        // Durable offsets lost at the end (a deleted last segment, or damage
        // in the active one after a clean shutdown): the log goes on past
        // them, so no offset is ever given twice.
        let last = &segments[segments.len() - 1];
        if last.damage.is_some() || recovery_point > last.next_offset {
            let next = recovery_point.max(last.next_offset);
            if next > last.base_offset || last.size > 0 {
                let next = next.max(last.base_offset + 1);
                segments.push(Segment::create(&*storage, &dir, next)?);
                storage.sync_dir(&dir).context("sync log directory", &dir)?;
            }
        }
        let count = segments.len();
        for segment in &mut segments[..count - 1] {
            segment.sealed = true;
            segment.map_indexes()?;
        }
        let first_base = segments[0].base_offset;
        let log_end = segments[count - 1].next_offset;
        let log_start_offset = start_hint.max(first_base).min(log_end);
        let mut recovery_point = recovery_point.min(log_end);
        if checkpoint.is_none() {
            // A new log, or one whose checkpoint was lost: make what is
            // there durable and record it, so from now on every segment
            // above the recovery point is one the cleaner never touched.
            for segment in &segments {
                segment.sync_all()?;
            }
            Checkpoint {
                recovery_point: log_end,
                log_start_offset,
            }
            .write(&*storage, &dir)?;
            recovery_point = log_end;
        }
        let cleaner_checkpoint = CleanerCheckpoint::read(&*storage, &dir)?;
        let cleaned_ever = cleaner_checkpoint.is_some();
        let first_dirty = cleaner_checkpoint
            .map_or(0, |c| c.first_dirty)
            .clamp(log_start_offset, log_end);
        // Compaction leaves gaps only in segments below the recovery point
        // (the only ones it cleans), and only in logs it ever cleaned.
        let may_clean = config.cleanup_policy.compacts() || cleaned_ever;
        let gaps_allowed = |next: &Segment| may_clean && next.base_offset <= recovery_point;
        let mut damaged = find_damage(&segments, &skipped, gaps_allowed);
        if let Some(c) = checkpoint
            && c.log_start_offset < first_base
            && !damage::is_skipped(&skipped, c.log_start_offset, first_base)
        {
            damaged.insert(
                0,
                DamagedRange {
                    first_offset: c.log_start_offset,
                    end_offset: first_base,
                    segment: segments[0].path(LOG_SUFFIX),
                    position: 0,
                    kind: DamageKind::MissingSegment,
                },
            );
        }
        for range in &damaged {
            tracing::warn!(
                log = %dir.display(),
                first_offset = range.first_offset,
                end_offset = range.end_offset,
                "damaged log data found on open; reads of it fail until skipped: {range}"
            );
        }
        bump(&counters.found_on_open, damaged.len() as u64);
        let log_start_offset = if damaged.first().is_some_and(|d| d.first_offset < first_base) {
            // Keep the hole below the first segment readable as damage.
            damaged[0].first_offset
        } else {
            log_start_offset
        };
        let inner = Inner {
            config,
            segments,
            log_start_offset,
            recovery_point,
            first_dirty,
            tombstones_due: None,
            written: 0,
            truncations: 0,
            rolls: 0,
            rolls_synced: 0,
            poisoned: false,
            damaged,
            skipped,
            cleaned_ever,
        };
        Ok(Log {
            dir,
            storage,
            clock,
            inner: Mutex::new(inner),
            sync: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                failed: false,
            }),
            synced: Condvar::new(),
            cleaning: Mutex::new(()),
            cleaner: Mutex::new(None),
            open_kind: kind,
            damage: counters,
        })
    }
}

/// The damaged ranges the opened segments show: damage a trusted segment's
/// scan met, and holes between segments outside the gaps compaction or a
/// deliberate skip leaves.
fn find_damage(
    segments: &[Segment],
    skipped: &[(i64, i64)],
    gaps_allowed: impl Fn(&Segment) -> bool,
) -> Vec<DamagedRange> {
    let mut out = Vec::new();
    for pair in segments.windows(2) {
        let (segment, next) = (&pair[0], &pair[1]);
        let (first, end) = (segment.next_offset, next.base_offset);
        if let Some((position, kind)) = &segment.damage {
            out.push(DamagedRange {
                first_offset: first,
                end_offset: end.max(first + 1),
                segment: segment.path(LOG_SUFFIX),
                position: *position,
                kind: kind.clone(),
            });
        } else if first < end && !gaps_allowed(next) && !damage::is_skipped(skipped, first, end) {
            out.push(DamagedRange {
                first_offset: first,
                end_offset: end,
                segment: next.path(LOG_SUFFIX),
                position: 0,
                kind: DamageKind::MissingSegment,
            });
        }
    }
    out
}
