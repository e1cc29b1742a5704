//! A transient error that wrote no data does not poison a partition: when
//! opening the next segment at a roll fails (out of file descriptors), that
//! produce fails with a storage error, and once descriptors are back the
//! next produce rolls and succeeds, with everything acknowledged readable.
//! A failed data write still poisons the partition until it is reopened.

use logbus::broker::{Broker, BrokerConfig, FetchRequest, StorageConfig, TopicConfig};
use logbus::log::storage::{DirLock, MemoryStorage, OpenMode, Storage, StorageFile};
use logbus::log::{Durability, LogConfig};
use logbus::record::{BatchBuilder, Compression};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Memory storage that fails chosen operations while armed.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStorage,
    /// Opening a `.log` file that does not exist yet fails with EMFILE.
    no_descriptors: AtomicBool,
    /// Every write to a `.log` file fails with EIO.
    broken_writes: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FlakyFile {
    inner: Arc<dyn StorageFile>,
    broken_writes: Option<Arc<AtomicBool>>,
}

impl StorageFile for FlakyFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        if self
            .broken_writes
            .as_ref()
            .is_some_and(|b| b.load(Ordering::SeqCst))
        {
            return Err(io::Error::from_raw_os_error(5));
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

impl Storage for Flaky {
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
        let is_log = path.extension().is_some_and(|e| e == "log")
            && path.to_string_lossy().contains("/t-0/");
        if is_log && !self.inner.exists(path) && self.no_descriptors.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(24)); // EMFILE
        }
        Ok(Arc::new(FlakyFile {
            inner: self.inner.open(path, mode)?,
            broken_writes: is_log.then(|| Arc::clone(&self.broken_writes)),
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

fn batch(tag: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(
        1_000,
        None,
        Some(format!("{tag}{}", "x".repeat(400)).as_bytes()),
        &[],
    )
    .unwrap();
    b.build().unwrap()
}

fn setup() -> (Broker, Arc<Flaky>) {
    let storage = Arc::new(Flaky {
        inner: MemoryStorage::new(),
        no_descriptors: AtomicBool::new(false),
        broken_writes: Arc::new(AtomicBool::new(false)),
    });
    let broker = Broker::open(BrokerConfig::with_storage(StorageConfig::Custom {
        storage: storage.clone(),
        dir: "/data".into(),
    }))
    .unwrap();
    let config = TopicConfig {
        partitions: 1,
        log: LogConfig {
            // Each batch fills a segment: every produce after the first rolls.
            segment_bytes: 512,
            ..LogConfig::default()
        },
        ..TopicConfig::default()
    };
    broker.create_topic("t", config).unwrap();
    (broker, storage)
}

fn stored(broker: &Broker) -> usize {
    let mut next = 0;
    let mut count = 0;
    loop {
        let r = broker.fetch_now(&FetchRequest::one("t", 0, next, 1 << 20));
        let data = r.into_iter().next().unwrap().result.unwrap();
        if data.records.is_empty() {
            return count;
        }
        let records = logbus::broker::decode_records(&data.records).unwrap();
        count += records.len();
        next = records.last().unwrap().offset + 1;
    }
}

#[test]
fn a_roll_that_cannot_open_the_next_segment_fails_once_and_is_retried() {
    let (broker, storage) = setup();
    broker
        .produce_raw("t", 0, &mut batch("a"), Durability::Written)
        .unwrap();
    storage.no_descriptors.store(true, Ordering::SeqCst);
    let failed = broker.produce_raw("t", 0, &mut batch("b"), Durability::Written);
    let e = failed.expect_err("the roll needed a descriptor");
    assert_eq!(e.kafka_code(), 56, "KAFKA_STORAGE_ERROR: {e}");
    storage.no_descriptors.store(false, Ordering::SeqCst);
    for tag in ["c", "d"] {
        broker
            .produce_raw("t", 0, &mut batch(tag), Durability::Written)
            .unwrap_or_else(|e| panic!("still refused after descriptors came back: {e}"));
    }
    assert_eq!(stored(&broker), 3, "a, c and d; b was refused, not stored");
    broker.close().unwrap();
}

#[test]
fn a_failed_data_write_still_poisons_the_partition() {
    let (broker, storage) = setup();
    broker
        .produce_raw("t", 0, &mut batch("a"), Durability::Written)
        .unwrap();
    storage.broken_writes.store(true, Ordering::SeqCst);
    assert!(
        broker
            .produce_raw("t", 0, &mut batch("b"), Durability::Written)
            .is_err()
    );
    storage.broken_writes.store(false, Ordering::SeqCst);
    // The disk works again, but the partition stays refused until reopened.
    let again = broker
        .produce_raw("t", 0, &mut batch("c"), Durability::Written)
        .expect_err("a failed data write must poison the partition");
    assert_eq!(again.kafka_code(), 56, "KAFKA_STORAGE_ERROR: {again}");
    assert_eq!(stored(&broker), 1);
}
