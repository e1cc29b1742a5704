//! Compacted topics through the broker: reading one from the start rebuilds
//! the same key → value state as the full history, and `__consumer_offsets`
//! is a compacted topic whose latest commit per partition survives restarts.

use bytes::Bytes;
use logbus::broker::{
    Broker, BrokerConfig, CommitRequest, FetchRequest, ProduceRecord, StorageConfig, TopicConfig,
    TopicPartition, decode_records,
};
use logbus::clock::ManualClock;
use logbus::log::storage::MemoryStorage;
use logbus::log::{Durability, LogConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

fn broker(storage: &MemoryStorage, clock: &ManualClock) -> Broker {
    let mut config = BrokerConfig::with_storage(StorageConfig::Custom {
        storage: Arc::new(storage.clone()),
        dir: PathBuf::from("/data"),
    })
    .clock(Arc::new(clock.clone()));
    // Compaction is driven step by step with `compact_now`.
    config.cleaner = None;
    Broker::open(config).unwrap()
}

/// Replays partition `p` of `topic` from its start into a key → value map.
fn replay(broker: &Broker, topic: &str, p: u32) -> BTreeMap<Bytes, Bytes> {
    let mut state = BTreeMap::new();
    let mut offset = broker.describe_topic(topic).unwrap().partitions[p as usize].log_start_offset;
    loop {
        let fetched = broker.fetch_now(&FetchRequest::one(topic, p, offset, 1 << 20));
        let data = fetched.into_iter().next().unwrap().result.unwrap();
        if data.records.is_empty() {
            return state;
        }
        for r in decode_records(&data.records).unwrap() {
            if r.offset < offset {
                continue; // a compacted batch may start below the asked offset
            }
            match r.value {
                Some(v) => state.insert(r.key.unwrap(), v),
                None => state.remove(&r.key.unwrap()),
            };
            offset = r.offset + 1;
        }
    }
}

#[test]
fn a_compacted_topic_read_from_the_start_rebuilds_the_same_state_as_the_full_history() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(1_000);
    let broker = broker(&storage, &clock);
    let mut config = TopicConfig::compacted(1);
    config.log.segment_bytes = 4 << 10;
    config.log.delete_retention_ms = 0;
    broker.create_topic("balances", config).unwrap();

    let mut expected = BTreeMap::new();
    for round in 0..40u32 {
        let records: Vec<ProduceRecord> = (0..25u32)
            .map(|k| {
                let key = format!("account-{k}");
                // Every 7th update of an account deletes it.
                if (round + k) % 7 == 0 {
                    expected.remove(&Bytes::from(key.clone()));
                    ProduceRecord {
                        key: Some(key.into()),
                        value: None,
                        ..ProduceRecord::default()
                    }
                } else {
                    let value = format!("balance-{}", round * 100 + k);
                    expected.insert(Bytes::from(key.clone()), Bytes::from(value.clone()));
                    ProduceRecord::keyed(key, value)
                }
            })
            .collect();
        broker
            .produce("balances", records, Durability::Written)
            .unwrap();
        clock.advance(10);
    }
    let before = broker.describe_topic("balances").unwrap().partitions[0].size_bytes;
    assert_eq!(replay(&broker, "balances", 0), expected, "full history");

    assert!(broker.compact_now().unwrap() > 0, "something was cleaned");
    // Tombstones outlive their first cleaning by delete_retention_ms (0 here).
    clock.advance(1);
    broker.compact_now().unwrap();
    let after = broker.describe_topic("balances").unwrap().partitions[0].size_bytes;
    assert!(after < before / 2, "size {before} -> {after}");
    assert_eq!(replay(&broker, "balances", 0), expected, "compacted");

    // A record without a key is refused by a compacted topic.
    let err = broker
        .produce(
            "balances",
            vec![ProduceRecord::new("no key")],
            Durability::Written,
        )
        .unwrap_err();
    assert_eq!(err.kafka_code(), 87, "{err}");
}

#[test]
fn consumer_offsets_is_compacted_and_keeps_the_latest_commit_per_partition_across_restart() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::new(1_000);
    let broker = broker(&storage, &clock);
    broker
        .create_topic("orders", TopicConfig::with_partitions(2))
        .unwrap();
    for i in 0..500i64 {
        let commit = CommitRequest {
            group: "billing".into(),
            member_id: None,
            generation: -1,
            offsets: vec![
                (
                    TopicPartition {
                        topic: "orders".into(),
                        partition: 0,
                    },
                    i,
                ),
                (
                    TopicPartition {
                        topic: "orders".into(),
                        partition: 1,
                    },
                    2 * i,
                ),
            ],
            metadata: String::new(),
        };
        broker.commit_offsets(commit).unwrap();
    }
    let offsets_topic = broker.describe_topic("__consumer_offsets").unwrap();
    assert!(offsets_topic.internal);
    assert!(offsets_topic.config.cleanup_policy().compacts());
    broker.close().unwrap();
    drop(broker);

    let broker = self::broker(&storage, &clock);
    let offsets = broker.fetch_offsets("billing");
    let committed: Vec<i64> = offsets.values().map(|c| c.offset).collect();
    assert_eq!(committed, vec![499, 998]);
}

#[test]
fn log_config_defaults_keep_delete_policy_for_plain_topics() {
    assert_eq!(TopicConfig::default().log, LogConfig::default());
    assert!(TopicConfig::compacted(3).cleanup_policy().compacts());
}
