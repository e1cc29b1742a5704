//! Round trips of every message type and of whole frames, and the typed
//! errors for refused requests. Hostile-input tests live in
//! `tests/protocol_hostile.rs`.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::arb::Arb;
use super::*;

/// Checks `decode(encode(x)) == x`, that decoding consumes exactly the
/// encoding, and that `MIN_LEN` is a lower bound (the array allocation bound
/// relies on it never overestimating).
fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: &T) -> Result<(), TestCaseError> {
    let mut encoder = Encoder::new();
    value.encode(0, &mut encoder);
    let mut out = BytesMut::new();
    for part in encoder.into_parts() {
        out.put_slice(&part);
    }
    let encoded_len = out.len();
    prop_assert!(
        encoded_len >= T::MIN_LEN,
        "{encoded_len} < MIN_LEN {}",
        T::MIN_LEN
    );
    let mut buf = out.freeze();
    let decoded = T::decode(&mut buf, 0);
    prop_assert_eq!(decoded.as_ref(), Ok(value));
    prop_assert_eq!(
        buf.len(),
        0,
        "decode left bytes of a {}-byte encoding",
        encoded_len
    );
    Ok(())
}

macro_rules! round_trips {
    ($($test:ident: $ty:ty,)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]
            $(
                #[test]
                fn $test(value in <$ty as Arb>::arb()) {
                    round_trip(&value)?;
                }
            )*
        }
    };
}

round_trips! {
    api_versions_request_round_trips: ApiVersionsRequest,
    api_versions_response_round_trips: ApiVersionsResponse,
    create_topics_request_round_trips: CreateTopicsRequest,
    create_topics_response_round_trips: CreateTopicsResponse,
    delete_topics_request_round_trips: DeleteTopicsRequest,
    delete_topics_response_round_trips: DeleteTopicsResponse,
    list_topics_request_round_trips: ListTopicsRequest,
    list_topics_response_round_trips: ListTopicsResponse,
    describe_topics_request_round_trips: DescribeTopicsRequest,
    describe_topics_response_round_trips: DescribeTopicsResponse,
    create_partitions_request_round_trips: CreatePartitionsRequest,
    create_partitions_response_round_trips: CreatePartitionsResponse,
    produce_request_round_trips: ProduceRequest,
    produce_response_round_trips: ProduceResponse,
    fetch_request_round_trips: FetchRequest,
    fetch_response_round_trips: FetchResponse,
    list_offsets_request_round_trips: ListOffsetsRequest,
    list_offsets_response_round_trips: ListOffsetsResponse,
    init_producer_id_request_round_trips: InitProducerIdRequest,
    init_producer_id_response_round_trips: InitProducerIdResponse,
    join_group_request_round_trips: JoinGroupRequest,
    join_group_response_round_trips: JoinGroupResponse,
    heartbeat_request_round_trips: HeartbeatRequest,
    heartbeat_response_round_trips: HeartbeatResponse,
    leave_group_request_round_trips: LeaveGroupRequest,
    leave_group_response_round_trips: LeaveGroupResponse,
    offset_commit_request_round_trips: OffsetCommitRequest,
    offset_commit_response_round_trips: OffsetCommitResponse,
    offset_fetch_request_round_trips: OffsetFetchRequest,
    offset_fetch_response_round_trips: OffsetFetchResponse,
    list_groups_request_round_trips: ListGroupsRequest,
    list_groups_response_round_trips: ListGroupsResponse,
    describe_group_request_round_trips: DescribeGroupRequest,
    describe_group_response_round_trips: DescribeGroupResponse,
    reset_offsets_request_round_trips: ResetOffsetsRequest,
    reset_offsets_response_round_trips: ResetOffsetsResponse,
    delete_groups_request_round_trips: DeleteGroupsRequest,
    delete_groups_response_round_trips: DeleteGroupsResponse,
}

/// Every api has a request and a response test above: adding an api to the
/// table without extending `round_trips!` trips this count.
#[test]
fn the_round_trip_list_covers_every_api() {
    assert_eq!(ApiKey::ALL.len(), 19);
}

fn header_strategy() -> impl Strategy<Value = (i32, Option<String>)> {
    (any::<i32>(), <Option<String> as Arb>::arb())
}

fn framed_request(correlation_id: i32, client_id: Option<String>, body: &RequestBody) -> Bytes {
    let header = RequestHeader {
        api_key: body.api_key(),
        api_version: 0,
        correlation_id,
        client_id,
    };
    let mut out = BytesMut::new();
    encode_request(&header, body, &mut out);
    decode_frame(&mut out, usize::MAX).unwrap().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_framed_request_round_trips_with_its_header(
        (correlation_id, client_id) in header_strategy(),
        body in RequestBody::arb(),
    ) {
        let payload = framed_request(correlation_id, client_id.clone(), &body);
        let (header, decoded) = decode_request(payload).unwrap();
        prop_assert_eq!(header.api_key, body.api_key());
        prop_assert_eq!(header.correlation_id, correlation_id);
        prop_assert_eq!(header.client_id, client_id);
        prop_assert_eq!(decoded, body);
    }

    #[test]
    fn a_framed_response_round_trips_with_its_correlation_id(
        correlation_id in any::<i32>(),
        body in ResponseBody::arb(),
    ) {
        let mut out = BytesMut::new();
        encode_response(correlation_id, 0, &body, &mut out);
        let payload = decode_frame(&mut out, usize::MAX).unwrap().unwrap();
        prop_assert_eq!(peek_correlation_id(&payload), Ok(correlation_id));
        let (header, decoded) = decode_response(payload, body.api_key(), 0).unwrap();
        prop_assert_eq!(header, ResponseHeader { correlation_id, error_code: ErrorCode::None });
        prop_assert_eq!(decoded, body);
    }

    #[test]
    fn every_strict_prefix_of_a_request_is_an_error(body in RequestBody::arb()) {
        let payload = framed_request(7, Some("c".into()), &body);
        for cut in 0..payload.len() {
            prop_assert!(decode_request(payload.slice(..cut)).is_err(), "cut at {}", cut);
        }
    }

    #[test]
    fn every_strict_prefix_of_a_response_is_an_error(body in ResponseBody::arb()) {
        let mut out = BytesMut::new();
        encode_response(7, 0, &body, &mut out);
        let payload = decode_frame(&mut out, usize::MAX).unwrap().unwrap();
        for cut in 0..payload.len() {
            prop_assert!(decode_response(payload.slice(..cut), body.api_key(), 0).is_err());
        }
    }

    #[test]
    fn a_byte_after_the_body_is_trailing_bytes(body in RequestBody::arb()) {
        let payload = framed_request(7, None, &body);
        let mut longer = BytesMut::from(&payload[..]);
        longer.put_u8(0);
        let result = decode_request(longer.freeze());
        prop_assert!(
            matches!(result, Err(ProtocolError::TrailingBytes { extra: 1, .. })),
            "{:?}", result
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        key in 0i16..19,
    ) {
        let bytes = Bytes::from(data);
        let _ = decode_request(bytes.clone());
        let api = ApiKey::from_i16(key).unwrap();
        let _ = decode_response(bytes.clone(), api, 0);
        let mut frames = BytesMut::from(&bytes[..]);
        while let Ok(Some(frame)) = decode_frame(&mut frames, 64) {
            let _ = decode_request(frame);
        }
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        key in 0i16..19,
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut payload = BytesMut::new();
        payload.put_i16(key);
        payload.put_i16(0);
        payload.put_i32(1);
        payload.put_i16(-1);
        payload.put_slice(&body);
        if let Ok((header, decoded)) = decode_request(payload.freeze()) {
            // Whatever decodes re-encodes to something that decodes the same.
            let again = framed_request(header.correlation_id, header.client_id.clone(), &decoded);
            prop_assert_eq!(decode_request(again).unwrap(), (header, decoded));
        }
        let mut response = BytesMut::new();
        response.put_i32(1);
        response.put_i16(0);
        response.put_slice(&body);
        let _ = decode_response(response.freeze(), ApiKey::from_i16(key).unwrap(), 0);
    }
}

fn raw_header(key: i16, version: i16, correlation_id: i32) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(key);
    out.put_i16(version);
    out.put_i32(correlation_id);
    out.put_i16(-1);
    out.freeze()
}

#[test]
fn an_unknown_api_key_is_unsupported_api_with_the_correlation_id() {
    let err = decode_request(raw_header(999, 0, 42)).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::UnsupportedApi {
            key: 999,
            correlation_id: 42
        }
    );
    assert_eq!(err.correlation_id(), Some(42));
    assert!(!err.is_fatal());
}

#[test]
fn an_unsupported_version_is_typed_with_the_correlation_id() {
    let err = decode_request(raw_header(ApiKey::Produce.to_i16(), 5, -3)).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::UnsupportedVersion {
            key: 6,
            version: 5,
            correlation_id: -3
        }
    );
    assert!(!err.is_fatal());
}

#[test]
fn a_malformed_body_is_fatal_and_names_the_field() {
    let mut payload = BytesMut::from(&raw_header(ApiKey::DescribeGroup.to_i16(), 0, 1)[..]);
    payload.put_i16(5);
    payload.put_slice(b"ab");
    let err = decode_request(payload.freeze()).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::Malformed {
            message: "DescribeGroupRequest",
            field: "group_id",
            reason: MalformedReason::Truncated {
                needed: 5,
                available: 2
            }
        }
    );
    assert!(err.is_fatal());
}

#[test]
fn a_non_utf8_string_is_malformed() {
    let mut payload = BytesMut::from(&raw_header(ApiKey::DescribeGroup.to_i16(), 0, 1)[..]);
    payload.put_i16(2);
    payload.put_slice(&[0xc3, 0x28]);
    assert!(matches!(
        decode_request(payload.freeze()),
        Err(ProtocolError::Malformed {
            reason: MalformedReason::InvalidUtf8,
            ..
        })
    ));
}

#[test]
fn a_refused_request_decodes_as_refused_on_the_client() {
    let mut out = BytesMut::new();
    encode_refusal(9, ApiKey::Produce.to_i16(), &mut out);
    let payload = decode_frame(&mut out, 1024).unwrap().unwrap();
    assert_eq!(
        decode_response(payload, ApiKey::Produce, 0),
        Err(ProtocolError::Refused {
            correlation_id: 9,
            error_code: 35
        })
    );
}

#[test]
fn a_refused_api_versions_still_lists_the_supported_versions() {
    // A client asking with a version from the future gets the v0 answer.
    let err = decode_request(raw_header(ApiKey::ApiVersions.to_i16(), 3, 1)).unwrap_err();
    let ProtocolError::UnsupportedVersion {
        key,
        correlation_id,
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    let mut out = BytesMut::new();
    encode_refusal(correlation_id, key, &mut out);
    let payload = decode_frame(&mut out, 1024).unwrap().unwrap();
    let (header, body) = decode_response(payload, ApiKey::ApiVersions, 3).unwrap();
    assert_eq!(header.error_code, ErrorCode::UnsupportedVersion);
    let ResponseBody::ApiVersions(versions) = body else {
        panic!("{body:?}");
    };
    assert_eq!(versions.error_code, ErrorCode::UnsupportedVersion);
    assert_eq!(versions.api_keys.len(), ApiKey::ALL.len());
    assert_eq!(versions.negotiate(ApiKey::Fetch), Some(1));
}

#[test]
fn negotiation_picks_the_highest_shared_version_or_none() {
    let mut theirs = ApiVersionsResponse::supported(ErrorCode::None);
    assert_eq!(theirs.negotiate(ApiKey::Produce), Some(0));
    theirs
        .api_keys
        .retain(|r| r.api_key != ApiKey::Produce.to_i16());
    theirs.api_keys.push(ApiVersionRange {
        api_key: ApiKey::Produce.to_i16(),
        min_version: 1,
        max_version: 4,
    });
    assert_eq!(theirs.negotiate(ApiKey::Produce), None);
}

#[test]
fn produce_records_are_slices_of_the_frame_not_copies() {
    let body = RequestBody::Produce(ProduceRequest {
        durability: Durability::Fsync,
        timeout_ms: 1000,
        topics: vec![ProduceTopic {
            name: "t".into(),
            partitions: vec![ProducePartition {
                partition: 0,
                records: Bytes::from_static(&[9; 100]),
            }],
        }],
    });
    let payload = framed_request(1, None, &body);
    let range = payload.as_ptr_range();
    let (_, RequestBody::Produce(decoded)) = decode_request(payload.clone()).unwrap() else {
        panic!("not a produce");
    };
    let records = &decoded.topics[0].partitions[0].records;
    assert!(range.contains(&records.as_ptr()), "records were copied");
}

/// The parts of a frame, one after the other, as a reader receives them.
fn joined(parts: &[Bytes]) -> BytesMut {
    parts.iter().fold(BytesMut::new(), |mut b, p| {
        b.put_slice(p);
        b
    })
}

/// Large record batches travel as parts of their own: encoding copies
/// neither a produced nor a fetched batch, and the parts decode to the value.
#[test]
fn large_batches_are_shared_parts_of_the_frame_not_copies() {
    let batch = Bytes::from(vec![9u8; 100 * 1024]);
    let request = RequestBody::Produce(ProduceRequest {
        durability: Durability::Written,
        timeout_ms: 1000,
        topics: vec![ProduceTopic {
            name: "t".into(),
            partitions: vec![ProducePartition {
                partition: 0,
                records: batch.clone(),
            }],
        }],
    });
    let response = ResponseBody::Fetch(FetchResponse {
        error_code: ErrorCode::None,
        topics: vec![FetchTopicResponse {
            name: "t".into(),
            partitions: vec![
                FetchPartitionResponse {
                    partition: 0,
                    error_code: ErrorCode::None,
                    high_watermark: 7,
                    log_start_offset: 0,
                    records: batch.clone(),
                },
                FetchPartitionResponse {
                    partition: 1,
                    error_code: ErrorCode::None,
                    high_watermark: 3,
                    log_start_offset: 1,
                    records: batch.slice(..10),
                },
            ],
        }],
    });
    let header = RequestHeader {
        api_key: ApiKey::Produce,
        api_version: 0,
        correlation_id: 5,
        client_id: Some("c".into()),
    };
    let parts = encode_request_parts(&header, &request);
    assert!(
        parts.iter().any(|p| p.as_ptr() == batch.as_ptr()),
        "produced batch copied"
    );
    let mut whole = joined(&parts);
    let payload = decode_frame(&mut whole, DEFAULT_MAX_FRAME)
        .unwrap()
        .unwrap();
    assert_eq!(decode_request(payload).unwrap(), (header, request));

    let parts = encode_response_parts(5, 0, &response);
    assert!(
        parts.iter().any(|p| p.as_ptr() == batch.as_ptr()),
        "fetched batch copied"
    );
    let mut whole = joined(&parts);
    let payload = decode_frame(&mut whole, DEFAULT_MAX_FRAME)
        .unwrap()
        .unwrap();
    let (_, decoded) = decode_response(payload, ApiKey::Fetch, 0).unwrap();
    assert_eq!(decoded, response);
}

#[test]
fn api_keys_are_stable() {
    let keys: Vec<(i16, &str)> = ApiKey::ALL.iter().map(|k| (k.to_i16(), k.name())).collect();
    assert_eq!(
        keys,
        [
            (0, "ApiVersions"),
            (1, "CreateTopics"),
            (2, "DeleteTopics"),
            (3, "ListTopics"),
            (4, "DescribeTopics"),
            (5, "CreatePartitions"),
            (6, "Produce"),
            (7, "Fetch"),
            (8, "ListOffsets"),
            (9, "InitProducerId"),
            (10, "JoinGroup"),
            (11, "Heartbeat"),
            (12, "LeaveGroup"),
            (13, "OffsetCommit"),
            (14, "OffsetFetch"),
            (15, "ListGroups"),
            (16, "DescribeGroup"),
            (17, "ResetOffsets"),
            (18, "DeleteGroups"),
        ]
    );
}

#[test]
fn a_fetch_carries_its_member_from_v1_and_v0_ignores_it() {
    let request = FetchRequest {
        max_wait_ms: 5,
        min_bytes: 1,
        max_bytes: 100,
        isolation_level: IsolationLevel::ReadUncommitted,
        group_id: Some("g".into()),
        topics: Vec::new(),
        member: Since(FetchMember {
            member_id: "m-1".into(),
            member_epoch: 7,
        }),
    };
    let mut out = Encoder::new();
    request.encode(1, &mut out);
    let v1: Bytes = out.into_parts().concat().into();
    assert_eq!(FetchRequest::decode(&mut v1.clone(), 1).unwrap(), request);
    let mut out = Encoder::new();
    request.encode(0, &mut out);
    let v0: Bytes = out.into_parts().concat().into();
    assert_eq!(v0.len() + 2 + 3 + 4, v1.len(), "v0 carries no member");
    let decoded = FetchRequest::decode(&mut v0.clone(), 0).unwrap();
    assert_eq!(decoded.member, Since(FetchMember::default()));
}
