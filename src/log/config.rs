//! Per-log settings, with Kafka's defaults where Kafka has one.

/// How a log is flushed before an append is acknowledged (design §4).
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

/// Settings of one partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        }
    }
}
