//! The Kafka codec's one error type: why bytes could not be decoded as a
//! Kafka header or body, or why a value cannot be encoded at a version.
//!
//! It knows the wire only. What the broker thinks of a well-formed request
//! travels as a Kafka error code inside the response instead.

use super::header::RequestHeader;

/// Why Kafka wire bytes were refused, or a value could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaCodecError {
    /// Fewer bytes are left than the next field needs.
    #[error("truncated: {needed} bytes needed, {available} left")]
    Truncated {
        /// Bytes the field (or a count times its smallest element) needs.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A length or count is negative and not the null marker.
    #[error("negative length {length}")]
    NegativeLength {
        /// The length read.
        length: i64,
    },
    /// A null where the field is not nullable at this version.
    #[error("null in a non-nullable field")]
    UnexpectedNull,
    /// An array claims more elements than Kafka accepts.
    #[error("array of {count} elements exceeds the cap of {max}")]
    TooManyElements {
        /// The count read.
        count: usize,
        /// The cap (1,000,000, as Kafka 4.4).
        max: usize,
    },
    /// A tagged-field section claims more fields than Kafka accepts.
    #[error("{count} tagged fields exceed the cap of {max}")]
    TooManyTaggedFields {
        /// The count read.
        count: usize,
        /// The cap (10,000, as Kafka 4.4).
        max: usize,
    },
    /// An unsigned varint runs past 5 bytes or overflows 32 bits.
    #[error("malformed unsigned varint")]
    BadVarint,
    /// A string is not UTF-8.
    #[error("string is not UTF-8")]
    InvalidUtf8,
    /// A known tagged field's declared size does not match its content.
    #[error("tagged field {tag} declares {declared} bytes but its value used {used}")]
    TaggedFieldSize {
        /// The field's tag.
        tag: u32,
        /// The size the section declared.
        declared: usize,
        /// The bytes its value took.
        used: usize,
    },
    /// Bytes are left over after a complete body.
    #[error("{extra} trailing bytes after the body")]
    TrailingBytes {
        /// Count of unexpected bytes.
        extra: usize,
    },
    /// The request names an api key logbus does not serve.
    #[error("unsupported api key {}", header.request_api_key)]
    UnsupportedApi {
        /// The request's header, for the refusal.
        header: Box<RequestHeader>,
    },
    /// The api is served, but not at this version.
    #[error("unsupported version {} of api key {}", header.request_api_version, header.request_api_key)]
    UnsupportedVersion {
        /// The request's header, for the refusal.
        header: Box<RequestHeader>,
    },
    /// The header was read but the body is malformed.
    #[error("malformed body of api key {} v{}", header.request_api_key, header.request_api_version)]
    MalformedBody {
        /// The request's header, for the refusal.
        header: Box<RequestHeader>,
        /// What is wrong with the body.
        #[source]
        source: Box<KafkaCodecError>,
    },
    /// A value is too long for its length prefix at this version.
    #[error("{what} of {len} cannot be encoded (limit {max})")]
    TooLongToEncode {
        /// What was too long: "string", "bytes" or "array".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest length the encoding allows.
        max: usize,
    },
    /// A `None` in a field that is not nullable at the version being encoded.
    #[error("null cannot be encoded in {field} at this version")]
    NullNotAllowed {
        /// The field, as `Struct.field`.
        field: &'static str,
    },
    /// An encode was asked for a version the codec does not have.
    #[error("api key {api_key} cannot be encoded at version {version}")]
    VersionNotEncodable {
        /// The api key.
        api_key: i16,
        /// The version asked for.
        version: i16,
    },
}

impl KafkaCodecError {
    /// The request header, when the error arose after it could be read:
    /// what the listener needs to answer with Kafka's error code.
    pub fn header(&self) -> Option<&RequestHeader> {
        match self {
            KafkaCodecError::UnsupportedApi { header }
            | KafkaCodecError::UnsupportedVersion { header }
            | KafkaCodecError::MalformedBody { header, .. } => Some(header),
            _ => None,
        }
    }
}
