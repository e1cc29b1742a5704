//! The error codes a response carries, with stable `i16` values.
//!
//! Kafka's numbers are reused wherever the meaning matches, so a person who
//! knows Kafka reads them at once and the Kafka listener can pass them
//! through. This file knows nothing of which api returns which code.

use bytes::{BufMut, Bytes};

use super::error::ProtocolError;
use super::wire::{Codec, Encoder};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $retriable:literal, $meaning:literal; )*) => {
        /// An error code in a response: `None` (0) for success.
        ///
        /// Codes this build does not know decode as [`ErrorCode::Unknown`], so
        /// a newer server never breaks an older client.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this build does not know; never holds a known value
            /// when produced by [`ErrorCode::from_i16`].
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$( ErrorCode::$variant, )*];

            /// The code for a wire value; unknown values map to [`ErrorCode::Unknown`].
            pub fn from_i16(code: i16) -> ErrorCode {
                match code {
                    $( $code => ErrorCode::$variant, )*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The wire value.
            pub fn to_i16(self) -> i16 {
                match self {
                    $( ErrorCode::$variant => $code, )*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Kafka-style upper-case name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $name, )*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether sending the same request again may succeed.
            pub fn is_retriable(self) -> bool {
                match self {
                    $( ErrorCode::$variant => $retriable, )*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// One line saying what the code means.
            pub fn meaning(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $meaning, )*
                    ErrorCode::Unknown(_) => "An error code this client does not know.",
                }
            }
        }
    };
}

error_codes! {
    /// Unexpected server-side failure.
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false, "The server hit an unexpected error while processing the request.";
    /// Success.
    #[default]
    None = 0, "NONE", false, "No error.";
    /// The offset is outside the partition's log.
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false, "The offset is below the log start offset or above the high watermark.";
    /// A batch failed validation (CRC, size, offsets).
    CorruptMessage = 2, "CORRUPT_MESSAGE", true, "A record batch failed its CRC or is otherwise corrupt.";
    /// No such topic or partition.
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true, "The topic or partition does not exist.";
    /// A fetch size is invalid.
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false, "The requested fetch size is invalid.";
    /// The partition cannot take requests yet (being created or reopened).
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true, "The partition is not available yet (being created or reopened).";
    /// The request timed out.
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, "The request timed out.";
    /// The broker is closed or shutting down (e.g. restarting).
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", true, "The broker is closed or shutting down; retry, over a new connection if need be.";
    /// A batch is larger than the topic allows, or (fetch) than a response frame can carry.
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false, "The batch is larger than the topic's max message bytes, or than a fetch response frame can carry.";
    /// Commit metadata is too large.
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false, "The offset commit metadata is too large.";
    /// The connection failed before a response arrived (client side).
    NetworkException = 13, "NETWORK_EXCEPTION", true, "The connection closed before a response was received.";
    /// The group coordinator is loading state.
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true, "The group coordinator is still loading offsets.";
    /// The group coordinator is unavailable.
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true, "The group coordinator is not available.";
    /// Invalid topic name or an operation on an internal topic.
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false, "The topic name is invalid or the topic may not be used this way.";
    /// The batch is larger than a segment.
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false, "The batch is larger than the topic's segment size.";
    /// Not enough replicas (reserved; logbus has a single replica).
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true, "Fewer replicas are in sync than required.";
    /// Wrong group generation.
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false, "The group generation is not the current one.";
    /// The member's strategy is incompatible with the group's.
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false, "The assignment strategy does not match the group's.";
    /// The group id is invalid.
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, "The group id is invalid (for example empty).";
    /// The coordinator does not know this member.
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false, "The group does not know this member id; rejoin with an empty one.";
    /// The session timeout is out of the allowed range.
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false, "The session timeout is outside the range the broker allows.";
    /// The group is rebalancing.
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false, "The group is rebalancing; heartbeat again for the new assignment.";
    /// A timestamp is out of range.
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false, "A timestamp is out of the acceptable range.";
    /// The api version is not supported.
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false, "The server does not support this api key or version.";
    /// The topic already exists.
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, "A topic with this name already exists.";
    /// The partition count is invalid.
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, "The partition count is invalid (below 1, or not above the current count).";
    /// A topic configuration is invalid.
    InvalidConfig = 40, "INVALID_CONFIG", false, "A topic configuration value is invalid.";
    /// The request is invalid.
    InvalidRequest = 42, "INVALID_REQUEST", false, "The request is invalid.";
    /// The record format cannot serve the request.
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, "The record format does not support the request.";
    /// The request violates a policy.
    PolicyViolation = 44, "POLICY_VIOLATION", false, "The request violates a configured policy.";
    /// A sequence gap from an idempotent producer.
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, "The producer's sequence number is out of order.";
    /// A duplicate from an idempotent producer.
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false, "The batch is a duplicate of one already written.";
    /// An old producer epoch.
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false, "The producer epoch is older than the current one.";
    /// Storage failure on the broker.
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true, "A disk error; the partition refuses writes until reopened.";
    /// The producer id is not known.
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false, "The broker has no state for this producer id.";
    /// The group has members.
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false, "The group still has members.";
    /// No such group.
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false, "The group does not exist.";
    /// The codec is not supported.
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false, "The batch's compression codec is not supported.";
    /// A classic join must be repeated with the member id given.
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false, "Join again with the member id the response gives.";
    /// Another member took over this static member's instance id.
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false, "Another member now uses this group.instance.id.";
    /// A record failed broker-side validation.
    InvalidRecord = 87, "INVALID_RECORD", false, "A record failed validation on the broker.";
    /// A newer producer with the same id fenced this one.
    ProducerFenced = 90, "PRODUCER_FENCED", false, "A newer producer instance has fenced this one.";
    /// The member must rejoin.
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false, "The member was fenced (session expired); rejoin the group.";
    /// The member epoch is not the member's current one.
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false, "The member's assignment changed; heartbeat for its new epoch, then retry.";
    /// A subscription pattern that does not compile.
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false, "The subscription pattern is not a valid regular expression.";
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_i16(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> Self {
        code.to_i16()
    }
}

impl ErrorCode {
    /// Whether this is success.
    pub fn is_ok(self) -> bool {
        self == ErrorCode::None
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_i16())
    }
}

impl Codec for ErrorCode {
    const MIN_LEN: usize = 2;
    fn encode(&self, _version: i16, out: &mut Encoder) {
        out.put_i16(self.to_i16());
    }
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
        Ok(ErrorCode::from_i16(i16::decode(buf, version)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_maps_back_to_itself() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_i16(code.to_i16()), code);
            assert!(!code.meaning().is_empty());
        }
    }

    #[test]
    fn unknown_codes_decode_to_unknown_not_an_error() {
        assert_eq!(ErrorCode::from_i16(9999), ErrorCode::Unknown(9999));
        assert_eq!(ErrorCode::Unknown(9999).to_i16(), 9999);
        assert!(!ErrorCode::Unknown(9999).is_retriable());
    }

    #[test]
    fn numbers_match_kafka_where_shared() {
        assert_eq!(ErrorCode::UnknownTopicOrPartition.to_i16(), 3);
        assert_eq!(ErrorCode::RebalanceInProgress.to_i16(), 27);
        assert_eq!(ErrorCode::UnsupportedVersion.to_i16(), 35);
        assert_eq!(ErrorCode::KafkaStorageError.to_i16(), 56);
        assert_eq!(ErrorCode::GroupIdNotFound.to_i16(), 69);
        assert_eq!(ErrorCode::FencedMemberEpoch.to_i16(), 110);
        assert!(ErrorCode::RequestTimedOut.is_retriable());
        assert_eq!(ErrorCode::BrokerNotAvailable.to_i16(), 8);
        assert!(ErrorCode::BrokerNotAvailable.is_retriable());
        assert!(!ErrorCode::MessageTooLarge.is_retriable());
    }
}
