//! The admin face's connection cap: keep-alive clients cannot hold more
//! than `max_connections` descriptors; one over the cap is closed at once
//! and counted, and the slots free up as connections end.

mod server_common;

use logbus::admin::{AdminConfig, RequestMetrics};
use logbus::broker::{Broker, BrokerConfig};
use server_common::{closed_by_server, wait_until};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(stream: &mut TcpStream, path: &str, close: bool) -> String {
    let connection = if close { "close" } else { "keep-alive" };
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: {connection}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if n == 0 || (!close && text.contains("\r\n\r\n") && text.ends_with("\n")) {
            return text.into_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_over_the_cap_are_closed_and_counted() {
    let broker = Broker::open(BrokerConfig::in_memory()).unwrap();
    let metrics = Arc::new(RequestMetrics::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(logbus::admin::run_with(
        listener,
        broker.clone(),
        Arc::clone(&metrics),
        AdminConfig { max_connections: 4 },
        async {
            let _ = stopped.await;
        },
    ));
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert!(
            get(&mut s, "/healthz", false)
                .await
                .starts_with("HTTP/1.1 200")
        );
        held.push(s);
    }
    for _ in 0..3 {
        let mut over = TcpStream::connect(addr).await.unwrap();
        assert!(closed_by_server(&mut over).await);
    }
    // Scraped over a connection already held: the cap does not lock out
    // the operator who holds a slot.
    let mut first = held.remove(0);
    let scrape = get(&mut first, "/metrics", true).await;
    assert!(
        scrape.contains(
            "logbus_connections_refused_total{face=\"admin\",reason=\"max_connections\"} 3"
        ),
        "{scrape}"
    );
    // Its slot frees up for a new client.
    drop(first);
    wait_until("a slot is free again", || async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out.starts_with("HTTP/1.1 200")
    })
    .await;
    drop(held);
    let _ = stop.send(());
    admin.await.unwrap().unwrap();
    broker.close().unwrap();
}
