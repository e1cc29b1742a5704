//! Damaged stored data through the broker: a fetch of a damaged range
//! fails with `BrokerError::Damaged` (CORRUPT_MESSAGE on the wire) naming
//! the partition and offsets, and `/metrics`' counters see it; a damaged
//! batch in `__consumer_offsets` does not stop the broker from starting:
//! the range is skipped, counted, and every other commit and topic stays.

mod common;

use logbus::broker::{
    Broker, BrokerConfig, BrokerError, CommitRequest, FetchRequest, TopicConfig, TopicPartition,
};
use logbus::log::{Durability, LogConfig};
use logbus::record::BatchHeader;
use std::path::{Path, PathBuf};

/// (position, base offset, length) of every batch of a segment file.
fn batches(path: &Path) -> Vec<(usize, i64, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = BatchHeader::parse(&bytes[at..]).unwrap().unwrap();
        out.push((at, h.base_offset, h.total_len()));
        at += h.total_len();
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    out.sort();
    out
}

/// Flips the last payload byte of batch `index` of `segment`; returns its base offset.
fn flip(segment: &Path, index: usize) -> i64 {
    let (at, base, len) = batches(segment)[index];
    let mut bytes = std::fs::read(segment).unwrap();
    bytes[at + len - 1] ^= 0xff;
    std::fs::write(segment, bytes).unwrap();
    base
}

#[test]
fn a_fetch_of_a_damaged_range_fails_naming_the_partition_and_offsets_and_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::dir(tmp.path())).unwrap();
    let config = TopicConfig {
        partitions: 1,
        log: LogConfig {
            segment_bytes: 4096,
            ..LogConfig::default()
        },
        ..TopicConfig::default()
    };
    broker.create_topic("t", config).unwrap();
    for i in 0..60 {
        let mut b = common::batch(&format!("v{i}"), 10, 1_000);
        broker
            .produce_raw("t", 0, &mut b, Durability::Written)
            .unwrap();
    }
    broker.close().unwrap();
    drop(broker);
    let segs = segments(&tmp.path().join("t-0"));
    assert!(segs.len() >= 3, "{segs:?}");
    let damaged = flip(&segs[1], 2);
    let next_base = batches(&segs[2])[0].1;

    let broker = Broker::open(BrokerConfig::dir(tmp.path())).unwrap();
    let mut next = 0;
    let err = loop {
        let mut r = broker.fetch_now(&FetchRequest::one("t", 0, next, 1 << 20));
        match r.remove(0).result {
            Ok(d) => {
                assert!(!d.records.is_empty(), "the end came before the damage");
                for (_, last, _) in common::split(&d.records) {
                    next = last + 1;
                }
            }
            Err(e) => break e,
        }
    };
    assert_eq!(next, damaged, "everything before the damage was served");
    match &err {
        BrokerError::Damaged {
            topic,
            partition,
            first_offset,
            end_offset,
            ..
        } => {
            assert_eq!((topic.as_str(), *partition), ("t", 0));
            assert_eq!((*first_offset, *end_offset), (damaged, next_base));
        }
        other => panic!("expected a damaged-range error, got {other:?}"),
    }
    assert_eq!(err.kafka_code(), 2, "CORRUPT_MESSAGE");
    assert!(
        !err.is_retriable(),
        "damage stays until an operator skips it"
    );
    let metrics = broker.metrics();
    assert!(metrics.topics["t"].damage.damaged_reads >= 1);
    assert!(metrics.fetch_errors >= 1);
    // The range after the damaged segment is served.
    let mut r = broker.fetch_now(&FetchRequest::one("t", 0, next_base, 1 << 20));
    assert!(!r.remove(0).result.unwrap().records.is_empty());
}

fn commit(broker: &Broker, group: &str, offset: i64) {
    broker
        .commit_offsets(CommitRequest {
            group: group.to_owned(),
            member_id: None,
            generation: -1,
            offsets: vec![(
                TopicPartition {
                    topic: "t".into(),
                    partition: 0,
                },
                offset,
            )],
            metadata: String::new(),
        })
        .unwrap();
}

fn committed(broker: &Broker, group: &str) -> Option<i64> {
    broker
        .fetch_offsets(group)
        .values()
        .next()
        .map(|c| c.offset)
}

#[test]
fn a_damaged_batch_in_the_offsets_topic_is_skipped_and_the_broker_still_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let config = || BrokerConfig::dir(tmp.path());
    let broker = Broker::open(config()).unwrap();
    broker
        .create_topic("t", TopicConfig::with_partitions(1))
        .unwrap();
    let mut b = common::batch("x", 10, 1_000);
    broker
        .produce_raw("t", 0, &mut b, Durability::Written)
        .unwrap();
    // Three commits of one group, in three batches of one offsets partition.
    commit(&broker, "g", 3);
    commit(&broker, "g", 5);
    commit(&broker, "g", 7);
    broker.close().unwrap();
    drop(broker);

    let offsets_dir = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("__consumer_offsets-")
                && segments(p)
                    .iter()
                    .any(|s| std::fs::metadata(s).unwrap().len() > 0)
        })
        .expect("the partition holding the commits");
    let seg = segments(&offsets_dir)
        .into_iter()
        .find(|s| std::fs::metadata(s).unwrap().len() > 0)
        .unwrap();
    assert_eq!(batches(&seg).len(), 3);
    flip(&seg, 1);

    let broker = Broker::open(config()).expect("a damaged offsets batch does not stop the broker");
    let damage = broker.metrics().topics["__consumer_offsets"].damage;
    assert_eq!(damage.skipped_ranges, 1, "{damage:?}");
    assert!(damage.damaged_reads >= 1, "{damage:?}");
    // The commit before the damage survives; the damaged one and the rest
    // of its segment are given up.
    assert_eq!(committed(&broker, "g"), Some(3));
    // Every topic still works, and new commits are kept across a restart.
    let mut r = broker.fetch_now(&FetchRequest::one("t", 0, 0, 1 << 20));
    assert_eq!(common::split(&r.remove(0).result.unwrap().records).len(), 1);
    commit(&broker, "g", 9);
    broker.close().unwrap();
    drop(broker);
    let broker = Broker::open(config()).unwrap();
    assert_eq!(committed(&broker, "g"), Some(9));
    assert_eq!(
        broker.metrics().topics["__consumer_offsets"]
            .damage
            .damaged_reads,
        0,
        "the skip is remembered: nothing damaged is met again"
    );
}
