//! `Fetch`: long-poll reads of record batches.
//!
//! Batches come back as the raw bytes the log stores (slices of segments on
//! the server, slices of the frame on the client); this codec never parses
//! them. A partition's records may end in a partial batch when the size
//! limits cut it, as in Kafka: the client drops the incomplete tail.

use bytes::Bytes;

use crate::protocol::ErrorCode;
use crate::protocol::wire::{Since, wire_enum, wire_struct};

wire_enum! {
    /// Which records a fetch may see (a placeholder until transactions exist).
    pub enum IsolationLevel {
        /// Everything up to the high watermark.
        #[default]
        ReadUncommitted = 0,
        /// Only committed transactional records.
        ReadCommitted = 1,
    }
}

wire_struct! {
    /// Where to read one partition from.
    pub struct FetchPartition {
        /// Partition index.
        pub partition: i32,
        /// Offset of the first record wanted.
        pub fetch_offset: i64,
        /// Most bytes to return for this partition.
        pub partition_max_bytes: i32,
    }
}

wire_struct! {
    /// Partitions to read from one topic.
    pub struct FetchTopic {
        /// Topic name.
        pub name: String,
        /// Partitions and offsets.
        pub partitions: Vec<FetchPartition>,
    }
}

wire_struct! {
    /// The native group member a fetch reads for (Fetch v1+).
    pub struct FetchMember {
        /// Member id; empty when the fetch is not a group member's.
        pub member_id: String,
        /// The member epoch whose assignment the fetch reads.
        pub member_epoch: i32,
    }
}

wire_struct! {
    /// Reads batches, waiting up to `max_wait_ms` for `min_bytes` to accumulate.
    ///
    /// From v1, a group member names itself and its epoch: the fetch is
    /// refused (`STALE_MEMBER_EPOCH`, `UNKNOWN_MEMBER_ID`,
    /// `FENCED_MEMBER_EPOCH` for a partition not assigned) unless the epoch
    /// is the member's current one, and a waiting fetch ends at once with
    /// `REBALANCE_IN_PROGRESS` when the member's assignment changes.
    pub struct FetchRequest {
        /// Longest time to wait for `min_bytes`.
        pub max_wait_ms: i32,
        /// Fewest bytes worth answering with before `max_wait_ms` passes.
        pub min_bytes: i32,
        /// Most bytes in the whole response.
        pub max_bytes: i32,
        /// Visibility of transactional records.
        pub isolation_level: IsolationLevel,
        /// The consumer group fetching, if any.
        pub group_id: Option<String>,
        /// Per-topic partitions.
        pub topics: Vec<FetchTopic>,
        /// The group member fetching (v1+; ignored without `group_id`).
        pub member: Since<1, FetchMember>,
    }
}

wire_struct! {
    /// What one partition returned.
    pub struct FetchPartitionResponse {
        /// Partition index.
        pub partition: i32,
        /// `NONE`, or e.g. `OFFSET_OUT_OF_RANGE`.
        pub error_code: ErrorCode,
        /// Offset the next record will get.
        pub high_watermark: i64,
        /// First offset still in the log.
        pub log_start_offset: i64,
        /// Raw RecordBatch v2 bytes, possibly ending in a partial batch.
        pub records: Bytes,
    }
}

wire_struct! {
    /// What one topic returned.
    pub struct FetchTopicResponse {
        /// Topic name.
        pub name: String,
        /// Per-partition results.
        pub partitions: Vec<FetchPartitionResponse>,
    }
}

wire_struct! {
    /// Batches per partition.
    pub struct FetchResponse {
        /// `NONE`, or an error for the whole fetch (for a member:
        /// `REBALANCE_IN_PROGRESS`, `STALE_MEMBER_EPOCH`, `UNKNOWN_MEMBER_ID`,
        /// `FENCED_MEMBER_EPOCH`; no partitions are returned then).
        pub error_code: ErrorCode,
        /// Per-topic results.
        pub topics: Vec<FetchTopicResponse>,
    }
}
