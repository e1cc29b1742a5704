//! Helpers shared by the server tests: an in-memory broker served on
//! `127.0.0.1:0`, an observer that counts what the server did, raw frames
//! for hostile clients, and waiting on conditions with deadlines.
#![allow(dead_code)]

use logbus::broker::{Broker, BrokerConfig};
use logbus::protocol::{ApiKey, RequestBody, RequestHeader, encode_request};
use logbus::record::{BatchBuilder, Compression};
use logbus::server::{
    CloseReason, Refusal, RequestEvent, ServerConfig, ServerHandle, ServerObserver,
};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Longest any condition in these tests is waited for.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Counts requests per api and connection events.
#[derive(Default)]
pub struct Counts {
    pub requests: Mutex<HashMap<ApiKey, usize>>,
    pub opened: AtomicUsize,
    pub closed: Mutex<Vec<CloseReason>>,
    pub refused: AtomicUsize,
    pub refusals: AtomicUsize,
}

impl Counts {
    pub fn answered(&self, api: ApiKey) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(&api)
            .copied()
            .unwrap_or(0)
    }

    pub fn closed_with(&self, reason: CloseReason) -> usize {
        self.closed
            .lock()
            .unwrap()
            .iter()
            .filter(|r| **r == reason)
            .count()
    }
}

impl ServerObserver for Counts {
    fn on_request(&self, event: &RequestEvent) {
        *self
            .requests
            .lock()
            .unwrap()
            .entry(event.api_key)
            .or_default() += 1;
    }
    fn on_connection_opened(&self, _peer: SocketAddr) {
        self.opened.fetch_add(1, Ordering::SeqCst);
    }
    fn on_connection_closed(&self, _peer: SocketAddr, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
    fn on_connection_refused(&self, _peer: SocketAddr, _reason: Refusal) {
        self.refused.fetch_add(1, Ordering::SeqCst);
    }
    fn on_refusal(&self, _api_key: i16, _api_version: i16) {
        self.refusals.fetch_add(1, Ordering::SeqCst);
    }
}

/// A running server on an in-memory broker (auto-creation off).
pub struct TestServer {
    pub broker: Broker,
    pub handle: ServerHandle,
    pub addr: String,
    pub counts: Arc<Counts>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(mut config: ServerConfig) -> TestServer {
        let broker = Broker::open(BrokerConfig::in_memory()).unwrap();
        let counts = Arc::new(Counts::default());
        config.observer = Some(counts.clone());
        let handle = logbus::server::start("127.0.0.1:0", broker.clone(), config)
            .await
            .unwrap();
        let addr = handle.local_addr().to_string();
        TestServer {
            broker,
            handle,
            addr,
            counts,
        }
    }

    pub async fn stop(self) {
        self.handle.shutdown().await.unwrap();
        self.broker.close().unwrap();
    }
}

/// Waits until `condition` holds, checking after each `step`, failing after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        // Yield to the server's tasks between checks (not to make time pass).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A batch of `n` records with values `"{tag}-{i}"`.
pub fn batch(tag: &str, n: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    for i in 0..n {
        let value = format!("{tag}-{i}");
        builder
            .append(1_000, None, Some(value.as_bytes()), &[])
            .unwrap();
    }
    builder.build().unwrap()
}

/// A complete request frame.
pub fn frame(body: RequestBody, correlation_id: i32) -> Vec<u8> {
    let header = RequestHeader {
        api_key: body.api_key(),
        api_version: 0,
        correlation_id,
        client_id: Some("raw".into()),
    };
    let mut out = bytes::BytesMut::new();
    encode_request(&header, &body, &mut out);
    out.to_vec()
}

/// Reads until the server closes the connection; `false` if it stayed open past the deadline.
pub async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Waits until `broker` has begun `n` fetches in all (a long poll counts
/// when it starts), so a test knows its fetch reached the broker and is
/// parked rather than still in flight.
pub async fn wait_for_fetches(broker: &Broker, n: u64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while broker.metrics().fetch_requests < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fetch never reached the broker"
        );
        tokio::task::yield_now().await;
    }
}
