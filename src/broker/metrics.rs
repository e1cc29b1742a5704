//! The broker's counters as plain data: relaxed atomics bumped on the hot
//! paths, and snapshot structs read with [`crate::broker::Broker::metrics`].
//! No exporter, registry or global state here: the admin face will turn a
//! snapshot into Prometheus text.

use super::PartitionLag;
use crate::log::DamageStats;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Per-topic counters.
#[derive(Debug, Default)]
pub(crate) struct TopicMetrics {
    pub records_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub records_out: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Broker-wide counters.
#[derive(Debug, Default)]
pub(crate) struct BrokerMetrics {
    pub produce_requests: AtomicU64,
    pub produce_errors: AtomicU64,
    pub fetch_requests: AtomicU64,
    pub fetch_errors: AtomicU64,
    pub rebalances: AtomicU64,
    pub duplicate_batches: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// One topic's counters and partitions at the time of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicCounters {
    /// Records appended (duplicates of idempotent retries excluded).
    pub records_in: u64,
    /// Batch bytes appended.
    pub bytes_in: u64,
    /// Records returned by fetches (counted per returned batch).
    pub records_out: u64,
    /// Batch bytes returned by fetches.
    pub bytes_out: u64,
    /// High watermark per partition, by partition number.
    pub high_watermarks: Vec<i64>,
    /// First readable offset per partition, by partition number.
    pub log_start_offsets: Vec<i64>,
    /// Damage met, recovery cuts and deliberate skips, summed over the
    /// topic's partitions since the broker opened them.
    pub damage: DamageStats,
}

/// One group's lag, generation and members.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupCounters {
    /// Sum of (high watermark − committed offset) over the group's
    /// partitions with a commit.
    pub lag: i64,
    /// Per partition of the group's topics: committed offset, high watermark
    /// and lag, as [`crate::broker::Broker::describe_group`] reports them.
    pub partitions: Vec<PartitionLag>,
    /// Current generation.
    pub generation: i32,
    /// Members.
    pub members: usize,
}

/// Everything the broker counts, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Produce calls (raw or record) received.
    pub produce_requests: u64,
    /// Produce calls that failed.
    pub produce_errors: u64,
    /// Fetch calls received.
    pub fetch_requests: u64,
    /// Partition fetches that failed.
    pub fetch_errors: u64,
    /// Idempotent retries answered without appending.
    pub duplicate_batches: u64,
    /// Rebalances of all groups since the broker opened.
    pub rebalances: u64,
    /// Bytes of memory an in-memory broker's storage holds (`None` on disk).
    pub storage_memory_bytes: Option<u64>,
    /// Per topic.
    pub topics: BTreeMap<String, TopicCounters>,
    /// Per group.
    pub groups: BTreeMap<String, GroupCounters>,
}

impl super::Broker {
    /// A snapshot of every counter, high watermark and group lag.
    pub fn metrics(&self) -> MetricsSnapshot {
        let m = &self.shared.metrics;
        let topics = super::read(&self.shared.topics)
            .iter()
            .map(|(name, t)| {
                let partitions = super::read(&t.partitions);
                (
                    name.clone(),
                    TopicCounters {
                        records_in: get(&t.metrics.records_in),
                        bytes_in: get(&t.metrics.bytes_in),
                        records_out: get(&t.metrics.records_out),
                        bytes_out: get(&t.metrics.bytes_out),
                        high_watermarks: partitions
                            .iter()
                            .map(|p| p.log.log_end_offset())
                            .collect(),
                        log_start_offsets: partitions
                            .iter()
                            .map(|p| p.log.log_start_offset())
                            .collect(),
                        damage: partitions
                            .iter()
                            .fold(DamageStats::default(), |mut sum, p| {
                                sum += p.log.damage_stats();
                                sum
                            }),
                    },
                )
            })
            .collect();
        MetricsSnapshot {
            produce_requests: get(&m.produce_requests),
            produce_errors: get(&m.produce_errors),
            fetch_requests: get(&m.fetch_requests),
            fetch_errors: get(&m.fetch_errors),
            duplicate_batches: get(&m.duplicate_batches),
            rebalances: get(&m.rebalances),
            storage_memory_bytes: self.shared.storage.memory_bytes(),
            topics,
            groups: self.group_counters(),
        }
    }
}
