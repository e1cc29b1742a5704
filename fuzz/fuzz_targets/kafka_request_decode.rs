//! Fuzzes the Kafka codec on arbitrary bytes: request frames and response
//! bodies must never panic, and whatever decodes must re-encode to bytes
//! that decode to the same value.
//!
//! The input is tried two ways: as one request frame (without its length
//! prefix), and as a response body of the api and version its first two
//! bytes pick.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use logbus::kafka_codec::{KafkaResponse, SUPPORTED_APIS, decode_request, encode_request};

/// Decodes `frame` as a request; if it decodes, checks the round trip.
fn check_request(frame: Bytes) {
    let Ok((header, body)) = decode_request(frame) else {
        return;
    };
    let again = encode_request(&header, &body).expect("a decoded request re-encodes");
    let (header2, body2) = decode_request(again.slice(4..)).expect("a re-encoded request decodes");
    assert_eq!(header2.correlation_id, header.correlation_id);
    assert_eq!(header2.client_id, header.client_id);
    assert_eq!(body2, body);
}

/// Decodes `body` as a response of the api and version `pick` selects.
fn check_response(pick: &[u8], body: &[u8]) {
    let (api, _, _) = SUPPORTED_APIS[usize::from(pick[0]) % SUPPORTED_APIS.len()];
    let (min, max) = api.codec_versions();
    let version = min + i16::from(pick[1]) % (max - min + 1);
    let mut buf = Bytes::copy_from_slice(body);
    let Ok(decoded) = KafkaResponse::decode(api, &mut buf, version) else {
        return;
    };
    let mut out = BytesMut::new();
    decoded
        .encode(&mut out, version)
        .expect("a decoded response re-encodes");
    let again = KafkaResponse::decode(api, &mut out.freeze(), version)
        .expect("a re-encoded response decodes");
    assert_eq!(again, decoded);
}

fuzz_target!(|data: &[u8]| {
    check_request(Bytes::copy_from_slice(data));
    if data.len() >= 2 {
        check_response(&data[..2], &data[2..]);
    }
});
