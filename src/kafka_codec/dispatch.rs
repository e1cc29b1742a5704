//! Whole requests and responses: a header plus the body of the api it names,
//! checked against the versions the codec serves.
//!
//! Frames handed to [`decode_request`] are the bytes after Kafka's 4-byte
//! length prefix (the listener frames them); [`encode_response`] and
//! [`encode_request`] return whole frames, prefix included.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::KafkaCodecError;
use super::generated::{ApiKey, KafkaRequest, KafkaResponse};
use super::header::{
    RequestHeader, ResponseHeader, request_header_version, response_header_version,
};
use super::writer::{FrameWriter, KafkaWrite};

/// Decodes one request frame (without its length prefix): the header, then
/// the body of the api and version it names.
///
/// # Errors
/// Without a header when even the header cannot be read (the connection
/// should be closed); otherwise with the header (see
/// [`KafkaCodecError::header`]): [`KafkaCodecError::UnsupportedApi`],
/// [`KafkaCodecError::UnsupportedVersion`] (versions outside
/// [`ApiKey::codec_versions`], e.g. Produce v0-2 or a too-new ApiVersions,
/// which KIP-511 answers with a v0 ApiVersions body) or
/// [`KafkaCodecError::MalformedBody`].
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, KafkaRequest), KafkaCodecError> {
    let mut header = RequestHeader::decode_fixed(&mut frame)?;
    let header_version = request_header_version(header.request_api_key, header.request_api_version);
    header.decode_rest(&mut frame, header_version)?;
    let Some(api) = ApiKey::from_i16(header.request_api_key) else {
        return Err(KafkaCodecError::UnsupportedApi {
            header: Box::new(header),
        });
    };
    let (min, max) = api.codec_versions();
    let version = header.request_api_version;
    if version < min || version > max {
        return Err(KafkaCodecError::UnsupportedVersion {
            header: Box::new(header),
        });
    }
    let body = KafkaRequest::decode(api, &mut frame, version).and_then(|body| {
        if frame.is_empty() {
            Ok(body)
        } else {
            Err(KafkaCodecError::TrailingBytes { extra: frame.len() })
        }
    });
    match body {
        Ok(body) => Ok((header, body)),
        Err(source) => Err(KafkaCodecError::MalformedBody {
            header: Box::new(header),
            source: Box::new(source),
        }),
    }
}

/// Checks that `body` is a body of `api_key` and `api_version` is a version
/// the codec has.
fn check_encodable(
    api_key: ApiKey,
    body_api: ApiKey,
    api_version: i16,
) -> Result<(), KafkaCodecError> {
    let (min, max) = api_key.codec_versions();
    if body_api != api_key || api_version < min || api_version > max {
        return Err(KafkaCodecError::VersionNotEncodable {
            api_key: body_api as i16,
            version: api_version,
        });
    }
    Ok(())
}

/// Patches the 4-byte length prefix reserved at the start of `buf`.
fn finish_frame(mut buf: BytesMut) -> Result<Bytes, KafkaCodecError> {
    let len = buf.len() - 4;
    let prefix = i32::try_from(len).map_err(|_| KafkaCodecError::TooLongToEncode {
        what: "frame",
        len,
        max: i32::MAX as usize,
    })?;
    buf[..4].copy_from_slice(&prefix.to_be_bytes());
    Ok(buf.freeze())
}

/// Encodes a whole response frame: length prefix, the response header of
/// the version `api_key`/`api_version` calls for, and `body`. A KIP-511
/// fallback answer is `api_version` 0 of ApiVersions.
///
/// # Errors
/// [`KafkaCodecError::VersionNotEncodable`] if `body` is not of `api_key`
/// or the codec lacks `api_version`; errors of the body's encoding.
pub fn encode_response(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &KafkaResponse,
) -> Result<Bytes, KafkaCodecError> {
    check_encodable(api_key, body.api_key(), api_version)?;
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    ResponseHeader { correlation_id }.encode(
        &mut buf,
        response_header_version(api_key as i16, api_version),
    );
    body.encode(&mut buf, api_version)?;
    finish_frame(buf)
}

/// Encodes a whole response frame as [`encode_response`] does, but as parts
/// in order (see [`FrameWriter`]): record batches of [`SHARE_MIN`](super::SHARE_MIN)
/// bytes or more are shared with `body`, not copied. Write the parts with
/// one vectored write.
///
/// # Errors
/// As [`encode_response`].
pub fn encode_response_parts(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &KafkaResponse,
) -> Result<Vec<Bytes>, KafkaCodecError> {
    check_encodable(api_key, body.api_key(), api_version)?;
    let mut out = FrameWriter::new();
    out.write_slice(&[0; 4]);
    ResponseHeader { correlation_id }.encode(
        &mut out,
        response_header_version(api_key as i16, api_version),
    );
    body.encode(&mut out, api_version)?;
    let len = out.len() - 4;
    let prefix = i32::try_from(len).map_err(|_| KafkaCodecError::TooLongToEncode {
        what: "frame",
        len,
        max: i32::MAX as usize,
    })?;
    // The prefix was the first thing written, so it is in the first part.
    out.first_mut()[..4].copy_from_slice(&prefix.to_be_bytes());
    Ok(out.into_parts())
}

/// Encodes a whole request frame: length prefix, `header` at the version its
/// api and version call for, and `body` (for clients and tests).
///
/// # Errors
/// As [`encode_response`].
pub fn encode_request(
    header: &RequestHeader,
    body: &KafkaRequest,
) -> Result<Bytes, KafkaCodecError> {
    let api = body.api_key();
    let version = header.request_api_version;
    check_encodable(
        api,
        ApiKey::from_i16(header.request_api_key).unwrap_or(api),
        version,
    )?;
    if header.request_api_key != api as i16 {
        return Err(KafkaCodecError::VersionNotEncodable {
            api_key: header.request_api_key,
            version,
        });
    }
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    header.encode(&mut buf, request_header_version(api as i16, version))?;
    body.encode(&mut buf, version)?;
    finish_frame(buf)
}
