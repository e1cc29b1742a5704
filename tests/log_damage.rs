//! Damage inside durable segments is never served and never skipped
//! silently: each way a sealed segment can be damaged (a flipped payload
//! byte, a bad magic byte, a batch length grown to 1 MiB, a base offset
//! moved back or forth, a deleted segment file) makes the read of the
//! damaged range fail with `LogError::Damaged` naming the offsets, after
//! every record before it was served; and `skip_damaged` gives the range
//! up on purpose, keeping every record before and after it.

mod common;

use common::batch;
use logbus::clock::ManualClock;
use logbus::log::storage::FileStorage;
use logbus::log::{DamageKind, Log, LogConfig, LogError};
use std::path::Path;
use std::sync::Arc;

const BATCHES: i64 = 35;
const PER_BATCH: i64 = 10;
/// Batches per segment: segments start at 0, 70, 140, 210, 280.
const PER_SEGMENT: i64 = 7;

fn config(batch_len: usize) -> LogConfig {
    LogConfig {
        segment_bytes: (PER_SEGMENT as u64) * batch_len as u64,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, batch_len: usize) -> Log {
    Log::open(
        Arc::new(FileStorage::new()),
        dir,
        config(batch_len),
        Arc::new(ManualClock::new(1_000)),
    )
    .expect("open")
}

/// Writes 35 batches of 10 records; closes cleanly, or leaves it after
/// making the sealed segments durable (a crash after a flush).
fn build(dir: &Path, clean: bool) -> usize {
    let len = batch("b", PER_BATCH as usize, 1_000).len();
    let log = open(dir, len);
    for _ in 0..BATCHES {
        let mut b = batch("b", PER_BATCH as usize, 1_000);
        log.append(&mut b, logbus::log::Durability::Written)
            .unwrap();
    }
    assert_eq!(log.segment_bases(), vec![0, 70, 140, 210, 280]);
    if clean {
        log.close().unwrap();
    } else {
        log.flush_sealed().unwrap();
        drop(log);
    }
    len
}

fn segment(dir: &Path, base: i64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.log"))
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    FlippedPayloadByte,
    BadMagic,
    LengthGrownTo1MiB,
    BaseOffsetBack,
    BaseOffsetForward,
    DeletedSegment,
}

const ALL: [Damage; 6] = [
    Damage::FlippedPayloadByte,
    Damage::BadMagic,
    Damage::LengthGrownTo1MiB,
    Damage::BaseOffsetBack,
    Damage::BaseOffsetForward,
    Damage::DeletedSegment,
];

/// Damages batch `index` of the segment at `base`; returns the first
/// offset that can no longer be read.
fn damage(dir: &Path, base: i64, index: i64, len: usize, how: Damage) -> i64 {
    let path = segment(dir, base);
    if let Damage::DeletedSegment = how {
        for suffix in [".log", ".index", ".timeindex"] {
            std::fs::remove_file(dir.join(format!("{base:020}{suffix}"))).unwrap();
        }
        return base;
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let at = index as usize * len;
    let first = base + index * PER_BATCH;
    match how {
        Damage::FlippedPayloadByte => bytes[at + len - 3] ^= 0xff,
        Damage::BadMagic => bytes[at + 16] = 1,
        Damage::LengthGrownTo1MiB => {
            bytes[at + 8..at + 12].copy_from_slice(&(1i32 << 20).to_be_bytes())
        }
        Damage::BaseOffsetBack => bytes[at..at + 8].copy_from_slice(&(first - 5).to_be_bytes()),
        Damage::BaseOffsetForward => bytes[at..at + 8].copy_from_slice(&(first + 5).to_be_bytes()),
        Damage::DeletedSegment => unreachable!(),
    }
    std::fs::write(&path, bytes).unwrap();
    first
}

/// Reads one batch at a time from 0; returns every offset served before
/// the first error, and that error.
fn read_until_error(log: &Log, max_bytes: usize) -> (Vec<i64>, Option<LogError>) {
    let mut served = Vec::new();
    let mut next = 0;
    loop {
        match log.read(next, max_bytes) {
            Ok(r) if r.bytes.is_empty() => return (served, None),
            Ok(r) => {
                for (first, last, _) in common::split(&r.bytes) {
                    assert!(first >= next, "offsets never go back: {first} after {next}");
                    served.extend(first..=last);
                    next = last + 1;
                }
            }
            Err(e) => return (served, Some(e)),
        }
    }
}

fn assert_damaged_at(e: Option<LogError>, dir: &Path, first: i64, end: i64, how: Damage) {
    match e {
        Some(LogError::Damaged { dir: d, range }) => {
            assert_eq!(d, dir, "{how:?}: the error names the partition");
            assert_eq!(
                (range.first_offset, range.end_offset),
                (first, end),
                "{how:?}: the error names the offsets: {range}"
            );
            if let Damage::DeletedSegment = how {
                assert_eq!(range.kind, DamageKind::MissingSegment);
            }
        }
        other => panic!("{how:?}: expected a damaged-range error, got {other:?}"),
    }
}

#[test]
fn every_kind_of_damage_in_a_sealed_segment_fails_the_read_after_serving_what_precedes_it() {
    for clean in [true, false] {
        for how in ALL {
            for max_bytes in [1, 1 << 20] {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("t-0");
                let len = build(&dir, clean);
                let first = damage(&dir, 70, 3, len, how);
                let log = open(&dir, len);
                let (served, err) = read_until_error(&log, max_bytes);
                assert_eq!(
                    served,
                    (0..first).collect::<Vec<_>>(),
                    "{how:?} (clean {clean}): everything before the damage is served, nothing after"
                );
                assert_damaged_at(err, &dir, first, 140, how);
                // Asked again, and from inside the range, it still fails.
                assert!(matches!(
                    log.read(first, max_bytes),
                    Err(LogError::Damaged { .. })
                ));
                assert!(log.damage_stats().damaged_reads >= 2, "{how:?}: counted");
                // What follows the damaged segment is readable.
                let rest = common::read_all(&log, 140);
                assert_eq!(rest.first().map(|b| b.0), Some(140), "{how:?}");
                assert_eq!(rest.last().map(|b| b.1), Some(349), "{how:?}");
            }
        }
    }
}

#[test]
fn skipping_a_damaged_range_keeps_every_record_before_and_after_it_across_a_reopen() {
    for how in ALL {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let len = build(&dir, true);
        let first = damage(&dir, 70, 3, len, how);
        let log = open(&dir, len);
        let found = log.scan_damage().unwrap();
        assert_eq!(found.len(), 1, "{how:?}: {found:?}");
        assert_eq!((found[0].first_offset, found[0].end_offset), (first, 140));
        log.skip_damaged(&found[0]).unwrap();
        let stats = log.damage_stats();
        assert_eq!(
            (stats.skipped_ranges, stats.skipped_offsets),
            (1, (140 - first) as u64)
        );
        let expect: Vec<i64> = (0..first).chain(140..350).collect();
        let offsets = |log: &Log| -> Vec<i64> {
            common::read_all(log, 0)
                .iter()
                .flat_map(|b| b.0..=b.1)
                .collect()
        };
        assert_eq!(offsets(&log), expect, "{how:?}");
        log.close().unwrap();
        let log = open(&dir, len);
        assert!(
            log.known_damage().is_empty(),
            "{how:?}: the skip is remembered"
        );
        assert!(log.scan_damage().unwrap().is_empty(), "{how:?}");
        assert_eq!(offsets(&log), expect, "{how:?} after a reopen");
        // A crash (no clean close) remembers it too.
        drop(log);
        let log = open(&dir, len);
        assert!(
            log.scan_damage().unwrap().is_empty(),
            "{how:?} after a crash"
        );
    }
}

#[test]
fn damage_in_the_active_segment_after_a_clean_shutdown_is_kept_and_offsets_never_repeat() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let len = build(&dir, true);
    let first = damage(&dir, 280, 3, len, Damage::FlippedPayloadByte);
    let log = open(&dir, len);
    let (served, err) = read_until_error(&log, 1 << 20);
    assert_eq!(served, (0..first).collect::<Vec<_>>());
    assert_damaged_at(err, &dir, first, 350, Damage::FlippedPayloadByte);
    let mut b = batch("b", 10, 1_000);
    let info = log
        .append(&mut b, logbus::log::Durability::Written)
        .unwrap();
    assert_eq!(info.first_offset, 350, "no offset is handed out twice");
    assert_eq!(
        std::fs::metadata(segment(&dir, 280)).unwrap().len(),
        7 * len as u64
    );
}

#[test]
fn a_deleted_first_segment_is_a_hole_not_a_new_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let len = build(&dir, true);
    damage(&dir, 0, 0, len, Damage::DeletedSegment);
    let log = open(&dir, len);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.damage_stats().found_on_open, 1);
    let (served, err) = read_until_error(&log, 1 << 20);
    assert!(served.is_empty());
    assert_damaged_at(err, &dir, 0, 70, Damage::DeletedSegment);
}

#[test]
fn a_deleted_last_segment_moves_the_log_end_past_the_hole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let len = build(&dir, true);
    damage(&dir, 280, 0, len, Damage::DeletedSegment);
    let log = open(&dir, len);
    assert_eq!(
        log.log_end_offset(),
        350,
        "durable offsets are never given again"
    );
    assert!(matches!(
        log.read(280, 1 << 20),
        Err(LogError::Damaged { .. })
    ));
}

#[test]
fn a_damaged_batch_fails_a_lookup_by_timestamp_that_must_decode_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let len = build(&dir, true);
    damage(&dir, 0, 0, len, Damage::FlippedPayloadByte);
    let log = open(&dir, len);
    assert!(matches!(
        log.offset_for_timestamp(0),
        Err(LogError::Damaged { .. })
    ));
}
