//! `ApiVersions`: the first exchange on a connection, in which the client
//! learns which versions of each api the server speaks.
//!
//! The request body is empty in v0. A server answers an ApiVersions request
//! of a version it does not support with a v0 response carrying
//! `UNSUPPORTED_VERSION` and its ranges, so any client can negotiate down.

use crate::protocol::ErrorCode;
use crate::protocol::wire::wire_struct;

wire_struct! {
    /// Asks for the server's supported api versions (empty body in v0).
    pub struct ApiVersionsRequest {}
}

wire_struct! {
    /// The range of versions the server supports for one api key.
    pub struct ApiVersionRange {
        /// The raw api key (raw so that keys newer than the client still decode).
        pub api_key: i16,
        /// Lowest supported version.
        pub min_version: i16,
        /// Highest supported version.
        pub max_version: i16,
    }
}

wire_struct! {
    /// The server's supported versions per api key.
    pub struct ApiVersionsResponse {
        /// `NONE`, or `UNSUPPORTED_VERSION` when the request's version was refused.
        pub error_code: ErrorCode,
        /// One entry per api key the server supports.
        pub api_keys: Vec<ApiVersionRange>,
    }
}
