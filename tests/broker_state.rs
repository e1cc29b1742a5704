//! The broker's own state across its life: topics created at runtime are
//! compacted by the background cleaner, idempotent producer state survives
//! restarts through its snapshots, the data directory is never emptied of
//! what the broker cannot prove it abandoned, periodic work runs without a
//! caller, and deleting a topic deletes the groups' offsets for it.

use bytes::Bytes;
use logbus::broker::{
    Broker, BrokerConfig, BrokerError, CommitRequest, FetchRequest, ProduceRecord,
    ProducerIdAndEpoch, StorageConfig, TopicConfig, TopicPartition, decode_records,
};
use logbus::clock::ManualClock;
use logbus::log::storage::{MemoryStorage, Storage};
use logbus::log::{CleanerConfig, Durability};
use logbus::record::{BatchBuilder, Compression};
use std::path::Path;
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
            .produce("balances", records, Durability::Written)
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

fn idempotent_batch(id: ProducerIdAndEpoch, seq: i32, values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).producer(id.producer_id, id.epoch, seq);
    for v in values {
        b.append(5, None, Some(v.as_bytes()), &[]).unwrap();
    }
    b.build().unwrap()
}

/// A broker on `storage` with no background work: the test decides when
/// periodic work runs (`tick`).
fn quiet(storage: &MemoryStorage) -> Broker {
    let mut config = on_storage(storage);
    config.cleaner = None;
    config.maintenance_interval_ms = None;
    Broker::open(config).unwrap()
}

/// Files of `/data/t-0` on `storage` ending in `suffix`.
fn files(storage: &MemoryStorage, suffix: &str) -> Vec<String> {
    storage
        .list_dir(Path::new("/data/t-0"))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(suffix))
        .collect()
}

/// Creates topic `t` (one partition, 512-byte segments), stores producer
/// `id`'s batch `["a", "b"]` at sequence 0 after five other records, then
/// lets another producer roll `rolls` segments; returns where the batch
/// landed.
fn store_then_roll(
    broker: &Broker,
    storage: &MemoryStorage,
    id: ProducerIdAndEpoch,
    rolls: usize,
) -> (i64, i64) {
    store_then_roll_capped(broker, storage, id, rolls, None)
}

/// As [`store_then_roll`], with `retention.bytes` set to `cap`.
fn store_then_roll_capped(
    broker: &Broker,
    storage: &MemoryStorage,
    id: ProducerIdAndEpoch,
    rolls: usize,
    cap: Option<u64>,
) -> (i64, i64) {
    let mut topic = TopicConfig::default();
    topic.log.segment_bytes = 512;
    topic.log.retention_ms = None;
    topic.log.retention_bytes = cap;
    broker.create_topic("t", topic).unwrap();
    for i in 0..5 {
        broker
            .produce(
                "t",
                vec![ProduceRecord::new(format!("x{i}")).partition(0)],
                Durability::Fsync,
            )
            .unwrap();
    }
    let stored = broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(id, 0, &["a", "b"]),
            Durability::Fsync,
        )
        .unwrap();
    roll(broker, storage, rolls);
    (stored.base_offset, stored.last_offset)
}

/// Another idempotent producer appends until `rolls` more segments rolled.
fn roll(broker: &Broker, storage: &MemoryStorage, rolls: usize) {
    roll_with(broker, storage, rolls, Durability::Fsync);
}

/// As [`roll`], acknowledged at `durability`.
fn roll_with(broker: &Broker, storage: &MemoryStorage, rolls: usize, durability: Durability) {
    let other = broker.init_producer_id(None).unwrap();
    let start = files(storage, ".log").len();
    let mut seq = 0;
    while files(storage, ".log").len() < start + rolls {
        let values: Vec<String> = (0..8).map(|i| format!("other-{seq}-{i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        broker
            .produce_raw("t", 0, &mut idempotent_batch(other, seq, &refs), durability)
            .unwrap();
        seq += 8;
    }
}

/// The retry of `id`'s first batch is answered with its original offsets
/// and stores nothing; the producer's next batch is accepted in order.
fn assert_retry_is_deduplicated(broker: &Broker, id: ProducerIdAndEpoch, at: (i64, i64)) {
    let end = broker.describe_topic("t").unwrap().partitions[0].high_watermark;
    let retry = broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(id, 0, &["a", "b"]),
            Durability::Fsync,
        )
        .unwrap();
    assert!(
        retry.duplicate,
        "the retry was stored again at {}",
        retry.base_offset
    );
    assert_eq!((retry.base_offset, retry.last_offset), at);
    let next = broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(id, 2, &["c"]),
            Durability::Fsync,
        )
        .unwrap();
    assert_eq!((next.base_offset, next.duplicate), (end, false));
}

#[test]
fn an_idempotent_retry_after_many_rolls_and_a_clean_restart_is_deduplicated() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    let id = broker.init_producer_id(None).unwrap();
    let at = store_then_roll(&broker, &storage, id, 6);
    broker.close().unwrap();
    // The clean close left a snapshot at the log end.
    assert!(!files(&storage, ".snapshot").is_empty());
    let broker = quiet(&storage);
    assert_retry_is_deduplicated(&broker, id, at);
}

#[test]
fn an_idempotent_retry_after_many_rolls_and_a_power_loss_is_deduplicated() {
    for snapshot_first in [false, true] {
        let storage = MemoryStorage::new();
        let broker = quiet(&storage);
        let id = broker.init_producer_id(None).unwrap();
        let at = store_then_roll(&broker, &storage, id, 3);
        if snapshot_first {
            // The periodic work snapshots after the rolls; more roll after it.
            broker.tick().unwrap();
            assert_eq!(files(&storage, ".snapshot").len(), 1);
            roll(&broker, &storage, 4);
        }
        let survived = storage.crash_clean();
        drop(broker);
        let broker = quiet(&survived);
        assert_retry_is_deduplicated(&broker, id, at);
    }
}

#[test]
fn a_snapshot_carries_producer_state_past_deleted_segments() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    let id = broker.init_producer_id(None).unwrap();
    let at = store_then_roll_capped(&broker, &storage, id, 4, Some(1024));
    // Retention deletes the batch's segment: only the snapshot still knows
    // the producer.
    broker.tick().unwrap();
    let start = broker.describe_topic("t").unwrap().partitions[0].log_start_offset;
    assert!(start > at.1, "log start {start}");
    broker.close().unwrap();
    let broker = quiet(&storage);
    assert_retry_is_deduplicated(&broker, id, at);
}

#[test]
fn a_damaged_snapshot_falls_back_to_rebuilding_from_the_log() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    let id = broker.init_producer_id(None).unwrap();
    let at = store_then_roll(&broker, &storage, id, 3);
    broker.tick().unwrap();
    roll(&broker, &storage, 2);
    broker.close().unwrap();
    let snapshots = files(&storage, ".snapshot");
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    for name in &snapshots {
        let path = Path::new("/data/t-0").join(name);
        let mut bytes = storage.read_file(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        storage.write_file_raw(&path, &bytes).unwrap();
    }
    let broker = quiet(&storage);
    assert_retry_is_deduplicated(&broker, id, at);
}

/// A crash at every storage operation of the periodic work and of a clean
/// close: whatever survives, the retry is recognised.
#[test]
fn producer_state_survives_a_crash_at_any_point_of_snapshotting() {
    let mut n = 0;
    loop {
        let storage = MemoryStorage::new();
        let broker = quiet(&storage);
        let id = broker.init_producer_id(None).unwrap();
        let at = store_then_roll(&broker, &storage, id, 3);
        storage.fail_after(n);
        let ticked = broker.tick().is_ok();
        let closed = ticked && broker.close().is_ok();
        let survived = storage.crash(n);
        drop(broker);
        let broker = quiet(&survived);
        assert_retry_is_deduplicated(&broker, id, at);
        if closed {
            break;
        }
        n += 1;
    }
    assert!(n > 5, "only {n} crash points");
}

/// A snapshot taken at the end of an active segment that a power loss then
/// cut describes batches that are gone: open deletes it, so appends after
/// the restart can never make it look valid.
#[test]
fn a_snapshot_beyond_the_recovered_log_end_is_deleted_on_open() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    let id = broker.init_producer_id(None).unwrap();
    let at = store_then_roll(&broker, &storage, id, 2);
    // Written (unsynced) records, then the periodic work: the rolled
    // segments are fsynced, the active one is not, the snapshot is at its end.
    roll_with(&broker, &storage, 1, Durability::Written);
    broker
        .produce(
            "t",
            vec![ProduceRecord::new("unsynced").partition(0)],
            Durability::Written,
        )
        .unwrap();
    broker.tick().unwrap();
    let snapshot = files(&storage, ".snapshot");
    assert_eq!(snapshot.len(), 1);
    let survived = storage.crash_clean();
    drop(broker);
    let broker = quiet(&survived);
    assert!(
        !files(&survived, ".snapshot").contains(&snapshot[0]),
        "{snapshot:?} beyond the log end was kept"
    );
    assert_retry_is_deduplicated(&broker, id, at);
}

/// Entries of `/data` on `storage`.
fn data_entries(storage: &MemoryStorage) -> Vec<String> {
    storage.list_dir(Path::new("/data")).unwrap()
}

fn put_file(storage: &MemoryStorage, path: &str, bytes: &[u8]) {
    let path = Path::new(path);
    storage.create_dir_all(path.parent().unwrap()).unwrap();
    storage.write_file_raw(path, bytes).unwrap();
}

#[test]
fn a_topic_whose_metadata_file_is_lost_keeps_its_data_and_its_name_is_refused() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    broker
        .create_topic("orders", TopicConfig::with_partitions(2))
        .unwrap();
    broker
        .produce(
            "orders",
            vec![ProduceRecord::new("precious").partition(1)],
            Durability::Fsync,
        )
        .unwrap();
    broker.close().unwrap();
    storage
        .remove_file(Path::new("/data/orders.topic"))
        .unwrap();
    let segment = Path::new("/data/orders-1/00000000000000000000.log");
    let before = storage.read_file(segment).unwrap();

    let broker = quiet(&storage);
    assert!(broker.list_topics(false).is_empty());
    assert_eq!(
        storage.read_file(segment).unwrap(),
        before,
        "data destroyed"
    );
    // Creating the name again would adopt or destroy the old data: refused.
    let err = broker
        .create_topic("orders", TopicConfig::with_partitions(2))
        .unwrap_err();
    assert!(matches!(err, BrokerError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("orders-0"), "{err}");
    assert_eq!(storage.read_file(segment).unwrap(), before);
    assert!(!data_entries(&storage).contains(&"topic-change".to_owned()));
}

#[test]
fn foreign_entries_named_like_partitions_are_left_alone_and_do_not_stop_the_broker() {
    let storage = MemoryStorage::new();
    put_file(&storage, "/data/notes-1/todo.txt", b"buy milk");
    put_file(&storage, "/data/backup-2024-1/dump.sql", b"select 1");
    put_file(&storage, "/data/x-1", b"a plain file");
    put_file(&storage, "/data/mine.tmp", b"a user's temp file");
    let broker = quiet(&storage);
    broker.create_topic("t", TopicConfig::default()).unwrap();
    broker.close().unwrap();
    let broker = quiet(&storage);
    assert_eq!(broker.list_topics(false), vec!["t".to_owned()]);
    assert_eq!(
        storage
            .read_file(Path::new("/data/notes-1/todo.txt"))
            .unwrap(),
        b"buy milk"
    );
    assert_eq!(
        storage
            .read_file(Path::new("/data/backup-2024-1/dump.sql"))
            .unwrap(),
        b"select 1"
    );
    assert_eq!(
        storage.read_file(Path::new("/data/x-1")).unwrap(),
        b"a plain file"
    );
    assert_eq!(
        storage.read_file(Path::new("/data/mine.tmp")).unwrap(),
        b"a user's temp file"
    );
    // A topic whose partition would be the plain file is refused, not clobbered.
    assert!(
        broker
            .create_topic("x", TopicConfig::with_partitions(2))
            .is_err()
    );
    assert_eq!(
        storage.read_file(Path::new("/data/x-1")).unwrap(),
        b"a plain file"
    );
    assert!(broker.list_topics(false).len() == 1);
}

/// A crash at every storage operation of a create, a grow and a delete:
/// after the restart each change happened whole or not at all, and nothing
/// else in the data directory was touched.
#[test]
fn a_crash_anywhere_in_a_topic_change_rolls_it_back_or_finishes_it_and_touches_nothing_else() {
    for change in ["create", "grow", "delete"] {
        let mut n = 0;
        loop {
            let storage = MemoryStorage::new();
            put_file(&storage, "/data/notes-1/todo.txt", b"mine");
            let broker = quiet(&storage);
            broker.create_topic("keep", TopicConfig::default()).unwrap();
            broker
                .produce(
                    "keep",
                    vec![ProduceRecord::new("k").partition(0)],
                    Durability::Fsync,
                )
                .unwrap();
            if change != "create" {
                broker
                    .create_topic("t", TopicConfig::with_partitions(2))
                    .unwrap();
                broker
                    .produce(
                        "t",
                        vec![ProduceRecord::new("v").partition(1)],
                        Durability::Fsync,
                    )
                    .unwrap();
            }
            storage.fail_after(n);
            let done = match change {
                "create" => broker.create_topic("t", TopicConfig::with_partitions(3)),
                "grow" => broker.add_partitions("t", 4),
                _ => broker.delete_topic("t"),
            }
            .is_ok();
            let survived = storage.crash(n);
            drop(broker);
            let broker = quiet(&survived);
            let entries = data_entries(&survived);
            let dirs: Vec<&String> = entries.iter().filter(|e| e.starts_with("t-")).collect();
            match broker.describe_topic("t") {
                Ok(t) => {
                    assert_eq!(
                        dirs.len(),
                        t.partitions.len(),
                        "{change} at {n}: {entries:?}"
                    );
                    if change == "grow" && done {
                        assert_eq!(t.partitions.len(), 4, "{change} at {n}");
                    }
                }
                Err(_) => {
                    assert!(dirs.is_empty(), "{change} at {n} left {dirs:?}");
                    assert!(
                        !(change == "create" && done),
                        "{change} at {n} lost the topic"
                    );
                }
            }
            if change == "delete" && done {
                assert!(
                    broker.describe_topic("t").is_err(),
                    "delete at {n} came back"
                );
            }
            assert!(
                !entries.contains(&"topic-change".to_owned()),
                "{change} at {n}"
            );
            assert_eq!(
                survived
                    .read_file(Path::new("/data/notes-1/todo.txt"))
                    .unwrap(),
                b"mine"
            );
            assert_eq!(
                broker.describe_topic("keep").unwrap().partitions[0].high_watermark,
                1
            );
            if done {
                break;
            }
            n += 1;
        }
        assert!(n > 3, "{change}: only {n} crash points");
    }
}

#[test]
fn a_create_that_fails_midway_is_rolled_back_by_the_next_open_and_can_be_retried() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    let before = data_entries(&storage);
    // Enough operations to get past the journal and into the partitions.
    storage.fail_after(8);
    assert!(
        broker
            .create_topic("t", TopicConfig::with_partitions(3))
            .is_err()
    );
    storage.clear_faults();
    // The rollback itself failed on the dead storage; the journal makes the
    // retry (or the next open) finish it.
    let broker = {
        drop(broker);
        quiet(&storage)
    };
    assert_eq!(data_entries(&storage), before);
    broker
        .create_topic("t", TopicConfig::with_partitions(3))
        .unwrap();
    assert_eq!(broker.partition_count("t").unwrap(), 3);
}

fn commit(broker: &Broker, group: &str, topic: &str, offset: i64) {
    broker
        .commit_offsets(CommitRequest {
            group: group.into(),
            member_id: None,
            generation: -1,
            offsets: vec![(
                TopicPartition {
                    topic: topic.into(),
                    partition: 0,
                },
                offset,
            )],
            metadata: String::new(),
        })
        .unwrap();
}

fn committed_topics(broker: &Broker, group: &str) -> Vec<String> {
    broker
        .fetch_offsets(group)
        .into_keys()
        .map(|tp| tp.topic)
        .collect()
}

#[test]
fn deleting_a_topic_deletes_the_groups_offsets_for_it_also_after_a_restart() {
    let storage = MemoryStorage::new();
    let broker = quiet(&storage);
    for t in ["orders", "other"] {
        broker.create_topic(t, TopicConfig::default()).unwrap();
    }
    commit(&broker, "billing", "orders", 398);
    commit(&broker, "billing", "other", 7);
    commit(&broker, "audit", "orders", 5);
    broker.delete_topic("orders").unwrap();
    assert_eq!(
        committed_topics(&broker, "billing"),
        vec!["other".to_owned()]
    );
    assert!(committed_topics(&broker, "audit").is_empty());
    broker
        .create_topic("orders", TopicConfig::default())
        .unwrap();
    assert_eq!(
        committed_topics(&broker, "billing"),
        vec!["other".to_owned()]
    );
    broker.close().unwrap();
    let broker = quiet(&storage);
    assert_eq!(
        committed_topics(&broker, "billing"),
        vec!["other".to_owned()]
    );
    assert!(committed_topics(&broker, "audit").is_empty());
    // A power loss right after the delete keeps them deleted too.
    commit(&broker, "billing", "orders", 9);
    broker.delete_topic("orders").unwrap();
    let survived = storage.crash_clean();
    drop(broker);
    let broker = quiet(&survived);
    assert_eq!(
        committed_topics(&broker, "billing"),
        vec!["other".to_owned()]
    );
}

/// A topic `t` whose partition keeps at most 16 KiB by `retention.bytes`,
/// filled with about 170 KB.
fn fill_capped(broker: &Broker) {
    let mut topic = TopicConfig::default();
    topic.log.segment_bytes = 1024;
    topic.log.retention_bytes = Some(16 * 1024);
    topic.log.retention_ms = None;
    broker.create_topic("t", topic).unwrap();
    for i in 0..170 {
        let value = format!("{i:>1000}");
        broker
            .produce(
                "t",
                vec![ProduceRecord::new(value).partition(0)],
                Durability::Written,
            )
            .unwrap();
    }
}

fn size(broker: &Broker) -> u64 {
    broker.describe_topic("t").unwrap().partitions[0].size_bytes
}

#[test]
fn an_embedded_broker_on_a_manual_clock_runs_retention_when_time_is_advanced() {
    let clock = ManualClock::new(1_000);
    let broker = Broker::open(BrokerConfig::in_memory().clock(Arc::new(clock.clone()))).unwrap();
    fill_capped(&broker);
    assert!(size(&broker) > 150_000);
    assert_eq!(broker.maintenance_runs(), 0, "ran before its time");
    clock.advance(999);
    assert!(!broker.wait_for_maintenance(1, Duration::from_millis(200)));
    clock.advance(1);
    assert!(broker.wait_for_maintenance(1, Duration::from_secs(30)));
    // Retention keeps the newest segments within the cap (a segment may
    // straddle it) and never the active one alone.
    assert!(
        size(&broker) <= 16 * 1024 + 2048,
        "{} bytes left",
        size(&broker)
    );
    broker.close().unwrap();
}

#[test]
fn an_embedded_broker_trims_to_its_retention_cap_with_nobody_calling_tick() {
    let broker = Broker::open(BrokerConfig::in_memory()).unwrap();
    fill_capped(&broker);
    let trimmed = wait_until(Duration::from_secs(30), || {
        size(&broker) <= 16 * 1024 + 2048
    });
    assert!(trimmed, "{} bytes left", size(&broker));
    broker.close().unwrap();
}

#[test]
fn an_embedded_broker_expires_a_silent_member_when_the_manual_clock_passes_its_session() {
    let clock = ManualClock::new(1_000);
    let broker = Broker::open(BrokerConfig::in_memory().clock(Arc::new(clock.clone()))).unwrap();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut join =
        logbus::broker::JoinGroupRequest::new("g", logbus::broker::Subscription::topic("t"));
    join.session_timeout_ms = Some(10_000);
    broker.join_group(join).unwrap();
    assert_eq!(broker.describe_group("g").unwrap().members.len(), 1);
    clock.advance(10_001);
    assert!(broker.wait_for_maintenance(1, Duration::from_secs(30)));
    assert!(broker.describe_group("g").unwrap().members.is_empty());
    broker.close().unwrap();
}
