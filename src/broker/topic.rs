//! Topics and their partitions as the broker holds them: name rules, the
//! topic metadata file, and the in-memory `Topic`/`Partition` records.
//! Knows the log's API, never its files; knows nothing of groups or clients.
//!
//! Topic metadata file `DATA/NAME.topic` (big-endian, written atomically):
//!
//! ```text
//!  off  len  field
//!    0    4  magic              b"LBTP"
//!    4    2  version            u16: 2 (1 before topic ids; still read)
//!    6    2  name_len           u16 (1..=249)
//!    8    n  name               UTF-8, [a-zA-Z0-9._-]
//!  8+n    4  partitions         u32 (>= 1)
//! 12+n    1  cleanup_policy     u8: 0 delete, 1 compact, 2 compact+delete
//! 13+n    8  segment_bytes      u64
//! 21+n    8  segment_ms         i64
//! 29+n    8  retention_bytes    i64, -1 = unlimited
//! 37+n    8  retention_ms       i64, -1 = unlimited
//! 45+n    8  index_interval     u64
//! 53+n    4  max_batch_bytes    u32
//! 57+n    8  created_ms         i64
//! 65+n    8  min_cleanable_dirty_ratio  f64 (IEEE 754 bits)
//! 73+n    8  min_compaction_lag_ms      i64
//! 81+n    8  max_compaction_lag_ms      i64
//! 89+n    8  delete_retention_ms        i64
//! 97+n   16  topic_id           UUID (version 2 only)
//!113+n    8  flush_messages     i64, -1 = never forced (version 2 only)
//!121+n    4  crc                u32: CRC-32C of the bytes before it
//! ```
//!
//! A version 1 file (101 + n bytes, crc at 97+n) decodes with a zero topic
//! id; the broker gives the topic an id on open and rewrites the file as
//! version 2.
//!
//! A name can never escape the data directory: `/`, `\` and `..` are
//! impossible under the rules, and the suffix `.topic` never ends in a
//! digit, so a metadata file never collides with a partition directory
//! `NAME-N`.

use super::config::TopicConfig;
use super::error::{BrokerError, TopicNameProblem};
use super::metrics::TopicMetrics;
use super::producer_state::ProducerStates;
use super::topic_id::TopicId;
use crate::log::CleanupPolicy;
use crate::log::{Log, LogConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

/// Suffix of topic metadata files in the data directory.
pub const TOPIC_META_SUFFIX: &str = ".topic";
/// Longest topic name Kafka allows.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

const MAGIC: &[u8; 4] = b"LBTP";
const VERSION: u16 = 2;
/// The version written before topics had ids (no id, no flush setting).
const VERSION_1: u16 = 1;

/// Checks `name` against Kafka's topic name rules.
///
/// # Errors
/// [`BrokerError::InvalidTopicName`] saying which rule it breaks.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let problem = if name.is_empty() {
        Some(TopicNameProblem::Empty)
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        Some(TopicNameProblem::TooLong)
    } else if name == "." || name == ".." {
        Some(TopicNameProblem::Reserved)
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(TopicNameProblem::InvalidChar)
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(BrokerError::InvalidTopicName {
            name: name.to_owned(),
            problem,
        }),
    }
}

/// The temp file a topic's metadata is written through: `topic-XXXXXXXX`
/// (the CRC-32C of the name in hex) plus the temp suffix. `NAME.topic` is
/// already 255 bytes for a name of 249, so no suffix of it would fit; the
/// admin lock serialises metadata writes, so a CRC clash is harmless.
pub(crate) fn meta_temp_name(name: &str) -> String {
    format!(
        "topic-{:08x}{}",
        crc32c::crc32c(name.as_bytes()),
        crate::log::TEMP_SUFFIX
    )
}

/// Whether `stem` (a temp file name without its suffix) is a metadata temp
/// file's: `topic-` and eight lowercase hex digits.
pub(crate) fn is_meta_temp_stem(stem: &str) -> bool {
    stem.strip_prefix("topic-").is_some_and(|hex| {
        hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Most partitions a topic named `name` may have so that every partition
/// directory name `NAME-N` fits the 255-byte file-name limit (100,000 for
/// a name of 249 bytes, Kafka's longest).
pub(crate) fn max_partitions_for(name: &str) -> u32 {
    let digits = 255_usize.saturating_sub(name.len() + 1);
    u32::try_from(digits)
        .ok()
        .and_then(|d| 10_u32.checked_pow(d))
        .unwrap_or(u32::MAX)
}

/// The directory of partition `partition` of `topic`: `DATA/TOPIC-PARTITION`.
pub(crate) fn partition_dir(data: &Path, topic: &str, partition: u32) -> PathBuf {
    data.join(format!("{topic}-{partition}"))
}

/// Splits a directory name `TOPIC-N` into its topic and partition.
pub(crate) fn parse_partition_dir(name: &str) -> Option<(&str, u32)> {
    let (topic, n) = name.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || topic.is_empty() {
        return None;
    }
    Some((topic, n.parse().ok()?))
}

/// A topic's persisted description.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TopicMeta {
    pub name: String,
    /// `TopicId::ZERO` only when read from a version 1 file.
    pub id: TopicId,
    pub config: TopicConfig,
    pub created_ms: i64,
}

/// Bytes of a metadata file besides the name.
const FIXED_LEN: usize = 125;
/// Bytes of a version 1 metadata file besides the name.
const FIXED_LEN_V1: usize = 101;

fn policy_code(policy: CleanupPolicy) -> u8 {
    match policy {
        CleanupPolicy::Delete => 0,
        CleanupPolicy::Compact => 1,
        CleanupPolicy::CompactDelete => 2,
    }
}

fn policy_from_code(code: u8) -> Option<CleanupPolicy> {
    match code {
        0 => Some(CleanupPolicy::Delete),
        1 => Some(CleanupPolicy::Compact),
        2 => Some(CleanupPolicy::CompactDelete),
        _ => None,
    }
}

fn opt_u64(v: Option<u64>) -> i64 {
    v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl TopicMeta {
    pub fn encode(&self) -> Vec<u8> {
        let c = &self.config;
        let mut b = Vec::with_capacity(FIXED_LEN + self.name.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_be_bytes());
        // Names are validated to at most 249 bytes before they get here.
        b.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        b.extend_from_slice(self.name.as_bytes());
        b.extend_from_slice(&c.partitions.to_be_bytes());
        b.push(policy_code(c.log.cleanup_policy));
        b.extend_from_slice(&c.log.segment_bytes.to_be_bytes());
        b.extend_from_slice(&c.log.segment_ms.to_be_bytes());
        b.extend_from_slice(&opt_u64(c.log.retention_bytes).to_be_bytes());
        b.extend_from_slice(&c.log.retention_ms.unwrap_or(-1).to_be_bytes());
        b.extend_from_slice(&c.log.index_interval_bytes.to_be_bytes());
        let max_batch = u32::try_from(c.log.max_batch_bytes).unwrap_or(u32::MAX);
        b.extend_from_slice(&max_batch.to_be_bytes());
        b.extend_from_slice(&self.created_ms.to_be_bytes());
        b.extend_from_slice(&c.log.min_cleanable_dirty_ratio.to_bits().to_be_bytes());
        b.extend_from_slice(&c.log.min_compaction_lag_ms.to_be_bytes());
        b.extend_from_slice(&c.log.max_compaction_lag_ms.to_be_bytes());
        b.extend_from_slice(&c.log.delete_retention_ms.to_be_bytes());
        b.extend_from_slice(&self.id.0);
        b.extend_from_slice(&opt_u64(c.flush_messages).to_be_bytes());
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes a metadata file; the error names what is wrong.
    pub fn decode(b: &[u8]) -> Result<TopicMeta, &'static str> {
        if b.len() < 8 || &b[..4] != MAGIC {
            return Err("bad magic");
        }
        let fixed = match u16::from_be_bytes([b[4], b[5]]) {
            VERSION => FIXED_LEN,
            VERSION_1 => FIXED_LEN_V1,
            _ => return Err("unknown version"),
        };
        let n = usize::from(u16::from_be_bytes([b[6], b[7]]));
        if b.len() != fixed + n {
            return Err("wrong length");
        }
        let (body, crc) = b.split_at(fixed - 4 + n);
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().map_err(|_| "wrong length")?) {
            return Err("CRC mismatch");
        }
        let name = std::str::from_utf8(&b[8..8 + n]).map_err(|_| "name is not UTF-8")?;
        if validate_topic_name(name).is_err() {
            return Err("invalid topic name");
        }
        let mut at = 8 + n;
        let mut take = |len: usize| {
            let s = &b[at..at + len];
            at += len;
            s
        };
        let u32_at = |s: &[u8]| u32::from_be_bytes(s.try_into().expect("4 bytes"));
        let i64_at = |s: &[u8]| i64::from_be_bytes(s.try_into().expect("8 bytes"));
        let partitions = u32_at(take(4));
        let policy = policy_from_code(take(1)[0]).ok_or("unknown cleanup policy")?;
        let segment_bytes = i64_at(take(8)) as u64;
        let segment_ms = i64_at(take(8));
        let retention_bytes = i64_at(take(8));
        let retention_ms = i64_at(take(8));
        let index_interval_bytes = i64_at(take(8)) as u64;
        let max_batch_bytes = u32_at(take(4)) as usize;
        let created_ms = i64_at(take(8));
        let min_cleanable_dirty_ratio = f64::from_bits(i64_at(take(8)) as u64);
        let min_compaction_lag_ms = i64_at(take(8));
        let max_compaction_lag_ms = i64_at(take(8));
        let delete_retention_ms = i64_at(take(8));
        let (id, flush_messages) = if fixed == FIXED_LEN {
            let id = TopicId(take(16).try_into().expect("16 bytes"));
            let flush = i64_at(take(8));
            (id, (flush >= 0).then_some(flush as u64))
        } else {
            (TopicId::ZERO, None)
        };
        if partitions == 0 {
            return Err("zero partitions");
        }
        Ok(TopicMeta {
            name: name.to_owned(),
            id,
            config: TopicConfig {
                partitions,
                flush_messages,
                log: LogConfig {
                    cleanup_policy: policy,
                    segment_bytes,
                    segment_ms,
                    retention_bytes: (retention_bytes >= 0).then_some(retention_bytes as u64),
                    retention_ms: (retention_ms >= 0).then_some(retention_ms),
                    index_interval_bytes,
                    max_batch_bytes,
                    min_cleanable_dirty_ratio,
                    min_compaction_lag_ms,
                    max_compaction_lag_ms,
                    delete_retention_ms,
                },
            },
            created_ms,
        })
    }
}

/// One partition: its log, its idempotent producers, and the watch that
/// wakes long-poll fetches when its end moves.
pub(crate) struct Partition {
    pub topic: String,
    pub index: u32,
    /// Shared with the background cleaner when the topic is compacted.
    pub log: Arc<Log>,
    /// Held across the check-then-append of every produce to this
    /// partition, so producer state and log order always agree.
    pub producers: Mutex<ProducerStates>,
    /// The log end offset after the latest append.
    pub end: watch::Sender<i64>,
    /// The topic's counters, shared with its `Topic`.
    pub metrics: Arc<TopicMetrics>,
}

impl Partition {
    pub fn new(
        topic: &str,
        index: u32,
        log: Arc<Log>,
        producers: ProducerStates,
        metrics: Arc<TopicMetrics>,
    ) -> Partition {
        let (end, _) = watch::channel(log.log_end_offset());
        Partition {
            topic: topic.to_owned(),
            index,
            log,
            producers: Mutex::new(producers),
            end,
            metrics,
        }
    }
}

/// One topic and its partitions.
pub(crate) struct Topic {
    pub name: String,
    /// Never zero once the topic is open.
    pub id: TopicId,
    pub created_ms: i64,
    pub config: RwLock<TopicConfig>,
    /// Grows when partitions are added; never shrinks.
    pub partitions: RwLock<Vec<Arc<Partition>>>,
    /// The sticky partitioner's current partition for unkeyed records.
    pub sticky: AtomicU32,
    pub metrics: Arc<TopicMetrics>,
}

impl Topic {
    pub fn partition(&self, index: u32) -> Result<Arc<Partition>, BrokerError> {
        let partitions = super::read(&self.partitions);
        partitions
            .get(index as usize)
            .cloned()
            .ok_or(BrokerError::UnknownPartition {
                topic: self.name.clone(),
                partition: index,
                partitions: partitions.len() as u32,
            })
    }

    pub fn partition_count(&self) -> u32 {
        super::read(&self.partitions).len() as u32
    }

    pub fn meta(&self) -> TopicMeta {
        TopicMeta {
            name: self.name.clone(),
            id: self.id,
            config: super::read(&self.config).clone(),
            created_ms: self.created_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_topic_name_rules_are_enforced() {
        for ok in ["a", "orders.v1", "A_b-9", &"x".repeat(249), "..."] {
            validate_topic_name(ok).unwrap();
        }
        let problem = |n: &str| match validate_topic_name(n) {
            Err(BrokerError::InvalidTopicName { problem, .. }) => problem,
            other => panic!("{n:?} gave {other:?}"),
        };
        assert_eq!(problem(""), TopicNameProblem::Empty);
        assert_eq!(problem(&"x".repeat(250)), TopicNameProblem::TooLong);
        assert_eq!(problem("."), TopicNameProblem::Reserved);
        assert_eq!(problem(".."), TopicNameProblem::Reserved);
        assert_eq!(problem("../etc"), TopicNameProblem::InvalidChar('/'));
        assert_eq!(problem("a b"), TopicNameProblem::InvalidChar(' '));
        assert_eq!(problem("é"), TopicNameProblem::InvalidChar('é'));
    }

    #[test]
    fn topic_metadata_round_trips_and_corruption_is_detected() {
        let meta = TopicMeta {
            name: "orders".into(),
            id: TopicId::random(),
            config: TopicConfig {
                partitions: 6,
                flush_messages: Some(1),
                log: LogConfig {
                    cleanup_policy: CleanupPolicy::Compact,
                    min_cleanable_dirty_ratio: 0.25,
                    delete_retention_ms: 5,
                    retention_bytes: Some(1 << 20),
                    retention_ms: None,
                    ..LogConfig::default()
                },
            },
            created_ms: 1234,
        };
        let bytes = meta.encode();
        assert_eq!(bytes.len(), FIXED_LEN + 6);
        assert_eq!(TopicMeta::decode(&bytes).unwrap(), meta);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(TopicMeta::decode(&bad).is_err(), "flip at {i}");
        }
        assert!(TopicMeta::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_version_1_file_without_id_still_decodes_with_a_zero_id() {
        let meta = TopicMeta {
            name: "old".into(),
            id: TopicId::random(),
            config: TopicConfig::compacted(3),
            created_ms: 77,
        };
        // A version 1 file is a version 2 file without the id and flush
        // fields, with its own version and CRC.
        let v2 = meta.encode();
        let n = meta.name.len();
        let mut v1 = v2[..FIXED_LEN_V1 - 4 + n].to_vec();
        v1[4..6].copy_from_slice(&VERSION_1.to_be_bytes());
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        let old = TopicMeta::decode(&v1).unwrap();
        assert!(old.id.is_zero());
        assert_eq!(old.config, meta.config);
        assert_eq!((old.name.as_str(), old.created_ms), ("old", 77));
    }

    #[test]
    fn partition_dirs_parse_back_to_topic_and_partition() {
        assert_eq!(parse_partition_dir("a-b-12"), Some(("a-b", 12)));
        assert_eq!(parse_partition_dir("orders-0"), Some(("orders", 0)));
        assert_eq!(parse_partition_dir("producer-ids"), None);
        assert_eq!(parse_partition_dir("-3"), None);
        assert_eq!(parse_partition_dir("x.topic"), None);
    }

    #[test]
    fn every_file_name_derived_from_the_longest_name_fits_255_bytes() {
        let name = "x".repeat(MAX_TOPIC_NAME_LEN);
        let max = max_partitions_for(&name);
        assert_eq!(max, 100_000);
        let dir = partition_dir(Path::new(""), &name, max - 1);
        assert!(dir.to_str().unwrap().len() <= 255);
        assert!(format!("{name}{TOPIC_META_SUFFIX}").len() <= 255);
        let temp = meta_temp_name(&name);
        assert!(temp.len() <= 255);
        assert!(is_meta_temp_stem(
            temp.strip_suffix(crate::log::TEMP_SUFFIX).unwrap()
        ));
        assert!(!is_meta_temp_stem("topic-notes"));
        assert_eq!(max_partitions_for("a"), u32::MAX);
    }
}
