//! Committed offsets as records of the internal topic `__consumer_offsets`
//! (docs/design.md §6): the encoding of their keys and values, and rebuilding every
//! group's offsets by reading the topic on open. A group's records all go
//! to partition `murmur2(group) % partitions`, so its commits stay ordered.
//!
//! ```text
//! key (big-endian)                     value (big-endian; null = tombstone)
//!  0  2  version u16 = 1                0  2  version u16 = 1
//!  2  2  group_len u16                  2  8  offset i64 (next offset to read)
//!  4  g  group UTF-8                   10  8  commit_timestamp i64 (ms)
//!  .  2  topic_len u16                 18  4  generation i32 (-1: admin/reset)
//!  .  t  topic UTF-8                   22  2  metadata_len u16
//!  .  4  partition u32                 24  m  metadata UTF-8
//! ```
//!
//! A tombstone (null value) removes the group's offset for that partition
//! (group deletion). Compaction keeps only the latest record per key once
//! the topic's cleanup policy is `compact`.

use super::config::TopicConfig;
use super::error::BrokerError;
use super::fetch::decode_records;
use super::group::{CommittedOffset, TopicPartition};
use super::partitioner::partition_for_key;
use super::{Broker, read};
use crate::log::CleanupPolicy;
use crate::log::{Durability, LogConfig, LogError};
use crate::record::{BatchBuilder, Compression};
use bytes::{Buf, BufMut};

/// Name of the internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
const VERSION: u16 = 1;

/// One committed offset (or its deletion) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetRecord {
    pub group: String,
    pub tp: TopicPartition,
    pub value: Option<CommittedOffset>,
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    b.put_u16(len);
    b.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let len = usize::from(b.get_u16());
    if b.remaining() < len {
        return None;
    }
    let s = std::str::from_utf8(&b[..len]).ok()?.to_owned();
    b.advance(len);
    Some(s)
}

pub(crate) fn encode_key(group: &str, tp: &TopicPartition) -> Vec<u8> {
    let mut b = Vec::with_capacity(10 + group.len() + tp.topic.len());
    b.put_u16(VERSION);
    put_str(&mut b, group);
    put_str(&mut b, &tp.topic);
    b.put_u32(tp.partition);
    b
}

pub(crate) fn encode_value(v: &CommittedOffset) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + v.metadata.len());
    b.put_u16(VERSION);
    b.put_i64(v.offset);
    b.put_i64(v.commit_timestamp_ms);
    b.put_i32(v.generation);
    put_str(&mut b, &v.metadata);
    b
}

pub(crate) fn decode(key: &[u8], value: Option<&[u8]>) -> Option<OffsetRecord> {
    let mut k = key;
    if k.remaining() < 2 || k.get_u16() != VERSION {
        return None;
    }
    let group = get_str(&mut k)?;
    let topic = get_str(&mut k)?;
    if k.remaining() != 4 {
        return None;
    }
    let partition = k.get_u32();
    let value = match value {
        None => None,
        Some(mut v) => {
            if v.remaining() < 22 || v.get_u16() != VERSION {
                return None;
            }
            let offset = v.get_i64();
            let commit_timestamp_ms = v.get_i64();
            let generation = v.get_i32();
            let metadata = get_str(&mut v)?;
            Some(CommittedOffset {
                offset,
                metadata,
                commit_timestamp_ms,
                generation,
            })
        }
    };
    Some(OffsetRecord {
        group,
        tp: TopicPartition { topic, partition },
        value,
    })
}

/// The settings `__consumer_offsets` is created with.
fn offsets_topic_config(partitions: u32) -> TopicConfig {
    TopicConfig {
        partitions,
        flush_messages: None,
        log: LogConfig {
            // Only the latest commit per (group, topic, partition) matters (docs/design.md §6).
            cleanup_policy: CleanupPolicy::Compact,
            // Offsets must never expire by age or size.
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: 100 << 20,
            ..LogConfig::default()
        },
    }
}

impl Broker {
    pub(crate) fn ensure_offsets_topic(&self) -> Result<(), BrokerError> {
        if read(&self.shared.topics).contains_key(OFFSETS_TOPIC) {
            return Ok(());
        }
        let partitions = self.shared.config.group.offsets_topic_partitions.max(1);
        self.create_topic_unchecked(OFFSETS_TOPIC, offsets_topic_config(partitions))
    }

    /// Reads `__consumer_offsets` from the start and rebuilds every group's
    /// committed offsets.
    pub(crate) fn load_offsets(&self) -> Result<(), BrokerError> {
        let topic = self.topic(OFFSETS_TOPIC)?;
        let partitions = read(&topic.partitions).clone();
        let groups = &self.shared.groups;
        for p in partitions {
            let mut next = p.log.log_start_offset();
            loop {
                let r = match p.log.read(next, 1 << 20) {
                    Err(LogError::Damaged { range, .. }) => {
                        // Losing some commits must not keep every topic
                        // down: the damaged range is skipped on purpose
                        // (logged and counted by the log), and its groups
                        // start from their reset policy where nothing else
                        // was committed.
                        if let Err(e) = p.log.skip_damaged(&range) {
                            tracing::error!(
                                partition = p.index,
                                "could not skip the damaged range of {OFFSETS_TOPIC}: {e}"
                            );
                        }
                        next = range.end_offset.max(next + 1);
                        continue;
                    }
                    r => r.map_err(|e| BrokerError::from_log(OFFSETS_TOPIC, p.index, e))?,
                };
                if r.bytes.is_empty() {
                    break;
                }
                let records =
                    decode_records(&r.bytes).map_err(|source| BrokerError::InvalidRecord {
                        topic: OFFSETS_TOPIC.to_owned(),
                        partition: p.index,
                        source,
                    })?;
                for rec in &records {
                    next = rec.offset + 1;
                    let Some(key) = &rec.key else { continue };
                    // Unknown versions are skipped: a newer broker wrote them.
                    if let Some(o) = decode(key, rec.value.as_deref()) {
                        groups.apply_offset_record(o);
                    }
                }
                // Batch ends, not record offsets, decide where to go on:
                // compaction may leave a batch's last offsets empty.
                let mut at = 0;
                while let Ok(Some(h)) = crate::record::BatchHeader::parse(&r.bytes[at..]) {
                    next = next.max(h.last_offset() + 1);
                    at += h.total_len();
                    if at >= r.bytes.len() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes every group's committed offsets for `topic` (Kafka does so
    /// when a topic is deleted): tombstones, made durable before the
    /// offsets leave memory, so neither a recreated topic nor a restart
    /// brings them back.
    pub(crate) fn delete_offsets_of_topic(&self, topic: &str) -> Result<(), BrokerError> {
        for listing in self.list_groups() {
            let group = listing.group;
            let tombstones: Vec<(TopicPartition, Option<CommittedOffset>)> = self
                .fetch_offsets(&group)
                .into_keys()
                .filter(|tp| tp.topic == topic)
                .map(|tp| (tp, None))
                .collect();
            if tombstones.is_empty() {
                continue;
            }
            self.write_offsets_at(&group, &tombstones, Durability::Fsync)?;
            let groups = &self.shared.groups;
            for (tp, _) in tombstones {
                groups.apply_offset_record(OffsetRecord {
                    group: group.clone(),
                    tp,
                    value: None,
                });
            }
        }
        Ok(())
    }

    /// Appends commits (or tombstones) of `group` to its offsets partition.
    ///
    /// # Errors
    /// A commit (not a tombstone) for a topic or partition that does not
    /// exist is refused, as Kafka refuses it, before anything is written:
    /// otherwise anyone could grow `__consumer_offsets` and the offsets
    /// held in memory without bound.
    pub(crate) fn write_offsets(
        &self,
        group: &str,
        entries: &[(TopicPartition, Option<CommittedOffset>)],
    ) -> Result<(), BrokerError> {
        self.check_committable(entries)?;
        self.write_offsets_at(group, entries, Durability::Written)
    }

    /// Every commit in `entries` names an existing topic and partition.
    fn check_committable(
        &self,
        entries: &[(TopicPartition, Option<CommittedOffset>)],
    ) -> Result<(), BrokerError> {
        let mut checked: Option<(&str, u32)> = None;
        for (tp, value) in entries {
            if value.is_none() {
                continue;
            }
            let count = match checked {
                Some((name, count)) if name == tp.topic => count,
                _ => {
                    let count = self.topic(&tp.topic)?.partition_count();
                    checked = Some((tp.topic.as_str(), count));
                    count
                }
            };
            if tp.partition >= count {
                return Err(BrokerError::UnknownPartition {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    partitions: count,
                });
            }
        }
        Ok(())
    }

    /// [`Broker::write_offsets`], acknowledged at `durability`.
    fn write_offsets_at(
        &self,
        group: &str,
        entries: &[(TopicPartition, Option<CommittedOffset>)],
        durability: Durability,
    ) -> Result<(), BrokerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let topic = self.topic(OFFSETS_TOPIC)?;
        let index = partition_for_key(group.as_bytes(), topic.partition_count());
        let partition = topic.partition(index)?;
        let now = self.shared.clock.now_ms();
        let mut builder = BatchBuilder::new(Compression::None);
        for (tp, value) in entries {
            let key = encode_key(group, tp);
            let value = value.as_ref().map(encode_value);
            builder
                .append(now, Some(&key), value.as_deref(), &[])
                .map_err(|source| BrokerError::InvalidRecord {
                    topic: OFFSETS_TOPIC.to_owned(),
                    partition: index,
                    source,
                })?;
        }
        let mut batch = builder
            .build()
            .map_err(|source| BrokerError::InvalidRecord {
                topic: OFFSETS_TOPIC.to_owned(),
                partition: index,
                source,
            })?;
        self.append_to(&partition, &mut batch, durability)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_records_round_trip_and_tombstones_have_no_value() {
        let tp = TopicPartition {
            topic: "orders".into(),
            partition: 3,
        };
        let v = CommittedOffset {
            offset: 42,
            metadata: "m".into(),
            commit_timestamp_ms: 7,
            generation: 2,
        };
        let key = encode_key("g", &tp);
        let value = encode_value(&v);
        let back = decode(&key, Some(&value)).unwrap();
        assert_eq!(
            (back.group.as_str(), &back.tp, back.value),
            ("g", &tp, Some(v))
        );
        assert_eq!(decode(&key, None).unwrap().value, None);
        assert!(decode(&key[..key.len() - 1], None).is_none());
        assert!(decode(&key, Some(&value[..10])).is_none());
    }
}
