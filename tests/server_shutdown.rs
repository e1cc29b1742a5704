//! Graceful shutdown: once the shutdown future resolves, `run` stops
//! accepting, answers what is in flight (a parked long poll answers early
//! with what is there) and returns; the caller then closes the broker.

mod server_common;

use bytes::Bytes;
use logbus::broker::{Broker, BrokerConfig};
use logbus::client::{Client, TopicConfig};
use logbus::protocol::{
    Durability, ErrorCode, FetchPartition, FetchRequest, FetchTopic, IsolationLevel,
};
use logbus::server::{ServerConfig, bind, run};
use server_common::{DEADLINE, batch, wait_for_fetches};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_after_shutdown_with_in_flight_requests_answered() {
    let broker = Broker::open(BrokerConfig::in_memory()).unwrap();
    let listener = bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(
        listener,
        broker.clone(),
        ServerConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let client = Client::connect(&addr).await.unwrap();
    client
        .create_topic("s", 1, TopicConfig::default())
        .await
        .unwrap();
    client
        .produce_batches("s", 0, Bytes::from(batch("a", 2)), Durability::Fsync)
        .await
        .unwrap();
    // A long poll past the end, parked when shutdown begins.
    let waiting = client.clone();
    let fetch = tokio::spawn(async move {
        waiting
            .fetch(FetchRequest {
                max_wait_ms: 30_000,
                min_bytes: 1,
                max_bytes: 1 << 20,
                isolation_level: IsolationLevel::ReadUncommitted,
                group_id: None,
                topics: vec![FetchTopic {
                    name: "s".into(),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        fetch_offset: 2,
                        partition_max_bytes: 1 << 20,
                    }],
                }],
                member: Default::default(),
            })
            .await
    });
    // The fetch reached the broker and waits there when shutdown begins.
    wait_for_fetches(&broker, 1).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("run did not return")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let answered = fetch.await.unwrap().expect("the long poll was answered");
    let p = &answered.topics[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (ErrorCode::None, 2));
    assert!(p.records.is_empty());
    // No longer accepting.
    assert!(Client::connect(&addr).await.is_err());
    broker.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_handle_shuts_down_and_the_broker_closes_cleanly() {
    let broker = Broker::open(BrokerConfig::in_memory()).unwrap();
    let handle = logbus::server::start("127.0.0.1:0", broker.clone(), ServerConfig::default())
        .await
        .unwrap();
    let addr = handle.local_addr().to_string();
    let client = Client::connect(&addr).await.unwrap();
    client
        .create_topic("h", 1, TopicConfig::default())
        .await
        .unwrap();
    handle.shutdown().await.unwrap();
    assert!(
        client.list_topics(false).await.is_err(),
        "the connection was closed"
    );
    broker.close().unwrap();
}
