//! The broker's topics, produce, idempotence, fetch and counters, through
//! its public API, on the file system and in memory.

use bytes::Bytes;
use logbus::broker::{
    Broker, BrokerConfig, BrokerError, FetchRequest, OffsetSpec, ProduceRecord, ProducerIdAndEpoch,
    StorageConfig, TopicConfig, TopicNameProblem, decode_records, partition_for_key,
};
use logbus::clock::ManualClock;
use logbus::log::Durability;
use logbus::log::storage::{MemoryStorage, Storage};
use logbus::record::{BatchBuilder, Compression};
use std::sync::Arc;
use std::time::Duration;

fn memory() -> Broker {
    Broker::open(BrokerConfig::in_memory().clock(Arc::new(ManualClock::new(1_000)))).unwrap()
}

/// A broker on `storage` (in memory, crashable), under `/data`.
fn on_storage(storage: &MemoryStorage) -> BrokerConfig {
    BrokerConfig::with_storage(StorageConfig::Custom {
        storage: Arc::new(storage.clone()) as Arc<dyn Storage>,
        dir: "/data".into(),
    })
}

fn values(broker: &Broker, topic: &str, partition: u32, from: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut next = from;
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
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
}

fn idempotent_batch(id: ProducerIdAndEpoch, seq: i32, values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).producer(id.producer_id, id.epoch, seq);
    for v in values {
        b.append(5, None, Some(v.as_bytes()), &[]).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn a_second_broker_on_the_same_directory_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    let err = Broker::open(BrokerConfig::dir(dir.path())).unwrap_err();
    assert!(matches!(err, BrokerError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("already used by another broker"));
    first.close().unwrap();
    Broker::open(BrokerConfig::dir(dir.path())).unwrap();
}

#[test]
fn topics_survive_a_restart_with_their_settings_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    let mut config = TopicConfig::with_partitions(3);
    config.log.retention_ms = None;
    config.log.segment_bytes = 1 << 20;
    broker.create_topic("orders", config.clone()).unwrap();
    broker
        .produce(
            "orders",
            vec![ProduceRecord::keyed("k", "v").partition(2)],
            Durability::Written,
        )
        .unwrap();
    assert!(dir.path().join("orders-2").is_dir());
    assert!(dir.path().join("orders.topic").is_file());
    broker.close().unwrap();
    assert!(matches!(broker.list_topics(false).len(), 0));
    assert!(matches!(
        broker.describe_topic("orders"),
        Err(BrokerError::Closed)
    ));

    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    assert_eq!(broker.list_topics(false), vec!["orders".to_owned()]);
    assert!(
        broker
            .list_topics(true)
            .contains(&"__consumer_offsets".to_owned())
    );
    let d = broker.describe_topic("orders").unwrap();
    assert_eq!(d.config, config);
    assert!(!d.internal);
    let hw: Vec<i64> = d.partitions.iter().map(|p| p.high_watermark).collect();
    assert_eq!(hw, vec![0, 0, 1]);
    assert!(d.partitions[2].size_bytes > 0);
    assert_eq!(d.partitions[2].log_start_offset, 0);
}

#[test]
fn invalid_topic_names_are_rejected_before_touching_storage() {
    let broker = memory();
    for (name, problem) in [
        ("", TopicNameProblem::Empty),
        ("..", TopicNameProblem::Reserved),
        ("../escape", TopicNameProblem::InvalidChar('/')),
        ("a b", TopicNameProblem::InvalidChar(' ')),
    ] {
        match broker.create_topic(name, TopicConfig::default()) {
            Err(BrokerError::InvalidTopicName { problem: p, .. }) => assert_eq!(p, problem),
            other => panic!("{name:?}: {other:?}"),
        }
    }
    let long = "x".repeat(250);
    assert!(broker.create_topic(&long, TopicConfig::default()).is_err());
    assert_eq!(broker.list_topics(false), Vec::<String>::new());
    assert!(matches!(
        broker.create_topic("t", TopicConfig::with_partitions(0)),
        Err(BrokerError::InvalidPartitions { .. })
    ));
    broker.create_topic("t", TopicConfig::default()).unwrap();
    assert!(matches!(
        broker.create_topic("t", TopicConfig::default()),
        Err(BrokerError::TopicExists { .. })
    ));
    assert!(matches!(
        broker.delete_topic("__consumer_offsets"),
        Err(BrokerError::InternalTopic { .. })
    ));
}

#[test]
fn partitions_can_be_added_but_never_removed_and_deleted_topics_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    broker.add_partitions("t", 5).unwrap();
    assert_eq!(broker.partition_count("t").unwrap(), 5);
    for shrink in [5, 3] {
        assert!(matches!(
            broker.add_partitions("t", shrink),
            Err(BrokerError::InvalidPartitions { current: 5, .. })
        ));
    }
    broker
        .produce(
            "t",
            vec![ProduceRecord::new("x").partition(4)],
            Durability::Written,
        )
        .unwrap();
    broker.close().unwrap();
    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    assert_eq!(broker.partition_count("t").unwrap(), 5);
    assert_eq!(values(&broker, "t", 4, 0), vec![(0, "x".to_owned())]);
    broker.delete_topic("t").unwrap();
    assert!(!dir.path().join("t-4").exists());
    assert!(!dir.path().join("t.topic").exists());
    assert!(matches!(
        broker.describe_topic("t"),
        Err(BrokerError::UnknownTopic { .. })
    ));
    // Recreating starts empty.
    broker.create_topic("t", TopicConfig::default()).unwrap();
    assert_eq!(
        broker.describe_topic("t").unwrap().partitions[0].high_watermark,
        0
    );
}

#[test]
fn produce_to_an_unknown_topic_fails_unless_auto_creation_is_on() {
    let broker = memory();
    let err = broker
        .produce("new", vec![ProduceRecord::new("v")], Durability::Written)
        .unwrap_err();
    assert!(matches!(err, BrokerError::UnknownTopic { .. }));
    assert!(err.is_retriable());
    assert_eq!(err.kafka_code(), 3);

    let config = BrokerConfig::in_memory()
        .auto_create_topics(true)
        .default_partitions(4);
    let broker = Broker::open(config).unwrap();
    broker
        .produce("new", vec![ProduceRecord::new("v")], Durability::Fsync)
        .unwrap();
    assert_eq!(broker.partition_count("new").unwrap(), 4);
}

#[test]
fn keyed_records_go_to_kafkas_murmur2_partition_and_an_explicit_partition_wins() {
    let broker = memory();
    broker
        .create_topic("t", TopicConfig::with_partitions(6))
        .unwrap();
    let keys: Vec<String> = (0..50).map(|i| format!("key-{i}")).collect();
    let records = keys
        .iter()
        .map(|k| ProduceRecord::keyed(k.clone(), "v"))
        .collect();
    let meta = broker.produce("t", records, Durability::Written).unwrap();
    for (k, m) in keys.iter().zip(&meta) {
        assert_eq!(m.partition, partition_for_key(k.as_bytes(), 6));
    }
    // "21" hashes to -973932308 in Kafka: partition 1173551340 % 6 = 0.
    let m = broker
        .produce(
            "t",
            vec![ProduceRecord::keyed("21", "v")],
            Durability::Written,
        )
        .unwrap();
    assert_eq!(m[0].partition, 0);
    let m = broker
        .produce(
            "t",
            vec![ProduceRecord::keyed("21", "v").partition(5)],
            Durability::Written,
        )
        .unwrap();
    assert_eq!(m[0].partition, 5);
    assert!(matches!(
        broker.produce(
            "t",
            vec![ProduceRecord::new("v").partition(6)],
            Durability::Written
        ),
        Err(BrokerError::UnknownPartition { partitions: 6, .. })
    ));
}

#[test]
fn unkeyed_records_of_one_produce_fill_one_batch_then_the_partitioner_moves_on() {
    let broker = memory();
    broker
        .create_topic("t", TopicConfig::with_partitions(3))
        .unwrap();
    let first = broker
        .produce(
            "t",
            (0..10)
                .map(|i| ProduceRecord::new(format!("{i}")))
                .collect(),
            Durability::Written,
        )
        .unwrap();
    assert!(first.iter().all(|m| m.partition == first[0].partition));
    let offsets: Vec<i64> = first.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    let second = broker
        .produce("t", vec![ProduceRecord::new("x")], Durability::Written)
        .unwrap();
    assert_ne!(second[0].partition, first[0].partition);
    // One batch: one fetch returns all ten records from one stored batch.
    let r = broker.fetch_now(&FetchRequest::one("t", first[0].partition, 0, 1));
    let data = r[0].result.as_ref().unwrap();
    assert_eq!(decode_records(&data.records).unwrap().len(), 10);
}

#[test]
fn fetch_returns_batches_unchanged_and_out_of_range_errors_carry_the_range() {
    let broker = memory();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut raw = BatchBuilder::new(Compression::None);
    raw.append(7, Some(b"k"), Some(b"v"), &[]).unwrap();
    raw.append(8, None, Some(b"w"), &[]).unwrap();
    let mut raw = raw.build().unwrap();
    let sent = raw.clone();
    let a = broker
        .produce_raw("t", 0, &mut raw, Durability::Written)
        .unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.duplicate), (0, 1, false));
    let r = broker.fetch_now(&FetchRequest::one("t", 0, 0, 1 << 20));
    let data = r[0].result.as_ref().unwrap();
    assert_eq!(&data.records[..], &sent[..], "stored and served unchanged");
    assert_eq!((data.high_watermark, data.log_start_offset), (2, 0));
    let r = broker.fetch_now(&FetchRequest::one("t", 0, 9, 1 << 20));
    match &r[0].result {
        Err(BrokerError::OffsetOutOfRange {
            offset: 9,
            log_start_offset: 0,
            log_end_offset: 2,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // A corrupt batch is refused with the record layer's reason.
    let mut bad = sent.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let err = broker
        .produce_raw("t", 0, &mut bad, Durability::Written)
        .unwrap_err();
    assert!(matches!(err, BrokerError::InvalidRecord { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn a_long_poll_fetch_is_woken_by_an_append() {
    let broker = memory();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut request = FetchRequest::one("t", 0, 0, 1 << 20);
    request.max_wait = Duration::from_secs(30);
    let waiter = tokio::spawn({
        let broker = broker.clone();
        async move { broker.fetch(request).await }
    });
    tokio::task::yield_now().await;
    broker
        .produce_async(
            "t".into(),
            vec![ProduceRecord::new("hello")],
            Durability::Written,
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("woken, not timed out")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let data = r[0].result.as_ref().unwrap();
    assert_eq!(decode_records(&data.records).unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_fetch_with_nothing_new_answers_empty_after_max_wait() {
    let broker = memory();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let mut request = FetchRequest::one("t", 0, 0, 1 << 20);
    request.max_wait = Duration::from_millis(500);
    let before = tokio::time::Instant::now();
    let r = broker.fetch(request).await;
    assert!(before.elapsed() >= Duration::from_millis(500));
    assert!(r[0].result.as_ref().unwrap().records.is_empty());
}

/// Regression: every refused batch was `INVALID_RECORD` (87); a Kafka
/// producer splits a batch only on `MESSAGE_TOO_LARGE` (10), and treats
/// `CORRUPT_MESSAGE` (2) as retriable.
#[test]
fn refused_batches_carry_kafkas_code_for_what_is_wrong() {
    let broker = memory();
    let mut config = TopicConfig::default();
    config.log.max_batch_bytes = 200;
    broker.create_topic("t", config).unwrap();
    let mut big = BatchBuilder::new(Compression::None);
    big.append(0, None, Some(&[7u8; 300]), &[]).unwrap();
    let err = broker
        .produce_raw("t", 0, &mut big.build().unwrap(), Durability::Written)
        .unwrap_err();
    assert_eq!(err.kafka_code(), 10, "{err}");

    let mut small = BatchBuilder::new(Compression::None);
    small.append(0, None, Some(b"v"), &[]).unwrap();
    let mut corrupt = small.build().unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let err = broker
        .produce_raw("t", 0, &mut corrupt, Durability::Written)
        .unwrap_err();
    assert_eq!(err.kafka_code(), 2, "{err}");
    assert_eq!(
        broker.list_offset("t", 0, OffsetSpec::Latest).unwrap(),
        Some(0)
    );
}

#[test]
fn list_offsets_answer_earliest_latest_and_by_timestamp() {
    let broker = memory();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let records = (0..10)
        .map(|i| ProduceRecord::new("v").timestamp(100 + i * 10))
        .collect();
    broker.produce("t", records, Durability::Written).unwrap();
    assert_eq!(
        broker.list_offset("t", 0, OffsetSpec::Earliest).unwrap(),
        Some(0)
    );
    assert_eq!(
        broker.list_offset("t", 0, OffsetSpec::Latest).unwrap(),
        Some(10)
    );
    assert_eq!(
        broker
            .list_offset("t", 0, OffsetSpec::Timestamp(135))
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        broker
            .list_offset("t", 0, OffsetSpec::Timestamp(10_000))
            .unwrap(),
        None
    );
}

#[test]
fn a_replayed_idempotent_batch_is_stored_once_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let id = broker.init_producer_id(None).unwrap();
    let first = idempotent_batch(id, 0, &["a", "b"]);
    let second = idempotent_batch(id, 2, &["c"]);
    let a = broker
        .produce_raw("t", 0, &mut first.clone(), Durability::Fsync)
        .unwrap();
    // The acknowledgement is "lost": the producer sends the same batch again.
    let retry = broker
        .produce_raw("t", 0, &mut first.clone(), Durability::Fsync)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, retry.last_offset),
        (a.base_offset, a.last_offset)
    );
    broker
        .produce_raw("t", 0, &mut second.clone(), Durability::Fsync)
        .unwrap();
    assert_eq!(broker.metrics().duplicate_batches, 1);
    broker.close().unwrap();

    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    let again = broker
        .produce_raw("t", 0, &mut second.clone(), Durability::Fsync)
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.base_offset, 2);
    let old = broker
        .produce_raw("t", 0, &mut first.clone(), Durability::Fsync)
        .unwrap();
    assert_eq!((old.base_offset, old.last_offset), (0, 1));
    assert_eq!(
        values(&broker, "t", 0, 0),
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
    // A new id after the restart is not one handed out before.
    assert!(broker.init_producer_id(None).unwrap().producer_id > id.producer_id);
}

#[test]
fn an_idempotent_batch_after_a_crash_without_close_is_still_recognised() {
    let storage = MemoryStorage::new();
    let broker = Broker::open(on_storage(&storage)).unwrap();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let id = broker.init_producer_id(None).unwrap();
    let batch = idempotent_batch(id, 0, &["only"]);
    broker
        .produce_raw("t", 0, &mut batch.clone(), Durability::Written)
        .unwrap();
    // The process dies; the OS keeps what was written.
    let survived = storage.crash_keep_all();
    drop(broker);
    let broker = Broker::open(on_storage(&survived)).unwrap();
    let retry = broker
        .produce_raw("t", 0, &mut batch.clone(), Durability::Written)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(values(&broker, "t", 0, 0), vec![(0, "only".into())]);
}

/// Rolls do not fsync: the broker's tick does, so after a tick a power
/// loss keeps every record of the rolled segments.
#[test]
fn a_tick_makes_rolled_segments_survive_a_power_loss() {
    let storage = MemoryStorage::new();
    let broker = Broker::open(on_storage(&storage)).unwrap();
    let mut topic = TopicConfig::default();
    topic.log.segment_bytes = 300;
    // The records carry timestamp 0: no retention by time here.
    topic.log.retention_ms = None;
    broker.create_topic("t", topic).unwrap();
    for i in 0..20 {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(0, None, Some(format!("v{i}").as_bytes()), &[])
            .unwrap();
        broker
            .produce_raw("t", 0, &mut b.build().unwrap(), Durability::Written)
            .unwrap();
    }
    broker.tick().unwrap();
    let survived = storage.crash_clean();
    drop(broker);
    let broker = Broker::open(on_storage(&survived)).unwrap();
    let kept = values(&broker, "t", 0, 0);
    // The active segment's records were never synced; all the others were.
    assert!(kept.len() >= 15 && kept.len() < 20, "{}", kept.len());
    let expected: Vec<(i64, String)> = (0..kept.len() as i64)
        .map(|i| (i, format!("v{i}")))
        .collect();
    assert_eq!(kept, expected);
}

#[test]
fn a_sequence_gap_and_an_old_epoch_are_refused() {
    let broker = memory();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let id = broker.init_producer_id(None).unwrap();
    broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(id, 0, &["a"]),
            Durability::Written,
        )
        .unwrap();
    let err = broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(id, 5, &["gap"]),
            Durability::Written,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::OutOfOrderSequence {
                expected: 1,
                received: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kafka_code(), 45);
    let bumped = broker.init_producer_id(Some(id)).unwrap();
    assert_eq!(
        (bumped.producer_id, bumped.epoch),
        (id.producer_id, id.epoch + 1)
    );
    broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(bumped, 0, &["new"]),
            Durability::Written,
        )
        .unwrap();
    let err = broker
        .produce_raw(
            "t",
            0,
            &mut idempotent_batch(id, 1, &["zombie"]),
            Durability::Written,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::ProducerFenced {
                current_epoch: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        values(&broker, "t", 0, 0),
        vec![(0, "a".into()), (1, "new".into())]
    );
}

#[test]
fn counters_report_records_bytes_requests_errors_and_high_watermarks() {
    let broker = memory();
    broker
        .create_topic("t", TopicConfig::with_partitions(2))
        .unwrap();
    broker
        .produce(
            "t",
            vec![
                ProduceRecord::new("a").partition(0),
                ProduceRecord::new("b").partition(1),
                ProduceRecord::new("c").partition(1),
            ],
            Durability::Written,
        )
        .unwrap();
    let _ = broker.produce(
        "missing",
        vec![ProduceRecord::new("x")],
        Durability::Written,
    );
    broker.fetch_now(&FetchRequest::one("t", 1, 0, 1 << 20));
    broker.fetch_now(&FetchRequest::one("t", 1, 99, 1 << 20));
    let m = broker.metrics();
    assert_eq!((m.produce_requests, m.produce_errors), (2, 1));
    assert_eq!((m.fetch_requests, m.fetch_errors), (2, 1));
    let t = &m.topics["t"];
    assert_eq!((t.records_in, t.records_out), (3, 2));
    assert!(t.bytes_in > 0 && t.bytes_out > 0);
    assert_eq!(t.high_watermarks, vec![1, 2]);
    assert_eq!(t.log_start_offsets, vec![0, 0]);
}

#[test]
fn is_open_is_true_until_close() {
    let broker = memory();
    assert!(broker.is_open());
    broker.close().unwrap();
    assert!(!broker.is_open());
}

#[test]
fn produce_records_keep_key_value_headers_and_timestamp() {
    let broker = memory();
    broker.create_topic("t", TopicConfig::default()).unwrap();
    let meta = broker
        .produce(
            "t",
            vec![
                ProduceRecord::keyed("k", "v")
                    .header("traceparent", "00-abc-def-01")
                    .timestamp(42),
                ProduceRecord::new("w"),
            ],
            Durability::Written,
        )
        .unwrap();
    assert_eq!(meta[0].timestamp, 42);
    assert_eq!(meta[1].timestamp, 1_000, "the broker clock stamps the rest");
    let r = broker.fetch_now(&FetchRequest::one("t", 0, 0, 1 << 20));
    let records = decode_records(&r[0].result.as_ref().unwrap().records).unwrap();
    assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(records[0].headers[0].key, "traceparent");
    assert_eq!(
        records[0].headers[0].value,
        Some(Bytes::from_static(b"00-abc-def-01"))
    );
    assert_eq!(records[0].timestamp, 42);
}
