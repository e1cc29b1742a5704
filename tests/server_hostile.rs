//! Hostile and careless clients: random bytes, oversized length prefixes,
//! truncated frames, unknown api keys and versions, hundreds of idle
//! connections, too many connections, idling out, and a client that
//! pipelines fetches without reading its responses. The server stays up,
//! keeps serving other clients, and bounds what it holds per connection.

mod server_common;

use bytes::{BufMut, BytesMut};
use logbus::client::{Client, TopicConfig};
use logbus::protocol::{
    ApiKey, ApiVersionsRequest, Durability, ErrorCode, FetchPartition, FetchRequest, FetchTopic,
    IsolationLevel, ListTopicsRequest, decode_frame,
};
use logbus::server::{CloseReason, ServerConfig};
use server_common::{DEADLINE, TestServer, closed_by_server, frame, wait_until};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server still answers a well-behaved client.
async fn still_serves(server: &TestServer) {
    let client = Client::connect(&server.addr).await.unwrap();
    client.list_topics(false).await.unwrap();
}

/// Reads one response frame.
async fn read_frame(stream: &mut TcpStream) -> bytes::Bytes {
    let mut buf = BytesMut::new();
    loop {
        if let Some(f) = decode_frame(&mut buf, 1 << 20).unwrap() {
            return f;
        }
        let n = tokio::time::timeout(DEADLINE, stream.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_close_only_that_connection() {
    let server = TestServer::start().await;
    // A fixed xorshift stream: deterministic "random" input.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        let mut junk = vec![0u8; 64 + round * 37];
        for b in &mut junk {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut s = TcpStream::connect(&server.addr).await.unwrap();
        s.write_all(&junk).await.unwrap();
        // End of input: a frame cut short is as bad as a malformed one.
        s.shutdown().await.unwrap();
        assert!(closed_by_server(&mut s).await, "round {round}");
    }
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_length_prefix_closes_the_connection_at_once() {
    let server = TestServer::start().await;
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    // Claims 4 GiB; the connection stays open on our side.
    s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    assert!(closed_by_server(&mut s).await);
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    let just_over = (8 * 1024 * 1024 + 1u32).to_be_bytes();
    s.write_all(&just_over).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    wait_until("two malformed closes", || async {
        server.counts.closed_with(CloseReason::Malformed) == 2
    })
    .await;
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frames_and_headers_close_the_connection() {
    let server = TestServer::start().await;
    // A frame promising 100 bytes that delivers 10, then the peer's EOF.
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    s.write_all(&100u32.to_be_bytes()).await.unwrap();
    s.write_all(&[0; 10]).await.unwrap();
    s.shutdown().await.unwrap();
    assert!(closed_by_server(&mut s).await);
    // A complete frame too short for a request header.
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 3, 0, 0]).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    // A valid header with a body cut short (ListTopics needs one byte).
    let mut bad = frame(
        ListTopicsRequest {
            include_internal: false,
        }
        .into(),
        1,
    );
    bad.pop();
    let len = (bad.len() - 4) as u32;
    bad[..4].copy_from_slice(&len.to_be_bytes());
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    s.write_all(&bad).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_keys_and_versions_are_refused_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    let mut unknown = BytesMut::new();
    unknown.put_u32(10);
    unknown.put_i16(999); // api key
    unknown.put_i16(0); // version
    unknown.put_i32(42); // correlation id
    unknown.put_i16(-1); // null client id
    s.write_all(&unknown).await.unwrap();
    let refusal = read_frame(&mut s).await;
    assert_eq!(
        &refusal[..],
        &[0, 0, 0, 42, 0, 35],
        "header-only UNSUPPORTED_VERSION"
    );

    // A known api at a version this build does not speak.
    let mut wrong = frame(
        ListTopicsRequest {
            include_internal: false,
        }
        .into(),
        43,
    );
    wrong[6..8].copy_from_slice(&7i16.to_be_bytes());
    s.write_all(&wrong).await.unwrap();
    let refusal = read_frame(&mut s).await;
    assert_eq!(&refusal[..], &[0, 0, 0, 43, 0, 35]);

    // ApiVersions at an unknown version gets the v0 list to negotiate with.
    let mut versions = frame(ApiVersionsRequest {}.into(), 44);
    versions[6..8].copy_from_slice(&9i16.to_be_bytes());
    s.write_all(&versions).await.unwrap();
    let (_, body) =
        logbus::protocol::decode_response(read_frame(&mut s).await, ApiKey::ApiVersions, 0)
            .unwrap();
    let logbus::protocol::ResponseBody::ApiVersions(v) = body else {
        panic!("not an ApiVersions body")
    };
    assert_eq!(v.error_code, ErrorCode::UnsupportedVersion);
    assert_eq!(v.negotiate(ApiKey::Fetch), Some(1));

    // The same connection still serves a valid request.
    s.write_all(&frame(
        ListTopicsRequest {
            include_internal: true,
        }
        .into(),
        45,
    ))
    .await
    .unwrap();
    let ok = read_frame(&mut s).await;
    assert_eq!(&ok[..6], &[0, 0, 0, 45, 0, 0]);
    assert_eq!(server.counts.refusals.load(Ordering::SeqCst), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_idle_connections_do_not_stop_other_clients() {
    let server = TestServer::start().await;
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(&server.addr).await.unwrap());
    }
    wait_until("500 connections served", || async {
        server.counts.opened.load(Ordering::SeqCst) >= 500
    })
    .await;
    let client = Client::connect(&server.addr).await.unwrap();
    client
        .create_topic("busy", 1, TopicConfig::default())
        .await
        .unwrap();
    assert_eq!(client.list_topics(false).await.unwrap().len(), 1);
    drop(idle);
    wait_until("the idle connections closed", || async {
        server.counts.closed_with(CloseReason::PeerClosed) >= 500
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_at_once() {
    let server = TestServer::start_with(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    })
    .await;
    let a = TcpStream::connect(&server.addr).await.unwrap();
    let _b = TcpStream::connect(&server.addr).await.unwrap();
    wait_until("two connections", || async {
        server.counts.opened.load(Ordering::SeqCst) == 2
    })
    .await;
    let mut c = TcpStream::connect(&server.addr).await.unwrap();
    assert!(closed_by_server(&mut c).await);
    assert_eq!(server.counts.refused.load(Ordering::SeqCst), 1);
    drop(a);
    wait_until("a slot freed", || async {
        server.counts.closed_with(CloseReason::PeerClosed) == 1
    })
    .await;
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(ServerConfig {
        idle_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await;
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    assert_eq!(server.counts.closed_with(CloseReason::Idle), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_stalls_instead_of_growing_server_memory() {
    const LIMIT: usize = 256 * 1024;
    let server = TestServer::start_with(ServerConfig {
        max_in_flight_bytes: LIMIT,
        ..ServerConfig::default()
    })
    .await;
    let admin = Client::connect(&server.addr).await.unwrap();
    admin
        .create_topic("big", 1, TopicConfig::default())
        .await
        .unwrap();
    let mut b = logbus::record::BatchBuilder::new(logbus::record::Compression::None);
    b.append(0, None, Some(&vec![7u8; 60_000]), &[]).unwrap();
    admin
        .produce_batches("big", 0, b.build().unwrap().into(), Durability::Written)
        .await
        .unwrap();

    // Each fetch answers ~60 KB; the client writes them and reads nothing.
    let fetch = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 64 * 1024,
        isolation_level: IsolationLevel::ReadUncommitted,
        group_id: None,
        topics: vec![FetchTopic {
            name: "big".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 64 * 1024,
            }],
        }],
        member: Default::default(),
    };
    let one = frame(fetch.into(), 7);
    let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 256).collect();
    let hog = TcpStream::connect(&server.addr).await.unwrap();
    let mut written = 0usize;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match hog.try_write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Stalled: the kernel buffers are full and the server has
                // stopped reading. If it were buffering, space would free up.
                if tokio::time::timeout(Duration::from_millis(300), hog.writable())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server kept reading ({written} bytes)"
        );
    }
    let sent = written / one.len();
    let answered = server.counts.answered(ApiKey::Fetch);
    // What was answered is what fits the budget plus the socket buffers.
    assert!(
        answered * 20 < sent,
        "answered {answered} of {sent} pipelined fetches: the server buffered instead of pushing back"
    );
    // Other clients are still served, and the hog's requests stay stalled.
    still_serves(&server).await;
    assert!(server.counts.answered(ApiKey::Fetch) <= answered + 8);
    drop(hog);
    wait_until("the hog's connection closed", || async {
        !server.counts.closed.lock().unwrap().is_empty()
    })
    .await;
    server.stop().await;
}
