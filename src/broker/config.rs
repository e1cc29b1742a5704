//! Broker and topic settings with their defaults (docs/design.md §10). Plain data:
//! nothing here opens files or reads the clock.

use crate::clock::{Clock, SystemClock};
use crate::log::storage::{FileStorage, MemoryStorage, Storage};
use crate::log::{CleanerConfig, CleanupPolicy, LogConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Settings of one topic: its partition count and its partitions' log settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// Number of partitions (at least 1).
    pub partitions: u32,
    /// Kafka's `flush.messages`: `Some(1)` makes every produce to the topic
    /// wait for an fsync, whatever durability the producer asked for;
    /// `None` (Kafka's default, never) leaves it to the producer.
    pub flush_messages: Option<u64>,
    /// Each partition's log settings: cleanup policy (delete, compact or
    /// both), retention, segment size, compaction lags, ...
    pub log: LogConfig,
}

impl Default for TopicConfig {
    fn default() -> TopicConfig {
        TopicConfig {
            partitions: 1,
            flush_messages: None,
            log: LogConfig::default(),
        }
    }
}

impl TopicConfig {
    /// A default topic with `partitions` partitions.
    pub fn with_partitions(partitions: u32) -> TopicConfig {
        TopicConfig {
            partitions,
            ..TopicConfig::default()
        }
    }

    /// A compacted topic (Kafka `cleanup.policy=compact`) with `partitions` partitions.
    pub fn compacted(partitions: u32) -> TopicConfig {
        TopicConfig {
            partitions,
            flush_messages: None,
            log: LogConfig {
                cleanup_policy: CleanupPolicy::Compact,
                ..LogConfig::default()
            },
        }
    }

    /// The topic's cleanup policy.
    pub fn cleanup_policy(&self) -> CleanupPolicy {
        self.log.cleanup_policy
    }

    /// The log settings each partition opens with.
    pub(crate) fn log_config(&self) -> LogConfig {
        self.log.clone()
    }
}

/// Where the broker keeps its data.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// A directory on the file system.
    Dir(PathBuf),
    /// A fresh in-memory store, lost when the broker is dropped: each
    /// byte is kept once ([`MemoryStorage::plain`], no crash simulation),
    /// bounded only by the topics' retention (`retention.bytes`,
    /// `retention.ms`) and 4 GiB a segment file.
    Memory,
    /// An injected backend (tests crash a shared [`MemoryStorage`] this way).
    Custom {
        /// The backend.
        storage: Arc<dyn Storage>,
        /// The data directory inside it.
        dir: PathBuf,
    },
}

impl StorageConfig {
    /// The backend and data directory this configuration names.
    pub(crate) fn resolve(&self) -> (Arc<dyn Storage>, PathBuf) {
        match self {
            StorageConfig::Dir(dir) => (Arc::new(FileStorage::new()), dir.clone()),
            StorageConfig::Memory => (Arc::new(MemoryStorage::plain()), PathBuf::from("/logbus")),
            StorageConfig::Custom { storage, dir } => (Arc::clone(storage), dir.clone()),
        }
    }
}

/// Consumer group settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// Session timeout for members that do not ask for one (Kafka 45 s).
    pub default_session_timeout_ms: i64,
    /// Smallest session timeout a member may ask for.
    pub min_session_timeout_ms: i64,
    /// Largest session timeout a member may ask for.
    pub max_session_timeout_ms: i64,
    /// Partitions of `__consumer_offsets` (fixed once created).
    pub offsets_topic_partitions: u32,
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            default_session_timeout_ms: 45_000,
            min_session_timeout_ms: 1,
            max_session_timeout_ms: 30 * 60 * 1000,
            offsets_topic_partitions: 1,
        }
    }
}

/// Everything [`crate::broker::Broker::open`] needs.
///
/// ```
/// use logbus::broker::{Broker, BrokerConfig, ProduceRecord};
/// use logbus::clock::ManualClock;
/// use logbus::log::Durability;
/// use std::sync::Arc;
///
/// // A test's broker: in memory, on a clock the test moves, creating topics
/// // with 4 partitions on first produce (off by default when embedded).
/// let clock = ManualClock::new(1_000);
/// let config = BrokerConfig::in_memory()
///     .clock(Arc::new(clock.clone()))
///     .auto_create_topics(true)
///     .default_partitions(4);
/// let broker = Broker::open(config)?;
/// let placed = broker.produce("audit", vec![ProduceRecord::new("x")], Durability::Written)?;
/// assert_eq!(placed[0].timestamp, 1_000); // stamped by the broker's clock
/// assert_eq!(broker.partition_count("audit")?, 4);
/// clock.advance(60_000); // session timeouts and retention see a minute pass
/// # Ok::<(), logbus::broker::BrokerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where data lives.
    pub storage: StorageConfig,
    /// The clock every timer reads (session timeouts, retention, segment age).
    pub clock: Arc<dyn Clock>,
    /// Create unknown topics on first produce (off for an embedded broker, docs/design.md §10).
    pub auto_create_topics: bool,
    /// Settings of auto-created topics.
    pub default_topic: TopicConfig,
    /// Consumer group settings.
    pub group: GroupConfig,
    /// Largest partition count a topic may have.
    pub max_partitions: u32,
    /// The background log cleaner of compacted topics; `None` runs none (a
    /// test then compacts with [`crate::broker::Broker::compact_now`]).
    pub cleaner: Option<CleanerConfig>,
    /// How often, on `clock`, the broker's own thread runs its periodic work
    /// (retention, fsync of rolled segments, producer snapshots, session
    /// expiry); `None` runs none (a test then calls
    /// [`crate::broker::Broker::tick`]). Default 1000.
    pub maintenance_interval_ms: Option<i64>,
}

impl BrokerConfig {
    /// A broker on the file-system directory `dir`, with defaults.
    pub fn dir(dir: impl Into<PathBuf>) -> BrokerConfig {
        BrokerConfig::with_storage(StorageConfig::Dir(dir.into()))
    }

    /// A broker entirely in memory, with defaults.
    pub fn in_memory() -> BrokerConfig {
        BrokerConfig::with_storage(StorageConfig::Memory)
    }

    /// A broker on an injected storage backend, with defaults.
    pub fn with_storage(storage: StorageConfig) -> BrokerConfig {
        BrokerConfig {
            storage,
            clock: Arc::new(SystemClock),
            auto_create_topics: false,
            default_topic: TopicConfig::default(),
            group: GroupConfig::default(),
            max_partitions: 10_000,
            cleaner: Some(CleanerConfig::default()),
            maintenance_interval_ms: Some(1000),
        }
    }

    /// Replaces the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> BrokerConfig {
        self.clock = clock;
        self
    }

    /// Turns auto-creation of topics on first produce on or off.
    pub fn auto_create_topics(mut self, on: bool) -> BrokerConfig {
        self.auto_create_topics = on;
        self
    }

    /// Sets the partition count of auto-created topics.
    pub fn default_partitions(mut self, partitions: u32) -> BrokerConfig {
        self.default_topic.partitions = partitions;
        self
    }
}
