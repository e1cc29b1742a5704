//! Request and response headers, and the functions that turn a frame's
//! payload into a header and a typed body and back.
//!
//! ```text
//! request payload                          (all integers big-endian)
//! offset  size  field
//!      0     2  api_key         i16  see ApiKey
//!      2     2  api_version     i16
//!      4     4  correlation_id  i32  echoed in the response
//!      8     2  client_id len   i16  -1 for null
//!     10     N  client_id       UTF-8
//!   10+N     …  request body
//!
//! response payload
//! offset  size  field
//!      0     4  correlation_id  i32  the request's; responses may come out of order
//!      4     2  error_code      i16  NONE, or why the request was refused unread
//!      6     …  response body   empty when error_code ≠ NONE, except for
//!                               ApiVersions (then a v0 ApiVersions body)
//! ```
//!
//! The response header's error code lets a server refuse a request whose api
//! key or version it does not speak with a response every client can parse
//! without knowing that body's format, instead of closing the connection.
//! The fixed part of the request header is read before the key and version
//! are checked, so even a refused request's correlation id is known.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::ErrorCode;
use super::api::{ApiKey, RequestBody, ResponseBody};
use super::error::{MalformedReason, ProtocolError};
use super::frame::{frame_parts, write_frame};
use super::messages::ApiVersionsResponse;
use super::wire::Codec;

/// Offset of `api_key` in a request payload.
pub const REQUEST_API_KEY: usize = 0;
/// Offset of `api_version` in a request payload.
pub const REQUEST_API_VERSION: usize = 2;
/// Offset of `correlation_id` in a request payload.
pub const REQUEST_CORRELATION_ID: usize = 4;
/// Offset of the `client_id` length in a request payload.
pub const REQUEST_CLIENT_ID: usize = 8;
/// Size of the request header's fixed part (before the client id).
pub const REQUEST_FIXED_LEN: usize = 8;

/// Offset of `correlation_id` in a response payload.
pub const RESPONSE_CORRELATION_ID: usize = 0;
/// Offset of `error_code` in a response payload.
pub const RESPONSE_ERROR_CODE: usize = 4;
/// Size of the response header; the body starts here.
pub const RESPONSE_HEADER_LEN: usize = 6;

/// The header in front of every request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Which api the body belongs to.
    pub api_key: ApiKey,
    /// Version of the body's format.
    pub api_version: i16,
    /// Chosen by the client; the response carries it back.
    pub correlation_id: i32,
    /// Free-form client name for logs and group descriptions.
    pub client_id: Option<String>,
}

/// The header in front of every response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The correlation id of the request answered.
    pub correlation_id: i32,
    /// `NONE`, or why the request was refused before its body was read.
    pub error_code: ErrorCode,
}

fn header_error(field: &'static str, e: ProtocolError) -> ProtocolError {
    e.within("RequestHeader", field)
}

/// Reads the fixed part of a request header, checks the api key and version,
/// and returns them with the correlation id.
fn request_fixed(frame: &mut Bytes) -> Result<(ApiKey, i16, i32), ProtocolError> {
    if frame.len() < REQUEST_FIXED_LEN {
        return Err(header_error(
            "api_key",
            ProtocolError::malformed(MalformedReason::Truncated {
                needed: REQUEST_FIXED_LEN,
                available: frame.len(),
            }),
        ));
    }
    let key = frame.get_i16();
    let version = frame.get_i16();
    let correlation_id = frame.get_i32();
    let api = ApiKey::from_i16(key).ok_or(ProtocolError::UnsupportedApi {
        key,
        correlation_id,
    })?;
    if !api.supports(version) {
        return Err(ProtocolError::UnsupportedVersion {
            key,
            version,
            correlation_id,
        });
    }
    Ok((api, version, correlation_id))
}

/// Decodes a request frame's payload into its header and body.
///
/// # Errors
/// [`ProtocolError::UnsupportedApi`] and [`ProtocolError::UnsupportedVersion`]
/// carry the correlation id: answer them with [`encode_refusal`] and carry
/// on. [`ProtocolError::Malformed`] and [`ProtocolError::TrailingBytes`]
/// mean the peer does not speak this protocol: close the connection.
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, RequestBody), ProtocolError> {
    let (api_key, api_version, correlation_id) = request_fixed(&mut frame)?;
    let client_id =
        Option::<String>::decode(&mut frame, 0).map_err(|e| header_error("client_id", e))?;
    let body = RequestBody::decode(api_key, api_version, frame)?;
    let header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
    };
    Ok((header, body))
}

/// Encodes a request as one complete frame (length prefix included), as
/// parts to write in order: produced record batches are shared, not copied.
///
/// # Panics
/// If `header.api_key` is not `body`'s api, or a value cannot be expressed
/// on the wire (see [`Codec::encode`]).
pub fn encode_request_parts(header: &RequestHeader, body: &RequestBody) -> Vec<Bytes> {
    assert_eq!(
        header.api_key,
        body.api_key(),
        "header and body name different apis"
    );
    frame_parts(|out| {
        out.put_i16(header.api_key.to_i16());
        out.put_i16(header.api_version);
        out.put_i32(header.correlation_id);
        header.client_id.encode(0, out);
        body.encode(header.api_version, out);
    })
}

/// Appends a request to `out` as one contiguous frame.
///
/// # Panics
/// As [`encode_request_parts`].
pub fn encode_request(header: &RequestHeader, body: &RequestBody, out: &mut BytesMut) {
    for part in encode_request_parts(header, body) {
        out.put_slice(&part);
    }
}

/// Reads the correlation id at the front of a response payload, so a client
/// can find which request (api and version) it answers before decoding it.
///
/// # Errors
/// [`ProtocolError::Malformed`] if the payload is shorter than a header.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, ProtocolError> {
    if frame.len() < RESPONSE_HEADER_LEN {
        return Err(ProtocolError::malformed(MalformedReason::Truncated {
            needed: RESPONSE_HEADER_LEN,
            available: frame.len(),
        })
        .within("ResponseHeader", "correlation_id"));
    }
    Ok(i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

/// Decodes a response frame's payload, given the api and version of the
/// request it answers (found through [`peek_correlation_id`]).
///
/// A refused `ApiVersions` request decodes to its v0 body, whose ranges let
/// the client negotiate down.
///
/// # Errors
/// [`ProtocolError::Refused`] when the server refused the request unread;
/// [`ProtocolError::UnsupportedVersion`] when `version` is not one this build
/// speaks; [`ProtocolError::Malformed`] or [`ProtocolError::TrailingBytes`]
/// for a response that does not follow the format.
pub fn decode_response(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), ProtocolError> {
    let correlation_id = peek_correlation_id(&frame)?;
    frame.advance(RESPONSE_ERROR_CODE);
    let error_code = ErrorCode::from_i16(frame.get_i16());
    let header = ResponseHeader {
        correlation_id,
        error_code,
    };
    if !error_code.is_ok() {
        if api_key == ApiKey::ApiVersions {
            return Ok((header, ResponseBody::decode(api_key, 0, frame)?));
        }
        if !frame.is_empty() {
            return Err(ProtocolError::TrailingBytes {
                api: "refusal",
                extra: frame.len(),
            });
        }
        return Err(ProtocolError::Refused {
            correlation_id,
            error_code: error_code.to_i16(),
        });
    }
    if !api_key.supports(version) {
        return Err(ProtocolError::UnsupportedVersion {
            key: api_key.to_i16(),
            version,
            correlation_id,
        });
    }
    Ok((header, ResponseBody::decode(api_key, version, frame)?))
}

/// Encodes a response as one complete frame with a `NONE` header error
/// code, as parts to write in order: fetched record batches are shared, not
/// copied. `version` is the request's.
///
/// # Panics
/// If a value cannot be expressed on the wire (see [`Codec::encode`]).
pub fn encode_response_parts(correlation_id: i32, version: i16, body: &ResponseBody) -> Vec<Bytes> {
    frame_parts(|out| {
        out.put_i32(correlation_id);
        out.put_i16(ErrorCode::None.to_i16());
        body.encode(version, out);
    })
}

/// Appends a response to `out` as one contiguous frame.
///
/// # Panics
/// As [`encode_response_parts`].
pub fn encode_response(correlation_id: i32, version: i16, body: &ResponseBody, out: &mut BytesMut) {
    for part in encode_response_parts(correlation_id, version, body) {
        out.put_slice(&part);
    }
}

/// Appends the refusal of a request whose api key or version this build does
/// not speak: header error `UNSUPPORTED_VERSION`, an empty body, except for
/// `ApiVersions`, which gets a v0 body listing the supported versions.
///
/// `api_key` is the raw key from the refused request.
pub fn encode_refusal(correlation_id: i32, api_key: i16, out: &mut BytesMut) {
    write_frame(out, |out| {
        out.put_i32(correlation_id);
        out.put_i16(ErrorCode::UnsupportedVersion.to_i16());
        if api_key == ApiKey::ApiVersions.to_i16() {
            ApiVersionsResponse::supported(ErrorCode::UnsupportedVersion).encode(0, out);
        }
    });
}
