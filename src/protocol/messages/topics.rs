//! Topic administration: `CreateTopics`, `DeleteTopics`, `ListTopics`,
//! `DescribeTopics` and `CreatePartitions`.
//!
//! Topic configuration travels as typed optional fields rather than Kafka's
//! string key/value pairs: a bad value is a decode error here instead of a
//! string the broker must parse, and an absent field means "broker default".
//! A new setting needs a new version of these messages.

use crate::protocol::ErrorCode;
use crate::protocol::wire::{optional_codec, wire_enum, wire_struct};

wire_enum! {
    /// What happens to old segments.
    pub enum CleanupPolicy {
        /// Delete segments past retention.
        #[default]
        Delete = 0,
        /// Keep the latest record per key.
        Compact = 1,
        /// Compact, and also delete past retention.
        CompactDelete = 2,
    }
}

optional_codec!(CleanupPolicy);

wire_struct! {
    /// A topic's settings; `None` means the broker's default.
    pub struct TopicConfig {
        /// `cleanup.policy`.
        pub cleanup_policy: Option<CleanupPolicy>,
        /// `retention.ms`; -1 keeps records forever.
        pub retention_ms: Option<i64>,
        /// `retention.bytes` per partition; -1 for no size limit.
        pub retention_bytes: Option<i64>,
        /// `segment.bytes`: roll a segment at this size.
        pub segment_bytes: Option<i64>,
        /// `segment.ms`: roll a segment at this age.
        pub segment_ms: Option<i64>,
        /// `max.message.bytes`: the largest batch accepted.
        pub max_message_bytes: Option<i32>,
        /// `min.compaction.lag.ms`: records younger than this are not compacted.
        pub min_compaction_lag_ms: Option<i64>,
        /// `delete.retention.ms`: how long tombstones survive compaction.
        pub delete_retention_ms: Option<i64>,
    }
}

wire_struct! {
    /// One topic to create.
    pub struct CreatableTopic {
        /// Topic name.
        pub name: String,
        /// Number of partitions (at least 1).
        pub partitions: i32,
        /// Settings; unset fields take the broker's defaults.
        pub config: TopicConfig,
    }
}

wire_struct! {
    /// Creates topics; each succeeds or fails on its own.
    pub struct CreateTopicsRequest {
        /// Topics to create.
        pub topics: Vec<CreatableTopic>,
    }
}

wire_struct! {
    /// The outcome for one topic of a topic-admin request.
    pub struct TopicResult {
        /// Topic name.
        pub name: String,
        /// `NONE` on success.
        pub error_code: ErrorCode,
        /// A human-readable reason, when there is one.
        pub error_message: Option<String>,
    }
}

wire_struct! {
    /// Per-topic outcomes of `CreateTopics`.
    pub struct CreateTopicsResponse {
        /// One result per requested topic.
        pub topics: Vec<TopicResult>,
    }
}

wire_struct! {
    /// Deletes topics and their data.
    pub struct DeleteTopicsRequest {
        /// Topic names.
        pub names: Vec<String>,
    }
}

wire_struct! {
    /// Per-topic outcomes of `DeleteTopics`.
    pub struct DeleteTopicsResponse {
        /// One result per requested topic.
        pub topics: Vec<TopicResult>,
    }
}

wire_struct! {
    /// Lists topics.
    pub struct ListTopicsRequest {
        /// Whether internal topics (`__consumer_offsets`) are listed.
        pub include_internal: bool,
    }
}

wire_struct! {
    /// One listed topic.
    pub struct ListedTopic {
        /// Topic name.
        pub name: String,
        /// Partition count.
        pub partitions: i32,
        /// Whether it is internal to the broker.
        pub internal: bool,
    }
}

wire_struct! {
    /// The topics that exist.
    pub struct ListTopicsResponse {
        /// `NONE`, or why the list could not be produced.
        pub error_code: ErrorCode,
        /// The topics.
        pub topics: Vec<ListedTopic>,
    }
}

wire_struct! {
    /// Describes topics: configuration and per-partition state.
    pub struct DescribeTopicsRequest {
        /// Topic names, or null for every topic.
        pub names: Option<Vec<String>>,
    }
}

wire_struct! {
    /// The state of one partition.
    pub struct PartitionDescription {
        /// Partition index.
        pub partition: i32,
        /// First offset still in the log.
        pub log_start_offset: i64,
        /// Offset the next record will get.
        pub high_watermark: i64,
        /// Bytes on disk across its segments.
        pub size_bytes: i64,
    }
}

wire_struct! {
    /// One described topic.
    pub struct DescribedTopic {
        /// Topic name.
        pub name: String,
        /// `NONE`, or `UNKNOWN_TOPIC_OR_PARTITION`.
        pub error_code: ErrorCode,
        /// Whether it is internal to the broker.
        pub internal: bool,
        /// The effective settings (every field set).
        pub config: TopicConfig,
        /// Its partitions in index order.
        pub partitions: Vec<PartitionDescription>,
    }
}

wire_struct! {
    /// Descriptions of the requested topics.
    pub struct DescribeTopicsResponse {
        /// One entry per requested (or existing) topic.
        pub topics: Vec<DescribedTopic>,
    }
}

wire_struct! {
    /// A new partition count for one topic.
    pub struct PartitionCount {
        /// Topic name.
        pub name: String,
        /// The new total partition count (above the current one).
        pub count: i32,
    }
}

wire_struct! {
    /// Adds partitions to existing topics.
    pub struct CreatePartitionsRequest {
        /// Topics and their new counts.
        pub topics: Vec<PartitionCount>,
    }
}

wire_struct! {
    /// Per-topic outcomes of `CreatePartitions`.
    pub struct CreatePartitionsResponse {
        /// One result per requested topic.
        pub topics: Vec<TopicResult>,
    }
}
