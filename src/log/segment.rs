//! One segment of a partition's log: the `.log` file of whole batches and its
//! two sparse indexes, named by the 20-digit base offset.
//!
//! A segment knows how to append, locate and scan batches, and how to
//! recover itself by CRC; it knows nothing of the other segments.

use super::damage::{DamageKind, check_header, crc_damage};
use super::error::{IoContext, LogError};
use super::index::{self, Entries, OffsetIndex, TimeIndex};
use super::storage::{OpenMode, Storage, StorageFile};
use crate::record::{BatchHeader, HEADER_LEN, header};
use bytes::{Bytes, BytesMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Extension of a segment's log file.
pub const LOG_SUFFIX: &str = ".log";
/// Extension of a segment's offset index.
pub const INDEX_SUFFIX: &str = ".index";
/// Extension of a segment's time index.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";

/// Bytes read at once while scanning a segment.
const SCAN_CHUNK: usize = 8 << 20;
/// Bytes read at once while walking batch headers from an index entry.
const HEADER_CHUNK: usize = 16 << 10;

/// The file name stem of the segment starting at `base_offset`.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Parses a segment base offset out of a file name with the given suffix.
pub fn parse_stem(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// One segment and its open files.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of the first batch the segment may hold.
    pub base_offset: i64,
    /// The `.log` file.
    pub log: Arc<dyn StorageFile>,
    index_file: Arc<dyn StorageFile>,
    time_file: Arc<dyn StorageFile>,
    dir: PathBuf,
    /// Bytes of whole batches in the `.log` file.
    pub size: u64,
    /// One past the last offset the segment holds (its base when empty).
    pub next_offset: i64,
    pub index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Largest batch timestamp in the segment, -1 when empty.
    pub max_timestamp: i64,
    /// Last offset of the batch that set `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    bytes_since_index: u64,
    /// When the segment began, for `segment_ms`: the first append's clock
    /// time, or after a reopen the first batch's max timestamp.
    pub rolling_base: Option<i64>,
    /// Sealed segments are immutable and their indexes mapped.
    pub sealed: bool,
    /// Appended to every file name: empty, or the cleaner's temporary
    /// suffix while a cleaned segment is being written and swapped in.
    tail: &'static str,
    /// Damage an open found and was not allowed to cut (a sealed, durable
    /// segment): where, and what. The segment's offsets end before it.
    pub damage: Option<(u64, DamageKind)>,
}

/// A segment's three files (`.log`, `.index`, `.timeindex`), detached from
/// the segment so a rolled one can be fsynced outside the log's lock.
pub(crate) struct SegmentFiles {
    files: [(Arc<dyn StorageFile>, PathBuf); 3],
}

impl SegmentFiles {
    /// fsyncs all three files.
    pub fn sync_all(&self) -> Result<(), LogError> {
        for (file, path) in &self.files {
            file.sync_data().context("sync segment file", path)?;
        }
        Ok(())
    }
}

/// What a scan of a segment's bytes found.
struct Scan {
    valid_end: u64,
    /// Why the scan stopped before the file's end, if it did.
    torn: Option<DamageKind>,
}

/// What a rebuild of a segment from its `.log` found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Bytes cut from the file's end (torn or damaged).
    pub bytes: u64,
}

impl Segment {
    /// Path of this segment's file with `suffix`.
    pub fn path(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!(
            "{}{suffix}{}",
            file_stem(self.base_offset),
            self.tail
        ))
    }

    /// Creates an empty segment whose three files carry `tail` after their
    /// usual suffix (the cleaner writes `BASE.log.cleaned` and its indexes).
    pub fn create_with_tail(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
        tail: &'static str,
    ) -> Result<Segment, LogError> {
        let open = |suffix: &str| {
            let path = dir.join(format!("{}{suffix}{tail}", file_stem(base_offset)));
            let file = storage
                .open(&path, OpenMode::OpenOrCreate)
                .context("create segment file", &path)?;
            file.set_len(0).context("reset segment file", &path)?;
            Ok::<_, LogError>(file)
        };
        let mut segment = Segment::empty(
            base_offset,
            dir,
            [
                open(LOG_SUFFIX)?,
                open(INDEX_SUFFIX)?,
                open(TIME_INDEX_SUFFIX)?,
            ],
        );
        segment.tail = tail;
        Ok(segment)
    }

    /// Renames the segment's three files from `tail` to `new_tail` (the
    /// handles stay valid: a rename keeps the file). Does not sync the directory.
    pub fn rename_tail(
        &mut self,
        storage: &dyn Storage,
        new_tail: &'static str,
    ) -> Result<(), LogError> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let from = self.path(suffix);
            let to = self
                .dir
                .join(format!("{}{suffix}{new_tail}", file_stem(self.base_offset)));
            storage
                .rename(&from, &to)
                .context("rename segment file", &to)?;
        }
        self.tail = new_tail;
        Ok(())
    }

    fn empty(base_offset: i64, dir: &Path, files: [Arc<dyn StorageFile>; 3]) -> Segment {
        let [log, index_file, time_file] = files;
        Segment {
            base_offset,
            log,
            index_file,
            time_file,
            dir: dir.to_path_buf(),
            size: 0,
            next_offset: base_offset,
            index: OffsetIndex::new(base_offset, Entries::Owned(Vec::new())),
            time_index: TimeIndex::new(base_offset, Entries::Owned(Vec::new())),
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            bytes_since_index: 0,
            rolling_base: None,
            sealed: false,
            tail: "",
            damage: None,
        }
    }

    /// Creates an empty active segment; stale files of the same name are replaced.
    pub fn create(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
    ) -> Result<Segment, LogError> {
        let open = |suffix: &str| {
            let path = segment_path(dir, base_offset, suffix);
            let file = storage
                .open(&path, OpenMode::OpenOrCreate)
                .context("create segment file", &path)?;
            file.set_len(0).context("reset segment file", &path)?;
            Ok::<_, LogError>(file)
        };
        Ok(Segment::empty(
            base_offset,
            dir,
            [
                open(LOG_SUFFIX)?,
                open(INDEX_SUFFIX)?,
                open(TIME_INDEX_SUFFIX)?,
            ],
        ))
    }

    fn open_files(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
    ) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, LOG_SUFFIX);
        let log = storage
            .open(&log_path, OpenMode::Existing)
            .context("open segment", &log_path)?;
        let size = log.len().context("stat segment", &log_path)?;
        let open_index = |suffix: &str| {
            let path = segment_path(dir, base_offset, suffix);
            storage
                .open(&path, OpenMode::OpenOrCreate)
                .context("open index", &path)
        };
        let index_file = open_index(INDEX_SUFFIX)?;
        let time_file = open_index(TIME_INDEX_SUFFIX)?;
        let mut segment = Segment::empty(base_offset, dir, [log, index_file, time_file]);
        segment.size = size;
        Ok(segment)
    }

    /// Opens a segment written by a clean shutdown or below the recovery
    /// point: the indexes are trusted if they look sane, else rebuilt
    /// (`allow_gaps` as for [`Segment::open_recovering`]). Damage the
    /// rebuild meets is cut only with `may_cut` (the active segment);
    /// otherwise it is kept in [`Segment::damage`], bytes untouched.
    pub fn open_trusted(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
        interval: u64,
        allow_gaps: bool,
        may_cut: bool,
    ) -> Result<(Segment, Cut), LogError> {
        let mut segment = Segment::open_files(storage, dir, base_offset)?;
        segment.index = OffsetIndex::new(
            base_offset,
            Entries::Owned(read_all(&segment.index_file, &segment.path(INDEX_SUFFIX))?),
        );
        segment.time_index = TimeIndex::new(
            base_offset,
            Entries::Owned(read_all(
                &segment.time_file,
                &segment.path(TIME_INDEX_SUFFIX),
            )?),
        );
        if !segment.index.is_sane(segment.size) {
            let cut = segment.rebuild(interval, allow_gaps, may_cut)?;
            return Ok((segment, cut));
        }
        // Walk the batches after the last index entry to learn where the segment ends.
        let from = match segment.index.len() {
            0 => 0,
            n => segment.index.entry(n - 1).1,
        };
        let mut scanner = HeaderScanner::new(&*segment.log, from, segment.size);
        let mut last: Option<BatchHeader> = None;
        while let Some((_, h)) = scanner
            .next()
            .context("scan segment", &segment.path(LOG_SUFFIX))?
        {
            last = Some(h);
        }
        if scanner.position() != segment.size
            || !segment
                .time_index
                .is_sane(last.map_or(base_offset, |h| h.next_offset()))
        {
            // The files disagree with each other: trust nothing and rebuild.
            let cut = segment.rebuild(interval, allow_gaps, may_cut)?;
            return Ok((segment, cut));
        }
        segment.next_offset = last.map_or(base_offset, |h| h.next_offset());
        if let Some((ts, offset)) = segment.time_index.last() {
            segment.max_timestamp = ts;
            segment.offset_of_max_timestamp = offset;
        }
        segment.rolling_base = segment.first_batch_timestamp()?;
        Ok((segment, Cut::default()))
    }

    /// Opens a segment that may hold a torn or corrupt tail: scans every
    /// batch, verifies its CRC, truncates at the first bad one and rebuilds
    /// the indexes. Returns the segment and whether anything was cut.
    ///
    /// `allow_gaps` accepts a batch starting above the previous batch's next
    /// offset: only sealed segments may have such gaps (the cleaner leaves
    /// them, and a sealed segment was fsynced whole); the last segment of a
    /// log, never cleaned, must have none, which catches a corrupted base
    /// offset (the CRC does not cover it).
    pub fn open_recovering(
        storage: &dyn Storage,
        dir: &Path,
        base_offset: i64,
        interval: u64,
        allow_gaps: bool,
    ) -> Result<(Segment, Cut), LogError> {
        let mut segment = Segment::open_files(storage, dir, base_offset)?;
        let cut = segment.rebuild(interval, allow_gaps, true)?;
        Ok((segment, cut))
    }

    /// Rescans the whole `.log`, truncating a bad tail (only with `may_cut`;
    /// else the bytes stay and [`Segment::damage`] says where the good
    /// batches end), and rewrites both indexes.
    fn rebuild(&mut self, interval: u64, allow_gaps: bool, may_cut: bool) -> Result<Cut, LogError> {
        let log_path = self.path(LOG_SUFFIX);
        let file_len = self.log.len().context("stat segment", &log_path)?;
        self.index = OffsetIndex::new(self.base_offset, Entries::Owned(Vec::new()));
        self.time_index = TimeIndex::new(self.base_offset, Entries::Owned(Vec::new()));
        self.size = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.bytes_since_index = 0;
        let scan = self
            .scan_verified(file_len, interval, allow_gaps)
            .context("scan segment", &log_path)?;
        let mut cut = Cut::default();
        self.damage = None;
        if scan.valid_end != file_len {
            if may_cut {
                self.log
                    .set_len(scan.valid_end)
                    .context("truncate torn tail", &log_path)?;
                self.log
                    .sync_data()
                    .context("sync truncated segment", &log_path)?;
                cut.bytes = file_len - scan.valid_end;
            } else {
                let kind = scan.torn.unwrap_or(DamageKind::BadHeader { reason: None });
                self.damage = Some((scan.valid_end, kind));
            }
        }
        self.size = scan.valid_end;
        self.write_indexes()?;
        if self.damage.is_some() {
            // Appends never come here (a damaged segment is sealed); reads
            // meet the damage after the last good batch and fail there.
            self.size = file_len;
        }
        self.rolling_base = self.first_batch_timestamp()?;
        Ok(cut)
    }

    /// Walks every batch from the start, verifying CRCs and offsets, and
    /// feeds the indexes. Stops at the first batch that is incomplete, corrupt
    /// or out of order (with `allow_gaps`, only going backwards is out of order).
    fn scan_verified(
        &mut self,
        file_len: u64,
        interval: u64,
        allow_gaps: bool,
    ) -> std::io::Result<Scan> {
        let torn = |pos, kind| {
            Ok(Scan {
                valid_end: pos,
                torn: Some(kind),
            })
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk_start = 0u64;
        let mut pos = 0u64;
        while pos < file_len {
            let rel = (pos - chunk_start) as usize;
            let header = if rel + HEADER_LEN <= buf.len() {
                match check_header(&buf[rel..], file_len - pos) {
                    Ok(h) => Some(h),
                    Err(kind) => return torn(pos, kind),
                }
            } else {
                None
            };
            let need = match header {
                Some(h) if rel + h.total_len() > buf.len() => h.total_len(),
                Some(h) => {
                    let batch = &buf[rel..rel + h.total_len()];
                    // Batches are written back to back, so a base offset that
                    // does not follow on (it is outside the CRC) marks damage.
                    let follows = if self.size == 0 {
                        h.base_offset >= self.base_offset
                    } else if allow_gaps {
                        h.base_offset >= self.next_offset
                    } else {
                        h.base_offset == self.next_offset
                    };
                    let in_order = follows
                        && h.last_offset_delta >= 0
                        && h.last_offset() - self.base_offset <= i64::from(u32::MAX);
                    if !in_order {
                        let expected = self.next_offset;
                        let found = h.base_offset;
                        return torn(pos, DamageKind::OffsetOrder { expected, found });
                    }
                    if let Err(e) = header::verify_crc(batch) {
                        return torn(pos, crc_damage(e));
                    }
                    self.note_batch(&h, pos, interval);
                    pos += h.total_len() as u64;
                    self.size = pos;
                    continue;
                }
                None if file_len - pos < HEADER_LEN as u64 => {
                    return torn(pos, DamageKind::BadHeader { reason: None });
                }
                None => HEADER_LEN,
            };
            // Refill from `pos`; the allocation is bounded by the file's size.
            let len = (need as u64).max((SCAN_CHUNK as u64).min(file_len - pos)) as usize;
            buf.resize(len, 0);
            self.log.read_exact_at(&mut buf, pos)?;
            chunk_start = pos;
        }
        Ok(Scan {
            valid_end: pos,
            torn: None,
        })
    }

    /// Rewrites both index files from the in-memory entries.
    fn write_indexes(&mut self) -> Result<(), LogError> {
        for (file, bytes, suffix) in [
            (&self.index_file, self.index.as_bytes(), INDEX_SUFFIX),
            (
                &self.time_file,
                self.time_index.as_bytes(),
                TIME_INDEX_SUFFIX,
            ),
        ] {
            let path = segment_path(&self.dir, self.base_offset, suffix);
            file.set_len(0).context("reset index", &path)?;
            file.write_at(bytes, 0).context("write index", &path)?;
        }
        Ok(())
    }

    fn first_batch_timestamp(&self) -> Result<Option<i64>, LogError> {
        if self.size < HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut head = [0u8; HEADER_LEN];
        self.log
            .read_exact_at(&mut head, 0)
            .context("read segment", &self.path(LOG_SUFFIX))?;
        Ok(BatchHeader::parse(&head)
            .ok()
            .flatten()
            .map(|h| h.max_timestamp))
    }

    /// Updates offsets, timestamps and the in-memory indexes for a batch at
    /// `position`; returns whether each index got an entry.
    fn note_batch(&mut self, h: &BatchHeader, position: u64, interval: u64) -> (bool, bool) {
        let mut added = (false, false);
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        if self.bytes_since_index >= interval {
            self.index.push(h.base_offset, position);
            added.0 = true;
            if self
                .time_index
                .last()
                .is_none_or(|(ts, _)| self.max_timestamp > ts)
            {
                self.time_index
                    .push(self.max_timestamp, self.offset_of_max_timestamp);
                added.1 = true;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_len() as u64;
        self.next_offset = h.next_offset();
        added
    }

    /// Appends `buf`, whole batches whose headers (and positions within
    /// `buf`) are given, at the end of the segment, with one write to each file.
    ///
    /// # Errors
    /// Any I/O error; the caller must then stop writing to the log.
    pub fn append(
        &mut self,
        buf: &[u8],
        batches: &[(usize, BatchHeader)],
        interval: u64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let log_path = self.path(LOG_SUFFIX);
        self.log
            .write_at(buf, self.size)
            .context("append to segment", &log_path)?;
        let (index_from, time_from) = (self.index.byte_len(), self.time_index.byte_len());
        for (at, h) in batches {
            self.note_batch(h, self.size + *at as u64, interval);
        }
        self.size += buf.len() as u64;
        self.rolling_base.get_or_insert(now_ms);
        if self.index.byte_len() > index_from {
            let path = self.path(INDEX_SUFFIX);
            self.index_file
                .write_at(&self.index.as_bytes()[index_from..], index_from as u64)
                .context("append to index", &path)?;
        }
        if self.time_index.byte_len() > time_from {
            let path = self.path(TIME_INDEX_SUFFIX);
            self.time_file
                .write_at(&self.time_index.as_bytes()[time_from..], time_from as u64)
                .context("append to time index", &path)?;
        }
        Ok(())
    }

    /// Seals the segment: records its final max timestamp in the time index,
    /// makes all three files durable and maps the indexes.
    pub fn seal(&mut self) -> Result<(), LogError> {
        self.finish_time_index()?;
        self.sync_all()?;
        self.map_indexes()
    }

    /// Maps the (durable, immutable) index files of a sealed segment.
    pub fn map_indexes(&mut self) -> Result<(), LogError> {
        if let Some(f) = self.index_file.std_file() {
            self.index
                .set_mapped(index::map_file(f).context("map index", &self.path(INDEX_SUFFIX))?);
        }
        if let Some(f) = self.time_file.std_file() {
            self.time_index.set_mapped(
                index::map_file(f).context("map time index", &self.path(TIME_INDEX_SUFFIX))?,
            );
        }
        self.sealed = true;
        Ok(())
    }

    /// Makes sure the time index's last entry is the segment's max timestamp,
    /// so a reopen learns it without a scan.
    pub fn finish_time_index(&mut self) -> Result<(), LogError> {
        if self.max_timestamp >= 0
            && self
                .time_index
                .last()
                .is_none_or(|(ts, _)| self.max_timestamp > ts)
        {
            let from = self.time_index.byte_len();
            let entry = self
                .time_index
                .push(self.max_timestamp, self.offset_of_max_timestamp);
            let path = self.path(TIME_INDEX_SUFFIX);
            self.time_file
                .write_at(&entry, from as u64)
                .context("append to time index", &path)?;
        }
        Ok(())
    }

    /// Handles on the segment's three files, to fsync them later without
    /// holding the log's lock.
    pub fn files(&self) -> SegmentFiles {
        SegmentFiles {
            files: [
                (Arc::clone(&self.log), self.path(LOG_SUFFIX)),
                (Arc::clone(&self.index_file), self.path(INDEX_SUFFIX)),
                (Arc::clone(&self.time_file), self.path(TIME_INDEX_SUFFIX)),
            ],
        }
    }

    /// fsyncs the log and both index files.
    pub fn sync_all(&self) -> Result<(), LogError> {
        self.log
            .sync_data()
            .context("sync segment", &self.path(LOG_SUFFIX))?;
        self.index_file
            .sync_data()
            .context("sync index", &self.path(INDEX_SUFFIX))?;
        self.time_file
            .sync_data()
            .context("sync time index", &self.path(TIME_INDEX_SUFFIX))?;
        Ok(())
    }

    /// Finds the first batch whose last offset is ≥ `offset`: its position and header.
    pub fn locate(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let mut scanner = HeaderScanner::new(&*self.log, self.index.lookup(offset), self.size);
        while let Some((pos, h)) = scanner
            .next()
            .context("scan segment", &self.path(LOG_SUFFIX))?
        {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
        }
        Ok(None)
    }

    /// Removes every batch whose last offset is ≥ `offset`, making the
    /// segment active again. Returns false when nothing was at or after it.
    pub fn truncate_to(&mut self, offset: i64, interval: u64) -> Result<bool, LogError> {
        let Some((pos, _)) = self.locate(offset)? else {
            return Ok(false);
        };
        // Drop the maps before the files shrink under them.
        self.index.make_owned();
        self.time_index.make_owned();
        self.sealed = false;
        let path = self.path(LOG_SUFFIX);
        self.log.set_len(pos).context("truncate segment", &path)?;
        // The truncated segment becomes the active one: no gaps allowed.
        self.rebuild(interval, false, true)?;
        self.sync_all()?;
        Ok(true)
    }

    /// Cuts the segment's `.log` at byte `position` (a damaged batch
    /// skipped on purpose) and rebuilds its indexes; a sealed segment
    /// stays sealed, with a gap at its end.
    pub fn cut_at(&mut self, position: u64, interval: u64) -> Result<(), LogError> {
        let sealed = self.sealed;
        // Drop the maps before the files shrink under them.
        self.index.make_owned();
        self.time_index.make_owned();
        self.sealed = false;
        let path = self.path(LOG_SUFFIX);
        self.log.set_len(position).context("cut segment", &path)?;
        self.rebuild(interval, true, true)?;
        self.sync_all()?;
        if sealed {
            self.finish_time_index()?;
            self.sync_all()?;
            self.map_indexes()?;
        }
        Ok(())
    }

    /// Deletes the segment's three files.
    pub fn delete(self, storage: &dyn Storage) -> Result<(), LogError> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let path = self.path(suffix);
            match storage.remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::Io {
                        action: "delete segment file",
                        path,
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Path of the segment file with `suffix` in `dir`.
pub fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{}{suffix}", file_stem(base_offset)))
}

fn read_all(file: &Arc<dyn StorageFile>, path: &Path) -> Result<Vec<u8>, LogError> {
    let len = file.len().context("stat index", path)?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)
        .context("read index", path)?;
    Ok(buf)
}

/// Reads the whole batches in `[from, end)` of `file`: at least the first
/// batch, then more while they fit in `max_bytes`.
///
/// # Errors
/// Any I/O error.
pub(crate) fn read_batches(
    file: &dyn StorageFile,
    from: u64,
    end: u64,
    first_len: usize,
    max_bytes: usize,
) -> std::io::Result<Bytes> {
    let want = (max_bytes.max(first_len) as u64).min(end - from) as usize;
    let mut buf = BytesMut::zeroed(want);
    file.read_exact_at(&mut buf, from)?;
    // Keep only whole batches: the last one may be cut by `max_bytes`.
    let mut keep = 0usize;
    while let Ok(Some(h)) = BatchHeader::parse(&buf[keep..]) {
        if keep + h.total_len() > buf.len() {
            break;
        }
        keep += h.total_len();
    }
    buf.truncate(keep);
    Ok(buf.freeze())
}

/// Walks batch headers from a position, reading in chunks.
pub(crate) struct HeaderScanner<'a> {
    file: &'a dyn StorageFile,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    end: u64,
    damage: Option<(u64, DamageKind)>,
}

impl<'a> HeaderScanner<'a> {
    /// A scanner over `[from, end)` of `file`.
    pub fn new(file: &'a dyn StorageFile, from: u64, end: u64) -> HeaderScanner<'a> {
        HeaderScanner {
            file,
            buf: Vec::new(),
            buf_start: from,
            pos: from,
            end,
            damage: None,
        }
    }

    /// Where the next batch would start.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next batch's position and header; `None` at the end or at bytes
    /// that are not a whole batch.
    ///
    /// # Errors
    /// Any I/O error.
    pub fn next(&mut self) -> std::io::Result<Option<(u64, BatchHeader)>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        if self.end - self.pos < HEADER_LEN as u64 {
            self.damage = Some((self.pos, DamageKind::BadHeader { reason: None }));
            return Ok(None);
        }
        let offset = (self.pos - self.buf_start) as usize;
        if offset + HEADER_LEN > self.buf.len() {
            let len = (self.end - self.pos).min(HEADER_CHUNK as u64) as usize;
            self.buf.resize(len, 0);
            self.file.read_exact_at(&mut self.buf, self.pos)?;
            self.buf_start = self.pos;
            return self.next();
        }
        match check_header(&self.buf[offset..], self.end - self.pos) {
            Ok(h) => {
                let at = self.pos;
                self.pos += h.total_len() as u64;
                Ok(Some((at, h)))
            }
            Err(kind) => {
                self.damage = Some((self.pos, kind));
                Ok(None)
            }
        }
    }

    /// Why the last [`HeaderScanner::next`] returned `None` before the end:
    /// the position and what is wrong there (`None` at the end proper).
    pub fn damage(&self) -> Option<&(u64, DamageKind)> {
        self.damage.as_ref()
    }
}
