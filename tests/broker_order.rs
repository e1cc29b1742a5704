//! Per-key ordering under concurrency (design §7): 8 producers on their own
//! threads each send 10,000 keyed records over 100 keys; every key lands on
//! one partition, and each producer's records of a key are stored in the
//! order it sent them.

use logbus::broker::client::{Producer, ProducerConfig};
use logbus::broker::{
    Broker, BrokerConfig, FetchRequest, ProduceRecord, TopicConfig, decode_records,
    partition_for_key,
};
use std::collections::HashMap;

const PRODUCERS: usize = 8;
const RECORDS: usize = 10_000;
const KEYS: usize = 100;
const PARTITIONS: u32 = 6;

#[test]
fn each_keys_records_land_on_one_partition_in_the_order_each_producer_sent_them() {
    let broker = Broker::open(BrokerConfig::in_memory()).unwrap();
    broker
        .create_topic("t", TopicConfig::with_partitions(PARTITIONS))
        .unwrap();
    std::thread::scope(|s| {
        for producer in 0..PRODUCERS {
            let broker = &broker;
            s.spawn(move || {
                let p = Producer::new(broker, ProducerConfig::default()).unwrap();
                for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(250) {
                    let records = chunk
                        .iter()
                        .map(|&i| {
                            ProduceRecord::keyed(
                                format!("key-{}", i % KEYS),
                                format!("{producer}:{i}"),
                            )
                        })
                        .collect();
                    p.send_all("t", records).unwrap();
                }
            });
        }
    });
    // key → partition seen; (producer, key) → last sequence number seen.
    let mut partition_of: HashMap<String, u32> = HashMap::new();
    let mut last: HashMap<(usize, String), usize> = HashMap::new();
    let mut total = 0;
    for partition in 0..PARTITIONS {
        let mut next = 0;
        loop {
            let r = broker.fetch_now(&FetchRequest::one("t", partition, next, 1 << 20));
            let data = r.into_iter().next().unwrap().result.unwrap();
            let records = decode_records(&data.records).unwrap();
            if records.is_empty() {
                break;
            }
            let from = next;
            for r in records.into_iter().filter(|r| r.offset >= from) {
                next = r.offset + 1;
                total += 1;
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                let (producer, seq) = value.split_once(':').unwrap();
                let (producer, seq): (usize, usize) =
                    (producer.parse().unwrap(), seq.parse().unwrap());
                assert_eq!(partition, partition_for_key(key.as_bytes(), PARTITIONS));
                assert_eq!(
                    *partition_of.entry(key.clone()).or_insert(partition),
                    partition
                );
                if let Some(prev) = last.insert((producer, key.clone()), seq) {
                    assert!(
                        prev < seq,
                        "producer {producer} key {key}: {seq} after {prev}"
                    );
                }
            }
        }
    }
    assert_eq!(total, PRODUCERS * RECORDS);
    assert_eq!(partition_of.len(), KEYS);
}
