//! An in-memory broker keeps each written byte once (no crash simulation
//! is asked for), reports the memory it holds in `/metrics`, and is
//! bounded by its topics' retention.

mod common;

use logbus::admin::{RequestMetrics, render_metrics};
use logbus::broker::{Broker, BrokerConfig, TopicConfig};
use logbus::clock::ManualClock;
use logbus::log::{Durability, LogConfig};
use std::sync::Arc;

fn memory_metric(broker: &Broker) -> u64 {
    let text = render_metrics(broker, &RequestMetrics::default()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("logbus_storage_memory_bytes "))
        .unwrap_or_else(|| panic!("no memory gauge in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn an_in_memory_broker_holds_each_byte_once_and_retention_bounds_it() {
    let clock = ManualClock::new(1_000);
    let broker = Broker::open(BrokerConfig::in_memory().clock(Arc::new(clock))).unwrap();
    let config = TopicConfig {
        partitions: 1,
        log: LogConfig {
            segment_bytes: 256 << 10,
            retention_bytes: Some(1 << 20),
            ..LogConfig::default()
        },
        ..TopicConfig::default()
    };
    broker.create_topic("t", config).unwrap();
    for _ in 0..128 {
        let mut b = common::sized_batch(64 << 10, 1_000);
        broker
            .produce_raw("t", 0, &mut b, Durability::Written)
            .unwrap();
    }
    let bytes_in = broker.metrics().topics["t"].bytes_in;
    let held = memory_metric(&broker);
    assert_eq!(broker.metrics().storage_memory_bytes, Some(held));
    assert!(
        held >= bytes_in && held < bytes_in + bytes_in / 20,
        "one copy of {bytes_in} bytes (plus indexes), held {held}"
    );
    broker.tick().unwrap();
    let held = memory_metric(&broker);
    assert!(
        held < (1 << 20) + (300 << 10),
        "retention.bytes of 1 MiB bounds what is held: {held}"
    );
}

#[test]
fn a_broker_on_disk_reports_no_memory_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
    assert_eq!(broker.metrics().storage_memory_bytes, None);
    let text = render_metrics(&broker, &RequestMetrics::default()).unwrap();
    assert!(!text.contains("storage_memory_bytes"));
}
