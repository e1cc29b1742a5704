//! Connections that drop: a proxy between producer and server forwards a
//! produce and then cuts the connection before its response comes back;
//! the idempotent producer retries over a new connection and the record is
//! stored once. A client whose connection drops fails its in-flight
//! requests with a retriable error; a producer with the server gone fails
//! after its delivery timeout.

mod server_common;

use bytes::BytesMut;
use logbus::client::{
    Client, ClientConfig, ClientError, OffsetQuery, Producer, ProducerConfig, ProducerRecord,
    TopicConfig,
};
use logbus::protocol::{
    ApiVersionsResponse, ErrorCode, ResponseBody, decode_frame, encode_response,
};
use server_common::{DEADLINE, TestServer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PRODUCE: i16 = 6;

/// Forwards connections to `upstream`; while `armed`, the first produce's
/// response is swallowed and both sides of that connection are closed.
struct Proxy {
    addr: String,
    armed: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

async fn proxy(upstream: String) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let armed = Arc::new(AtomicBool::new(true));
    let dropped = Arc::new(AtomicBool::new(false));
    let (a, d) = (armed.clone(), dropped.clone());
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let server = TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(pump(client, server, a.clone(), d.clone()));
        }
    });
    Proxy {
        addr,
        armed,
        dropped,
    }
}

async fn pump(
    client: TcpStream,
    server: TcpStream,
    armed: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Correlation id of the produce whose response is to be swallowed.
    let victim = Arc::new(AtomicI32::new(-1));
    let v = victim.clone();
    let a = armed.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        loop {
            while let Some(frame) = decode_frame(&mut buf, 16 << 20).unwrap() {
                let key = i16::from_be_bytes([frame[0], frame[1]]);
                let id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                if key == PRODUCE && a.load(Ordering::SeqCst) {
                    let _ = v.compare_exchange(-1, id, Ordering::SeqCst, Ordering::SeqCst);
                }
                sw.write_all(&(frame.len() as u32).to_be_bytes())
                    .await
                    .unwrap();
                sw.write_all(&frame).await.unwrap();
            }
            if cr.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        }
    });
    let mut buf = BytesMut::new();
    'down: loop {
        while let Some(frame) = decode_frame(&mut buf, 16 << 20).unwrap() {
            let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            if id == victim.load(Ordering::SeqCst) && armed.swap(false, Ordering::SeqCst) {
                // The produce was applied; its acknowledgement is lost.
                dropped.store(true, Ordering::SeqCst);
                break 'down;
            }
            if cw
                .write_all(&(frame.len() as u32).to_be_bytes())
                .await
                .is_err()
                || cw.write_all(&frame).await.is_err()
            {
                break 'down;
            }
        }
        if sr.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            break;
        }
    }
    upstream.abort();
    // Dropping both halves closes both connections.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_whose_response_is_lost_is_retried_and_stored_once() {
    let server = TestServer::start().await;
    let admin = Client::connect(&server.addr).await.unwrap();
    admin
        .create_topic("once", 1, TopicConfig::default())
        .await
        .unwrap();
    let proxy = proxy(server.addr.clone()).await;
    let producer = Producer::connect(&proxy.addr, ProducerConfig::default())
        .await
        .unwrap();
    let first = producer
        .send(ProducerRecord::new("once", "hello"))
        .await
        .unwrap();
    let meta = tokio::time::timeout(DEADLINE, first)
        .await
        .expect("no acknowledgement")
        .unwrap();
    assert!(
        proxy.dropped.load(Ordering::SeqCst) && !proxy.armed.load(Ordering::SeqCst),
        "the proxy dropped a response"
    );
    assert_eq!(meta.offset, 0, "the retry got the original offset");
    let second = producer
        .send(ProducerRecord::new("once", "world"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(second.offset, 1);
    assert_eq!(
        admin
            .list_offset("once", 0, OffsetQuery::Latest)
            .await
            .unwrap(),
        Some(2),
        "each record stored exactly once"
    );
    assert_eq!(
        server.broker.metrics().duplicate_batches,
        1,
        "the broker recognised the retry"
    );
    producer.close().await.unwrap();
    server.stop().await;
}

/// A server that negotiates versions and then hangs up on the next request.
async fn hang_up_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut answered = false;
        loop {
            if let Some(frame) = decode_frame(&mut buf, 1 << 20).unwrap() {
                if answered {
                    return; // drops the socket with the request unanswered
                }
                let id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                let body =
                    ResponseBody::ApiVersions(ApiVersionsResponse::supported(ErrorCode::None));
                let mut out = BytesMut::new();
                encode_response(id, 0, &body, &mut out);
                s.write_all(&out).await.unwrap();
                answered = true;
                continue;
            }
            if s.read_buf(&mut buf).await.unwrap() == 0 {
                return;
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_fails_in_flight_requests_with_a_retriable_error() {
    let addr = hang_up_server().await;
    let client = Client::connect(&addr).await.unwrap();
    let err = client.list_topics(false).await.unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    assert!(err.is_retriable());
    assert!(client.is_closed());
    assert!(matches!(
        client.list_groups().await.unwrap_err(),
        ClientError::Closed
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_gives_up_after_its_delivery_timeout_when_the_server_is_gone() {
    let server = TestServer::start().await;
    let addr = server.addr.clone();
    Client::connect(&addr)
        .await
        .unwrap()
        .create_topic("gone", 1, TopicConfig::default())
        .await
        .unwrap();
    let config = ProducerConfig {
        delivery_timeout: Duration::from_millis(300),
        retry_backoff: Duration::from_millis(20),
        client: ClientConfig {
            connect_timeout: Duration::from_millis(200),
            ..ClientConfig::default()
        },
        ..ProducerConfig::default()
    };
    let producer = Producer::connect(&addr, config).await.unwrap();
    server.stop().await;
    let result = tokio::time::timeout(DEADLINE, async {
        producer
            .send(ProducerRecord::new("gone", "x").partition(0))
            .await
            .unwrap()
            .await
    })
    .await
    .expect("the producer kept retrying past its delivery timeout");
    let err = result.unwrap_err();
    assert!(
        matches!(&err, ClientError::BatchFailed { source, .. } if matches!(**source, ClientError::DeliveryTimeout { .. })),
        "{err:?}"
    );
    assert!(
        err.is_retriable(),
        "the cause (an unreachable server) is retriable"
    );
    // Connecting afresh fails the same way once the delivery timeout passes.
    let again = Producer::connect(
        &addr,
        ProducerConfig {
            delivery_timeout: Duration::from_millis(100),
            ..ProducerConfig::default()
        },
    )
    .await;
    assert!(matches!(again, Err(ClientError::Connect { .. })));
}
