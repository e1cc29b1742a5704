//! Topic administration in Kafka's terms: topic configs under Kafka's names
//! (`retention.ms`, `cleanup.policy`, ...) described with their value,
//! default and source, altered live, and given at creation (with a
//! validate-only mode); topic ids; the durability a topic forces
//! (`flush.messages`); offsets by timestamp and by the largest timestamp.
//!
//! Names and value rules follow Kafka's topic configs so that Kafka admin
//! clients read and write them unchanged. Knows nothing of the wire: the
//! faces map these values to their own encodings.

use super::config::TopicConfig;
use super::error::BrokerError;
use super::topic::{Topic, TopicMeta};
use super::topic_id::TopicId;
use super::{Broker, OFFSETS_TOPIC, lock, read, validate_topic_name, write};
use crate::log::{CleanupPolicy, Durability};
use std::sync::Arc;

/// Where a config's value comes from, as Kafka's DescribeConfigs says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on this topic (Kafka `DYNAMIC_TOPIC_CONFIG`, 1).
    Topic,
    /// The broker's default for topics (Kafka `DEFAULT_CONFIG`, 5).
    Default,
}

/// A config's value type, as Kafka's DescribeConfigs v3+ says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true`/`false`.
    Boolean,
    /// Free text.
    String,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// A floating-point number.
    Double,
    /// A comma-separated list.
    List,
}

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka's name, e.g. `retention.ms`.
    pub name: &'static str,
    /// The value in effect, in Kafka's text form.
    pub value: String,
    /// The broker's default for topics, in the same form.
    pub default_value: String,
    /// Where `value` comes from.
    pub source: ConfigSource,
    /// Whether it can be changed (logbus fixes some of Kafka's configs).
    pub read_only: bool,
    /// Its type.
    pub config_type: ConfigType,
    /// One line saying what it does.
    pub documentation: &'static str,
}

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    /// Sets the config to the value.
    Set(String, String),
    /// Resets the config to the broker's default.
    Delete(String),
    /// Adds items to a list config (`cleanup.policy`).
    Append(String, String),
    /// Removes items from a list config.
    Subtract(String, String),
}

/// The configs logbus knows, in the order DescribeConfigs lists them:
/// (name, type, read-only, documentation).
const CONFIGS: &[(&str, ConfigType, bool, &str)] = &[
    (
        "cleanup.policy",
        ConfigType::List,
        false,
        "delete, compact, or both: what happens to old records",
    ),
    (
        "compression.type",
        ConfigType::String,
        true,
        "batches are stored as the producer compressed them",
    ),
    (
        "delete.retention.ms",
        ConfigType::Long,
        false,
        "how long tombstones stay after compaction reached them",
    ),
    (
        "flush.messages",
        ConfigType::Long,
        false,
        "1 makes every produce wait for an fsync",
    ),
    (
        "index.interval.bytes",
        ConfigType::Int,
        false,
        "log bytes between offset index entries",
    ),
    (
        "max.compaction.lag.ms",
        ConfigType::Long,
        false,
        "longest a record may stay uncompacted",
    ),
    (
        "max.message.bytes",
        ConfigType::Int,
        false,
        "largest record batch accepted",
    ),
    (
        "message.timestamp.type",
        ConfigType::String,
        true,
        "records keep the producer's create time",
    ),
    (
        "min.cleanable.dirty.ratio",
        ConfigType::Double,
        false,
        "dirty share of a log that triggers compaction",
    ),
    (
        "min.compaction.lag.ms",
        ConfigType::Long,
        false,
        "shortest time a record stays uncompacted",
    ),
    (
        "min.insync.replicas",
        ConfigType::Int,
        true,
        "one broker holds the only replica",
    ),
    (
        "retention.bytes",
        ConfigType::Long,
        false,
        "largest size of a partition before old segments go; -1 unlimited",
    ),
    (
        "retention.ms",
        ConfigType::Long,
        false,
        "age after which old segments go; -1 unlimited",
    ),
    (
        "segment.bytes",
        ConfigType::Int,
        false,
        "size at which a new segment starts",
    ),
    (
        "segment.ms",
        ConfigType::Long,
        false,
        "age at which a new segment starts",
    ),
];

fn wide(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The value of config `name` in `c`, in Kafka's text form.
fn value_of(c: &TopicConfig, name: &str) -> Option<String> {
    let l = &c.log;
    Some(match name {
        "cleanup.policy" => l.cleanup_policy.kafka_name().to_owned(),
        "compression.type" => "producer".to_owned(),
        "delete.retention.ms" => l.delete_retention_ms.to_string(),
        "flush.messages" => c.flush_messages.map_or(i64::MAX, wide).to_string(),
        "index.interval.bytes" => l.index_interval_bytes.to_string(),
        "max.compaction.lag.ms" => l.max_compaction_lag_ms.to_string(),
        "max.message.bytes" => l.max_batch_bytes.to_string(),
        "message.timestamp.type" => "CreateTime".to_owned(),
        "min.cleanable.dirty.ratio" => l.min_cleanable_dirty_ratio.to_string(),
        "min.compaction.lag.ms" => l.min_compaction_lag_ms.to_string(),
        "min.insync.replicas" => "1".to_owned(),
        "retention.bytes" => l.retention_bytes.map_or(-1, wide).to_string(),
        "retention.ms" => l.retention_ms.unwrap_or(-1).to_string(),
        "segment.bytes" => l.segment_bytes.to_string(),
        "segment.ms" => l.segment_ms.to_string(),
        _ => return None,
    })
}

fn policy_items(p: CleanupPolicy) -> Vec<&'static str> {
    match p {
        CleanupPolicy::Delete => vec!["delete"],
        CleanupPolicy::Compact => vec!["compact"],
        CleanupPolicy::CompactDelete => vec!["compact", "delete"],
    }
}

fn policy_from_items(items: &[&str]) -> Option<CleanupPolicy> {
    let compact = items.contains(&"compact");
    let delete = items.contains(&"delete");
    if items.iter().any(|i| *i != "compact" && *i != "delete") {
        return None;
    }
    match (compact, delete) {
        (true, true) => Some(CleanupPolicy::CompactDelete),
        (true, false) => Some(CleanupPolicy::Compact),
        (false, true) => Some(CleanupPolicy::Delete),
        // Kafka allows an empty policy (infinite retention, KIP-1020 era);
        // logbus has no such mode, so it refuses it.
        (false, false) => None,
    }
}

fn split_list(v: &str) -> Vec<&str> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Sets config `name` of `c` to `value` (`None`: to `defaults`' value).
///
/// # Errors
/// [`BrokerError::TopicConfigRefused`] for an unknown or read-only name, or
/// a value Kafka would refuse.
pub(crate) fn apply(
    c: &mut TopicConfig,
    defaults: &TopicConfig,
    name: &str,
    value: Option<&str>,
) -> Result<(), BrokerError> {
    let refuse = |problem| BrokerError::TopicConfigRefused {
        name: name.to_owned(),
        value: value.map(str::to_owned),
        problem,
    };
    let Some(&(_, _, read_only, _)) = CONFIGS.iter().find(|(n, ..)| *n == name) else {
        return Err(refuse("unknown topic config"));
    };
    let Some(value) = value else {
        // A reset copies the default, read-only or not.
        match name {
            "flush.messages" => c.flush_messages = defaults.flush_messages,
            "cleanup.policy" => c.log.cleanup_policy = defaults.log.cleanup_policy,
            _ => {
                let text = value_of(defaults, name).expect("every listed config has a value");
                if !read_only {
                    apply(c, defaults, name, Some(&text))?;
                }
            }
        }
        return Ok(());
    };
    if read_only {
        return if value_of(c, name).as_deref() == Some(value) {
            Ok(())
        } else {
            Err(refuse("fixed in logbus"))
        };
    }
    let long = || {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| refuse("not a number"))
    };
    let non_negative = || match long()? {
        v if v >= 0 => Ok(v),
        _ => Err(refuse("must not be negative")),
    };
    let l = &mut c.log;
    match name {
        "cleanup.policy" => {
            l.cleanup_policy = policy_from_items(&split_list(value))
                .ok_or_else(|| refuse("expected delete, compact or both"))?;
        }
        "delete.retention.ms" => l.delete_retention_ms = non_negative()?,
        "flush.messages" => {
            let v = long()?;
            if v < 1 {
                return Err(refuse("must be at least 1"));
            }
            c.flush_messages = (v != i64::MAX).then_some(v as u64);
        }
        "index.interval.bytes" => l.index_interval_bytes = non_negative()? as u64,
        "max.compaction.lag.ms" => match long()? {
            v if v >= 1 => l.max_compaction_lag_ms = v,
            _ => return Err(refuse("must be at least 1")),
        },
        "max.message.bytes" => match long()? {
            v if (0..=i64::from(i32::MAX)).contains(&v) => l.max_batch_bytes = v as usize,
            _ => return Err(refuse("must be between 0 and 2147483647")),
        },
        "min.cleanable.dirty.ratio" => match value.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => l.min_cleanable_dirty_ratio = v,
            _ => return Err(refuse("must be a number between 0 and 1")),
        },
        "min.compaction.lag.ms" => l.min_compaction_lag_ms = non_negative()?,
        "retention.bytes" => match long()? {
            -1 => l.retention_bytes = None,
            v if v >= 0 => l.retention_bytes = Some(v as u64),
            _ => return Err(refuse("must be -1 or more")),
        },
        "retention.ms" => match long()? {
            -1 => l.retention_ms = None,
            v if v >= 0 => l.retention_ms = Some(v),
            _ => return Err(refuse("must be -1 or more")),
        },
        // Kafka's minimum segment is 14 bytes (a batch header); logbus
        // needs room for at least one batch as well.
        "segment.bytes" => match long()? {
            v if (14..=i64::from(i32::MAX)).contains(&v) => l.segment_bytes = v as u64,
            _ => return Err(refuse("must be between 14 and 2147483647")),
        },
        "segment.ms" => match long()? {
            v if v >= 1 => l.segment_ms = v,
            _ => return Err(refuse("must be at least 1")),
        },
        _ => return Err(refuse("unknown topic config")),
    }
    Ok(())
}

/// Applies one IncrementalAlterConfigs operation to `c`.
fn apply_op(c: &mut TopicConfig, defaults: &TopicConfig, op: &ConfigOp) -> Result<(), BrokerError> {
    match op {
        ConfigOp::Set(name, value) => apply(c, defaults, name, Some(value)),
        ConfigOp::Delete(name) => apply(c, defaults, name, None),
        ConfigOp::Append(name, items) | ConfigOp::Subtract(name, items) => {
            if name != "cleanup.policy" {
                return Err(BrokerError::TopicConfigRefused {
                    name: name.clone(),
                    value: Some(items.clone()),
                    problem: "append and subtract apply to list configs only",
                });
            }
            let mut current: Vec<&str> = policy_items(c.log.cleanup_policy);
            for item in split_list(items) {
                if matches!(op, ConfigOp::Append(..)) {
                    // Unknown items fail in `apply` below.
                    if !current.contains(&item) {
                        current.push(item);
                    }
                } else {
                    current.retain(|i| *i != item);
                }
            }
            apply(c, defaults, name, Some(&current.join(",")))
        }
    }
}

/// Every config of `c`, with defaults from `defaults`.
pub(crate) fn entries(c: &TopicConfig, defaults: &TopicConfig) -> Vec<ConfigEntry> {
    CONFIGS
        .iter()
        .map(|&(name, config_type, read_only, documentation)| {
            let value = value_of(c, name).expect("every listed config has a value");
            let default_value = value_of(defaults, name).expect("every listed config has a value");
            let source = if value == default_value {
                ConfigSource::Default
            } else {
                ConfigSource::Topic
            };
            ConfigEntry {
                name,
                value,
                default_value,
                source,
                read_only,
                config_type,
                documentation,
            }
        })
        .collect()
}

impl ConfigEntry {
    /// Every config of `config`, with defaults from `defaults` (what
    /// CreateTopics reports for a topic it created or validated).
    pub fn all_for(config: &TopicConfig, defaults: &TopicConfig) -> Vec<ConfigEntry> {
        entries(config, defaults)
    }
}

impl Topic {
    /// The durability a produce to this topic gets when `asked` for:
    /// `flush.messages=1` makes it an fsync.
    pub(crate) fn durability(&self, asked: Durability) -> Durability {
        if read(&self.config).flush_messages == Some(1) {
            Durability::Fsync
        } else {
            asked
        }
    }
}

impl Broker {
    /// The settings topics get unless told otherwise (partitions included).
    pub fn default_topic_config(&self) -> &TopicConfig {
        &self.shared.config.default_topic
    }

    /// The persistent id of topic `name`.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`].
    pub fn topic_id(&self, name: &str) -> Result<TopicId, BrokerError> {
        Ok(self.topic(name)?.id)
    }

    /// The name of the topic whose id is `id`, if one has it.
    pub fn topic_name_by_id(&self, id: TopicId) -> Option<String> {
        read(&self.shared.topics)
            .values()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
    }

    /// The durability a produce of `asked` to `topic` gets (an fsync when
    /// its `flush.messages` is 1); `asked` for an unknown topic.
    pub fn produce_durability(&self, topic: &str, asked: Durability) -> Durability {
        self.topic(topic).map_or(asked, |t| t.durability(asked))
    }

    /// Every config of topic `name` under Kafka's names, with its value,
    /// default and source.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`].
    pub fn describe_topic_configs(&self, name: &str) -> Result<Vec<ConfigEntry>, BrokerError> {
        let topic = self.topic(name)?;
        let config = read(&topic.config).clone();
        Ok(entries(&config, &self.shared.config.default_topic))
    }

    /// The settings a topic created with Kafka-named `configs` (`None`
    /// values take the default) and `partitions` (`None`: the default
    /// count) would get, checked as a create would check them but without
    /// creating anything (CreateTopics' `validate_only`).
    ///
    /// # Errors
    /// [`BrokerError::InvalidTopicName`], [`BrokerError::InternalTopic`],
    /// [`BrokerError::TopicExists`], [`BrokerError::InvalidPartitions`] or
    /// [`BrokerError::TopicConfigRefused`].
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: Option<u32>,
        configs: &[(String, Option<String>)],
    ) -> Result<TopicConfig, BrokerError> {
        self.check_open()?;
        validate_topic_name(name)?;
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_owned(),
            });
        }
        let defaults = &self.shared.config.default_topic;
        let mut config = defaults.clone();
        if let Some(p) = partitions {
            config.partitions = p;
        }
        let max = self.shared.config.max_partitions;
        if config.partitions == 0 || config.partitions > max {
            return Err(BrokerError::InvalidPartitions {
                requested: config.partitions,
                current: 0,
                max,
            });
        }
        for (key, value) in configs {
            apply(&mut config, defaults, key, value.as_deref())?;
        }
        if read(&self.shared.topics).contains_key(name) {
            return Err(BrokerError::TopicExists {
                topic: name.to_owned(),
            });
        }
        Ok(config)
    }

    /// Creates topic `name` with Kafka-named `configs`, as
    /// [`Broker::validate_new_topic`] checks them; returns its settings.
    ///
    /// # Errors
    /// As [`Broker::validate_new_topic`], or a storage error.
    pub fn create_topic_with_configs(
        &self,
        name: &str,
        partitions: Option<u32>,
        configs: &[(String, Option<String>)],
    ) -> Result<TopicConfig, BrokerError> {
        let config = self.validate_new_topic(name, partitions, configs)?;
        self.create_topic(name, config.clone())?;
        Ok(config)
    }

    /// Checks that topic `name` could grow to `partitions` partitions, as
    /// [`Broker::add_partitions`] would, without changing it
    /// (CreatePartitions' `validate_only`).
    ///
    /// # Errors
    /// As [`Broker::add_partitions`].
    pub fn check_add_partitions(&self, name: &str, partitions: u32) -> Result<(), BrokerError> {
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_owned(),
            });
        }
        let current = self.topic(name)?.partition_count();
        let max = self.shared.config.max_partitions;
        if partitions <= current || partitions > max {
            return Err(BrokerError::InvalidPartitions {
                requested: partitions,
                current,
                max,
            });
        }
        Ok(())
    }

    /// Applies IncrementalAlterConfigs `ops` to topic `name`, all or none,
    /// live: partitions take the new settings from their next append,
    /// retention pass or cleaning round. With `validate_only` nothing changes.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::InternalTopic`],
    /// [`BrokerError::TopicConfigRefused`], or a storage error writing the
    /// topic's metadata.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        ops: &[ConfigOp],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_owned(),
            });
        }
        let topic: Arc<Topic> = self.topic(name)?;
        let s = &self.shared;
        let _admin = lock(&s.admin);
        let mut config = read(&topic.config).clone();
        for op in ops {
            apply_op(&mut config, &s.config.default_topic, op)?;
        }
        if validate_only {
            return Ok(());
        }
        let meta = TopicMeta {
            config: config.clone(),
            ..topic.meta()
        };
        super::write_topic_meta(&*s.storage, &s.dir, &meta)?;
        let log_config = config.log_config();
        *write(&topic.config) = config;
        for p in read(&topic.partitions).iter() {
            p.log.set_config(log_config.clone());
        }
        Ok(())
    }

    /// The offset and timestamp of the first record of `topic`-`partition`
    /// whose timestamp is at least `timestamp`, `None` if there is none.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::UnknownPartition`], or a log error.
    pub fn offset_and_timestamp_for(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<Option<(i64, i64)>, BrokerError> {
        let p = self.partition(topic, partition)?;
        p.log
            .offset_and_timestamp_for(timestamp)
            .map_err(|e| BrokerError::from_log(topic, partition, e))
    }

    /// The offset and timestamp of the record with the largest timestamp in
    /// `topic`-`partition` (Kafka's ListOffsets `MAX_TIMESTAMP`), `None`
    /// when the partition holds no record.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`] or [`BrokerError::UnknownPartition`].
    pub fn max_timestamp(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Option<(i64, i64)>, BrokerError> {
        Ok(self.partition(topic, partition)?.log.max_timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::BrokerConfig;

    fn broker() -> Broker {
        Broker::open(BrokerConfig::in_memory()).unwrap()
    }

    fn entry(b: &Broker, topic: &str, name: &str) -> ConfigEntry {
        b.describe_topic_configs(topic)
            .unwrap()
            .into_iter()
            .find(|e| e.name == name)
            .unwrap()
    }

    #[test]
    fn every_config_is_described_with_its_default_and_source() {
        let b = broker();
        b.create_topic_with_configs(
            "t",
            Some(2),
            &[("retention.ms".into(), Some("1000".into()))],
        )
        .unwrap();
        let all = b.describe_topic_configs("t").unwrap();
        assert_eq!(all.len(), CONFIGS.len());
        let r = entry(&b, "t", "retention.ms");
        assert_eq!(
            (r.value.as_str(), r.default_value.as_str(), r.source),
            ("1000", "604800000", ConfigSource::Topic)
        );
        let c = entry(&b, "t", "cleanup.policy");
        assert_eq!(
            (c.value.as_str(), c.source),
            ("delete", ConfigSource::Default)
        );
        assert_eq!(entry(&b, "t", "flush.messages").value, i64::MAX.to_string());
        assert_eq!(b.describe_topic("t").unwrap().partitions.len(), 2);
    }

    #[test]
    fn validate_only_checks_without_creating_and_bad_configs_are_refused() {
        let b = broker();
        let c = b
            .validate_new_topic(
                "t",
                None,
                &[("cleanup.policy".into(), Some("compact".into()))],
            )
            .unwrap();
        assert_eq!(c.log.cleanup_policy, CleanupPolicy::Compact);
        assert!(b.list_topics(false).is_empty());
        for (name, value) in [
            ("retention.ms", "-2"),
            ("cleanup.policy", "forever"),
            ("no.such.config", "1"),
            ("compression.type", "gzip"),
            ("min.cleanable.dirty.ratio", "2"),
        ] {
            let err = b
                .create_topic_with_configs("t", None, &[(name.into(), Some(value.into()))])
                .unwrap_err();
            assert_eq!(err.kafka_code(), 40, "{name}={value}: {err}");
        }
        assert!(b.list_topics(false).is_empty());
    }

    #[test]
    fn altered_configs_apply_live_survive_a_restart_and_reset_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let b = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
        b.create_topic("t", TopicConfig::with_partitions(2))
            .unwrap();
        let id = b.topic_id("t").unwrap();
        b.alter_topic_configs(
            "t",
            &[
                ConfigOp::Set("retention.bytes".into(), "4096".into()),
                ConfigOp::Append("cleanup.policy".into(), "compact".into()),
                ConfigOp::Set("flush.messages".into(), "1".into()),
            ],
            false,
        )
        .unwrap();
        let t = b.topic("t").unwrap();
        for p in read(&t.partitions).iter() {
            assert_eq!(p.log.config().retention_bytes, Some(4096));
            assert_eq!(p.log.config().cleanup_policy, CleanupPolicy::CompactDelete);
        }
        assert_eq!(
            b.produce_durability("t", Durability::Written),
            Durability::Fsync
        );
        // All or none: one bad op leaves everything as it was.
        let err = b
            .alter_topic_configs(
                "t",
                &[
                    ConfigOp::Delete("retention.bytes".into()),
                    ConfigOp::Set("segment.ms".into(), "0".into()),
                ],
                false,
            )
            .unwrap_err();
        assert_eq!(err.kafka_code(), 40);
        assert_eq!(entry(&b, "t", "retention.bytes").value, "4096");
        drop(t);
        b.close().unwrap();
        let b = Broker::open(BrokerConfig::dir(dir.path())).unwrap();
        assert_eq!(b.topic_id("t").unwrap(), id);
        assert_eq!(b.topic_name_by_id(id).as_deref(), Some("t"));
        assert_eq!(entry(&b, "t", "cleanup.policy").value, "compact,delete");
        b.alter_topic_configs(
            "t",
            &[
                ConfigOp::Delete("retention.bytes".into()),
                ConfigOp::Subtract("cleanup.policy".into(), "compact".into()),
            ],
            false,
        )
        .unwrap();
        let r = entry(&b, "t", "retention.bytes");
        assert_eq!((r.value.as_str(), r.source), ("-1", ConfigSource::Default));
        assert_eq!(entry(&b, "t", "cleanup.policy").value, "delete");
        assert_eq!(entry(&b, "t", "flush.messages").value, "1");
    }
}
