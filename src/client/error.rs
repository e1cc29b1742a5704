//! The client layer's one error type, and which of its errors are worth
//! retrying. Knows the protocol's codes and errors; nothing of sockets.

use crate::protocol::{ApiKey, ErrorCode, ProtocolError};
use crate::record::RecordError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The connection closed (or failed) before the response arrived; the
    /// request may or may not have been applied.
    #[error("the connection to the server closed")]
    Closed,
    /// No response within the deadline; the request may still be applied.
    #[error("{api} timed out after {after:?}")]
    Timeout {
        /// The api called.
        api: ApiKey,
        /// How long the client waited.
        after: Duration,
    },
    /// The server answered with an error code.
    #[error("{api} failed: {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The api called.
        api: ApiKey,
        /// The error code.
        code: ErrorCode,
        /// The server's explanation, when it gave one.
        message: Option<String>,
    },
    /// The server does not speak any version of this api this client knows.
    #[error("the server does not support {api}")]
    Unsupported {
        /// The api.
        api: ApiKey,
    },
    /// The encoded request is larger than the frame limit.
    #[error("{api} request of {size} bytes exceeds the {max}-byte frame limit")]
    RequestTooLarge {
        /// The api.
        api: ApiKey,
        /// The request's payload size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A response did not follow the protocol.
    #[error("bad response from the server")]
    Protocol {
        /// The codec's error.
        #[source]
        source: ProtocolError,
    },
    /// The response's body belongs to another api (a server bug).
    #[error("the server answered {api} with another api's response")]
    UnexpectedResponse {
        /// The api called.
        api: ApiKey,
    },
    /// A record could not be encoded, or fetched batches could not be decoded.
    #[error("bad record batch")]
    Record {
        /// The record layer's error.
        #[source]
        source: RecordError,
    },
    /// The producer gave up on a record after its delivery timeout.
    #[error("record not acknowledged within the delivery timeout of {after:?}")]
    DeliveryTimeout {
        /// The delivery timeout.
        after: Duration,
        /// The last error met while retrying.
        #[source]
        source: Arc<ClientError>,
    },
    /// The batch a record travelled in failed (shared by its records).
    #[error("the batch for {topic}-{partition} failed")]
    BatchFailed {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Why.
        #[source]
        source: Arc<ClientError>,
    },
    /// The producer's background task is gone (the producer was closed).
    #[error("the producer is closed")]
    ProducerClosed,
}

impl ClientError {
    /// Whether the same call may succeed if tried again (after a reconnect,
    /// a back-off or a rejoin).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Closed | ClientError::Timeout { .. } => true,
            ClientError::Broker { code, .. } => code.is_retriable(),
            ClientError::BatchFailed { source, .. }
            | ClientError::DeliveryTimeout { source, .. } => source.is_retriable(),
            _ => false,
        }
    }

    /// The server's error code, if the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::BatchFailed { source, .. }
            | ClientError::DeliveryTimeout { source, .. } => source.code(),
            _ => None,
        }
    }

    /// `Ok` for `NONE`, else a [`ClientError::Broker`] for `api`.
    ///
    /// # Errors
    /// [`ClientError::Broker`] when `code` is not `NONE`.
    pub fn check(api: ApiKey, code: ErrorCode, message: Option<String>) -> Result<(), ClientError> {
        if code.is_ok() {
            Ok(())
        } else {
            Err(ClientError::Broker { api, code, message })
        }
    }
}
