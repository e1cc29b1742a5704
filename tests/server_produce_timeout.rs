//! Produce `timeout_ms`: an `fsync` produce whose fsync does not finish in
//! time is answered `REQUEST_TIMED_OUT` (as Kafka answers an `acks=all`
//! produce), while its append goes on and may still be stored; the next
//! produce on the connection waits for it, so order holds.

mod server_common;

use bytes::Bytes;
use logbus::broker::{Broker, BrokerConfig, StorageConfig};
use logbus::client::{Client, OffsetQuery, TopicConfig};
use logbus::log::storage::{DirLock, MemoryStorage, OpenMode, Storage, StorageFile};
use logbus::protocol::{Durability, ErrorCode, ProducePartition, ProduceRequest, ProduceTopic};
use logbus::server::ServerConfig;
use server_common::{DEADLINE, batch};
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

/// Holds fsyncs of `.log` files while closed; counts those held.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<(bool, usize)>, // (closed, fsyncs waiting)
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.1 += 1;
        self.changed.notify_all();
        while s.0 {
            s = self.changed.wait(s).unwrap();
        }
        s.1 -= 1;
    }
    fn set_closed(&self, closed: bool) {
        self.state.lock().unwrap().0 = closed;
        self.changed.notify_all();
    }
    fn held(&self) -> usize {
        self.state.lock().unwrap().1
    }
}

/// Opens the gate when dropped, so a failing test never leaves a blocking
/// thread stuck (the runtime would wait for it forever).
struct Reopen(Arc<Gate>);

impl Drop for Reopen {
    fn drop(&mut self) {
        self.0.set_closed(false);
    }
}

#[derive(Debug)]
struct GatedStorage {
    inner: MemoryStorage,
    gate: Arc<Gate>,
}

#[derive(Debug)]
struct GatedFile {
    inner: Arc<dyn StorageFile>,
    gate: Option<Arc<Gate>>,
}

impl StorageFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.inner.write_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.inner.sync_data()
    }
    fn std_file(&self) -> Option<&std::fs::File> {
        None
    }
}

impl Storage for GatedStorage {
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
        let is_log = path.extension().is_some_and(|e| e == "log");
        Ok(Arc::new(GatedFile {
            inner: self.inner.open(path, mode)?,
            gate: is_log.then(|| Arc::clone(&self.gate)),
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

    // Durability `written` waits on no fsync: no timeout applies.
    gate.set_closed(true);
    let r = client
        .send(produce("quick", Durability::Written, 0))
        .await
        .unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
    gate.set_closed(false);

    server.shutdown().await.unwrap();
    broker.close().unwrap();
}
