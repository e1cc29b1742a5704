//! Choosing a partition for a record (docs/design.md §7): keyed records by Kafka's
//! murmur2 (the leaf [`crate::partitioner`], shared with the network
//! client), unkeyed records by a sticky partitioner. Pure functions plus one
//! atomic; knows nothing of logs.

pub use crate::partitioner::{murmur2, partition_for_key};
use std::sync::atomic::{AtomicU32, Ordering};

/// The sticky partitioner's current partition for unkeyed records: every
/// unkeyed record of one produce goes there, and the next produce moves on,
/// so unkeyed records fill one batch at a time (Kafka's KIP-480).
pub(crate) fn sticky_partition(current: &AtomicU32, partitions: u32) -> u32 {
    current.load(Ordering::Relaxed) % partitions
}

/// Moves the sticky partitioner on after a batch was completed.
pub(crate) fn advance_sticky(current: &AtomicU32) {
    current.fetch_add(1, Ordering::Relaxed);
}
