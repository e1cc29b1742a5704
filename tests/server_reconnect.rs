//! A network consumer survives a broker restart on the same address: it
//! re-dials, rejoins its group (the new broker does not know the old
//! member) and resumes from the committed offsets, so what it had returned
//! but not committed comes again (at least once) and nothing committed does.

mod server_common;

use bytes::Bytes;
use logbus::broker::{Broker, BrokerConfig};
use logbus::client::{Client, Consumer, ConsumerConfig, TopicConfig};
use logbus::protocol::Durability;
use logbus::server::{ServerConfig, ServerHandle};
use server_common::{DEADLINE, batch};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

async fn serve(dir: &Path, addr: &str) -> (Broker, ServerHandle) {
    let broker = Broker::open(BrokerConfig::dir(dir)).unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    // The old listener is closed, but the port may take a moment to free.
    let handle = loop {
        match logbus::server::start(addr, broker.clone(), ServerConfig::default()).await {
            Ok(h) => break h,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot bind {addr} again: {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    (broker, handle)
}

async fn produce(addr: &str, tag: &str, n: usize) {
    let client = Client::connect(addr).await.unwrap();
    client
        .produce_batches("events", 0, Bytes::from(batch(tag, n)), Durability::Fsync)
        .await
        .unwrap();
}

/// Polls until `want` holds for the values seen, failing on any poll error or after [`DEADLINE`].
async fn poll_until(
    consumer: &mut Consumer,
    seen: &mut Vec<String>,
    want: impl Fn(&[String]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !want(seen) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; seen {seen:?}"
        );
        let records = consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll survives the restart");
        seen.extend(
            records
                .into_iter()
                .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()),
        );
    }
}

fn values(tag: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

fn has_all(seen: &[String], want: &BTreeSet<String>) -> bool {
    want.iter().all(|w| seen.contains(w))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_survives_a_broker_restart_on_the_same_address_and_resumes_from_its_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, server) = serve(dir.path(), "127.0.0.1:0").await;
    let addr = server.local_addr().to_string();
    let admin = Client::connect(&addr).await.unwrap();
    // The test batches carry 1970 timestamps: no time-based retention, or a
    // tick after the restart would delete the rolled segment.
    let keep = TopicConfig {
        retention_ms: Some(-1),
        ..TopicConfig::default()
    };
    admin.create_topic("events", 1, keep).await.unwrap();
    let mut config = ConsumerConfig::new("g", ["events"]);
    config.heartbeat_interval = Some(Duration::from_millis(50));
    let mut consumer = Consumer::join(Client::connect(&addr).await.unwrap(), config)
        .await
        .unwrap();

    // Five records consumed and committed, two more consumed only.
    produce(&addr, "a", 5).await;
    let mut seen = Vec::new();
    poll_until(&mut consumer, &mut seen, |s| s.len() == 5).await;
    consumer.commit().await.unwrap();
    produce(&addr, "u", 2).await;
    poll_until(&mut consumer, &mut seen, |s| s.len() == 7).await;
    let member = consumer.member_id().to_owned();

    // The broker restarts on the same data directory and port.
    drop(admin);
    server.shutdown().await.unwrap();
    broker.close().unwrap();
    let (broker, server) = serve(dir.path(), &addr).await;
    assert_eq!(server.local_addr().to_string(), addr);
    produce(&addr, "b", 3).await;

    // The same consumer gets the new records, and the uncommitted ones again.
    let mut after = Vec::new();
    let mut want = values("b", 3);
    want.extend(values("u", 2));
    poll_until(&mut consumer, &mut after, |s| has_all(s, &want)).await;
    assert!(
        after.iter().all(|v| !v.starts_with("a-")),
        "committed records came again: {after:?}"
    );
    assert_ne!(consumer.member_id(), member, "rejoined as a new member");
    // Reads stop at a segment's end; the restart may have rolled one.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while consumer.position("events", 0) != Some(10) {
        assert!(tokio::time::Instant::now() < deadline, "never caught up");
        after.extend(
            consumer
                .poll(Duration::from_millis(200))
                .await
                .unwrap()
                .into_iter()
                .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap()),
        );
    }
    consumer.commit().await.unwrap();
    let committed = Client::connect(&addr)
        .await
        .unwrap()
        .fetch_offsets("g", None)
        .await
        .unwrap();
    assert_eq!(committed[0].partitions[0].offset, 10, "{committed:?}");

    drop(consumer);
    server.shutdown().await.unwrap();
    broker.close().unwrap();
}
