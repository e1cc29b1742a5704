//! Topic administration requests mapped onto the broker: create, delete,
//! list, describe and grow topics, and the translation between the wire's
//! typed `TopicConfig` (absent field: broker default) and the broker's
//! topic settings. Knows the broker's public API and the protocol's messages.

use super::dispatch::{FirstError, partition_index};
use crate::broker::{self, Broker, BrokerError, OFFSETS_TOPIC};
use crate::log;
use crate::protocol::{
    CleanupPolicy, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, DescribeTopicsRequest,
    DescribeTopicsResponse, DescribedTopic, ErrorCode, ListTopicsRequest, ListTopicsResponse,
    ListedTopic, PartitionDescription, TopicConfig, TopicResult,
};

/// The smallest `segment.bytes` (Kafka's: a batch header), as the broker's
/// Kafka-named configs check it.
const MIN_SEGMENT_BYTES: i64 = 14;

fn result(name: String, r: Result<(), BrokerError>, first: &mut FirstError) -> TopicResult {
    TopicResult {
        name,
        error_code: first.result(&r),
        error_message: r.err().map(|e| e.to_string()),
    }
}

/// A setting out of range: the `INVALID_CONFIG` answer for it.
fn invalid(setting: &'static str, value: i64) -> BrokerError {
    BrokerError::InvalidConfig { setting, value }
}

fn non_negative(setting: &'static str, v: i64) -> Result<i64, BrokerError> {
    if v >= 0 {
        Ok(v)
    } else {
        Err(invalid(setting, v))
    }
}

/// -1 means "no limit"; other negatives are invalid.
fn limit(setting: &'static str, v: i64) -> Result<Option<i64>, BrokerError> {
    if v == -1 {
        Ok(None)
    } else {
        non_negative(setting, v).map(Some)
    }
}

fn positive(setting: &'static str, v: i64) -> Result<i64, BrokerError> {
    if v > 0 {
        Ok(v)
    } else {
        Err(invalid(setting, v))
    }
}

/// The broker's settings for a new topic: the wire's fields over the defaults.
fn topic_config(
    partitions: i32,
    c: &TopicConfig,
    max_partitions: u32,
) -> Result<broker::TopicConfig, BrokerError> {
    let count = u32::try_from(partitions).ok().filter(|&n| n > 0).ok_or(
        BrokerError::InvalidPartitions {
            requested: partitions.max(0).unsigned_abs(),
            current: 0,
            max: max_partitions,
        },
    )?;
    let mut config = broker::TopicConfig::with_partitions(count);
    let l = &mut config.log;
    if let Some(p) = c.cleanup_policy {
        l.cleanup_policy = match p {
            CleanupPolicy::Delete => log::CleanupPolicy::Delete,
            CleanupPolicy::Compact => log::CleanupPolicy::Compact,
            CleanupPolicy::CompactDelete => log::CleanupPolicy::CompactDelete,
        };
    }
    if let Some(v) = c.retention_ms {
        l.retention_ms = limit("retention.ms", v)?;
    }
    if let Some(v) = c.retention_bytes {
        l.retention_bytes = limit("retention.bytes", v)?.map(|b| b.unsigned_abs());
    }
    if let Some(v) = c.segment_bytes {
        // Kafka's range for segment.bytes (an int, at least a batch header).
        if !(MIN_SEGMENT_BYTES..=i64::from(i32::MAX)).contains(&v) {
            return Err(invalid("segment.bytes", v));
        }
        l.segment_bytes = v.unsigned_abs();
    }
    if let Some(v) = c.segment_ms {
        l.segment_ms = positive("segment.ms", v)?;
    }
    if let Some(v) = c.max_message_bytes {
        let v = positive("max.message.bytes", v.into())?;
        l.max_batch_bytes = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = c.min_compaction_lag_ms {
        l.min_compaction_lag_ms = non_negative("min.compaction.lag.ms", v)?;
    }
    if let Some(v) = c.delete_retention_ms {
        l.delete_retention_ms = non_negative("delete.retention.ms", v)?;
    }
    Ok(config)
}

/// The wire's view of a topic's effective settings (every field set).
fn wire_config(c: &broker::TopicConfig) -> TopicConfig {
    let l = &c.log;
    let wide = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    TopicConfig {
        cleanup_policy: Some(match l.cleanup_policy {
            log::CleanupPolicy::Delete => CleanupPolicy::Delete,
            log::CleanupPolicy::Compact => CleanupPolicy::Compact,
            log::CleanupPolicy::CompactDelete => CleanupPolicy::CompactDelete,
        }),
        retention_ms: Some(l.retention_ms.unwrap_or(-1)),
        retention_bytes: Some(l.retention_bytes.map_or(-1, wide)),
        segment_bytes: Some(wide(l.segment_bytes)),
        segment_ms: Some(l.segment_ms),
        max_message_bytes: Some(i32::try_from(l.max_batch_bytes).unwrap_or(i32::MAX)),
        min_compaction_lag_ms: Some(l.min_compaction_lag_ms),
        delete_retention_ms: Some(l.delete_retention_ms),
    }
}

pub(super) fn create(
    b: &Broker,
    req: CreateTopicsRequest,
    first: &mut FirstError,
) -> CreateTopicsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let r = topic_config(t.partitions, &t.config, b.config().max_partitions)
                .and_then(|c| b.create_topic(&t.name, c));
            result(t.name, r, first)
        })
        .collect();
    CreateTopicsResponse { topics }
}

pub(super) fn delete(
    b: &Broker,
    req: DeleteTopicsRequest,
    first: &mut FirstError,
) -> DeleteTopicsResponse {
    let topics = req
        .names
        .into_iter()
        .map(|name| {
            let r = b.delete_topic(&name);
            result(name, r, first)
        })
        .collect();
    DeleteTopicsResponse { topics }
}

pub(super) fn create_partitions(
    b: &Broker,
    req: CreatePartitionsRequest,
    first: &mut FirstError,
) -> CreatePartitionsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let r = match partition_index(t.count) {
                Some(count) => b.add_partitions(&t.name, count),
                None => Err(BrokerError::InvalidPartitions {
                    requested: 0,
                    current: b.partition_count(&t.name).unwrap_or(0),
                    max: b.config().max_partitions,
                }),
            };
            result(t.name, r, first)
        })
        .collect();
    CreatePartitionsResponse { topics }
}

pub(super) fn list(b: &Broker, req: ListTopicsRequest, _: &mut FirstError) -> ListTopicsResponse {
    let topics = b
        .list_topics(req.include_internal)
        .into_iter()
        .filter_map(|name| {
            // A topic deleted since the listing is simply left out.
            let partitions = b.partition_count(&name).ok()?;
            Some(ListedTopic {
                internal: name == OFFSETS_TOPIC,
                partitions: i32::try_from(partitions).unwrap_or(i32::MAX),
                name,
            })
        })
        .collect();
    ListTopicsResponse {
        error_code: ErrorCode::None,
        topics,
    }
}

pub(super) fn describe(
    b: &Broker,
    req: DescribeTopicsRequest,
    first: &mut FirstError,
) -> DescribeTopicsResponse {
    // Null: every topic, internal ones included (Kafka's Metadata rule; docs/protocol.md).
    let names = req.names.unwrap_or_else(|| b.list_topics(true));
    let topics = names
        .into_iter()
        .map(|name| match b.describe_topic(&name) {
            Ok(d) => DescribedTopic {
                name,
                error_code: ErrorCode::None,
                internal: d.internal,
                config: wire_config(&d.config),
                partitions: d
                    .partitions
                    .iter()
                    .map(|p| PartitionDescription {
                        partition: i32::try_from(p.partition).unwrap_or(i32::MAX),
                        log_start_offset: p.log_start_offset,
                        high_watermark: p.high_watermark,
                        size_bytes: i64::try_from(p.size_bytes).unwrap_or(i64::MAX),
                    })
                    .collect(),
            },
            Err(e) => DescribedTopic {
                name,
                error_code: first.broker(&e),
                internal: false,
                config: TopicConfig::default(),
                partitions: Vec::new(),
            },
        })
        .collect();
    DescribeTopicsResponse { topics }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_settings_take_the_broker_defaults() {
        let c = topic_config(3, &TopicConfig::default(), 10).unwrap();
        assert_eq!(c, broker::TopicConfig::with_partitions(3));
    }

    #[test]
    fn minus_one_means_no_limit_and_other_negatives_are_invalid() {
        let wire = TopicConfig {
            retention_ms: Some(-1),
            retention_bytes: Some(-1),
            ..TopicConfig::default()
        };
        let c = topic_config(1, &wire, 10).unwrap();
        assert_eq!((c.log.retention_ms, c.log.retention_bytes), (None, None));
        let bad = TopicConfig {
            retention_ms: Some(-5),
            ..TopicConfig::default()
        };
        assert!(matches!(
            topic_config(1, &bad, 10),
            Err(BrokerError::InvalidConfig {
                setting: "retention.ms",
                value: -5
            })
        ));
        assert!(matches!(
            topic_config(0, &TopicConfig::default(), 10),
            Err(BrokerError::InvalidPartitions { .. })
        ));
    }

    #[test]
    fn segment_bytes_outside_kafkas_range_is_invalid() {
        for v in [1, 13, i64::from(i32::MAX) + 1] {
            let c = TopicConfig {
                segment_bytes: Some(v),
                ..TopicConfig::default()
            };
            assert!(
                matches!(
                    topic_config(1, &c, 10),
                    Err(BrokerError::InvalidConfig {
                        setting: "segment.bytes",
                        ..
                    })
                ),
                "{v}"
            );
        }
        let c = TopicConfig {
            segment_bytes: Some(14),
            ..TopicConfig::default()
        };
        assert!(topic_config(1, &c, 10).is_ok());
    }

    #[test]
    fn a_described_config_reads_back_as_the_same_settings() {
        let mut c = broker::TopicConfig::compacted(2);
        c.log.retention_bytes = Some(1 << 20);
        let wire = wire_config(&c);
        assert_eq!(topic_config(2, &wire, 10).unwrap(), c);
    }
}
