//! Fuzzes the protocol decoders on arbitrary bytes: framing, requests and
//! responses must never panic, and whatever decodes must re-encode to bytes
//! that decode to the same value.
//!
//! The input is tried three ways: as a stream of frames (each payload as a
//! request), as one request payload, and as one response payload for the
//! api named by its first byte.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use logbus::protocol::{
    ApiKey, decode_frame, decode_request, decode_response, encode_request, encode_response,
};

/// Decodes `payload` as a request; if it decodes, checks the round trip.
fn check_request(payload: Bytes) {
    let Ok((header, body)) = decode_request(payload) else {
        return;
    };
    let mut out = BytesMut::new();
    encode_request(&header, &body, &mut out);
    let again = decode_frame(&mut out, usize::MAX)
        .expect("re-encoded frame")
        .expect("complete frame");
    assert!(out.is_empty());
    assert_eq!(
        decode_request(again).expect("re-encoded request decodes"),
        (header, body)
    );
}

/// Decodes `payload` as a response to `api` v0; if it decodes, checks the round trip.
fn check_response(payload: Bytes, api: ApiKey) {
    let Ok((header, body)) = decode_response(payload, api, 0) else {
        return;
    };
    if !header.error_code.is_ok() {
        // A refused ApiVersions: its body alone is not what encode_response writes.
        return;
    }
    let mut out = BytesMut::new();
    encode_response(header.correlation_id, 0, &body, &mut out);
    let again = decode_frame(&mut out, usize::MAX)
        .expect("re-encoded frame")
        .expect("complete frame");
    assert_eq!(
        decode_response(again, api, 0).expect("re-encoded response decodes"),
        (header, body)
    );
}

fuzz_target!(|data: &[u8]| {
    let mut stream = BytesMut::from(data);
    // A small maximum so oversized prefixes are exercised too.
    while let Ok(Some(frame)) = decode_frame(&mut stream, 1 << 16) {
        check_request(frame);
    }
    let bytes = Bytes::copy_from_slice(data);
    check_request(bytes.clone());
    if let Some((&first, rest)) = data.split_first() {
        let api = ApiKey::ALL[usize::from(first) % ApiKey::ALL.len()];
        check_response(Bytes::copy_from_slice(rest), api);
    }
});
