//! Offsets: `ListOffsets` (earliest, latest, by time), and the consumer
//! group offset apis `OffsetCommit`, `OffsetFetch` and `ResetOffsets`.
//!
//! Commits carry the member id and generation so the broker can refuse a
//! fenced member's commit (docs/design.md §6); an admin commit outside any
//! generation sends an empty member id and generation -1.

use bytes::{BufMut, Bytes};

use super::TopicPartitions;
use crate::protocol::wire::{Codec, Encoder, wire_struct};
use crate::protocol::{ErrorCode, MalformedReason, ProtocolError};

/// `ListOffsets` timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// `ListOffsets` timestamp asking for the high watermark.
pub const LATEST_TIMESTAMP: i64 = -1;

wire_struct! {
    /// One partition to look an offset up in.
    pub struct ListOffsetsPartition {
        /// Partition index.
        pub partition: i32,
        /// [`EARLIEST_TIMESTAMP`], [`LATEST_TIMESTAMP`], or a time in ms:
        /// the first offset whose timestamp is at or after it.
        pub timestamp: i64,
    }
}

wire_struct! {
    /// Partitions of one topic to look offsets up in.
    pub struct ListOffsetsTopic {
        /// Topic name.
        pub name: String,
        /// Partitions and timestamps.
        pub partitions: Vec<ListOffsetsPartition>,
    }
}

wire_struct! {
    /// Looks up offsets by position or time.
    pub struct ListOffsetsRequest {
        /// Visibility of transactional records (a placeholder).
        pub isolation_level: super::IsolationLevel,
        /// Per-topic lookups.
        pub topics: Vec<ListOffsetsTopic>,
    }
}

wire_struct! {
    /// The offset found in one partition.
    pub struct ListOffsetsPartitionResponse {
        /// Partition index.
        pub partition: i32,
        /// `NONE` on success.
        pub error_code: ErrorCode,
        /// Timestamp of the record found, or -1 (earliest, latest, none found).
        pub timestamp: i64,
        /// The offset, or -1 when no record is that recent.
        pub offset: i64,
    }
}

wire_struct! {
    /// Offsets found in one topic.
    pub struct ListOffsetsTopicResponse {
        /// Topic name.
        pub name: String,
        /// Per-partition results.
        pub partitions: Vec<ListOffsetsPartitionResponse>,
    }
}

wire_struct! {
    /// Offsets per partition.
    pub struct ListOffsetsResponse {
        /// Per-topic results.
        pub topics: Vec<ListOffsetsTopicResponse>,
    }
}

wire_struct! {
    /// An offset to commit for one partition.
    pub struct OffsetCommitPartition {
        /// Partition index.
        pub partition: i32,
        /// The next offset to consume.
        pub offset: i64,
        /// Opaque client metadata stored with the offset.
        pub metadata: Option<String>,
    }
}

wire_struct! {
    /// Offsets to commit in one topic.
    pub struct OffsetCommitTopic {
        /// Topic name.
        pub name: String,
        /// Per-partition offsets.
        pub partitions: Vec<OffsetCommitPartition>,
    }
}

wire_struct! {
    /// Commits a group's consumed offsets.
    pub struct OffsetCommitRequest {
        /// Group id.
        pub group_id: String,
        /// Committing member, or empty for an admin commit.
        pub member_id: String,
        /// The member's generation, or -1 for an admin commit.
        pub generation_id: i32,
        /// Per-topic offsets.
        pub topics: Vec<OffsetCommitTopic>,
    }
}

wire_struct! {
    /// The outcome for one partition.
    pub struct PartitionResult {
        /// Partition index.
        pub partition: i32,
        /// `NONE` on success.
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// Outcomes for one topic.
    pub struct OffsetCommitTopicResponse {
        /// Topic name.
        pub name: String,
        /// Per-partition outcomes.
        pub partitions: Vec<PartitionResult>,
    }
}

wire_struct! {
    /// Per-partition outcomes of a commit.
    pub struct OffsetCommitResponse {
        /// `NONE`, or an error for the whole commit (e.g. `ILLEGAL_GENERATION`).
        pub error_code: ErrorCode,
        /// Per-topic outcomes.
        pub topics: Vec<OffsetCommitTopicResponse>,
    }
}

wire_struct! {
    /// Reads a group's committed offsets.
    pub struct OffsetFetchRequest {
        /// Group id.
        pub group_id: String,
        /// Partitions to read, or null for every partition with a commit.
        pub topics: Option<Vec<TopicPartitions>>,
    }
}

wire_struct! {
    /// One partition's committed offset.
    pub struct OffsetFetchPartition {
        /// Partition index.
        pub partition: i32,
        /// Committed offset, or -1 when none.
        pub offset: i64,
        /// Metadata committed with it.
        pub metadata: Option<String>,
        /// `NONE` on success.
        pub error_code: ErrorCode,
    }
}

wire_struct! {
    /// Committed offsets in one topic.
    pub struct OffsetFetchTopic {
        /// Topic name.
        pub name: String,
        /// Per-partition offsets.
        pub partitions: Vec<OffsetFetchPartition>,
    }
}

wire_struct! {
    /// A group's committed offsets.
    pub struct OffsetFetchResponse {
        /// `NONE`, or an error for the whole group.
        pub error_code: ErrorCode,
        /// Per-topic offsets.
        pub topics: Vec<OffsetFetchTopic>,
    }
}

/// Where `ResetOffsets` moves a group's committed offsets.
///
/// ```text
/// i8 kind   0 earliest | 1 latest | 2 timestamp | 3 offset
/// i64 value only for kinds 2 (ms) and 3 (offset)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetTarget {
    /// The log start offset.
    #[default]
    Earliest,
    /// The high watermark.
    Latest,
    /// The first offset with a timestamp at or after this time (ms).
    Timestamp(i64),
    /// This offset, clamped by the broker to the log's range.
    Offset(i64),
}

impl Codec for ResetTarget {
    const MIN_LEN: usize = 1;

    fn encode(&self, version: i16, out: &mut Encoder) {
        match *self {
            ResetTarget::Earliest => out.put_i8(0),
            ResetTarget::Latest => out.put_i8(1),
            ResetTarget::Timestamp(ms) => {
                out.put_i8(2);
                ms.encode(version, out);
            }
            ResetTarget::Offset(offset) => {
                out.put_i8(3);
                offset.encode(version, out);
            }
        }
    }

    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
        match i8::decode(buf, version)? {
            0 => Ok(ResetTarget::Earliest),
            1 => Ok(ResetTarget::Latest),
            2 => Ok(ResetTarget::Timestamp(i64::decode(buf, version)?)),
            3 => Ok(ResetTarget::Offset(i64::decode(buf, version)?)),
            value => Err(ProtocolError::malformed(MalformedReason::UnknownValue {
                value: value.into(),
            })),
        }
    }
}

#[cfg(test)]
impl crate::protocol::arb::Arb for ResetTarget {
    fn arb() -> proptest::strategy::BoxedStrategy<Self> {
        use proptest::prelude::*;
        prop_oneof![
            Just(ResetTarget::Earliest),
            Just(ResetTarget::Latest),
            any::<i64>().prop_map(ResetTarget::Timestamp),
            any::<i64>().prop_map(ResetTarget::Offset),
        ]
        .boxed()
    }
}

wire_struct! {
    /// Moves a group's committed offsets for one topic (the group must be empty).
    pub struct ResetOffsetsRequest {
        /// Group id.
        pub group_id: String,
        /// Topic name.
        pub topic: String,
        /// Partitions to reset, or null for all of the topic's partitions.
        pub partitions: Option<Vec<i32>>,
        /// Where to move them.
        pub target: ResetTarget,
    }
}

wire_struct! {
    /// The new committed offset of one partition.
    pub struct ResetOffsetsPartition {
        /// Partition index.
        pub partition: i32,
        /// `NONE` on success.
        pub error_code: ErrorCode,
        /// The offset now committed, or -1 on error.
        pub offset: i64,
    }
}

wire_struct! {
    /// The offsets a reset committed.
    pub struct ResetOffsetsResponse {
        /// `NONE`, or e.g. `NON_EMPTY_GROUP` / `UNKNOWN_TOPIC_OR_PARTITION`.
        pub error_code: ErrorCode,
        /// Per-partition results.
        pub partitions: Vec<ResetOffsetsPartition>,
    }
}
