//! Per-log settings, with Kafka's defaults where Kafka has one.

/// How a log is flushed before an append is acknowledged (docs/design.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Acknowledge without waiting; for the log the same as `Written`.
    None,
    /// Acknowledge once the bytes are in the OS page cache: survives a
    /// process crash, not a machine crash.
    Written,
    /// Acknowledge once the bytes are on stable storage (group commit:
    /// concurrent appends share one fsync).
    Fsync,
}

/// What a log does with old records (Kafka `cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CleanupPolicy {
    /// `delete`: retention by time and size only.
    #[default]
    Delete,
    /// `compact`: the cleaner keeps the latest record of every key; no retention.
    Compact,
    /// `compact,delete`: both.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether the log is compacted (and rejects records without a key).
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether retention deletes old segments by time and size.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// Kafka's spelling: `delete`, `compact` or `compact,delete`.
    pub fn kafka_name(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

/// Settings of one partition's log.
// Not `Eq`: `min_cleanable_dirty_ratio` is a float, as in Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Roll to a new segment once the active one holds this many bytes (Kafka `segment.bytes`).
    pub segment_bytes: u64,
    /// Roll to a new segment once the active one is this old (Kafka `segment.ms`).
    pub segment_ms: i64,
    /// Delete the oldest sealed segments while the log is larger than this (`retention.bytes`).
    pub retention_bytes: Option<u64>,
    /// Delete sealed segments whose newest record is older than this (`retention.ms`).
    pub retention_ms: Option<i64>,
    /// Add an index entry after at least this many log bytes (`index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// Largest batch an append accepts (`max.message.bytes`).
    pub max_batch_bytes: usize,
    /// Retention, compaction or both (`cleanup.policy`).
    pub cleanup_policy: CleanupPolicy,
    /// The cleaner picks a compacted log once dirty bytes / (clean + dirty)
    /// bytes of its cleanable segments reach this (`min.cleanable.dirty.ratio`).
    pub min_cleanable_dirty_ratio: f64,
    /// Records newer than this (record timestamp vs the clock) are never
    /// compacted away; applied per segment, by its largest timestamp
    /// (`min.compaction.lag.ms`).
    pub min_compaction_lag_ms: i64,
    /// A log whose oldest dirty record is older than this is cleaned whatever
    /// its dirty ratio (`max.compaction.lag.ms`).
    pub max_compaction_lag_ms: i64,
    /// How long a tombstone stays after the cleaner first rewrote its batch
    /// (`delete.retention.ms`).
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            index_interval_bytes: 4096,
            max_batch_bytes: 16 << 20,
            cleanup_policy: CleanupPolicy::Delete,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}
