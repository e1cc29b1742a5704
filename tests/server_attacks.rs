//! Cheap attacks on a `logbus serve` process, bounded for CI (a few hundred
//! connections on loopback, attackers from 127.0.0.2): length prefixes
//! that claim 8 MiB and send a few bytes, and slowloris frames. Each
//! asserts a ceiling on the server process's own RSS, that a well-behaved
//! client is served meanwhile, and that nothing it was acknowledged is lost.

use bytes::Bytes;
use logbus::client::{Client, OffsetQuery, TopicConfig};
use logbus::protocol::Durability;
use logbus::record::{BatchBuilder, Compression};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

struct Serve {
    child: Child,
    native: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbus"))
        .args(["serve", "--in-memory", "--listen", "127.0.0.1:0"])
        .args(["--http", "127.0.0.1:0", "--kafka", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let native = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("native="))
        .unwrap_or_else(|| panic!("no ready line: {line:?}"))
        .to_owned();
    Serve { child, native }
}

/// The server process's resident set, in bytes.
fn rss(serve: &Serve) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", serve.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

async fn attacker(addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind("127.0.0.2:0".parse::<SocketAddr>().unwrap())
        .unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

fn batch(i: usize) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(1_000, None, Some(format!("polite-{i}").as_bytes()), &[])
        .unwrap();
    b.build().unwrap().into()
}

/// Produces `n` batches and checks every acknowledged one is there.
async fn polite_client_is_served_and_loses_nothing(addr: &str, topic: &str, n: usize) {
    let client = Client::connect(addr).await.unwrap();
    client
        .create_topic(topic, 1, TopicConfig::default())
        .await
        .unwrap();
    for i in 0..n {
        client
            .produce_batches(topic, 0, batch(i), Durability::Written)
            .await
            .unwrap();
    }
    let end = client
        .list_offset(topic, 0, OffsetQuery::Latest)
        .await
        .unwrap();
    assert_eq!(end, Some(n as i64), "acknowledged records are missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_claiming_8_mib_and_slowloris_frames_do_not_grow_the_server() {
    let serve = serve();
    polite_client_is_served_and_loses_nothing(&serve.native, "warmup", 10).await;
    let before = rss(&serve);

    let mut held = Vec::new();
    // 100 connections each claim an 8 MiB frame and send 100 bytes of it
    // (before the fix: 237 MB of RSS for 10 KB received).
    for _ in 0..100 {
        let mut s = attacker(&serve.native).await;
        s.write_all(&(8u32 << 20).to_be_bytes()).await.unwrap();
        s.write_all(&[0; 100]).await.unwrap();
        held.push(s);
    }
    // 200 slowloris connections: a 1 MiB prefix, then a byte at a time.
    for _ in 0..200 {
        let mut s = attacker(&serve.native).await;
        s.write_all(&(1u32 << 20).to_be_bytes()).await.unwrap();
        held.push(s);
    }
    for _ in 0..3 {
        for s in held.iter_mut().skip(100) {
            s.write_all(&[0]).await.unwrap();
        }
    }
    polite_client_is_served_and_loses_nothing(&serve.native, "during", 50).await;
    let after = rss(&serve);
    let grown = after.saturating_sub(before);
    eprintln!(
        "RSS before {} KiB, under 300 attacking connections {} KiB",
        before >> 10,
        after >> 10
    );
    assert!(
        grown < 48 << 20,
        "RSS grew by {} MiB ({} → {} MiB) under 300 attacking connections",
        grown >> 20,
        before >> 20,
        after >> 20
    );
    drop(held);
}
