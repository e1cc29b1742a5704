//! The broker layer's one error type, with the Kafka error code each
//! variant maps to and whether a client should retry. It knows nothing of
//! the faces (in-process, native TCP, Kafka wire) that will report it.

use crate::log::LogError;
use crate::record::RecordError;
use std::io;
use std::path::PathBuf;

/// Why a topic name was refused (Kafka's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicNameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than 249 characters.
    TooLong,
    /// `.` and `..` are reserved.
    Reserved,
    /// A character outside `[a-zA-Z0-9._-]`.
    InvalidChar(char),
}

impl std::fmt::Display for TopicNameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicNameProblem::Empty => f.write_str("it is empty"),
            TopicNameProblem::TooLong => f.write_str("it is longer than 249 characters"),
            TopicNameProblem::Reserved => f.write_str("`.` and `..` are reserved"),
            TopicNameProblem::InvalidChar(c) => {
                write!(f, "{c:?} is not one of [a-zA-Z0-9._-]")
            }
        }
    }
}

/// Why a broker operation failed.
///
/// Each variant maps to a Kafka error code ([`BrokerError::kafka_code`]);
/// [`BrokerError::is_retriable`] says whether the same request may succeed
/// later without the caller changing anything but waiting or rejoining.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The topic name breaks Kafka's naming rules. Kafka: `INVALID_TOPIC_EXCEPTION` (17).
    #[error("invalid topic name {name:?}: {problem}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: TopicNameProblem,
    },
    /// The topic exists already. Kafka: `TOPIC_ALREADY_EXISTS` (36).
    #[error("topic {topic} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// No such topic (and auto-creation is off). Kafka: `UNKNOWN_TOPIC_OR_PARTITION` (3), retriable.
    #[error("unknown topic {topic}")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// No such partition. Kafka: `UNKNOWN_TOPIC_OR_PARTITION` (3), retriable.
    #[error("topic {topic} has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A partition count that is zero, too large, or would shrink a topic. Kafka: `INVALID_PARTITIONS` (37).
    #[error("{}", partitions_problem(*requested, *current, *max))]
    InvalidPartitions {
        /// The count asked for.
        requested: u32,
        /// The topic's current count (0 when creating).
        current: u32,
        /// The largest count allowed.
        max: u32,
    },
    /// A topic or group setting is out of range. Kafka: `INVALID_CONFIG` (40).
    #[error("invalid setting {setting}: {value}")]
    InvalidConfig {
        /// Which setting.
        setting: &'static str,
        /// The value given.
        value: i64,
    },
    /// A topic config (Kafka's name) that is unknown, read-only, or has a
    /// value it cannot take. Kafka: `INVALID_CONFIG` (40).
    #[error("topic config {name}={value:?} refused: {problem}")]
    TopicConfigRefused {
        /// The config's name as given.
        name: String,
        /// The value given (`None` for a reset).
        value: Option<String>,
        /// Why.
        problem: &'static str,
    },
    /// Internal topics cannot be written, deleted or re-partitioned by clients. Kafka: `INVALID_REQUEST` (42).
    #[error("topic {topic} is internal to the broker")]
    InternalTopic {
        /// The topic.
        topic: String,
    },
    /// An offset outside the partition's range. Kafka: `OFFSET_OUT_OF_RANGE` (1).
    #[error(
        "offset {offset} is out of range [{log_start_offset}, {log_end_offset}] in {topic}-{partition}"
    )]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: i64,
        /// The first offset readable.
        log_start_offset: i64,
        /// The offset the next record will get.
        log_end_offset: i64,
    },
    /// A produced batch or record is invalid. Kafka: `MESSAGE_TOO_LARGE` (10),
    /// `CORRUPT_MESSAGE` (2), `UNSUPPORTED_COMPRESSION_TYPE` (76) or `INVALID_RECORD` (87)
    /// by what is wrong (see `kafka_code`).
    #[error("invalid record batch for {topic}-{partition}")]
    InvalidRecord {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What the record layer found.
        #[source]
        source: RecordError,
    },
    /// A produce carried no batch or no record.
    #[error("produce to {topic} carried no records")]
    EmptyProduce {
        /// The topic.
        topic: String,
    },
    /// A partition's log failed; it refuses writes until the broker reopens it.
    /// Kafka: `KAFKA_STORAGE_ERROR` (56), retriable (after a restart).
    #[error("log of {topic}-{partition} failed")]
    Log {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The log's error.
        #[source]
        source: LogError,
    },
    /// Stored data of the partition failed its check on a read (CRC,
    /// header, offsets, or records missing between segments): nothing of
    /// the range is served until an operator skips it (`logbus verify
    /// --skip-damaged`). Kafka: `CORRUPT_MESSAGE` (2), not retried.
    #[error(
        "{topic}-{partition} is damaged at offsets {first_offset}..{end_offset}; see `logbus verify`"
    )]
    Damaged {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The first offset that cannot be read.
        first_offset: i64,
        /// One past the last offset that cannot be read.
        end_offset: i64,
        /// The log's error: where and what the damage is.
        #[source]
        source: LogError,
    },
    /// An idempotent producer's batch does not follow its last one. Kafka: `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
    #[error(
        "producer {producer_id}: sequence {received} on {topic}-{partition}, expected {expected}"
    )]
    OutOfOrderSequence {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The producer.
        producer_id: i64,
        /// The sequence the broker expected.
        expected: i32,
        /// The batch's base sequence.
        received: i32,
    },
    /// A newer epoch of this producer id has written: this one is a zombie. Kafka: `INVALID_PRODUCER_EPOCH` (47).
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current_epoch}")]
    ProducerFenced {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The newest epoch the partition has seen.
        current_epoch: i16,
    },
    /// A producer id the broker never handed out. Kafka: `UNKNOWN_PRODUCER_ID` (59).
    #[error("producer id {producer_id} was never issued by this broker")]
    UnknownProducerId {
        /// The producer.
        producer_id: i64,
    },
    /// An empty or over-long group id. Kafka: `INVALID_GROUP_ID` (24).
    #[error("invalid group id {group:?}")]
    InvalidGroupId {
        /// The group id given.
        group: String,
    },
    /// No such group. Kafka: `GROUP_ID_NOT_FOUND` (69).
    #[error("unknown group {group}")]
    UnknownGroup {
        /// The group.
        group: String,
    },
    /// The member is not (or no longer) in the group: it was fenced, left or
    /// timed out. Kafka: `UNKNOWN_MEMBER_ID` (25); rejoin to go on.
    #[error("member {member_id} is not in group {group}")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member.
        member_id: String,
    },
    /// The request carries an old generation: a rebalance happened since.
    /// Kafka: `ILLEGAL_GENERATION` (22); heartbeat to learn the new assignment.
    #[error("generation {generation} of group {group} is stale (now {current})")]
    IllegalGeneration {
        /// The group.
        group: String,
        /// The generation given.
        generation: i32,
        /// The group's generation.
        current: i32,
    },
    /// A commit for a partition not assigned to the committing member.
    /// Kafka: `FENCED_MEMBER_EPOCH`-like (110); heartbeat to learn the assignment.
    #[error("member {member_id} of group {group} does not own {topic}-{partition}")]
    NotAssigned {
        /// The group.
        group: String,
        /// The member.
        member_id: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A native member's fetch or commit carries an epoch that is not its
    /// current one: its assignment changed since. Kafka:
    /// `STALE_MEMBER_EPOCH` (113); heartbeat to learn the new epoch.
    #[error("member {member_id} of group {group} runs epoch {epoch}, current is {current}")]
    StaleMemberEpoch {
        /// The group.
        group: String,
        /// The member.
        member_id: String,
        /// The epoch given.
        epoch: i32,
        /// The member's current epoch.
        current: i32,
    },
    /// The member's assignment is changing: heartbeat (native) or rejoin
    /// (classic) to learn it. Kafka: `REBALANCE_IN_PROGRESS` (27).
    #[error("group {group} is rebalancing")]
    RebalanceInProgress {
        /// The group.
        group: String,
    },
    /// A subscription pattern that is not a valid regular expression, or
    /// too long. Kafka: `INVALID_REGULAR_EXPRESSION` (128).
    #[error("invalid subscription pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern (its first 256 characters).
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
    /// A join or commit whose group type or protocols do not match the
    /// group's: a native join to a classic group with members, or a classic
    /// join whose protocol type or protocols share nothing with the group's.
    /// Kafka: `INCONSISTENT_GROUP_PROTOCOL` (23).
    #[error("group {group} uses another protocol: {reason}")]
    InconsistentGroupProtocol {
        /// The group.
        group: String,
        /// What differs.
        reason: &'static str,
    },
    /// A classic join without a member id (JoinGroup v4+): the member must
    /// join again with the id given. Kafka: `MEMBER_ID_REQUIRED` (79).
    #[error("group {group} gave member id {member_id}: join again with it")]
    MemberIdRequired {
        /// The group.
        group: String,
        /// The id to join with.
        member_id: String,
    },
    /// A static member whose `group.instance.id` another member now uses.
    /// Kafka: `FENCED_INSTANCE_ID` (82).
    #[error("instance {instance_id} of group {group} was taken over by another member")]
    FencedInstanceId {
        /// The group.
        group: String,
        /// The instance id.
        instance_id: String,
    },
    /// The operation needs a group without members. Kafka: `NON_EMPTY_GROUP` (68).
    #[error("group {group} has {members} active members")]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// Members present.
        members: usize,
    },
    /// A session timeout outside the broker's bounds. Kafka: `INVALID_SESSION_TIMEOUT` (26).
    #[error("session timeout {requested_ms} ms is outside [{min_ms}, {max_ms}]")]
    InvalidSessionTimeout {
        /// The timeout asked for.
        requested_ms: i64,
        /// The smallest allowed.
        min_ms: i64,
        /// The largest allowed.
        max_ms: i64,
    },
    /// A wait ended at its deadline. Kafka: `REQUEST_TIMED_OUT` (7), retriable.
    #[error("timed out after {waited_ms} ms waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long.
        waited_ms: u64,
    },
    /// Another broker holds the data directory.
    #[error("data directory {dir} is already used by another broker")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The log layer's error.
        #[source]
        source: LogError,
    },
    /// A broker metadata file (topic, producer ids) failed its check.
    #[error("broker metadata {path} is corrupt: {problem}")]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// Writing broker metadata failed. Kafka: `KAFKA_STORAGE_ERROR` (56).
    #[error("could not write broker metadata {path}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The log layer's error.
        #[source]
        source: LogError,
    },
    /// The storage backend failed outside a partition's log. Kafka: `KAFKA_STORAGE_ERROR` (56).
    #[error("I/O error on {path} while trying to {action}")]
    Io {
        /// What the broker was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The backend's error.
        #[source]
        source: io::Error,
    },
    /// A record without a key was produced to a compacted topic. Kafka: `INVALID_RECORD` (87).
    #[error("record {record} produced to compacted topic {topic}-{partition} has no key")]
    KeyRequired {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Index of the keyless record within its batch.
        record: usize,
    },
    /// The background log cleaner could not be started. Kafka: `UNKNOWN_SERVER_ERROR` (-1).
    #[error("could not start the log cleaner")]
    Cleaner {
        /// The log layer's error.
        #[source]
        source: LogError,
    },
    /// The broker was closed. Kafka: `BROKER_NOT_AVAILABLE` (8).
    #[error("the broker is closed")]
    Closed,
    /// A blocking task the broker spawned panicked or was cancelled. Kafka: `UNKNOWN_SERVER_ERROR` (-1).
    #[error("a broker task failed")]
    TaskFailed {
        /// The runtime's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl BrokerError {
    /// The Kafka error code a network face reports for this error.
    pub fn kafka_code(&self) -> i16 {
        use BrokerError::*;
        match self {
            OffsetOutOfRange { .. } => 1,
            Damaged { .. } => 2,
            InvalidRecord { source, .. } => invalid_batch_code(source),
            EmptyProduce { .. } | KeyRequired { .. } => 87,
            UnknownTopic { .. } | UnknownPartition { .. } => 3,
            Timeout { .. } => 7,
            Closed => 8,
            InvalidTopicName { .. } => 17,
            IllegalGeneration { .. } => 22,
            InconsistentGroupProtocol { .. } => 23,
            RebalanceInProgress { .. } => 27,
            MemberIdRequired { .. } => 79,
            FencedInstanceId { .. } => 82,
            StaleMemberEpoch { .. } => 113,
            InvalidPattern { .. } => 128,
            InvalidGroupId { .. } => 24,
            UnknownMember { .. } => 25,
            InvalidSessionTimeout { .. } => 26,
            TopicExists { .. } => 36,
            InvalidPartitions { .. } => 37,
            InvalidConfig { .. } | TopicConfigRefused { .. } => 40,
            InternalTopic { .. } => 42,
            OutOfOrderSequence { .. } => 45,
            ProducerFenced { .. } => 47,
            Log { .. } | Metadata { .. } | Io { .. } | CorruptMetadata { .. } | Locked { .. } => 56,
            UnknownProducerId { .. } => 59,
            GroupNotEmpty { .. } => 68,
            UnknownGroup { .. } => 69,
            NotAssigned { .. } => 110,
            TaskFailed { .. } | Cleaner { .. } => -1,
        }
    }

    /// Whether retrying the same request (after waiting, or after a
    /// heartbeat/rejoin for group errors) may succeed.
    pub fn is_retriable(&self) -> bool {
        use BrokerError::*;
        matches!(
            self,
            UnknownTopic { .. }
                | UnknownPartition { .. }
                | Timeout { .. }
                | IllegalGeneration { .. }
                | StaleMemberEpoch { .. }
                | RebalanceInProgress { .. }
                | UnknownMember { .. }
                | NotAssigned { .. }
                | Log { .. }
        )
    }

    /// Wraps a log error of `topic`-`partition`, lifting out-of-range and
    /// invalid-batch errors into their own variants.
    pub(crate) fn from_log(topic: &str, partition: u32, source: LogError) -> BrokerError {
        match source {
            LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            } => BrokerError::OffsetOutOfRange {
                topic: topic.to_owned(),
                partition,
                offset,
                log_start_offset,
                log_end_offset,
            },
            LogError::InvalidBatch { source, .. } => BrokerError::InvalidRecord {
                topic: topic.to_owned(),
                partition,
                source,
            },
            LogError::MissingKey { record, .. } => BrokerError::KeyRequired {
                topic: topic.to_owned(),
                partition,
                record,
            },
            LogError::Damaged { ref range, .. } => BrokerError::Damaged {
                topic: topic.to_owned(),
                partition,
                first_offset: range.first_offset,
                end_offset: range.end_offset,
                source,
            },
            LogError::EmptyAppend => BrokerError::EmptyProduce {
                topic: topic.to_owned(),
            },
            source => BrokerError::Log {
                topic: topic.to_owned(),
                partition,
                source,
            },
        }
    }
}

/// Kafka's code for a produced batch the record layer refused, as its
/// broker answers: too large → `MESSAGE_TOO_LARGE` (10: the producer splits
/// the batch, never retries it as is); a CRC or structure that does not
/// hold → `CORRUPT_MESSAGE` (2); an unsupported codec →
/// `UNSUPPORTED_COMPRESSION_TYPE` (76); records that parse but break the
/// format's rules (offsets, timestamps, magic) → `INVALID_RECORD` (87).
fn invalid_batch_code(source: &RecordError) -> i16 {
    use RecordError::*;
    match source {
        BatchTooLarge { .. } | RecordTooLarge { .. } | DecompressedTooLarge { .. } => 10,
        CrcMismatch { .. }
        | NegativeLength { .. }
        | BatchTooSmall { .. }
        | Truncated { .. }
        | InvalidRecordCount { .. }
        | RecordCountMismatch { .. }
        | MalformedRecord { .. }
        | TrailingBytes { .. }
        | Decompression { .. } => 2,
        UnsupportedCompression { .. } => 76,
        _ => 87,
    }
}

/// The sentence of [`BrokerError::InvalidPartitions`].
fn partitions_problem(requested: u32, current: u32, max: u32) -> String {
    if current == 0 {
        format!("invalid partition count {requested}: a topic has 1 to {max} partitions")
    } else {
        format!(
            "invalid partition count {requested}: the topic has {current} partition{} and can grow to at most {max}",
            if current == 1 { "" } else { "s" }
        )
    }
}
