//! Kafka's request and response headers, and which header version goes with
//! which api and version.
//!
//! ```text
//! request header  v0: request_api_key i16, request_api_version i16, correlation_id i32
//!                 v1: v0 + client_id (nullable string, i16 length, never compact)
//!                 v2: v1 + tagged fields (flexible body versions)
//! response header v0: correlation_id i32
//!                 v1: v0 + tagged fields (flexible body versions; never ApiVersions)
//! ```

use bytes::Bytes;

use super::error::KafkaCodecError;
use super::generated::ApiKey;
use super::wire;
use super::writer::KafkaWrite;

/// The header every Kafka request starts with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The api's wire key.
    pub request_api_key: i16,
    /// The version of the body's format.
    pub request_api_version: i16,
    /// Chosen by the client, echoed in the response.
    pub correlation_id: i32,
    /// The client's name (header v1+); `None` when null or absent.
    pub client_id: Option<String>,
}

/// The header every Kafka response starts with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
}

/// The request header version for `api_version` of the api keyed `api_key`:
/// 2 for flexible versions, else 1 (unknown apis get 1, which is enough to
/// read the correlation id and client id of a request to refuse).
pub fn request_header_version(api_key: i16, api_version: i16) -> i16 {
    match ApiKey::from_i16(api_key) {
        Some(api) if api.is_flexible(api_version) => 2,
        _ => 1,
    }
}

/// The response header version for `api_version` of the api keyed
/// `api_key`: 1 for flexible versions, else 0. ApiVersions responses always
/// use 0, so a client that does not yet know the broker's versions can read
/// them.
pub fn response_header_version(api_key: i16, api_version: i16) -> i16 {
    match ApiKey::from_i16(api_key) {
        Some(ApiKey::ApiVersions) | None => 0,
        Some(api) if api.is_flexible(api_version) => 1,
        Some(_) => 0,
    }
}

impl RequestHeader {
    /// Reads the fixed part (key, version, correlation id) from the front of
    /// `buf`: what every header version starts with.
    ///
    /// # Errors
    /// [`KafkaCodecError::Truncated`] with fewer than 8 bytes.
    pub fn decode_fixed(buf: &mut Bytes) -> Result<RequestHeader, KafkaCodecError> {
        wire::need(buf, 8)?;
        Ok(RequestHeader {
            request_api_key: wire::get_i16(buf)?,
            request_api_version: wire::get_i16(buf)?,
            correlation_id: wire::get_i32(buf)?,
            client_id: None,
        })
    }

    /// Reads a header of `header_version` (0, 1 or 2) from the front of `buf`.
    ///
    /// # Errors
    /// When the bytes do not encode a header.
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<RequestHeader, KafkaCodecError> {
        let mut header = RequestHeader::decode_fixed(buf)?;
        header.decode_rest(buf, header_version)?;
        Ok(header)
    }

    /// Reads what follows the fixed part: the client id (v1+) and the tagged
    /// fields (v2, none known, all skipped).
    pub(crate) fn decode_rest(
        &mut self,
        buf: &mut Bytes,
        header_version: i16,
    ) -> Result<(), KafkaCodecError> {
        if header_version >= 1 {
            // The client id is a classic string even in header v2.
            self.client_id = wire::get_string(buf, false)?;
        }
        if header_version >= 2 {
            for _ in 0..wire::get_tagged_count(buf)? {
                wire::get_tagged_field(buf)?;
            }
        }
        Ok(())
    }

    /// Appends the header at `header_version` (0, 1 or 2).
    ///
    /// # Errors
    /// When the client id is longer than an `i16` length allows.
    pub fn encode<W: KafkaWrite>(
        &self,
        buf: &mut W,
        header_version: i16,
    ) -> Result<(), KafkaCodecError> {
        wire::put_i16(buf, self.request_api_key);
        wire::put_i16(buf, self.request_api_version);
        wire::put_i32(buf, self.correlation_id);
        if header_version >= 1 {
            wire::put_string(buf, self.client_id.as_deref(), false)?;
        }
        if header_version >= 2 {
            wire::put_uvarint(buf, 0);
        }
        Ok(())
    }
}

impl ResponseHeader {
    /// Reads a response header of `header_version` (0 or 1); tagged fields
    /// (none known) are skipped.
    ///
    /// # Errors
    /// When the bytes do not encode a header.
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<ResponseHeader, KafkaCodecError> {
        let correlation_id = wire::get_i32(buf)?;
        if header_version >= 1 {
            for _ in 0..wire::get_tagged_count(buf)? {
                wire::get_tagged_field(buf)?;
            }
        }
        Ok(ResponseHeader { correlation_id })
    }

    /// Appends the header at `header_version` (0 or 1; v1 adds an empty
    /// tagged-field section).
    pub fn encode<W: KafkaWrite>(&self, buf: &mut W, header_version: i16) {
        wire::put_i32(buf, self.correlation_id);
        if header_version >= 1 {
            wire::put_uvarint(buf, 0);
        }
    }
}
