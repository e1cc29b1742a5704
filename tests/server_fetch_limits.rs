//! A fetch response never exceeds the frame limit: a stored batch larger
//! than a frame can carry (in-process produces may store batches up to
//! `max_batch_bytes`, 16 MiB, while frames stop at 8 MiB) is answered
//! `MESSAGE_TOO_LARGE` for its partition, and partitions that together
//! would overflow the frame are cut at whole batches; the connection stays.

mod server_common;

use bytes::Bytes;
use logbus::client::{Client, TopicConfig};
use logbus::log::Durability;
use logbus::protocol::{ErrorCode, FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use logbus::record::{BatchBuilder, Compression};
use server_common::{TestServer, batch};

const MIB: usize = 1 << 20;

/// One batch holding one record of `size` bytes.
fn big_batch(size: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    builder
        .append(1_000, None, Some(&vec![7u8; size]), &[])
        .unwrap();
    builder.build().unwrap()
}

fn fetch(topic: &str, partitions: &[(i32, i64)]) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: i32::MAX,
        isolation_level: IsolationLevel::ReadUncommitted,
        group_id: None,
        topics: vec![FetchTopic {
            name: topic.into(),
            partitions: partitions
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: i32::MAX,
                })
                .collect(),
        }],
        member: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_batch_larger_than_a_frame_is_answered_message_too_large_on_a_kept_connection() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("big", 1, TopicConfig::default())
        .await
        .unwrap();
    // In process, past the 8 MiB frame (the broker takes up to 16 MiB).
    server
        .broker
        .produce_raw("big", 0, &mut big_batch(9 * MIB), Durability::Written)
        .unwrap();
    server
        .broker
        .produce_raw("big", 0, &mut batch("small", 1), Durability::Written)
        .unwrap();

    let r = client.fetch(fetch("big", &[(0, 0)])).await.unwrap();
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::MessageTooLarge);
    assert!(!p.error_code.is_retriable());
    assert_eq!((p.high_watermark, p.log_start_offset), (2, 0));
    assert!(p.records.is_empty());

    // The connection is still there, and the next batch can be read.
    assert!(!client.is_closed());
    let r = client.fetch(fetch("big", &[(0, 1)])).await.unwrap();
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::None);
    let records = logbus::client::decode_batches(&p.records, 1).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"small-0"[..]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_that_together_overflow_a_frame_are_cut_at_whole_batches() {
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("two", 2, TopicConfig::default())
        .await
        .unwrap();
    let five = big_batch(5 * MIB);
    for partition in 0..2 {
        server
            .broker
            .produce_raw("two", partition, &mut five.clone(), Durability::Written)
            .unwrap();
    }

    // Each partition alone fits a frame; both together (10 MiB) do not.
    let r = client.fetch(fetch("two", &[(0, 0), (1, 0)])).await.unwrap();
    let (p0, p1) = (&r.topics[0].partitions[0], &r.topics[0].partitions[1]);
    assert_eq!(
        (p0.error_code, p0.records.len()),
        (ErrorCode::None, five.len())
    );
    assert_eq!((p1.error_code, p1.high_watermark), (ErrorCode::None, 1));
    assert!(p1.records.is_empty(), "cut: fetched again on its own");

    let r = client.fetch(fetch("two", &[(1, 0)])).await.unwrap();
    let p1 = &r.topics[0].partitions[0];
    assert_eq!(p1.records, Bytes::from(five));
    assert!(!client.is_closed());
    server.stop().await;
}

#[test]
fn the_frame_limit_the_tests_rely_on_is_eight_mib() {
    // If the default grows, the sizes above must grow with it.
    assert_eq!(logbus::protocol::DEFAULT_MAX_FRAME, 8 * MIB);
}
