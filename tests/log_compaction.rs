//! Log compaction: what a round keeps, tombstone lifetime by the manual
//! clock, the compaction lags, keyless appends, retention under each
//! policy, recovery of cleaned segments, the rate limit and the background
//! cleaner, and a million appends over a thousand keys.

mod compaction_common;

use compaction_common::*;
use logbus::clock::ManualClock;
use logbus::log::storage::{FileStorage, MemoryStorage, Storage};
use logbus::log::{
    CHECKPOINT_FILE, Cleaner, CleanerConfig, CleanupPolicy, Durability, Log, LogConfig, LogError,
    cleaner::Throttler,
};
use logbus::record::{BatchBuilder, Compression};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const DIR: &str = "/data/compacted-0";

fn kv(k: &str, v: Option<&str>) -> Kv {
    (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))
}

fn open(storage: &MemoryStorage, config: LogConfig, clock: &ManualClock) -> Log {
    let storage: Arc<dyn Storage> = Arc::new(storage.clone());
    Log::open(storage, Path::new(DIR), config, Arc::new(clock.clone())).expect("open")
}

fn append(log: &Log, records: &[Kv], ts: i64) {
    let mut bytes = keyed_batch(records, ts, Compression::None);
    log.append(&mut bytes, Durability::Written).expect("append");
}

#[test]
fn compaction_keeps_each_keys_latest_record_with_its_offset_and_timestamp() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(10_000);
    let log = open(&storage, compact_config(1 << 20), &clock);
    append(&log, &[kv("a", Some("1")), kv("b", Some("1"))], 1_000);
    append(&log, &[kv("a", Some("2")), kv("c", Some("1"))], 2_000);
    append(&log, &[kv("b", Some("2"))], 3_000);
    log.roll().unwrap();
    append(&log, &[kv("a", Some("3"))], 4_000); // active: never cleaned
    let before = records(&log);
    let stats = log
        .clean_once(&CleanerConfig::default())
        .unwrap()
        .expect("a round ran");
    assert_eq!(stats.keys, 3);
    assert_eq!(stats.end_offset, 5);
    let after = records(&log);
    let offsets: Vec<i64> = after.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [2, 3, 4, 5]);
    for r in &after {
        assert_eq!(r, &before[r.offset as usize], "survivors are unchanged");
    }
    assert_eq!(replay(&after), replay(&before));
    assert_eq!(log.first_dirty_offset(), 5);
    assert_eq!(log.last_cleaner_stats(), Some(stats));
    // Reading a removed offset gives the next survivor.
    assert_eq!(next_record_from(&log, 0).unwrap().offset, 2);
    assert_eq!(next_record_from(&log, 1).unwrap().offset, 2);
    // Nothing dirty any more: the next round has nothing to do.
    assert_eq!(log.clean_once(&CleanerConfig::default()).unwrap(), None);
}

#[test]
fn a_batch_keeps_its_base_offset_last_offset_delta_producer_and_codec() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let log = open(&storage, compact_config(1 << 20), &clock);
    let mut b = BatchBuilder::new(Compression::Gzip).producer(7, 3, 100);
    for (k, v) in [("a", "1"), ("b", "1"), ("a", "2"), ("c", "1")] {
        b.append(50, Some(k.as_bytes()), Some(v.as_bytes()), &[])
            .unwrap();
    }
    let mut bytes = b.build().unwrap();
    log.append(&mut bytes, Durability::Written).unwrap();
    append(&log, &[kv("c", Some("2"))], 60);
    log.roll().unwrap();
    log.clean_once(&CleanerConfig::default()).unwrap().unwrap();
    let (h, recs) = batches(&log).remove(0);
    assert_eq!((h.base_offset, h.last_offset_delta), (0, 3));
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (7, 3, 100)
    );
    assert_eq!(h.compression_code(), Compression::Gzip.code());
    let kept: Vec<i64> = recs.iter().map(|r| r.offset).collect();
    assert_eq!(kept, [1, 2], "a@0 and c@3 were superseded");
    assert!(recs.iter().all(|r| r.timestamp == 50));
}

#[test]
fn a_tombstone_is_visible_until_delete_retention_ms_after_its_first_cleaning_then_gone() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        delete_retention_ms: 60_000,
        ..compact_config(1 << 20)
    };
    let log = open(&storage, config, &clock);
    append(&log, &[kv("a", Some("1")), kv("b", Some("1"))], 1_000);
    append(&log, &[kv("a", None)], 2_000);
    log.roll().unwrap();
    append(&log, &[kv("z", Some("active"))], 3_000);
    let cfg = CleanerConfig::default();
    let stats = log.clean_once(&cfg).unwrap().unwrap();
    assert_eq!(stats.earliest_delete_horizon, Some(1_060_000));
    let after = records(&log);
    assert_eq!(
        after.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let tombstone = &after[1];
    assert_eq!(
        (tombstone.value.as_ref(), tombstone.timestamp),
        (None, 2_000)
    );
    let (h, _) = &batches(&log)[1];
    assert!(h.has_delete_horizon());
    assert_eq!(h.base_timestamp, 1_060_000);

    clock.advance(59_999);
    assert_eq!(log.clean_once(&cfg).unwrap(), None, "not due yet");
    assert!(records(&log).iter().any(|r| r.value.is_none()));

    clock.advance(1);
    let stats = log
        .clean_once(&cfg)
        .unwrap()
        .expect("the passed horizon triggers a round");
    assert_eq!(stats.tombstones_removed, 1);
    let after = records(&log);
    assert_eq!(after.iter().map(|r| r.offset).collect::<Vec<_>>(), [1, 3]);
    assert!(after.iter().all(|r| r.value.is_some()));
}

#[test]
fn records_within_min_compaction_lag_are_never_removed() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(100_000);
    let config = LogConfig {
        min_compaction_lag_ms: 50_000,
        ..compact_config(1 << 20)
    };
    let log = open(&storage, config, &clock);
    append(&log, &[kv("a", Some("old"))], 10_000);
    log.roll().unwrap();
    append(&log, &[kv("a", Some("new"))], 90_000); // 10 s old: within the lag
    log.roll().unwrap();
    append(&log, &[kv("a", Some("newest"))], 99_000);
    let cfg = CleanerConfig::default();
    // Only the first segment is cleanable, and alone it holds nothing obsolete.
    log.clean_once(&cfg).unwrap();
    assert_eq!(records(&log).len(), 3);
    clock.advance(45_000); // now 145 s: the second segment's newest is 55 s old
    log.clean_once(&cfg).unwrap().unwrap();
    let values: Vec<_> = records(&log)
        .into_iter()
        .map(|r| r.value.unwrap())
        .collect();
    assert_eq!(values, ["new", "newest"]);
}

#[test]
fn max_compaction_lag_forces_a_round_below_the_dirty_ratio() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        min_cleanable_dirty_ratio: 2.0, // never reached
        max_compaction_lag_ms: 10_000,
        ..compact_config(1 << 20)
    };
    let log = open(&storage, config, &clock);
    append(&log, &[kv("a", Some("1")), kv("a", Some("2"))], 1_000);
    log.roll().unwrap();
    let cfg = CleanerConfig::default();
    clock.set(5_000);
    assert_eq!(log.clean_once(&cfg).unwrap(), None);
    assert!(!log.cleanable().unwrap().overdue);
    clock.set(11_001);
    assert!(log.cleanable().unwrap().overdue);
    log.clean_once(&cfg).unwrap().unwrap();
    assert_eq!(records(&log).len(), 1);
}

#[test]
fn a_compacted_log_rejects_a_record_without_a_key_and_a_delete_log_accepts_it() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let log = open(&storage, compact_config(1 << 20), &clock);
    let mut b = BatchBuilder::new(Compression::Lz4);
    b.append(1, Some(b"k"), Some(b"v"), &[]).unwrap();
    b.append(1, None, Some(b"v"), &[]).unwrap();
    let keyless = b.build().unwrap();
    let mut ok = keyed_batch(&[kv("k", Some("v"))], 1, Compression::None);
    let mut both = ok.clone();
    both.extend_from_slice(&keyless);
    match log.append(&mut both, Durability::Written) {
        Err(LogError::MissingKey { position, record }) => {
            assert_eq!((position, record), (ok.len(), 1));
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    assert_eq!(log.log_end_offset(), 0, "nothing of the append was written");
    log.append(&mut ok, Durability::Written).unwrap();
    log.set_config(LogConfig::default());
    log.append(&mut keyless.clone(), Durability::Written)
        .unwrap();
}

#[test]
fn retention_deletes_by_size_only_when_the_policy_includes_delete() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    for (policy, deletes) in [
        (CleanupPolicy::Compact, false),
        (CleanupPolicy::CompactDelete, true),
        (CleanupPolicy::Delete, true),
    ] {
        let storage = storage.crash_clean();
        let config = LogConfig {
            cleanup_policy: policy,
            retention_bytes: Some(1),
            ..compact_config(1 << 20)
        };
        let log = open(&storage, config, &clock);
        append(&log, &[kv("a", Some("1"))], 1);
        log.roll().unwrap();
        append(&log, &[kv("a", Some("2"))], 1);
        let outcome = log.apply_retention().unwrap();
        assert_eq!(outcome.segments == 1, deletes, "{}", policy.kafka_name());
    }
}

#[test]
fn a_full_recovery_scan_accepts_the_gaps_of_cleaned_sealed_segments() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let log = open(&storage, compact_config(300), &clock);
    for i in 0..40 {
        append(
            &log,
            &[kv(&format!("k{}", i % 3), Some(&format!("v{i}")))],
            i,
        );
    }
    log.roll().unwrap();
    log.clean_once(&CleanerConfig::default()).unwrap().unwrap();
    append(&log, &[kv("k0", Some("last"))], 99);
    log.flush().unwrap();
    let expected = records(&log);
    drop(log);
    // Without a checkpoint every segment is scanned and verified.
    let crashed = storage.crash_keep_all();
    crashed
        .remove_file(&Path::new(DIR).join(CHECKPOINT_FILE))
        .unwrap();
    let log = open(&crashed, compact_config(300), &clock);
    assert_eq!(records(&log), expected);
    assert_eq!(log.log_end_offset(), 41);
}

#[test]
fn the_map_bound_splits_cleaning_into_rounds_that_resume_where_the_last_stopped() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let log = open(&storage, compact_config(400), &clock);
    for i in 0..60 {
        append(
            &log,
            &[kv(&format!("k{}", i % 10), Some(&format!("v{i}")))],
            i,
        );
    }
    log.roll().unwrap();
    let before = records(&log);
    let cfg = CleanerConfig {
        max_map_entries: 4,
        ..CleanerConfig::default()
    };
    let first = log.clean_once(&cfg).unwrap().unwrap();
    assert!(first.map_full);
    assert_eq!(first.end_offset, 4, "k4 at offset 4 did not fit");
    assert_eq!(log.first_dirty_offset(), 4);
    let mut rounds = 1;
    while let Some(stats) = log.clean_once(&cfg).unwrap() {
        rounds += 1;
        assert!(stats.first_dirty < stats.end_offset);
        assert!(stats.keys <= 4);
    }
    assert!(rounds > 2);
    let after = records(&log);
    assert_eq!(replay(&after), replay(&before));
    assert_eq!(after.len(), 10);
}

#[test]
fn a_paced_round_reports_its_io_and_the_throttler_pauses_by_the_clock() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let log = open(&storage, compact_config(2_000), &clock);
    for i in 0..200 {
        append(&log, &[kv(&format!("k{}", i % 5), Some("0123456789"))], i);
    }
    log.roll().unwrap();
    let mut throttler = Throttler::new(1_000, Arc::new(clock.clone()));
    let (mut paced, mut paused) = (0u64, Duration::ZERO);
    let mut pace = |bytes: u64| {
        paced += bytes;
        let pause = throttler.record(bytes);
        paused += pause;
        clock.advance(pause.as_millis() as i64); // the test's "sleep"
        ControlFlow::Continue(())
    };
    let stats = log
        .clean_once_paced(&CleanerConfig::default(), &mut pace)
        .unwrap()
        .unwrap();
    assert!(paced >= stats.bytes_read);
    // At 1000 B/s the round's I/O takes about its size in ms of clock
    // (each judged window rounds down, the last one is not judged yet).
    let paused_ms = paused.as_millis() as u64;
    assert!(
        paused_ms <= paced && paused_ms >= paced * 9 / 10,
        "paused {paused_ms} ms for {paced} bytes"
    );
    // A pace that stops the round leaves the log as it was.
    for i in 0..50 {
        append(&log, &[kv("k0", Some(&format!("w{i}")))], 1_000 + i);
    }
    log.roll().unwrap();
    let before = records(&log);
    let stopped = log
        .clean_once_paced(&CleanerConfig::default(), &mut |_| ControlFlow::Break(()))
        .unwrap();
    assert_eq!(stopped, None);
    assert_eq!(records(&log), before);
    assert!(
        storage
            .list_dir(Path::new(DIR))
            .unwrap()
            .iter()
            .all(|n| !n.ends_with(".cleaned"))
    );
}

#[test]
fn the_background_cleaner_compacts_registered_logs_until_stopped() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(0);
    let log = Arc::new(open(&storage, compact_config(1 << 20), &clock));
    for i in 0..20 {
        append(&log, &[kv(&format!("k{}", i % 2), Some("v"))], i);
    }
    log.roll().unwrap();
    let config = CleanerConfig {
        backoff: Duration::from_secs(3600),
        ..CleanerConfig::default()
    };
    let cleaner = Cleaner::start(config, Arc::new(clock.clone())).unwrap();
    cleaner.add_log(Arc::clone(&log));
    // Passes are events, not time. Whether the thread's first pass saw the
    // log or not, the round has run once two passes are complete.
    assert!(cleaner.wait_for_passes(2, Duration::from_secs(60)));
    let stats = log.last_cleaner_stats().expect("the cleaner ran a round");
    assert_eq!(stats.keys, 2);
    assert_eq!(cleaner.rounds(), 1);
    assert_eq!(cleaner.errors(), 0);
    assert_eq!(records(&log).len(), 2);
    cleaner.stop();
}

/// 1,000,000 appends over 1,000 keys, in batches of 1,000 records, on the
/// file system: about 1,000 records stay and the log shrinks accordingly.
#[test]
fn a_million_appends_over_a_thousand_keys_compact_to_a_thousand_records() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new());
    let clock = ManualClock::new(0);
    let config = compact_config(4 << 20);
    let log = Log::open(
        Arc::clone(&storage),
        dir.path(),
        config,
        Arc::new(clock.clone()),
    )
    .unwrap();
    let keys: Vec<Vec<u8>> = (0..1_000)
        .map(|k| format!("key-{k:04}").into_bytes())
        .collect();
    for batch in 0..1_000i64 {
        let mut b = BatchBuilder::new(Compression::None);
        for (k, key) in keys.iter().enumerate() {
            let value = (batch * 1_000 + k as i64).to_be_bytes();
            b.append(batch, Some(key), Some(&value), &[]).unwrap();
        }
        let mut bytes = b.build().unwrap();
        log.append(&mut bytes, Durability::Written).unwrap();
    }
    log.roll().unwrap();
    let size_before = log.size_bytes();
    let segments_before = log.segment_count();
    let stats = log.clean_once(&CleanerConfig::default()).unwrap().unwrap();
    assert_eq!(stats.keys, 1_000);
    assert_eq!(stats.records_kept, 1_000);
    let after = records(&log);
    assert_eq!(after.len(), 1_000);
    for (k, r) in after.iter().enumerate() {
        assert_eq!(r.offset, 999_000 + k as i64, "only the last batch survives");
        assert_eq!(r.value.as_deref(), Some(&r.offset.to_be_bytes()[..]));
    }
    let size_after = log.size_bytes();
    // ~25 B per record before, the same per survivor after.
    assert!(size_before > 20_000_000, "{size_before}");
    assert!(size_after < 40_000, "{size_after}");
    assert!(log.segment_count() <= segments_before);
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk < 100_000, "{on_disk} bytes left on disk");
}
