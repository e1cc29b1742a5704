//! `Produce` and `InitProducerId`.
//!
//! Record batches travel as their raw Kafka RecordBatch v2 bytes: decoding a
//! request slices them out of the frame without copying, and this codec never
//! looks inside them (the broker validates each batch once, on append). The
//! producer id, epoch and base sequence ride in the batch header, as in Kafka.

use bytes::Bytes;

use crate::protocol::ErrorCode;
use crate::protocol::wire::{wire_enum, wire_struct};

wire_enum! {
    /// How far a produce waits before it is acknowledged (docs/design.md §4).
    pub enum Durability {
        /// Acknowledged once the batch is accepted, without waiting for the write.
        None = 0,
        /// Acknowledged once in the OS page cache: survives a process crash.
        #[default]
        Written = 1,
        /// Acknowledged once fsynced: survives power loss.
        Fsync = 2,
    }
}

wire_struct! {
    /// Batches for one partition.
    pub struct ProducePartition {
        /// Partition index.
        pub partition: i32,
        /// One or more concatenated RecordBatch v2 batches, as produced.
        pub records: Bytes,
    }
}

wire_struct! {
    /// Batches for one topic.
    pub struct ProduceTopic {
        /// Topic name.
        pub name: String,
        /// Per-partition batches.
        pub partitions: Vec<ProducePartition>,
    }
}

wire_struct! {
    /// Appends record batches to partitions.
    pub struct ProduceRequest {
        /// When to acknowledge.
        pub durability: Durability,
        /// How long the server may wait for the durability asked for.
        pub timeout_ms: i32,
        /// Per-topic batches.
        pub topics: Vec<ProduceTopic>,
    }
}

wire_struct! {
    /// The outcome for one partition of a produce.
    pub struct ProducePartitionResponse {
        /// Partition index.
        pub partition: i32,
        /// `NONE` on success.
        pub error_code: ErrorCode,
        /// Offset given to the first record, or -1 on error.
        pub base_offset: i64,
        /// Log-append time given to the batch, or -1 when the topic uses create time.
        pub log_append_time_ms: i64,
        /// The partition's log start offset after the append.
        pub log_start_offset: i64,
        /// A human-readable reason, when there is one.
        pub error_message: Option<String>,
    }
}

wire_struct! {
    /// Per-partition outcomes for one topic.
    pub struct ProduceTopicResponse {
        /// Topic name.
        pub name: String,
        /// Per-partition outcomes.
        pub partitions: Vec<ProducePartitionResponse>,
    }
}

wire_struct! {
    /// Per-partition outcomes of a produce.
    pub struct ProduceResponse {
        /// Per-topic outcomes.
        pub topics: Vec<ProduceTopicResponse>,
    }
}

wire_struct! {
    /// Obtains a producer id and epoch for idempotent (and, later, transactional) produce.
    pub struct InitProducerIdRequest {
        /// Transactional id; a placeholder for transactions, null for idempotence only.
        pub transactional_id: Option<String>,
        /// Transaction timeout; ignored without a transactional id.
        pub transaction_timeout_ms: i32,
        /// The producer's current id to bump its epoch, or -1 for a new one.
        pub producer_id: i64,
        /// The producer's current epoch, or -1.
        pub producer_epoch: i16,
    }
}

wire_struct! {
    /// The producer id and epoch to stamp into batch headers.
    pub struct InitProducerIdResponse {
        /// `NONE` on success.
        pub error_code: ErrorCode,
        /// Producer id.
        pub producer_id: i64,
        /// Producer epoch.
        pub producer_epoch: i16,
    }
}
