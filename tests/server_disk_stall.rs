//! A stalled file system must not stall the server: while every write to
//! one topic's log hangs (as on a frozen volume), ApiVersions, metadata,
//! and fetches and produces of other topics are still served from more
//! connections than there are runtime workers; a produce to the stuck topic
//! is answered at its timeout; `/readyz` turns unready with the reason and
//! ready again once the disk moves; nothing acknowledged is lost.

mod gated;
mod server_common;

use bytes::Bytes;
use gated::Gate;
use logbus::admin::RequestMetrics;
use logbus::broker::{Broker, BrokerConfig, StorageConfig};
use logbus::client::{Client, OffsetQuery, TopicConfig};
use logbus::log::storage::{DirLock, MemoryStorage, OpenMode, Storage, StorageFile};
use logbus::observe::DiskWatch;
use logbus::protocol::{
    Durability, ErrorCode, FetchPartition, FetchRequest, FetchTopic, IsolationLevel,
    ProducePartition, ProduceRequest, ProduceTopic,
};
use logbus::server::ServerConfig;
use server_common::{DEADLINE, batch, wait_until};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Memory storage whose writes to files under a directory named `stuck-*`
/// wait at the gate while it is closed.
#[derive(Debug)]
struct StallStorage {
    inner: MemoryStorage,
    gate: Arc<Gate>,
}

#[derive(Debug)]
struct StallFile {
    inner: Arc<dyn StorageFile>,
    gate: Option<Arc<Gate>>,
}

impl StorageFile for StallFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.inner.write_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn std_file(&self) -> Option<&std::fs::File> {
        None
    }
}

impl Storage for StallStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let stuck = path
            .to_string_lossy()
            .split('/')
            .any(|part| part.starts_with("stuck-"))
            && path.extension().is_some_and(|e| e == "log");
        Ok(Arc::new(StallFile {
            inner: self.inner.open(path, mode)?,
            gate: stuck.then(|| Arc::clone(&self.gate)),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn lock_dir(&self, path: &Path) -> io::Result<DirLock> {
        self.inner.lock_dir(path)
    }
}

/// Reopens the gate however the test ends, so no thread stays parked.
struct Reopen(Arc<Gate>);

impl Drop for Reopen {
    fn drop(&mut self) {
        self.0.set_closed(false);
    }
}

fn produce_to(topic: &str, tag: &str, timeout_ms: i32) -> ProduceRequest {
    ProduceRequest {
        durability: Durability::Written,
        timeout_ms,
        topics: vec![ProduceTopic {
            name: topic.into(),
            partitions: vec![ProducePartition {
                partition: 0,
                records: Bytes::from(batch(tag, 1)),
            }],
        }],
    }
}

fn fetch_from(topic: &str) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: IsolationLevel::ReadUncommitted,
        group_id: None,
        topics: vec![FetchTopic {
            name: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
            }],
        }],
        member: Default::default(),
    }
}

async fn readyz(http: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(http).await.unwrap();
    s.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stuck_on_one_topic_leave_other_requests_served_and_readyz_says_why() {
    let gate = Arc::new(Gate::default());
    let storage = Arc::new(StallStorage {
        inner: MemoryStorage::new(),
        gate: Arc::clone(&gate),
    });
    let broker = Broker::open(BrokerConfig::with_storage(StorageConfig::Custom {
        storage,
        dir: "/data".into(),
    }))
    .unwrap();
    let metrics = Arc::new(RequestMetrics::with_disk_watch(Arc::new(DiskWatch::new(
        Duration::from_millis(300),
    ))));
    let server = logbus::server::start(
        "127.0.0.1:0",
        broker.clone(),
        ServerConfig {
            disk_watch: metrics.disk_watch(),
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap().to_string();
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(logbus::admin::run(
        http,
        broker.clone(),
        Arc::clone(&metrics),
        async {
            let _ = admin_stopped.await;
        },
    ));

    let client = Client::connect(&addr).await.unwrap();
    for topic in ["stuck-a", "other"] {
        client
            .create_topic(topic, 1, TopicConfig::default())
            .await
            .unwrap();
    }
    client
        .produce_batches("other", 0, batch("before", 3).into(), Durability::Written)
        .await
        .unwrap();
    assert_eq!(readyz(&http_addr).await.0, 200);

    // The disk under `stuck-a` freezes. Four producers (twice the workers)
    // get stuck: one in the write, three behind it on the log's lock.
    let _reopen = Reopen(Arc::clone(&gate));
    gate.set_closed(true);
    let mut stuck = Vec::new();
    for i in 0..4 {
        let addr = addr.clone();
        stuck.push(tokio::spawn(async move {
            let c = Client::connect(&addr).await.unwrap();
            c.send(produce_to("stuck-a", &format!("stuck-{i}"), -1))
                .await
                .unwrap()
        }));
    }
    gate.wait_for_waiters(1);
    let watch = metrics.disk_watch();
    wait_until("four produces stuck", || async { watch.in_flight().0 == 4 }).await;

    // Everything else is served meanwhile, on new connections and old.
    let other = Client::connect(&addr).await.unwrap();
    other.list_topics(false).await.unwrap();
    let fetched = tokio::time::timeout(DEADLINE, other.fetch(fetch_from("other")))
        .await
        .expect("a fetch of another topic waited for the stuck disk")
        .unwrap();
    assert!(!fetched.topics[0].partitions[0].records.is_empty());
    tokio::time::timeout(
        DEADLINE,
        other.produce_batches("other", 0, batch("during", 2).into(), Durability::Written),
    )
    .await
    .expect("a produce to another topic waited for the stuck disk")
    .unwrap();
    // A produce to the stuck topic is answered at its timeout.
    let late = tokio::time::timeout(DEADLINE, other.send(produce_to("stuck-a", "late", 100)))
        .await
        .expect("the produce timeout did not hold")
        .unwrap();
    assert_eq!(
        late.topics[0].partitions[0].error_code,
        ErrorCode::RequestTimedOut
    );
    // /readyz says the disk is stuck, and why.
    wait_until("readyz turns unready", || async {
        readyz(&http_addr).await.0 == 503
    })
    .await;
    let (_, why) = readyz(&http_addr).await;
    assert!(why.contains("disk stuck"), "{why}");

    // The disk moves again: the stuck produces are acknowledged, readiness
    // comes back, and everything acknowledged is there.
    gate.set_closed(false);
    for s in stuck {
        let r = tokio::time::timeout(DEADLINE, s).await.unwrap().unwrap();
        assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    }
    wait_until("readyz turns ready", || async {
        readyz(&http_addr).await.0 == 200
    })
    .await;
    assert_eq!(
        other
            .list_offset("other", 0, OffsetQuery::Latest)
            .await
            .unwrap(),
        Some(5)
    );
    // Four stuck produces plus the late one (stored after its timeout).
    assert_eq!(
        other
            .list_offset("stuck-a", 0, OffsetQuery::Latest)
            .await
            .unwrap(),
        Some(5)
    );
    let _ = stop_admin.send(());
    admin.await.unwrap().unwrap();
    server.shutdown().await.unwrap();
    broker.close().unwrap();
}
