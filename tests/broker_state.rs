//! The broker's own state across its life: topics created at runtime are
//! compacted by the background cleaner, idempotent producer state survives
//! restarts through its snapshots, the data directory is never emptied of
//! what the broker cannot prove it abandoned, periodic work runs without a
//! caller, and deleting a topic deletes the groups' offsets for it.

use bytes::Bytes;
use logbus::broker::{
    Broker, BrokerConfig, FetchRequest, ProduceRecord, StorageConfig, TopicConfig, decode_records,
};
use logbus::log::CleanerConfig;
use logbus::log::storage::{MemoryStorage, Storage};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A broker on `storage` (in memory, crashable), under `/data`.
fn on_storage(storage: &MemoryStorage) -> BrokerConfig {
    BrokerConfig::with_storage(StorageConfig::Custom {
        storage: Arc::new(storage.clone()) as Arc<dyn Storage>,
        dir: "/data".into(),
    })
}

/// Every record of `topic`/`partition` from its start, as (offset, key).
fn keys(broker: &Broker, topic: &str, partition: u32) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let mut r = broker.fetch_now(&FetchRequest::one(topic, partition, next, 1 << 20));
        let data = r.remove(0).result.unwrap();
        let records = decode_records(&data.records).unwrap();
        let new: Vec<_> = records.into_iter().filter(|r| r.offset >= next).collect();
        if new.is_empty() {
            return out;
        }
        for r in new {
            next = r.offset + 1;
            out.push((r.offset, r.key.unwrap_or_default()));
        }
    }
}

/// Polls `done` until it holds or `timeout` passes; returns whether it held.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn a_compacted_topic_created_while_the_broker_runs_is_compacted_by_the_background_cleaner() {
    let storage = MemoryStorage::new();
    let mut config = on_storage(&storage);
    config.cleaner = Some(CleanerConfig {
        backoff: Duration::from_millis(20),
        ..CleanerConfig::default()
    });
    let broker = Broker::open(config).unwrap();
    let mut topic = TopicConfig::compacted(1);
    topic.log.segment_bytes = 4096;
    broker.create_topic("balances", topic).unwrap();
    for round in 0..50 {
        let records: Vec<ProduceRecord> = (0..20)
            .map(|k| ProduceRecord::keyed(format!("k{k}"), format!("v{round}")).partition(0))
            .collect();
        broker
            .produce("balances", records, logbus::log::Durability::Written)
            .unwrap();
    }
    let described = broker.describe_topic("balances").unwrap();
    assert_eq!(described.partitions[0].high_watermark, 1000);
    // The active segment is never cleaned, so some duplicates stay; the
    // sealed ones shrink to one record per key.
    let compacted = wait_until(Duration::from_secs(30), || {
        keys(&broker, "balances", 0).len() < 500
    });
    assert!(
        compacted,
        "still {} records",
        keys(&broker, "balances", 0).len()
    );
    broker.close().unwrap();
}
