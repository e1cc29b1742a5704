//! Produce `timeout_ms`: an `fsync` produce whose fsync does not finish in
//! time is answered `REQUEST_TIMED_OUT` (as Kafka answers an `acks=all`
//! produce), while its append goes on and may still be stored; the next
//! produce on the connection waits for it, so order holds.

mod gated;
mod server_common;

use bytes::Bytes;
use gated::{Gate, GatedStorage};
use logbus::broker::{Broker, BrokerConfig, StorageConfig};
use logbus::client::{Client, OffsetQuery, TopicConfig};
use logbus::log::storage::MemoryStorage;
use logbus::protocol::{Durability, ErrorCode, ProducePartition, ProduceRequest, ProduceTopic};
use logbus::server::ServerConfig;
use server_common::{DEADLINE, batch};
use std::sync::Arc;

/// Holds fsyncs of `.log` files while closed; counts those held.
struct Reopen(Arc<Gate>);

impl Drop for Reopen {
    fn drop(&mut self) {
        self.0.set_closed(false);
    }
}

fn produce(tag: &str, durability: Durability, timeout_ms: i32) -> ProduceRequest {
    ProduceRequest {
        durability,
        timeout_ms,
        topics: vec![ProduceTopic {
            name: "t".into(),
            partitions: vec![ProducePartition {
                partition: 0,
                records: Bytes::from(batch(tag, 1)),
            }],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fsync_produce_past_its_timeout_is_answered_request_timed_out_and_may_still_be_stored() {
    let gate = Arc::new(Gate::default());
    let storage = Arc::new(GatedStorage {
        inner: MemoryStorage::new(),
        gate: Arc::clone(&gate),
    });
    let broker = Broker::open(BrokerConfig::with_storage(StorageConfig::Custom {
        storage,
        dir: "/data".into(),
    }))
    .unwrap();
    let server = logbus::server::start("127.0.0.1:0", broker.clone(), ServerConfig::default())
        .await
        .unwrap();
    let client = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    client
        .create_topic("t", 1, TopicConfig::default())
        .await
        .unwrap();

    let _reopen = Reopen(Arc::clone(&gate));
    gate.set_closed(true);
    let r = tokio::time::timeout(
        DEADLINE,
        client.send(produce("late", Durability::Fsync, 50)),
    )
    .await
    .expect("answered at its timeout, not when the fsync ends")
    .unwrap();
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::RequestTimedOut);
    assert!(p.error_code.is_retriable());
    assert_eq!(p.base_offset, -1);
    assert!(
        gate.held() >= 1,
        "the fsync is still held: answered before it"
    );

    // The next produce on the connection waits for the first append; then
    // both are stored, in order: the timed-out one was not abandoned.
    let next = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .send(produce("next", Durability::Fsync, 30_000))
                .await
        })
    };
    gate.set_closed(false);
    let r = tokio::time::timeout(DEADLINE, next)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.base_offset), (ErrorCode::None, 1));
    assert_eq!(
        client
            .list_offset("t", 0, OffsetQuery::Latest)
            .await
            .unwrap(),
        Some(2)
    );

    // Durability `written` waits on no fsync: it is answered while the
    // fsync is held, well within its timeout. (Its timeout holds too, as for
    // every durability, so a 0 ms one would race the append's blocking task.)
    gate.set_closed(true);
    let r = client
        .send(produce("quick", Durability::Written, 30_000))
        .await
        .unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    gate.set_closed(false);

    server.shutdown().await.unwrap();
    broker.close().unwrap();
}
