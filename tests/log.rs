//! Behaviour of a partition's log on the real file system.

mod common;

use common::{batch, open, read_all, sized_batch, split};
use logbus::clock::ManualClock;
use logbus::log::storage::{FileStorage, Storage};
use logbus::log::{Durability, LogConfig, LogError, OpenKind, lock_data_dir};
use logbus::record::RecordError;
use std::sync::Arc;

fn fs() -> Arc<dyn Storage> {
    Arc::new(FileStorage::new())
}

#[test]
fn append_assigns_offsets_and_read_returns_the_stored_batches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000);
    let log = open(fs(), dir.path(), LogConfig::default(), &clock);
    let mut a = batch("a", 3, 1_000);
    let mut b = batch("b", 2, 1_001);
    assert_eq!(
        log.append(&mut a, Durability::Written)
            .unwrap()
            .first_offset,
        0
    );
    let info = log.append(&mut b, Durability::Fsync).unwrap();
    assert_eq!(
        (info.first_offset, info.last_offset, info.batches),
        (3, 4, 1)
    );
    assert_eq!(log.log_end_offset(), 5);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].0, all[0].1), (0, 2));
    // Stored unchanged: the same bytes as appended, with the offset rewritten.
    assert_eq!(all[0].2, a);
    assert_eq!(all[1].2, b);
    // A read from inside a batch starts at that batch.
    assert_eq!(split(&log.read(4, 1 << 20).unwrap().bytes)[0].0, 3);
}

#[test]
fn many_batches_in_one_append_get_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(fs(), dir.path(), LogConfig::default(), &clock);
    let mut buf = Vec::new();
    for i in 0..5 {
        buf.extend(batch(&format!("b{i}"), 4, 10));
    }
    let info = log.append(&mut buf, Durability::Written).unwrap();
    assert_eq!(
        (info.first_offset, info.last_offset, info.batches),
        (0, 19, 5)
    );
    let bases: Vec<i64> = read_all(&log, 0).iter().map(|b| b.0).collect();
    assert_eq!(bases, vec![0, 4, 8, 12, 16]);
}

#[test]
fn read_returns_a_whole_batch_larger_than_max_bytes_and_only_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(fs(), dir.path(), LogConfig::default(), &clock);
    let mut big = sized_batch(10_000, 1);
    let mut small = sized_batch(100, 2);
    log.append(&mut big, Durability::Written).unwrap();
    log.append(&mut small, Durability::Written).unwrap();
    let r = log.read(0, 10).unwrap();
    assert_eq!(r.bytes.len(), big.len());
    let r = log.read(0, big.len() + 10).unwrap();
    assert_eq!(r.bytes.len(), big.len(), "a cut batch is not returned");
    let r = log.read(0, big.len() + small.len()).unwrap();
    assert_eq!(split(&r.bytes).len(), 2);
}

#[test]
fn out_of_range_reads_report_both_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(fs(), dir.path(), LogConfig::default(), &clock);
    log.append(&mut batch("a", 3, 1), Durability::Written)
        .unwrap();
    assert!(log.read(3, 100).unwrap().bytes.is_empty());
    match log.read(4, 100) {
        Err(LogError::OffsetOutOfRange {
            offset: 4,
            log_start_offset: 0,
            log_end_offset: 3,
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        log.read(-1, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn invalid_batches_are_rejected_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(fs(), dir.path(), LogConfig::default(), &clock);
    let good = batch("a", 2, 1);
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let mut buf = [good.clone(), corrupt].concat();
    match log.append(&mut buf, Durability::Written) {
        Err(LogError::InvalidBatch {
            position,
            source: RecordError::CrcMismatch { .. },
        }) => assert_eq!(position, good.len()),
        other => panic!("unexpected {other:?}"),
    }
    let mut truncated = good[..good.len() - 3].to_vec();
    assert!(matches!(
        log.append(&mut truncated, Durability::Written),
        Err(LogError::InvalidBatch {
            source: RecordError::Truncated { .. },
            ..
        })
    ));
    assert!(matches!(
        log.append(&mut [], Durability::Written),
        Err(LogError::EmptyAppend)
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn oversized_batches_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        max_batch_bytes: 1_000,
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config, &clock);
    assert!(matches!(
        log.append(&mut sized_batch(2_000, 1), Durability::Written),
        Err(LogError::InvalidBatch {
            source: RecordError::BatchTooLarge { .. },
            ..
        })
    ));
}

#[test]
fn segments_roll_by_size_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 1_000,
        segment_ms: 60_000,
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config, &clock);
    for _ in 0..3 {
        log.append(&mut sized_batch(400, 1), Durability::Written)
            .unwrap();
    }
    assert_eq!(
        log.segment_bases(),
        vec![0, 2],
        "the third batch does not fit the first segment"
    );
    clock.advance(59_999);
    log.append(&mut sized_batch(10, 1), Durability::Written)
        .unwrap();
    assert_eq!(log.segment_count(), 2);
    clock.advance(1);
    log.append(&mut sized_batch(10, 1), Durability::Written)
        .unwrap();
    assert_eq!(log.segment_bases(), vec![0, 2, 4]);
    assert_eq!(read_all(&log, 0).len(), 5);
    // Segment files are named by their base offset.
    assert!(dir.path().join("00000000000000000002.log").exists());
    assert!(dir.path().join("00000000000000000002.index").exists());
    assert!(dir.path().join("00000000000000000002.timeindex").exists());
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config, &clock);
    for ts in [100, 200, 300, 400, 500] {
        log.append(&mut batch("t", 2, ts), Durability::Written)
            .unwrap();
    }
    assert!(log.segment_count() > 1);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some(0));
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some(0));
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some(2));
    assert_eq!(log.offset_for_timestamp(450).unwrap(), Some(8));
    assert_eq!(log.offset_for_timestamp(501).unwrap(), None);
}

#[test]
fn retention_deletes_old_sealed_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(10_000);
    let config = LogConfig {
        segment_bytes: 500,
        retention_ms: Some(1_000),
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config.clone(), &clock);
    for ts in [1_000, 2_000, 9_500] {
        log.append(&mut sized_batch(400, ts), Durability::Written)
            .unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    let outcome = log.apply_retention().unwrap();
    assert_eq!(outcome.segments, 2);
    assert_eq!(log.log_start_offset(), 2);
    assert!(matches!(
        log.read(1, 10),
        Err(LogError::OffsetOutOfRange {
            log_start_offset: 2,
            ..
        })
    ));
    clock.advance(100_000);
    assert_eq!(
        log.apply_retention().unwrap().segments,
        0,
        "the active segment stays"
    );

    log.set_config(LogConfig {
        retention_ms: None,
        retention_bytes: Some(900),
        ..config
    });
    for _ in 0..4 {
        log.append(&mut sized_batch(400, 1), Durability::Written)
            .unwrap();
    }
    log.apply_retention().unwrap();
    assert!(log.size_bytes() <= 900 + 500, "size {}", log.size_bytes());
    assert_eq!(log.log_start_offset(), log.segment_bases()[0]);
}

#[test]
fn delete_records_before_moves_the_start_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 500,
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config.clone(), &clock);
    for _ in 0..4 {
        log.append(&mut sized_batch(400, 1), Durability::Written)
            .unwrap();
    }
    log.delete_records_before(2).unwrap();
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(log.segment_bases(), vec![2, 3]);
    assert!(matches!(
        log.delete_records_before(9),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    drop(log);
    let log = open(fs(), dir.path(), config, &clock);
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(read_all(&log, 2).len(), 2);
}

#[test]
fn truncate_to_cuts_at_the_batch_boundary_and_appends_continue_there() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 400,
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config.clone(), &clock);
    for i in 0..6 {
        log.append(&mut batch(&format!("{i}"), 3, 1), Durability::Written)
            .unwrap();
    }
    log.truncate_to(7).unwrap();
    assert_eq!(
        log.log_end_offset(),
        6,
        "the batch holding offset 7 goes whole"
    );
    let info = log
        .append(&mut batch("new", 1, 1), Durability::Written)
        .unwrap();
    assert_eq!(info.first_offset, 6);
    drop(log);
    let log = open(fs(), dir.path(), config, &clock);
    assert_eq!(log.log_end_offset(), 7);
    assert_eq!(read_all(&log, 0).len(), 3);
}

#[test]
fn clean_close_reopens_without_a_scan_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 2_000,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = open(fs(), dir.path(), config.clone(), &clock);
    for i in 0..50 {
        log.append(&mut batch(&format!("{i}"), 2, i), Durability::Written)
            .unwrap();
    }
    let before = read_all(&log, 0);
    log.close().unwrap();
    let log = open(fs(), dir.path(), config.clone(), &clock);
    assert_eq!(log.open_kind(), OpenKind::Clean);
    assert_eq!(read_all(&log, 0), before);
    assert_eq!(log.offset_for_timestamp(40).unwrap(), Some(80));
    // The marker is gone once opened: a crash now means recovery.
    drop(log);
    let log = open(fs(), dir.path(), config, &clock);
    assert!(matches!(
        log.open_kind(),
        OpenKind::Recovered {
            truncated: false,
            ..
        }
    ));
    assert_eq!(read_all(&log, 0), before);
}

#[test]
fn a_second_owner_of_the_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new();
    let _held = lock_data_dir(&storage, dir.path()).unwrap();
    match lock_data_dir(&storage, dir.path()) {
        Err(e @ LogError::Locked { .. }) => assert!(e.to_string().contains("cannot lock")),
        other => panic!("unexpected {other:?}"),
    }
}
