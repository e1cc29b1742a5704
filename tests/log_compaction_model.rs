//! Compaction against a model of everything ever written: a proptest of
//! random keyed appends (tombstones, every codec) with cleaning rounds,
//! clock moves and reopens at random points; and a crash at every storage
//! operation of one cleaning round.
//!
//! Invariants checked: replaying the log gives the model's key → value map;
//! every surviving offset holds exactly the record written there, in a
//! batch of the codec it was written with; offsets strictly increase; a
//! read from any offset, removed ones included, yields the next survivor.

mod compaction_common;

use bytes::Bytes;
use compaction_common::*;
use logbus::clock::ManualClock;
use logbus::log::storage::{MemoryStorage, Storage};
use logbus::log::{CleanerConfig, Durability, Log, LogConfig};
use logbus::record::{Compression, Record};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

const DIR: &str = "/data/model-0";
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn open(storage: &MemoryStorage, config: &LogConfig, clock: &ManualClock) -> Log {
    let storage: Arc<dyn Storage> = Arc::new(storage.clone());
    Log::open(
        storage,
        Path::new(DIR),
        config.clone(),
        Arc::new(clock.clone()),
    )
    .expect("open")
}

/// Everything written: the record and its batch's codec, indexed by offset.
type Written = Vec<(Record, Compression)>;

fn check(log: &Log, written: &Written) {
    let batches = batches(log);
    let mut last = -1;
    let mut survivors = Vec::new();
    for (h, records) in &batches {
        for r in records {
            assert!(r.offset > last, "offsets strictly increase");
            last = r.offset;
            let (original, codec) = &written[r.offset as usize];
            assert_eq!(
                r, original,
                "offset {} holds what was written there",
                r.offset
            );
            assert_eq!(h.compression_code(), codec.code(), "codec kept");
            survivors.push(r.clone());
        }
    }
    let all: Vec<Record> = written.iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(replay(&survivors), replay(&all), "replayed map unchanged");
    let mut next = survivors.iter().peekable();
    for offset in log.log_start_offset()..=log.log_end_offset() {
        while next.peek().is_some_and(|r| r.offset < offset) {
            next.next();
        }
        assert_eq!(
            next_record_from(log, offset).as_ref(),
            next.peek().copied(),
            "read from {offset}"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        /// (key, value or tombstone)
        records: Vec<(u8, bool)>,
        codec: usize,
    },
    Roll,
    Clean {
        advance_ms: u16,
        map_entries: u8,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec((0u8..8, proptest::bool::weighted(0.2)), 1..6), 0..CODECS.len())
            .prop_map(|(records, codec)| Op::Append { records, codec }),
        2 => Just(Op::Roll),
        3 => (0u16..3000, 2u8..40).prop_map(|(advance_ms, map_entries)| Op::Clean { advance_ms, map_entries }),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn compaction_at_random_points_keeps_the_replayed_map_and_every_survivor(
        ops in proptest::collection::vec(op(), 1..50)
    ) {
        let storage = MemoryStorage::new();
        let clock = ManualClock::new(1_000_000);
        let config = LogConfig { delete_retention_ms: 2_000, ..compact_config(400) };
        let mut log = open(&storage, &config, &clock);
        let mut written: Written = Vec::new();
        let mut n = 0;
        for op in ops {
            match op {
                Op::Append { records, codec } => {
                    let codec = CODECS[codec];
                    let now = clock.now();
                    let kvs: Vec<Kv> = records.iter().map(|&(k, tombstone)| {
                        n += 1;
                        (vec![b'k', k], (!tombstone).then(|| format!("v{n}").into_bytes()))
                    }).collect();
                    let mut bytes = keyed_batch(&kvs, now, codec);
                    let info = log.append(&mut bytes, Durability::Written).unwrap();
                    for (i, (k, v)) in kvs.into_iter().enumerate() {
                        written.push((Record {
                            offset: info.first_offset + i as i64,
                            timestamp: now,
                            key: Some(Bytes::from(k)),
                            value: v.map(Bytes::from),
                            headers: Vec::new(),
                        }, codec));
                    }
                }
                Op::Roll => log.roll().unwrap(),
                Op::Clean { advance_ms, map_entries } => {
                    clock.advance(i64::from(advance_ms));
                    let cfg = CleanerConfig { max_map_entries: usize::from(map_entries), ..CleanerConfig::default() };
                    log.clean_once(&cfg).unwrap();
                    check(&log, &written);
                }
                Op::Reopen => {
                    log.close().unwrap();
                    log = open(&storage, &config, &clock);
                }
            }
        }
        log.roll().unwrap();
        while log.clean_once(&CleanerConfig { max_map_entries: 8, ..CleanerConfig::default() }).unwrap().is_some() {}
        check(&log, &written);
    }
}

trait Now {
    fn now(&self) -> i64;
}

impl Now for ManualClock {
    fn now(&self) -> i64 {
        logbus::clock::Clock::now_ms(self)
    }
}

/// Builds a compacted log with cleaned and dirty segments, gaps, tombstones
/// (some past their horizon) and every codec, closed cleanly.
fn prepared(clock: &ManualClock, config: &LogConfig) -> (MemoryStorage, Written) {
    let storage = MemoryStorage::new();
    let log = open(&storage, config, clock);
    let mut written: Written = Vec::new();
    let mut n = 0;
    let mut append = |log: &Log, round: usize| {
        for b in 0..12 + usize::from(round == 0) {
            let codec = CODECS[(b + round) % CODECS.len()];
            let kvs: Vec<Kv> = if b == 12 {
                // Round 0 ends by deleting k0 and k1, which round 1 never
                // writes again: their tombstones expire in the crashed round.
                vec![(vec![b'k', 0], None), (vec![b'k', 1], None)]
            } else {
                (0..3)
                    .map(|i| {
                        n += 1;
                        let key = vec![b'k', ((n * 7 + i) % 6 + 2 * round) as u8];
                        (key, (n % 5 != 0).then(|| format!("v{n}").into_bytes()))
                    })
                    .collect()
            };
            let now = clock.now();
            let mut bytes = keyed_batch(&kvs, now, codec);
            let info = log.append(&mut bytes, Durability::Written).unwrap();
            for (i, (k, v)) in kvs.into_iter().enumerate() {
                let record = Record {
                    offset: info.first_offset + i as i64,
                    timestamp: now,
                    key: Some(Bytes::from(k)),
                    value: v.map(Bytes::from),
                    headers: Vec::new(),
                };
                written.push((record, codec));
            }
        }
        log.roll().unwrap();
    };
    append(&log, 0);
    log.clean_once(&CleanerConfig::default()).unwrap().unwrap();
    clock.advance(config.delete_retention_ms + 1); // the first tombstones expire
    append(&log, 1);
    log.close().unwrap();
    (storage, written)
}

#[test]
fn a_crash_at_any_storage_operation_of_a_cleaning_round_leaves_the_same_replayed_map() {
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        delete_retention_ms: 1_000,
        ..compact_config(500)
    };
    let (base, written) = prepared(&clock, &config);
    let cfg = CleanerConfig::default();

    // The round to crash in, run once to completion to count its operations.
    let whole = base.crash_keep_all();
    let log = open(&whole, &config, &clock);
    let before = whole.mutating_ops();
    let stats = log.clean_once(&cfg).unwrap().expect("a round runs");
    assert!(
        stats.tombstones_removed > 0 && stats.segments_replaced > 1,
        "{stats:?}"
    );
    let ops = whole.mutating_ops() - before;
    check(&log, &written);
    drop(log);

    let (mut saw_swap, mut saw_cleaned) = (0, 0);
    for k in 0..ops {
        let storage = base.crash_keep_all();
        let log = open(&storage, &config, &clock);
        storage.fail_after(k);
        assert!(
            log.clean_once(&cfg).is_err(),
            "operation {k} of {ops} fails"
        );
        storage.clear_faults();
        drop(log);
        for survivor in [
            storage.crash(k),
            storage.crash(k ^ 0x5eed),
            storage.crash_clean(),
            storage.crash_keep_all(),
        ] {
            let names = survivor.list_dir(Path::new(DIR)).unwrap();
            saw_swap += usize::from(names.iter().any(|n| n.ends_with(".swap")));
            saw_cleaned += usize::from(names.iter().any(|n| n.ends_with(".cleaned")));
            let log = open(&survivor, &config, &clock);
            check(&log, &written);
            assert!(
                survivor
                    .list_dir(Path::new(DIR))
                    .unwrap()
                    .iter()
                    .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")),
                "open finished or discarded the swap"
            );
            // The log takes appends, and cleans again to the same map.
            let mut extra = written.clone();
            let now = clock.now();
            let mut bytes = keyed_batch(
                &[(b"k9".to_vec(), Some(b"after".to_vec()))],
                now,
                Compression::None,
            );
            let info = log.append(&mut bytes, Durability::Fsync).unwrap();
            extra.push((
                Record {
                    offset: info.first_offset,
                    timestamp: now,
                    key: Some(Bytes::from_static(b"k9")),
                    value: Some(Bytes::from_static(b"after")),
                    headers: Vec::new(),
                },
                Compression::None,
            ));
            log.roll().unwrap();
            while log.clean_once(&cfg).unwrap().is_some() {}
            check(&log, &extra);
        }
    }
    // Both recovery paths were taken: a committed swap finished, an
    // uncommitted one discarded.
    assert!(saw_swap > 0 && saw_cleaned > 0, "{saw_swap} {saw_cleaned}");
}
