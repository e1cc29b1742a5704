//! The protocol layer's one error type: why a frame, a header or a body
//! could not be decoded, or why a request is refused.
//!
//! It knows the wire only; what the broker thinks of a well-formed request
//! travels as an [`ErrorCode`](super::ErrorCode) inside the response instead.

/// Why bytes from the wire were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame's length prefix is above the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The length the prefix claims.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The request names an api key this server does not know.
    #[error("unsupported api key {key} (correlation id {correlation_id})")]
    UnsupportedApi {
        /// The raw api key.
        key: i16,
        /// The request's correlation id, for the refusal response.
        correlation_id: i32,
    },
    /// The api is known but not at this version.
    #[error("unsupported version {version} of api key {key} (correlation id {correlation_id})")]
    UnsupportedVersion {
        /// The raw api key.
        key: i16,
        /// The version asked for.
        version: i16,
        /// The request's correlation id, for the refusal response.
        correlation_id: i32,
    },
    /// The server refused the request before reading its body (the response
    /// header carried an error code and the body was empty).
    #[error("request {correlation_id} refused by the server with error code {error_code}")]
    Refused {
        /// The refused request's correlation id.
        correlation_id: i32,
        /// The error code from the response header.
        error_code: i16,
    },
    /// A header or body does not follow the format.
    #[error("malformed {message}.{field}: {reason}")]
    Malformed {
        /// The message (struct) being decoded, or "" if not yet known.
        message: &'static str,
        /// The field being decoded, or "" if not yet known.
        field: &'static str,
        /// What is wrong.
        reason: MalformedReason,
    },
    /// Bytes are left over after a complete body.
    #[error("{extra} trailing bytes after a {api} body")]
    TrailingBytes {
        /// The api whose body was decoded.
        api: &'static str,
        /// Count of unexpected bytes.
        extra: usize,
    },
}

impl ProtocolError {
    /// A malformed-input error whose location is filled in by the enclosing message.
    pub(crate) fn malformed(reason: MalformedReason) -> Self {
        ProtocolError::Malformed {
            message: "",
            field: "",
            reason,
        }
    }

    /// Names the innermost message and field a `Malformed` error arose in,
    /// keeping a location an inner message already set.
    pub(crate) fn within(self, in_message: &'static str, in_field: &'static str) -> Self {
        match self {
            ProtocolError::Malformed {
                message: "",
                field: "",
                reason,
            } => ProtocolError::Malformed {
                message: in_message,
                field: in_field,
                reason,
            },
            other => other,
        }
    }

    /// The correlation id this error can be answered under, if any.
    ///
    /// `Some` exactly for the errors a server answers with a refusal response
    /// (see [`encode_refusal`](super::encode_refusal)) and the connection
    /// stays open; for the others the server closes the connection.
    pub fn correlation_id(&self) -> Option<i32> {
        match self {
            ProtocolError::UnsupportedApi { correlation_id, .. }
            | ProtocolError::UnsupportedVersion { correlation_id, .. }
            | ProtocolError::Refused { correlation_id, .. } => Some(*correlation_id),
            _ => None,
        }
    }

    /// Whether the stream can no longer be trusted and the connection must close.
    pub fn is_fatal(&self) -> bool {
        self.correlation_id().is_none()
    }
}

/// What is wrong in a malformed header or body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedReason {
    /// The bytes end before the field (or the elements a count promises) does.
    Truncated {
        /// Bytes the field needs at least.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A length or count is negative (other than -1 where null is allowed).
    NegativeLength {
        /// The length read.
        length: i32,
    },
    /// A null (-1) where the field is not nullable.
    UnexpectedNull,
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// An enum, boolean or presence byte holds a value it does not define.
    UnknownValue {
        /// The value read.
        value: i64,
    },
}

impl std::fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MalformedReason::Truncated { needed, available } => {
                write!(f, "needs {needed} bytes, {available} present")
            }
            MalformedReason::NegativeLength { length } => write!(f, "negative length {length}"),
            MalformedReason::UnexpectedNull => f.write_str("null where a value is required"),
            MalformedReason::InvalidUtf8 => f.write_str("string is not UTF-8"),
            MalformedReason::UnknownValue { value } => write!(f, "undefined value {value}"),
        }
    }
}
