//! The broker: logbus's one engine (docs/design.md §1). It owns every topic,
//! partition, idempotent producer, consumer group and committed offset, and
//! is the API the in-process client, the native TCP server and the CLI all
//! call; nothing here knows which face a request came through.
//!
//! It uses the `log`, `record` and `clock` layers only. Produce and every
//! other call that writes is blocking (a log may fsync): async callers use
//! the `*_async` wrappers, which run them on tokio's blocking pool. Its
//! async surface is waiting only: long-poll fetches and group waits, woken
//! by `tokio::sync::watch` channels, never by polling.
//!
//! Data directory layout (docs/design.md §3):
//! ```text
//! DATA/.lock                 exclusive lock of the running broker
//! DATA/NAME.topic            topic metadata (see `topic.rs`, docs/format.md)
//! DATA/NAME-N/               partition N's log, and its producer-state
//!                            snapshots OFFSET.snapshot (see `producer_snapshot.rs`)
//! DATA/producer-ids          next block of producer ids (see `producer_id.rs`)
//! DATA/topic-change          a topic change in progress (see `topic_change.rs`)
//! DATA/__consumer_offsets-N/ committed offsets (see `offsets.rs`)
//! ```

pub mod client;
mod config;
mod error;
mod fetch;
mod group;
mod maintenance;
mod metrics;
mod offsets;
mod partitioner;
mod produce;
mod producer_id;
mod producer_snapshot;
mod producer_state;
mod topic;
mod topic_admin;
mod topic_change;
mod topic_id;
mod topic_lifecycle;

pub use crate::log::CleanupPolicy;
/// Re-exported so a produce needs no import from the log layer.
pub use crate::log::Durability;
pub use config::{BrokerConfig, GroupConfig, StorageConfig, TopicConfig};
pub use error::{BrokerError, TopicNameProblem};
pub use fetch::{
    FetchPartition, FetchRequest, FetchedData, FetchedPartition, OffsetSpec, decode_records,
};
pub use group::{
    AssignmentStrategy, CommitRequest, CommittedOffset, GroupDescription, GroupListing, GroupState,
    JoinGroupRequest, MAX_GROUP_ID_LEN, MemberAssignment, MemberDescription, MemberRef,
    NATIVE_PROTOCOL_TYPE, PartitionLag, ResetTarget, Subscription, TopicPartition,
};
pub use metrics::{GroupCounters, MetricsSnapshot, TopicCounters};
pub use offsets::OFFSETS_TOPIC;
pub use partitioner::{murmur2, partition_for_key};
pub use produce::{PartitionAppend, ProduceRecord, RecordMetadata};
pub use producer_id::ProducerIdAndEpoch;
pub use producer_state::MAX_CACHED_BATCHES;
pub use topic::{MAX_TOPIC_NAME_LEN, TOPIC_META_SUFFIX, validate_topic_name};
pub use topic_admin::{ConfigEntry, ConfigOp, ConfigSource, ConfigType};
pub use topic_id::TopicId;

use crate::clock::Clock;
use crate::log::storage::{DirLock, OpenMode, Storage};
use crate::log::{self, Cleaner, Log, LogError};
use metrics::BrokerMetrics;
use producer_id::ProducerIds;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::watch;
use topic::{Partition, Topic, TopicMeta};
use topic_change::ChangeKind;
use topic_lifecycle::write_topic_meta;

/// One partition as `describe_topic` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Partition number.
    pub partition: u32,
    /// First readable offset.
    pub log_start_offset: i64,
    /// Offset the next record will get (every stored record is visible).
    pub high_watermark: i64,
    /// Bytes of log on storage.
    pub size_bytes: u64,
}

/// A topic as `describe_topic` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Its persistent UUID (Kafka's topic id).
    pub id: TopicId,
    /// Its settings.
    pub config: TopicConfig,
    /// Whether the broker owns it (`__consumer_offsets`).
    pub internal: bool,
    /// Its partitions in order.
    pub partitions: Vec<PartitionDescription>,
}

pub(crate) struct Shared {
    pub config: BrokerConfig,
    pub storage: Arc<dyn Storage>,
    pub dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    lock: Mutex<Option<DirLock>>,
    pub topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises topic creation, deletion and growth (metadata writes).
    admin: Mutex<()>,
    producer_ids: Mutex<ProducerIds>,
    /// Compacts the logs of compacted topics in the background (a std thread).
    cleaner: Mutex<Option<Cleaner>>,
    /// Runs the periodic work on the clock (a std thread), unless configured off.
    maintenance: Mutex<Option<maintenance::Maintenance>>,
    pub groups: group::Groups,
    /// Bumped on every group change and commit; wakes group waiters.
    pub group_events: watch::Sender<u64>,
    pub metrics: BrokerMetrics,
    closed: AtomicBool,
    /// The clock's time at open; keeps member ids unique across restarts.
    pub opened_ms: i64,
}

/// A handle to a running broker; clones share it.
///
/// ```
/// use logbus::broker::{Broker, BrokerConfig, ProduceRecord, TopicConfig};
/// use logbus::log::Durability;
///
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(BrokerConfig::dir(dir.path()))?;
/// broker.create_topic("events", TopicConfig::with_partitions(1))?;
/// let placed = broker.produce(
///     "events",
///     vec![ProduceRecord::new("one"), ProduceRecord::new("two")],
///     Durability::Fsync, // acknowledged once on stable storage
/// )?;
/// assert_eq!((placed[1].partition, placed[1].offset), (0, 1));
/// broker.close()?; // the next open skips recovery
///
/// let broker = Broker::open(BrokerConfig::dir(dir.path()))?;
/// assert_eq!(broker.describe_topic("events")?.partitions[0].high_watermark, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Broker {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

// A panic while a lock was held leaves consistent plain data behind in this
// module (every mutation is a single insert/replace), so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BrokerError {
    let path = path.to_path_buf();
    move |source| BrokerError::Io {
        action,
        path,
        source,
    }
}

/// Reads a small broker file whole, refusing anything over `max` bytes.
pub(crate) fn read_small_file(
    storage: &dyn Storage,
    path: &Path,
    max: u64,
) -> Result<Option<Vec<u8>>, BrokerError> {
    let file = match storage.open(path, OpenMode::Existing) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open metadata", path)(e)),
    };
    let len = file.len().map_err(io_err("stat metadata", path))?;
    if len > max {
        return Err(BrokerError::CorruptMetadata {
            path: path.to_path_buf(),
            problem: "file too large",
        });
    }
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, 0)
        .map_err(io_err("read metadata", path))?;
    Ok(Some(buf))
}

fn metadata_err(path: PathBuf) -> impl FnOnce(LogError) -> BrokerError {
    move |source| BrokerError::Metadata { path, source }
}

impl Broker {
    /// Opens a broker on the configured storage: takes the data directory's
    /// lock, loads topics, opens (and if needed recovers) every partition's
    /// log, loads idempotent producer state (snapshot plus the log after it), and
    /// reloads committed offsets from `__consumer_offsets`.
    ///
    /// # Errors
    /// [`BrokerError::Locked`] if another broker holds the directory;
    /// [`BrokerError::CorruptMetadata`] for a damaged metadata file; a log
    /// or storage error otherwise.
    pub fn open(config: BrokerConfig) -> Result<Broker, BrokerError> {
        let (storage, dir) = config.storage.resolve();
        let dir_lock = log::lock_data_dir(&*storage, &dir).map_err(|source| match source {
            LogError::Locked { .. } => BrokerError::Locked {
                dir: dir.clone(),
                source,
            },
            LogError::Io {
                action,
                path,
                source,
            } => BrokerError::Io {
                action,
                path,
                source,
            },
            source => BrokerError::Metadata {
                path: dir.clone(),
                source,
            },
        })?;
        let names = storage
            .list_dir(&dir)
            .map_err(io_err("list data directory", &dir))?;
        // Only temp files of names the broker writes are its own leftovers.
        for name in names.iter().filter(|n| is_own_temp_file(n)) {
            let path = dir.join(name);
            storage
                .remove_file(&path)
                .map_err(io_err("remove temp file", &path))?;
        }
        let change = topic_change::read(&*storage, &dir)?;
        if let Some(c) = change.as_ref().filter(|c| c.kind == ChangeKind::Delete) {
            // A delete a crash interrupted is finished.
            tracing::warn!(
                topic = c.topic,
                "finishing the deletion of a topic interrupted by a crash"
            );
            let meta = dir.join(format!("{}{TOPIC_META_SUFFIX}", c.topic));
            if storage.exists(&meta) {
                storage
                    .remove_file(&meta)
                    .map_err(io_err("remove topic metadata", &meta))?;
            }
            topic_change::remove_partitions(&*storage, &dir, &c.topic, c.from, c.to)?;
        }
        let names = storage
            .list_dir(&dir)
            .map_err(io_err("list data directory", &dir))?;
        let clock = Arc::clone(&config.clock);
        let mut topics = BTreeMap::new();
        for name in names.iter().filter(|n| n.ends_with(TOPIC_META_SUFFIX)) {
            let path = dir.join(name);
            let Some(bytes) = read_small_file(&*storage, &path, 4096)? else {
                continue;
            };
            let mut meta =
                TopicMeta::decode(&bytes).map_err(|problem| BrokerError::CorruptMetadata {
                    path: path.clone(),
                    problem,
                })?;
            if meta.id.is_zero() {
                // Written before topics had ids: give it one, durably,
                // before any client can see it.
                meta.id = TopicId::random();
                write_topic_meta(&*storage, &dir, &meta)?;
            }
            let topic = open_topic(&storage, &dir, &clock, meta)?;
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        if let Some(c) = change.as_ref().filter(|c| c.kind != ChangeKind::Delete) {
            let committed = topics
                .get(&c.topic)
                .is_some_and(|t: &Arc<Topic>| t.partition_count() >= c.to);
            if !committed {
                // The journal proves these directories were created by the
                // change: they were checked absent before it began.
                tracing::warn!(
                    topic = c.topic,
                    from = c.from,
                    to = c.to,
                    "rolling back the partitions of a topic change interrupted by a crash"
                );
                topic_change::remove_partitions(&*storage, &dir, &c.topic, c.from, c.to)?;
            }
        }
        // Anything else named like a partition that no topic claims is left
        // alone: its metadata file may be lost, or it may be a user's.
        for name in &names {
            let Some((topic, partition)) = topic::parse_partition_dir(name) else {
                continue;
            };
            let claimed = topics
                .get(topic)
                .is_some_and(|t: &Arc<Topic>| partition < t.partition_count());
            let rolled_back = change
                .as_ref()
                .is_some_and(|c| c.topic == topic && (c.from..c.to).contains(&partition));
            if !claimed && !rolled_back {
                tracing::warn!(
                    path = %dir.join(name).display(),
                    "an entry named like a partition belongs to no topic: left alone \
                     (the broker deletes only what it can prove it created)"
                );
            }
        }
        let producer_ids = ProducerIds::load(&*storage, &dir)?;
        let cleaner = match &config.cleaner {
            Some(cleaner_config) => {
                let cleaner = Cleaner::start(cleaner_config.clone(), Arc::clone(&clock))
                    .map_err(|source| BrokerError::Cleaner { source })?;
                for topic in topics.values() {
                    for p in read(&topic.partitions).iter() {
                        cleaner.add_log(Arc::clone(&p.log));
                    }
                }
                Some(cleaner)
            }
            None => None,
        };
        let clock_now = clock.now_ms();
        let (group_events, _) = watch::channel(0);
        let broker = Broker {
            shared: Arc::new(Shared {
                storage,
                dir,
                clock,
                lock: Mutex::new(Some(dir_lock)),
                topics: RwLock::new(topics),
                admin: Mutex::new(()),
                producer_ids: Mutex::new(producer_ids),
                cleaner: Mutex::new(cleaner),
                maintenance: Mutex::new(None),
                groups: group::Groups::default(),
                group_events,
                metrics: BrokerMetrics::default(),
                closed: AtomicBool::new(false),
                opened_ms: clock_now,
                config,
            }),
        };
        broker.ensure_offsets_topic()?;
        broker.load_offsets()?;
        if let Some(c) = change {
            if c.kind == ChangeKind::Delete {
                broker.delete_offsets_of_topic(&c.topic)?;
            }
            let s = &broker.shared;
            topic_change::end(&*s.storage, &s.dir)?;
        }
        if let Some(interval_ms) = broker.shared.config.maintenance_interval_ms {
            let s = &broker.shared;
            let thread = maintenance::Maintenance::start(
                Arc::downgrade(s),
                Arc::clone(&s.clock),
                interval_ms,
            )
            .map_err(|source| BrokerError::Io {
                action: "start the periodic-work thread",
                path: s.dir.clone(),
                source,
            })?;
            *lock(&s.maintenance) = Some(thread);
        }
        Ok(broker)
    }

    /// Runs of the periodic work completed by the broker's own thread (0
    /// when `maintenance_interval_ms` is `None`).
    pub fn maintenance_runs(&self) -> u64 {
        lock(&self.shared.maintenance)
            .as_ref()
            .map_or(0, maintenance::Maintenance::runs)
    }

    /// Blocks until the broker's own thread completed `runs` runs of the
    /// periodic work, or `timeout` of real time passed; returns whether it
    /// did. For tests: on a manual clock, advance the clock, then wait.
    pub fn wait_for_maintenance(&self, runs: u64, timeout: std::time::Duration) -> bool {
        let guard = lock(&self.shared.maintenance);
        let Some(m) = guard.as_ref() else {
            return false;
        };
        // Waiting must not hold the broker's lock on the thread's handle.
        let signal_wait = m.waiter();
        drop(guard);
        signal_wait.wait_for_runs(runs, timeout)
    }

    /// The data directory (inside the storage backend).
    pub fn data_dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The clock the broker reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.shared.config
    }

    /// Whether the broker is open and accepting calls (false once
    /// [`Broker::close`] has begun); one atomic load, for readiness probes.
    pub fn is_open(&self) -> bool {
        !self.shared.closed.load(Ordering::Acquire)
    }

    pub(crate) fn check_open(&self) -> Result<(), BrokerError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        Ok(())
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        self.check_open()?;
        read(&self.shared.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownTopic {
                topic: name.to_owned(),
            })
    }

    pub(crate) fn partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Arc<Partition>, BrokerError> {
        self.topic(topic)?.partition(partition)
    }

    /// Names of all topics, sorted; internal ones only if asked.
    pub fn list_topics(&self, include_internal: bool) -> Vec<String> {
        read(&self.shared.topics)
            .keys()
            .filter(|n| include_internal || n.as_str() != OFFSETS_TOPIC)
            .cloned()
            .collect()
    }

    /// A topic's settings and, per partition, log start, high watermark and size.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`].
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription, BrokerError> {
        let topic = self.topic(name)?;
        let partitions = read(&topic.partitions)
            .iter()
            .map(|p| PartitionDescription {
                partition: p.index,
                log_start_offset: p.log.log_start_offset(),
                high_watermark: p.log.log_end_offset(),
                size_bytes: p.log.size_bytes(),
            })
            .collect();
        Ok(TopicDescription {
            name: topic.name.clone(),
            id: topic.id,
            config: read(&topic.config).clone(),
            internal: topic.name == OFFSETS_TOPIC,
            partitions,
        })
    }

    /// Number of partitions of `topic`.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`].
    pub fn partition_count(&self, topic: &str) -> Result<u32, BrokerError> {
        Ok(self.topic(topic)?.partition_count())
    }

    /// Hands out an idempotent producer id and epoch. With `existing`, the
    /// same id gets the next epoch (fencing batches of the older epoch), or
    /// a new id once the epoch is exhausted. Ids are never reused, even
    /// after a restart.
    ///
    /// # Errors
    /// [`BrokerError::UnknownProducerId`] for an id never issued, or a
    /// storage error writing the next id block.
    pub fn init_producer_id(
        &self,
        existing: Option<ProducerIdAndEpoch>,
    ) -> Result<ProducerIdAndEpoch, BrokerError> {
        self.check_open()?;
        let s = &self.shared;
        lock(&s.producer_ids).next(&*s.storage, &s.dir, existing)
    }

    /// Deletes out-of-date segments of every partition by its retention,
    /// fsyncs the segments rolled since the last tick (rolls themselves do
    /// not fsync, so a crash recovery scans only what rolled since), writes
    /// a producer-state snapshot of each partition that rolled since its
    /// last one (so a restart replays only the log after it), and
    /// expires consumer group members whose session timed out (retention
    /// and sessions read the broker's clock). Returns the members expired.
    /// It fsyncs: call it off async runtime workers. The broker's own
    /// thread runs it every `maintenance_interval_ms` on its clock; call it
    /// directly only with that thread off.
    ///
    /// # Errors
    /// The first log error met; the other partitions are still processed.
    pub fn tick(&self) -> Result<usize, BrokerError> {
        let expired = self.expire_sessions();
        let mut first = None;
        let topics: Vec<Arc<Topic>> = read(&self.shared.topics).values().cloned().collect();
        for topic in topics {
            let partitions: Vec<Arc<Partition>> = read(&topic.partitions).clone();
            for p in partitions {
                // `__consumer_offsets` keeps every segment: it is compacted, not expired.
                let retention = if topic.name == OFFSETS_TOPIC {
                    Ok(Default::default())
                } else {
                    p.log.apply_retention()
                };
                let result = retention
                    .and_then(|_| p.log.flush_sealed())
                    .and_then(|()| producer_snapshot::take(&*self.shared.storage, &p, true));
                if let Err(e) = result {
                    first.get_or_insert(BrokerError::from_log(&topic.name, p.index, e));
                }
            }
        }
        first.map_or(Ok(expired), Err)
    }

    /// Runs one cleaning round on every partition of every compacted topic
    /// (what the background cleaner does on its own), returning the rounds
    /// that cleaned something. For tests driven by a manual clock.
    ///
    /// # Errors
    /// The first log error met.
    pub fn compact_now(&self) -> Result<usize, BrokerError> {
        let config = self.shared.config.cleaner.clone().unwrap_or_default();
        let topics: Vec<Arc<Topic>> = read(&self.shared.topics).values().cloned().collect();
        let mut rounds = 0;
        for topic in topics {
            let partitions: Vec<Arc<Partition>> = read(&topic.partitions).clone();
            for p in partitions
                .iter()
                .filter(|p| p.log.config().cleanup_policy.compacts())
            {
                let cleaned = p
                    .log
                    .clean_once(&config)
                    .map_err(|e| BrokerError::from_log(&topic.name, p.index, e))?;
                rounds += usize::from(cleaned.is_some());
            }
        }
        Ok(rounds)
    }

    /// Flushes every partition to stable storage.
    ///
    /// # Errors
    /// The first log error met.
    pub fn flush(&self) -> Result<(), BrokerError> {
        let topics: Vec<Arc<Topic>> = read(&self.shared.topics).values().cloned().collect();
        for topic in topics {
            for p in read(&topic.partitions).iter() {
                p.log
                    .flush()
                    .map_err(|e| BrokerError::from_log(&topic.name, p.index, e))?;
            }
        }
        Ok(())
    }

    /// Shuts the broker down: every partition's producer state is
    /// snapshotted and its log closed cleanly (fsynced, with a clean-shutdown
    /// marker, so the next open skips recovery) and the data
    /// directory's lock is released. Later calls on any clone fail with
    /// [`BrokerError::Closed`]; waiting fetches end.
    ///
    /// A log still referenced by a call in flight is only flushed, so its
    /// next open scans it.
    ///
    /// # Errors
    /// The first log error met; every log is still attempted.
    pub fn close(&self) -> Result<(), BrokerError> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // The periodic work and the cleaner hold the logs too: stop them so
        // each log can be closed.
        let maintenance = lock(&self.shared.maintenance).take();
        if let Some(m) = maintenance {
            m.stop();
        }
        if let Some(cleaner) = lock(&self.shared.cleaner).take() {
            cleaner.stop();
        }
        let topics = std::mem::take(&mut *write(&self.shared.topics));
        let mut first = None;
        for (name, topic) in topics {
            let partitions = std::mem::take(&mut *write(&topic.partitions));
            for p in partitions {
                let index = p.index;
                // The snapshot lets the next open skip replaying the log.
                if let Err(e) = producer_snapshot::take(&*self.shared.storage, &p, false) {
                    first.get_or_insert(BrokerError::from_log(&name, index, e));
                }
                let result = match Arc::try_unwrap(p).map(|p| Arc::try_unwrap(p.log)) {
                    Ok(Ok(log)) => log.close(),
                    Ok(Err(log)) => log.flush(),
                    Err(p) => p.log.flush(),
                };
                if let Err(e) = result {
                    first.get_or_insert(BrokerError::from_log(&name, index, e));
                }
            }
        }
        self.shared.groups.clear();
        self.shared.group_events.send_modify(|v| *v += 1);
        lock(&self.shared.lock).take();
        first.map_or(Ok(()), Err)
    }
}

fn open_partition(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    clock: &Arc<dyn Clock>,
    topic: &str,
    index: u32,
    config: log::LogConfig,
    metrics: &Arc<metrics::TopicMetrics>,
) -> Result<Partition, BrokerError> {
    let path = topic::partition_dir(dir, topic, index);
    let log = Log::open(Arc::clone(storage), path, config, Arc::clone(clock))
        .map_err(|e| BrokerError::from_log(topic, index, e))?;
    if let log::OpenKind::Recovered {
        segments_scanned,
        truncated,
    } = log.open_kind()
    {
        tracing::info!(
            topic,
            partition = index,
            segments_scanned,
            truncated,
            "recovered a log after an unclean shutdown"
        );
    }
    let producers = producer_snapshot::load(&**storage, &log, topic, index)
        .map_err(|e| BrokerError::from_log(topic, index, e))?;
    Ok(Partition::new(
        topic,
        index,
        Arc::new(log),
        producers,
        Arc::clone(metrics),
    ))
}

fn open_topic(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    clock: &Arc<dyn Clock>,
    meta: TopicMeta,
) -> Result<Topic, BrokerError> {
    let log_config = meta.config.log_config();
    let metrics = Arc::new(metrics::TopicMetrics::default());
    let mut partitions = Vec::with_capacity(meta.config.partitions as usize);
    for p in 0..meta.config.partitions {
        partitions.push(Arc::new(open_partition(
            storage,
            dir,
            clock,
            &meta.name,
            p,
            log_config.clone(),
            &metrics,
        )?));
    }
    Ok(Topic {
        name: meta.name,
        id: meta.id,
        created_ms: meta.created_ms,
        config: RwLock::new(meta.config),
        partitions: RwLock::new(partitions),
        sticky: AtomicU32::new(0),
        metrics,
    })
}

/// Whether `name` in the data directory is a temp file the broker writes
/// (and may therefore remove as a leftover).
fn is_own_temp_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(log::TEMP_SUFFIX) else {
        return false;
    };
    stem == producer_id::PRODUCER_IDS_FILE
        || stem == topic_change::TOPIC_CHANGE_FILE
        || topic::is_meta_temp_stem(stem)
}

/// Logs a storage error at WARN with its whole chain of causes; other
/// errors are the caller's to report.
pub(crate) fn warn_storage(what: &str, e: &BrokerError) {
    if e.kafka_code() == 56 {
        warn_with_cause(what, e);
    }
}

/// Logs `e` at WARN with its whole chain of causes.
pub(crate) fn warn_with_cause(what: &str, e: &BrokerError) {
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    tracing::warn!(error = %e, cause, "{what}");
}
