//! The server-wide limits of the native face (`server::limits`): slots per
//! client address, the first-request and frame deadlines, the request
//! budget (with its overdraft, so large frames that fill it still finish)
//! and the response budget (a hog stalls, a polite client is served).
//! Attackers connect from 127.0.0.2, well-behaved clients from 127.0.0.1.

mod server_common;

use logbus::client::{Client, OffsetQuery, TopicConfig};
use logbus::protocol::{
    Durability, FetchPartition, FetchRequest, FetchTopic, IsolationLevel, ProducePartition,
    ProduceRequest, ProduceTopic,
};
use logbus::server::{CloseReason, Limits, ServerConfig};
use server_common::{DEADLINE, TestServer, batch, closed_by_server, frame, wait_until};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// A connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{from}:0").parse::<SocketAddr>().unwrap())
        .unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

async fn still_serves(server: &TestServer) {
    let client = Client::connect(&server.addr).await.unwrap();
    client.list_topics(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_more_than_its_slots_and_others_are_still_served() {
    let server = TestServer::start_with(ServerConfig {
        max_connections_per_ip: 20,
        ..ServerConfig::default()
    })
    .await;
    let mut attackers = Vec::new();
    for _ in 0..30 {
        attackers.push(connect_from("127.0.0.2", &server.addr).await);
    }
    wait_until("20 served and 10 refused", || async {
        server.counts.opened.load(Ordering::SeqCst) == 20
            && server.counts.refused.load(Ordering::SeqCst) == 10
    })
    .await;
    still_serves(&server).await;
    drop(attackers);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_send_a_request_give_their_slot_back_early() {
    let server = TestServer::start_with(ServerConfig {
        first_request_timeout: Duration::from_millis(200),
        max_connections: 100,
        ..ServerConfig::default()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(connect_from("127.0.0.2", &server.addr).await);
    }
    for s in &mut silent {
        assert!(closed_by_server(s).await);
    }
    wait_until("100 closes for no request", || async {
        server.counts.closed_with(CloseReason::NoRequest) == 100
    })
    .await;
    // A connection that did complete a request stays (idle timeout: 10 min).
    let client = Client::connect(&server.addr).await.unwrap();
    client.list_topics(false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.list_topics(false).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_trickled_slower_than_the_frame_timeout_closes_the_connection() {
    let server = TestServer::start_with(ServerConfig {
        frame_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let mut slow = connect_from("127.0.0.2", &server.addr).await;
    // Announces 1 MiB, sends a byte now and then: each arrives well within
    // any idle timeout, but the frame never completes.
    slow.write_all(&(1u32 << 20).to_be_bytes()).await.unwrap();
    let trickle = async {
        loop {
            if slow.write_all(&[0]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(DEADLINE, trickle)
        .await
        .expect("the slow frame was never cut off");
    wait_until("the slow frame counted", || async {
        server.counts.closed_with(CloseReason::SlowFrame) == 1
    })
    .await;
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_together_exceed_the_request_budget_all_complete() {
    const FRAME: usize = 256 * 1024;
    let limits = Limits::new(
        ServerConfig {
            max_frame: FRAME,
            // The floor: one frame. Eight clients sending 200 KB frames at
            // once fill it many times over.
            max_queued_request_bytes: 0,
            ..ServerConfig::default()
        }
        .limits_config(),
    );
    let server = TestServer::start_with(ServerConfig {
        max_frame: FRAME,
        limits: Some(Arc::clone(&limits)),
        ..ServerConfig::default()
    })
    .await;
    let admin = Client::connect(&server.addr).await.unwrap();
    admin
        .create_topic("big", 1, TopicConfig::default())
        .await
        .unwrap();
    let mut producers = Vec::new();
    for p in 0..8 {
        let addr = server.addr.clone();
        producers.push(tokio::spawn(async move {
            let client = Client::connect(&addr).await.unwrap();
            for i in 0..5 {
                let mut b = logbus::record::BatchBuilder::new(logbus::record::Compression::None);
                b.append(0, None, Some(&vec![p as u8; 200_000]), &[])
                    .unwrap();
                let _ = i;
                client
                    .produce_batches("big", 0, b.build().unwrap().into(), Durability::Written)
                    .await
                    .unwrap();
            }
        }));
    }
    for p in producers {
        tokio::time::timeout(DEADLINE, p)
            .await
            .expect("frames waited on each other")
            .unwrap();
    }
    assert_eq!(
        admin
            .list_offset("big", 0, OffsetQuery::Latest)
            .await
            .unwrap(),
        Some(40),
        "every acknowledged batch is there"
    );
    wait_until("the budget is given back", || async {
        limits.snapshot().queued_request_bytes == 0
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_stall_at_the_response_budget_and_a_polite_client_is_served() {
    const BUDGET: usize = 1 << 20;
    let limits = Limits::new(
        ServerConfig {
            max_queued_response_bytes: BUDGET,
            ..ServerConfig::default()
        }
        .limits_config(),
    );
    let server = TestServer::start_with(ServerConfig {
        limits: Some(Arc::clone(&limits)),
        ..ServerConfig::default()
    })
    .await;
    let admin = Client::connect(&server.addr).await.unwrap();
    admin
        .create_topic("t", 1, TopicConfig::default())
        .await
        .unwrap();
    let mut b = logbus::record::BatchBuilder::new(logbus::record::Compression::None);
    b.append(0, None, Some(&vec![7u8; 60_000]), &[]).unwrap();
    admin
        .produce_batches("t", 0, b.build().unwrap().into(), Durability::Written)
        .await
        .unwrap();
    let fetch = frame(
        FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 64 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            group_id: None,
            topics: vec![FetchTopic {
                name: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 64 * 1024,
                }],
            }],
            member: Default::default(),
        }
        .into(),
        1,
    );
    let produce = frame(
        ProduceRequest {
            durability: Durability::Written,
            timeout_ms: 1000,
            topics: vec![ProduceTopic {
                name: "t".into(),
                partitions: vec![ProducePartition {
                    partition: 0,
                    records: batch("hog", 10).into(),
                }],
            }],
        }
        .into(),
        2,
    );
    let mut pipeline = Vec::new();
    for _ in 0..200 {
        pipeline.extend_from_slice(&fetch);
        pipeline.extend_from_slice(&produce);
    }
    // Eight hogs write requests as long as the server reads them.
    let mut hogs = Vec::new();
    for _ in 0..8 {
        let hog = connect_from("127.0.0.2", &server.addr).await;
        hogs.push(hog);
    }
    let written: Vec<_> = hogs
        .into_iter()
        .map(|hog| {
            let pipeline = pipeline.clone();
            tokio::spawn(async move {
                let mut hog = hog;
                loop {
                    if hog.write_all(&pipeline).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    wait_until("the response budget is full", || async {
        limits.snapshot().queued_response_bytes > BUDGET
    })
    .await;
    // A polite client produces and reads back while the hogs hold on.
    let client = Client::connect(&server.addr).await.unwrap();
    let before = client
        .list_offset("t", 0, OffsetQuery::Latest)
        .await
        .unwrap()
        .unwrap();
    let acked = client
        .produce_batches("t", 0, batch("polite", 5).into(), Durability::Written)
        .await
        .unwrap();
    assert!(acked >= before);
    // Queued responses stay within the budget plus the hogs' fair shares.
    let held = limits.snapshot().queued_response_bytes;
    assert!(held <= 2 * BUDGET + 8 * 128 * 1024, "{held} bytes queued");
    for w in written {
        w.abort();
    }
    wait_until("the hogs' responses are dropped", || async {
        limits.snapshot().queued_response_bytes == 0
    })
    .await;
    server.stop().await;
}

/// Sends one raw request frame and reads its response frame.
async fn round_trip(stream: &mut TcpStream, request: &[u8]) -> bytes::Bytes {
    use tokio::io::AsyncReadExt;
    stream.write_all(request).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    loop {
        if let Some(f) = logbus::protocol::decode_frame(&mut buf, 64 << 20).unwrap() {
            return f;
        }
        let n = tokio::time::timeout(DEADLINE, stream.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed");
    }
}

fn fetch_of(partitions: impl Iterator<Item = i32>) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: IsolationLevel::ReadUncommitted,
        group_id: None,
        topics: vec![FetchTopic {
            name: "t".into(),
            partitions: partitions
                .map(|partition| FetchPartition {
                    partition,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                })
                .collect(),
        }],
        member: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_listing_a_partition_many_times_gets_a_small_refusal_not_a_huge_frame() {
    let server = TestServer::start().await;
    let admin = Client::connect(&server.addr).await.unwrap();
    admin
        .create_topic("t", 1, TopicConfig::default())
        .await
        .unwrap();
    admin
        .produce_batches("t", 0, batch("x", 10).into(), Durability::Written)
        .await
        .unwrap();
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    // Partition 0 listed 400,000 times: a 6.4 MB request.
    let huge = frame(fetch_of(std::iter::repeat_n(0, 400_000)).into(), 7);
    assert!(huge.len() < 8 << 20);
    let answer = round_trip(&mut s, &huge).await;
    assert_eq!(
        &answer[..],
        &[0, 0, 0, 7, 0, 42],
        "header-level INVALID_REQUEST"
    );
    // Twice is refused too; the connection stays and serves the single one.
    let twice = frame(fetch_of([0, 0].into_iter()).into(), 8);
    assert_eq!(&round_trip(&mut s, &twice).await[..], &[0, 0, 0, 8, 0, 42]);
    let once = frame(fetch_of([0].into_iter()).into(), 9);
    let ok = round_trip(&mut s, &once).await;
    assert_eq!(&ok[..6], &[0, 0, 0, 9, 0, 0]);
    // Over the bound of distinct partitions: refused whole.
    let many = frame(fetch_of(0..10_001).into(), 10);
    assert_eq!(&round_trip(&mut s, &many).await[..], &[0, 0, 0, 10, 0, 42]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_for_unknown_topics_or_partitions_are_refused_and_write_nothing() {
    use logbus::protocol::{OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic};
    let server = TestServer::start().await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("real", 2, TopicConfig::default())
        .await
        .unwrap();
    let commit = |topic: &str, partitions: std::ops::Range<i32>| OffsetCommitRequest {
        group_id: "g".into(),
        generation_id: -1,
        member_id: String::new(),
        topics: vec![OffsetCommitTopic {
            name: topic.into(),
            partitions: partitions
                .map(|partition| OffsetCommitPartition {
                    partition,
                    offset: 1,
                    metadata: None,
                })
                .collect(),
        }],
    };
    let offsets_end = |broker: &logbus::broker::Broker| {
        broker
            .metrics()
            .topics
            .get("__consumer_offsets")
            .map_or(0, |t| t.records_in)
    };
    let before = offsets_end(&server.broker);
    for (topic, partitions) in [("ghost", 0..5_000), ("real", 0..3)] {
        let e = client
            .commit_offsets(commit(topic, partitions))
            .await
            .expect_err("an unknown topic or partition was committed");
        assert!(e.to_string().contains("UNKNOWN_TOPIC_OR_PARTITION"), "{e}");
    }
    assert_eq!(offsets_end(&server.broker), before, "nothing was written");
    assert!(server.broker.fetch_offsets("g").is_empty());
    client.commit_offsets(commit("real", 0..2)).await.unwrap();
    assert_eq!(server.broker.fetch_offsets("g").len(), 2);
    server.stop().await;
}
