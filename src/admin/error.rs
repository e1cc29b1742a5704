//! The admin face's one error type, and how each variant answers over HTTP
//! (status code and machine-readable code). It knows the broker's errors
//! only to classify them; it knows nothing of the other faces.

use crate::broker::BrokerError;
use hyper::{Method, StatusCode};

/// Why an admin request (or rendering its answer) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No endpoint has this path. HTTP 404.
    #[error("no admin endpoint at {path:?}")]
    UnknownPath {
        /// The request's path, as received (still percent-encoded).
        path: String,
    },
    /// The endpoint exists but is read-only. HTTP 405.
    #[error("method {method} not allowed: the admin endpoints are read-only (GET)")]
    MethodNotAllowed {
        /// The request's method.
        method: Method,
    },
    /// The broker refused the call: an unknown topic or group (404), a
    /// closed broker (503), anything else (500).
    #[error("broker call failed")]
    Broker {
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// A JSON body could not be encoded. HTTP 500.
    #[error("encoding the JSON answer failed")]
    Json {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The Prometheus text could not be encoded. HTTP 500.
    #[error("encoding the metrics failed")]
    Metrics {
        /// The encoder's error.
        #[source]
        source: std::fmt::Error,
    },
}

impl AdminError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::UnknownPath { .. } => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Broker { source } => match source {
                BrokerError::UnknownTopic { .. } | BrokerError::UnknownGroup { .. } => {
                    StatusCode::NOT_FOUND
                }
                BrokerError::Closed => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            AdminError::Json { .. } | AdminError::Metrics { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The machine-readable code in the JSON error body (`docs/admin.md`).
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::UnknownPath { .. } => "not_found",
            AdminError::MethodNotAllowed { .. } => "method_not_allowed",
            AdminError::Broker { source } => match source {
                BrokerError::UnknownTopic { .. } => "unknown_topic",
                BrokerError::UnknownGroup { .. } => "unknown_group",
                BrokerError::Closed => "broker_closed",
                _ => "broker_error",
            },
            AdminError::Json { .. } | AdminError::Metrics { .. } => "internal",
        }
    }

    /// The human-readable message: this error and its broker cause, if any.
    pub fn message(&self) -> String {
        match self {
            AdminError::Broker { source } => source.to_string(),
            other => other.to_string(),
        }
    }
}

impl From<BrokerError> for AdminError {
    fn from(source: BrokerError) -> AdminError {
        AdminError::Broker { source }
    }
}
