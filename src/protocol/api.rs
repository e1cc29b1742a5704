//! The api keys, their supported version ranges, and the `RequestBody` /
//! `ResponseBody` enums a server dispatches on.
//!
//! The numeric api keys are logbus's own (not Kafka's) and stable: a key is
//! never reused for another api. Adding a version means raising `max` here
//! and branching on `version` in that api's messages.

use bytes::Bytes;

use super::ProtocolError;
use super::messages::*;
use super::wire::{Codec, Encoder};

macro_rules! apis {
    ($( $(#[$doc:meta])* $variant:ident = $key:literal, $min:literal..=$max:literal, $req:ident, $resp:ident; )*) => {
        /// An api, with its stable numeric key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i16)]
        pub enum ApiKey {
            $( $(#[$doc])* $variant = $key, )*
        }

        impl ApiKey {
            /// Every api, in key order.
            pub const ALL: &'static [ApiKey] = &[$( ApiKey::$variant, )*];

            /// The api for a wire key, or `None` if unknown.
            pub fn from_i16(key: i16) -> Option<ApiKey> {
                match key {
                    $( $key => Some(ApiKey::$variant), )*
                    _ => None,
                }
            }

            /// The wire key.
            pub fn to_i16(self) -> i16 {
                self as i16
            }

            /// The api's name, e.g. `"Produce"`.
            pub fn name(self) -> &'static str {
                match self {
                    $( ApiKey::$variant => stringify!($variant), )*
                }
            }

            /// The lowest and highest version this build speaks.
            pub fn versions(self) -> (i16, i16) {
                match self {
                    $( ApiKey::$variant => ($min, $max), )*
                }
            }
        }

        /// A decoded request body of any api.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum RequestBody {
            $( $(#[$doc])* $variant($req), )*
        }

        /// A decoded response body of any api.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ResponseBody {
            $( $(#[$doc])* $variant($resp), )*
        }

        impl RequestBody {
            /// The api this body belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $( RequestBody::$variant(_) => ApiKey::$variant, )*
                }
            }

            /// Appends the body's encoding at `version` (no header, no frame).
            ///
            /// # Panics
            /// As [`Codec::encode`], for values the wire cannot express.
            pub fn encode(&self, version: i16, out: &mut Encoder) {
                match self {
                    $( RequestBody::$variant(body) => body.encode(version, out), )*
                }
            }

            /// Decodes a whole body of `api` at `version`: `buf` must hold it exactly.
            ///
            /// # Errors
            /// [`ProtocolError::Malformed`] or [`ProtocolError::TrailingBytes`].
            pub fn decode(api: ApiKey, version: i16, mut buf: Bytes) -> Result<Self, ProtocolError> {
                let body = match api {
                    $( ApiKey::$variant => RequestBody::$variant($req::decode(&mut buf, version)?), )*
                };
                no_trailing(api, &buf)?;
                Ok(body)
            }
        }

        impl ResponseBody {
            /// The api this body belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $( ResponseBody::$variant(_) => ApiKey::$variant, )*
                }
            }

            /// Appends the body's encoding at `version` (no header, no frame).
            ///
            /// # Panics
            /// As [`Codec::encode`], for values the wire cannot express.
            pub fn encode(&self, version: i16, out: &mut Encoder) {
                match self {
                    $( ResponseBody::$variant(body) => body.encode(version, out), )*
                }
            }

            /// Decodes a whole body of `api` at `version`: `buf` must hold it exactly.
            ///
            /// # Errors
            /// [`ProtocolError::Malformed`] or [`ProtocolError::TrailingBytes`].
            pub fn decode(api: ApiKey, version: i16, mut buf: Bytes) -> Result<Self, ProtocolError> {
                let body = match api {
                    $( ApiKey::$variant => ResponseBody::$variant($resp::decode(&mut buf, version)?), )*
                };
                no_trailing(api, &buf)?;
                Ok(body)
            }
        }

        $(
            impl From<$req> for RequestBody {
                fn from(body: $req) -> Self {
                    RequestBody::$variant(body)
                }
            }
            impl From<$resp> for ResponseBody {
                fn from(body: $resp) -> Self {
                    ResponseBody::$variant(body)
                }
            }
        )*

        #[cfg(test)]
        impl RequestBody {
            /// Every request type, for round-trip proptests.
            pub(crate) fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy;
                use crate::protocol::arb::Arb;
                proptest::strategy::Union::new(vec![
                    $( $req::arb().prop_map(RequestBody::$variant).boxed(), )*
                ]).boxed()
            }
        }

        #[cfg(test)]
        impl ResponseBody {
            /// Every response type, for round-trip proptests.
            pub(crate) fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy;
                use crate::protocol::arb::Arb;
                proptest::strategy::Union::new(vec![
                    $( $resp::arb().prop_map(ResponseBody::$variant).boxed(), )*
                ]).boxed()
            }
        }
    };
}

apis! {
    /// Version negotiation; the first request on a connection.
    ApiVersions = 0, 0..=0, ApiVersionsRequest, ApiVersionsResponse;
    /// Create topics.
    CreateTopics = 1, 0..=0, CreateTopicsRequest, CreateTopicsResponse;
    /// Delete topics.
    DeleteTopics = 2, 0..=0, DeleteTopicsRequest, DeleteTopicsResponse;
    /// List topics.
    ListTopics = 3, 0..=0, ListTopicsRequest, ListTopicsResponse;
    /// Describe topics and their partitions.
    DescribeTopics = 4, 0..=0, DescribeTopicsRequest, DescribeTopicsResponse;
    /// Add partitions to topics.
    CreatePartitions = 5, 0..=0, CreatePartitionsRequest, CreatePartitionsResponse;
    /// Append record batches.
    Produce = 6, 0..=0, ProduceRequest, ProduceResponse;
    /// Read record batches (long poll).
    Fetch = 7, 0..=1, FetchRequest, FetchResponse;
    /// Look offsets up by position or time.
    ListOffsets = 8, 0..=0, ListOffsetsRequest, ListOffsetsResponse;
    /// Obtain a producer id and epoch.
    InitProducerId = 9, 0..=0, InitProducerIdRequest, InitProducerIdResponse;
    /// Join a consumer group.
    JoinGroup = 10, 0..=0, JoinGroupRequest, JoinGroupResponse;
    /// Keep a membership alive; learn the assignment.
    Heartbeat = 11, 0..=0, HeartbeatRequest, HeartbeatResponse;
    /// Leave a consumer group.
    LeaveGroup = 12, 0..=0, LeaveGroupRequest, LeaveGroupResponse;
    /// Commit a group's offsets.
    OffsetCommit = 13, 0..=0, OffsetCommitRequest, OffsetCommitResponse;
    /// Read a group's committed offsets.
    OffsetFetch = 14, 0..=0, OffsetFetchRequest, OffsetFetchResponse;
    /// List consumer groups.
    ListGroups = 15, 0..=0, ListGroupsRequest, ListGroupsResponse;
    /// Describe a consumer group with its lag.
    DescribeGroup = 16, 0..=0, DescribeGroupRequest, DescribeGroupResponse;
    /// Move a group's committed offsets.
    ResetOffsets = 17, 0..=0, ResetOffsetsRequest, ResetOffsetsResponse;
    /// Delete consumer groups.
    DeleteGroups = 18, 0..=0, DeleteGroupsRequest, DeleteGroupsResponse;
}

fn no_trailing(api: ApiKey, rest: &Bytes) -> Result<(), ProtocolError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::TrailingBytes {
            api: api.name(),
            extra: rest.len(),
        })
    }
}

impl ApiKey {
    /// Whether this build speaks `version` of the api.
    pub fn supports(self, version: i16) -> bool {
        let (min, max) = self.versions();
        (min..=max).contains(&version)
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_i16())
    }
}

impl ApiVersionsResponse {
    /// The response listing every api this build speaks, with `error_code`.
    pub fn supported(error_code: super::ErrorCode) -> Self {
        ApiVersionsResponse {
            error_code,
            api_keys: ApiKey::ALL
                .iter()
                .map(|&api| {
                    let (min_version, max_version) = api.versions();
                    ApiVersionRange {
                        api_key: api.to_i16(),
                        min_version,
                        max_version,
                    }
                })
                .collect(),
        }
    }

    /// The highest version of `api` both sides speak, or `None` if they share none.
    pub fn negotiate(&self, api: ApiKey) -> Option<i16> {
        let (min, max) = api.versions();
        let theirs = self.api_keys.iter().find(|r| r.api_key == api.to_i16())?;
        let high = max.min(theirs.max_version);
        (high >= min.max(theirs.min_version)).then_some(high)
    }
}
