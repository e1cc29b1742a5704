//! The Kafka codec on hostile and malformed input: every truncation, huge
//! counts, bad varints and oversized tagged sections get an error, never a
//! panic, and decoding never allocates more than a small multiple of the
//! bytes present. Also the request dispatch: unsupported apis and versions
//! are refused with the header the listener needs to answer.

mod kafka_codec;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_codec::{Rng, Sample};
use logbus::kafka_codec::*;

/// Counts the bytes this thread has live and the peak since the last reset,
/// so a test sees only its own allocations.
struct PeakAlloc;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: allocations during thread teardown are not counted.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_signed(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same layout as asked.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: as `GlobalAlloc::realloc` requires of its caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Runs `f` and returns its result with the peak bytes it had live.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

/// A request frame body (no length prefix): header then `body` bytes.
fn frame(api: ApiKey, version: i16, body: &[u8]) -> Bytes {
    let header = RequestHeader {
        request_api_key: api as i16,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some("hostile".into()),
    };
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, request_header_version(api as i16, version))
        .unwrap();
    buf.put_slice(body);
    buf.freeze()
}

/// The body error of a refused request, checking it carries the header.
fn body_error(result: Result<(RequestHeader, KafkaRequest), KafkaCodecError>) -> KafkaCodecError {
    match result {
        Err(KafkaCodecError::MalformedBody { header, source }) => {
            assert_eq!(header.correlation_id, 7);
            *source
        }
        other => panic!("expected a malformed body, got {other:?}"),
    }
}

/// One sample request of every advertised api and version, as frames
/// without the length prefix.
fn sample_requests() -> Vec<(ApiKey, i16, Bytes)> {
    macro_rules! samples {
        ($($api:ident: $req:ident;)*) => {{
            let mut out = Vec::new();
            $(
                let (min, max) = ApiKey::$api.codec_versions();
                for version in min..=max {
                    for seed in 0..4 {
                        let body = KafkaRequest::$api($req::sample(&mut Rng::new(seed), version));
                        let header = RequestHeader {
                            request_api_key: ApiKey::$api as i16,
                            request_api_version: version,
                            correlation_id: seed as i32,
                            client_id: Some("c".into()),
                        };
                        let whole = encode_request(&header, &body).unwrap();
                        out.push((ApiKey::$api, version, whole.slice(4..)));
                    }
                }
            )*
            out
        }};
    }
    samples! {
        Produce: ProduceRequest; Fetch: FetchRequest; ListOffsets: ListOffsetsRequest;
        Metadata: MetadataRequest; OffsetCommit: OffsetCommitRequest;
        OffsetFetch: OffsetFetchRequest; FindCoordinator: FindCoordinatorRequest;
        JoinGroup: JoinGroupRequest; Heartbeat: HeartbeatRequest; LeaveGroup: LeaveGroupRequest;
        SyncGroup: SyncGroupRequest; DescribeGroups: DescribeGroupsRequest;
        ListGroups: ListGroupsRequest; ApiVersions: ApiVersionsRequest;
        CreateTopics: CreateTopicsRequest; DeleteTopics: DeleteTopicsRequest;
        InitProducerId: InitProducerIdRequest; DescribeConfigs: DescribeConfigsRequest;
        CreatePartitions: CreatePartitionsRequest; DeleteGroups: DeleteGroupsRequest;
        IncrementalAlterConfigs: IncrementalAlterConfigsRequest;
    }
}

/// One sample response body of every advertised api and version.
fn sample_responses() -> Vec<(ApiKey, i16, Bytes)> {
    macro_rules! samples {
        ($($api:ident: $resp:ident;)*) => {{
            let mut out = Vec::new();
            $(
                let (min, max) = ApiKey::$api.codec_versions();
                for version in min..=max {
                    for seed in 0..4 {
                        let body = $resp::sample(&mut Rng::new(seed), version);
                        let mut buf = BytesMut::new();
                        body.encode(&mut buf, version).unwrap();
                        out.push((ApiKey::$api, version, buf.freeze()));
                    }
                }
            )*
            out
        }};
    }
    samples! {
        Produce: ProduceResponse; Fetch: FetchResponse; ListOffsets: ListOffsetsResponse;
        Metadata: MetadataResponse; OffsetCommit: OffsetCommitResponse;
        OffsetFetch: OffsetFetchResponse; FindCoordinator: FindCoordinatorResponse;
        JoinGroup: JoinGroupResponse; Heartbeat: HeartbeatResponse; LeaveGroup: LeaveGroupResponse;
        SyncGroup: SyncGroupResponse; DescribeGroups: DescribeGroupsResponse;
        ListGroups: ListGroupsResponse; ApiVersions: ApiVersionsResponse;
        CreateTopics: CreateTopicsResponse; DeleteTopics: DeleteTopicsResponse;
        InitProducerId: InitProducerIdResponse; DescribeConfigs: DescribeConfigsResponse;
        CreatePartitions: CreatePartitionsResponse; DeleteGroups: DeleteGroupsResponse;
        IncrementalAlterConfigs: IncrementalAlterConfigsResponse;
    }
}

#[test]
fn every_response_truncated_at_every_byte_is_an_error() {
    for (api, version, whole) in sample_responses() {
        let mut all = whole.clone();
        assert!(KafkaResponse::decode(api, &mut all, version).is_ok());
        assert!(all.is_empty());
        for cut in 0..whole.len() {
            let mut part = whole.slice(..cut);
            assert!(
                KafkaResponse::decode(api, &mut part, version).is_err(),
                "{api:?} v{version} response cut at {cut} of {} decoded",
                whole.len()
            );
        }
    }
}

#[test]
fn every_request_truncated_at_every_byte_is_an_error() {
    for (api, version, whole) in sample_requests() {
        let (decoded, _) = decode_request(whole.clone()).unwrap();
        assert_eq!(decoded.request_api_version, version);
        for cut in 0..whole.len() {
            let result = decode_request(whole.slice(..cut));
            assert!(
                result.is_err(),
                "{api:?} v{version} cut at {cut} of {} decoded",
                whole.len()
            );
            // Once the header is whole, the error carries it.
            if let Err(e) = result
                && e.header().is_some()
            {
                assert_eq!(e.header().unwrap().request_api_key, api as i16);
            }
        }
    }
}

#[test]
fn a_frame_with_trailing_bytes_is_malformed() {
    let mut body = BytesMut::new();
    body.put_i16(1);
    body.put_u8(b'g'); // group id
    body.put_i32(1); // generation
    body.put_i16(0); // member id
    assert!(decode_request(frame(ApiKey::Heartbeat, 0, &body)).is_ok());
    body.put_u8(0);
    let error = body_error(decode_request(frame(ApiKey::Heartbeat, 0, &body)));
    assert_eq!(error, KafkaCodecError::TrailingBytes { extra: 1 });
}

#[test]
fn a_huge_array_count_fails_before_allocating() {
    // The 5-byte Metadata v0 body that aborts the kafka-protocol crate:
    // a count of 2^31 - 1 topics.
    let hostile = frame(ApiKey::Metadata, 0, &[0x7f, 0xff, 0xff, 0xff, 0xb6]);
    let (result, peak) = peak_during(|| decode_request(hostile.clone()));
    assert!(matches!(
        body_error(result),
        KafkaCodecError::TooManyElements {
            count: 0x7fff_ffff,
            ..
        }
    ));
    assert!(
        peak < 4096,
        "peak {peak} bytes for a {}-byte frame",
        hostile.len()
    );
    // Under the cap, the count is checked against the bytes left instead.
    let hostile = frame(ApiKey::Metadata, 0, &[0x00, 0x0f, 0x42, 0x3f, 0xb6]);
    let (result, peak) = peak_during(|| decode_request(hostile.clone()));
    assert_eq!(
        body_error(result),
        KafkaCodecError::Truncated {
            needed: 999_999 * 2,
            available: 1
        }
    );
    assert!(
        peak < 4096,
        "peak {peak} bytes for a {}-byte frame",
        hostile.len()
    );
}

#[test]
fn a_huge_compact_count_fails_before_allocating() {
    // Metadata v9 (flexible): a compact count of u32::MAX - 1 topics.
    let hostile = frame(ApiKey::Metadata, 9, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    let (result, peak) = peak_during(|| decode_request(hostile.clone()));
    assert!(matches!(
        body_error(result),
        KafkaCodecError::TooManyElements { max: 1_000_000, .. }
    ));
    assert!(peak < 4096, "peak {peak} bytes");
}

#[test]
fn an_array_above_a_million_elements_is_refused_even_when_the_bytes_are_there() {
    // 1,000,001 topics of two bytes each are present, but Kafka's cap is 1,000,000.
    let count: i32 = 1_000_001;
    let mut body = BytesMut::new();
    body.put_i32(count);
    for _ in 0..count {
        body.put_i16(0);
    }
    let hostile = frame(ApiKey::Metadata, 0, &body);
    assert_eq!(
        body_error(decode_request(hostile)),
        KafkaCodecError::TooManyElements {
            count: 1_000_001,
            max: 1_000_000
        }
    );
}

#[test]
fn a_count_just_above_the_bytes_left_is_truncated() {
    // Three topics claimed, room for two (each at least a 2-byte name length).
    let hostile = frame(ApiKey::Metadata, 0, &[0, 0, 0, 3, 0, 0, 0, 0]);
    assert!(matches!(
        body_error(decode_request(hostile)),
        KafkaCodecError::Truncated {
            needed: 6,
            available: 4
        }
    ));
}

#[test]
fn decoding_allocates_a_bounded_multiple_of_the_frame() {
    // Every element of a Fetch v12 topic array is at least 3 bytes on the
    // wire but about 100 bytes decoded; a frame of claimed-but-empty
    // elements must fail without reserving count x element size.
    let mut body = BytesMut::new();
    for field in [0i32, 0, 0, 0] {
        body.put_i32(field); // replica_id, max_wait_ms, min_bytes, max_bytes
    }
    body.put_i8(0); // isolation_level
    body.put_i32(0); // session_id
    body.put_i32(-1); // session_epoch
    body.put_u8(0xff); // topics: compact count 0x3fff - 1 = 16382 ...
    body.put_u8(0x7f);
    body.put_bytes(0, 3 * 100); // ... but only room for ~100 of them
    let hostile = frame(ApiKey::Fetch, 12, &body);
    let len = hostile.len();
    let (result, peak) = peak_during(|| decode_request(hostile));
    assert!(peak < 64 * len, "peak {peak} bytes for a {len}-byte frame");
    assert!(matches!(
        body_error(result),
        KafkaCodecError::Truncated { .. }
    ));
}

#[test]
fn a_varint_longer_than_five_bytes_is_refused() {
    // Heartbeat v4 (flexible): the group id's compact length runs on.
    let hostile = frame(ApiKey::Heartbeat, 4, &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(
        body_error(decode_request(hostile)),
        KafkaCodecError::BadVarint
    );
}

#[test]
fn a_varint_overflowing_32_bits_is_refused() {
    let hostile = frame(ApiKey::Heartbeat, 4, &[0xff, 0xff, 0xff, 0xff, 0x1f]);
    assert_eq!(
        body_error(decode_request(hostile)),
        KafkaCodecError::BadVarint
    );
}

/// A Heartbeat v4 body up to its tagged-field section.
fn heartbeat_v4_fields() -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u8(2); // group id "g", compact
    body.put_u8(b'g');
    body.put_i32(1); // generation
    body.put_u8(2); // member id "m"
    body.put_u8(b'm');
    body.put_u8(0); // group instance id: null
    body
}

#[test]
fn more_than_ten_thousand_tagged_fields_are_refused() {
    let mut body = heartbeat_v4_fields();
    body.put_u8(0x91); // 10,001 as a varint
    body.put_u8(0x4e);
    for tag in 0..10_001u32 {
        body.put_u8((tag % 100) as u8 + 10); // tag (one byte), unknown
        body.put_u8(0); // empty value
    }
    assert_eq!(
        body_error(decode_request(frame(ApiKey::Heartbeat, 4, &body))),
        KafkaCodecError::TooManyTaggedFields {
            count: 10_001,
            max: 10_000
        }
    );
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    let mut body = heartbeat_v4_fields();
    body.put_u8(2); // two tagged fields
    body.put_slice(&[40, 3, 1, 2, 3]); // tag 40, 3 bytes
    body.put_slice(&[41, 0]); // tag 41, empty
    let (_, request) = decode_request(frame(ApiKey::Heartbeat, 4, &body)).unwrap();
    let KafkaRequest::Heartbeat(heartbeat) = request else {
        panic!("not a heartbeat: {request:?}");
    };
    assert_eq!(heartbeat.group_id, "g");
    assert_eq!(heartbeat.member_id, "m");
    assert_eq!(heartbeat.group_instance_id, None);
}

#[test]
fn a_tagged_field_claiming_more_bytes_than_left_is_truncated() {
    let mut body = heartbeat_v4_fields();
    body.put_slice(&[1, 40, 0x7f]); // one field, tag 40, 127 bytes claimed
    assert!(matches!(
        body_error(decode_request(frame(ApiKey::Heartbeat, 4, &body))),
        KafkaCodecError::Truncated { needed: 127, .. }
    ));
}

#[test]
fn a_null_in_a_non_nullable_field_is_malformed() {
    // Heartbeat v0: group id is a non-nullable string.
    let mut body = BytesMut::new();
    body.put_i16(-1);
    body.put_i32(1);
    body.put_i16(0);
    assert_eq!(
        body_error(decode_request(frame(ApiKey::Heartbeat, 0, &body))),
        KafkaCodecError::UnexpectedNull
    );
}

#[test]
fn a_negative_length_below_null_is_malformed() {
    let mut body = BytesMut::new();
    body.put_i16(-2);
    assert_eq!(
        body_error(decode_request(frame(ApiKey::Heartbeat, 0, &body))),
        KafkaCodecError::NegativeLength { length: -2 }
    );
}

#[test]
fn invalid_utf8_in_a_string_is_malformed() {
    let mut body = BytesMut::new();
    body.put_i16(2);
    body.put_slice(&[0xc3, 0x28]);
    body.put_i32(1);
    body.put_i16(0);
    assert_eq!(
        body_error(decode_request(frame(ApiKey::Heartbeat, 0, &body))),
        KafkaCodecError::InvalidUtf8
    );
}

#[test]
fn a_frame_shorter_than_the_fixed_header_has_no_header() {
    let error = decode_request(Bytes::from_static(&[0, 18, 0, 3, 0, 0, 0])).unwrap_err();
    assert!(matches!(
        error,
        KafkaCodecError::Truncated {
            needed: 8,
            available: 7
        }
    ));
    assert_eq!(error.header(), None);
}

#[test]
fn an_unknown_api_is_refused_with_its_header() {
    let mut buf = BytesMut::new();
    buf.put_i16(57); // not served
    buf.put_i16(0);
    buf.put_i32(99);
    buf.put_i16(-1);
    let error = decode_request(buf.freeze()).unwrap_err();
    let KafkaCodecError::UnsupportedApi { header } = &error else {
        panic!("{error:?}");
    };
    assert_eq!((header.request_api_key, header.correlation_id), (57, 99));
}

#[test]
fn a_too_new_api_versions_is_refused_with_its_header_for_the_kip_511_fallback() {
    // ApiVersions v5 (Kafka 4.4's clients open with it): flexible header v2.
    let hostile = frame(ApiKey::ApiVersions, 5, &[3, b'j', b'v', 2, b'5', 0]);
    let error = decode_request(hostile).unwrap_err();
    let KafkaCodecError::UnsupportedVersion { header } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(header.request_api_version, 5);
    assert_eq!(header.correlation_id, 7);
    assert_eq!(header.client_id.as_deref(), Some("hostile"));
}

#[test]
fn produce_below_v3_is_advertised_but_refused() {
    assert!(SUPPORTED_APIS.contains(&(ApiKey::Produce, 0, 12)));
    assert_eq!(ApiKey::Produce.codec_versions(), (3, 12));
    let error = decode_request(frame(ApiKey::Produce, 2, &[0; 16])).unwrap_err();
    assert!(matches!(error, KafkaCodecError::UnsupportedVersion { .. }));
    assert_eq!(error.header().unwrap().request_api_version, 2);
}

#[test]
fn the_advertised_table_is_kafkas_first_logbus_set() {
    let table: Vec<(i16, i16, i16)> = SUPPORTED_APIS
        .iter()
        .map(|(api, min, max)| (*api as i16, *min, *max))
        .collect();
    assert_eq!(
        table,
        [
            (0, 0, 12),
            (1, 4, 12),
            (2, 1, 7),
            (3, 0, 12),
            (8, 2, 8),
            (9, 1, 7),
            (10, 0, 3),
            (11, 0, 9),
            (12, 0, 4),
            (13, 0, 5),
            (14, 0, 5),
            (15, 0, 5),
            (16, 0, 4),
            (18, 0, 4),
            (19, 2, 7),
            (20, 1, 6),
            (22, 0, 4),
            (32, 1, 4),
            (37, 0, 3),
            (42, 0, 2),
            (44, 0, 1),
        ]
    );
    for (api, min, max) in SUPPORTED_APIS {
        let (cmin, cmax) = api.codec_versions();
        assert!(*min <= cmin && cmax == *max, "{api:?}");
    }
}

#[test]
fn api_versions_responses_use_header_v0_even_when_flexible() {
    let body = KafkaResponse::ApiVersions(ApiVersionsResponse {
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        }],
        ..Default::default()
    });
    let whole = encode_response(42, ApiKey::ApiVersions, 3, &body).unwrap();
    let len = i32::from_be_bytes(whole[..4].try_into().unwrap());
    assert_eq!(len as usize, whole.len() - 4);
    // Correlation id, then the body's error code: no tagged-field byte between.
    assert_eq!(&whole[4..8], &42i32.to_be_bytes());
    assert_eq!(&whole[8..10], &0i16.to_be_bytes());
    let mut rest = whole.slice(8..);
    assert_eq!(
        ApiVersionsResponse::decode(&mut rest, 3).map(|_| rest.len()),
        Ok(0)
    );
}

#[test]
fn flexible_responses_use_header_v1() {
    let body = KafkaResponse::Heartbeat(HeartbeatResponse {
        throttle_time_ms: 5,
        error_code: 27,
    });
    let whole = encode_response(9, ApiKey::Heartbeat, 4, &body).unwrap();
    // prefix, correlation id, empty tagged section, throttle, error, empty tagged section
    assert_eq!(
        &whole[..],
        &[0, 0, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0, 5, 0, 27, 0]
    );
    let whole = encode_response(9, ApiKey::Heartbeat, 0, &body).unwrap();
    assert_eq!(&whole[..], &[0, 0, 0, 6, 0, 0, 0, 9, 0, 27]);
}

#[test]
fn a_response_body_of_another_api_or_version_is_not_encoded() {
    let body = KafkaResponse::Heartbeat(HeartbeatResponse::default());
    assert!(matches!(
        encode_response(1, ApiKey::Metadata, 1, &body),
        Err(KafkaCodecError::VersionNotEncodable { .. })
    ));
    assert!(matches!(
        encode_response(1, ApiKey::Heartbeat, 5, &body),
        Err(KafkaCodecError::VersionNotEncodable { .. })
    ));
}

#[test]
fn a_null_where_the_version_forbids_it_is_an_encode_error() {
    let body = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    assert!(body.encode(&mut buf, 1).is_ok());
    assert_eq!(
        body.encode(&mut BytesMut::new(), 0),
        Err(KafkaCodecError::NullNotAllowed {
            field: "MetadataRequest.topics"
        })
    );
}

#[test]
fn record_batches_are_slices_of_the_frame() {
    let records = Bytes::from(vec![0xab; 300]);
    let body = KafkaRequest::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records.clone()),
            }],
        }],
        ..Default::default()
    });
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 1,
        client_id: None,
    };
    let whole = encode_request(&header, &body).unwrap().slice(4..);
    let range = whole.as_ptr_range();
    let (_, decoded) = decode_request(whole.clone()).unwrap();
    let KafkaRequest::Produce(produce) = decoded else {
        panic!()
    };
    let got = produce.topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    assert_eq!(got, records);
    assert!(
        range.contains(&got.as_ptr()),
        "records were copied out of the frame"
    );
}

#[test]
fn mutated_requests_never_panic_and_what_decodes_round_trips() {
    let mut rng = Rng::new(0x006b_6166_6b61);
    for (api, version, whole) in sample_requests() {
        for _ in 0..50 {
            let mut bytes = BytesMut::from(&whole[..]);
            for _ in 0..=rng.below(3) {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = match rng.below(4) {
                    0 => 0xff,
                    1 => 0x00,
                    2 => 0x7f,
                    _ => rng.any::<u8>(),
                };
            }
            let frame = bytes.freeze();
            let len = frame.len();
            let (decoded, peak) = peak_during(|| decode_request(frame));
            // Decoded values take more room than their wire form (a 2-byte
            // topic entry becomes a 40-byte struct), but only by a bounded
            // factor of the bytes present.
            assert!(
                peak <= 64 * len + 4096,
                "{api:?} v{version}: peak {peak} bytes for a {len}-byte frame"
            );
            let Ok((header, body)) = decoded else {
                continue;
            };
            let again = encode_request(&header, &body)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: decoded {body:?} re-encodes: {e}"));
            let (header2, body2) = decode_request(again.slice(4..)).unwrap();
            assert_eq!((header2, body2), (header, body), "{api:?} v{version}");
        }
    }
}

/// A Fetch response carrying `records` in one partition.
fn fetch_response(records: Bytes) -> KafkaResponse {
    KafkaResponse::Fetch(FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "t".into(),
            partitions: vec![PartitionData {
                high_watermark: 10,
                records: Some(records),
                ..Default::default()
            }],
        }],
        ..Default::default()
    })
}

#[test]
fn long_record_batches_are_shared_into_response_parts_not_copied() {
    let records = Bytes::from(vec![0x5a; SHARE_MIN]);
    let body = fetch_response(records.clone());
    for version in [4, 12] {
        let parts = encode_response_parts(3, ApiKey::Fetch, version, &body).unwrap();
        let whole = encode_response(3, ApiKey::Fetch, version, &body).unwrap();
        assert_eq!(parts.concat(), whole.to_vec(), "v{version}");
        assert!(
            parts.iter().any(|part| part.as_ptr() == records.as_ptr()),
            "v{version}: the batch was copied"
        );
    }
}

#[test]
fn short_record_batches_are_copied_into_one_part() {
    let body = fetch_response(Bytes::from(vec![0x5a; SHARE_MIN - 1]));
    let parts = encode_response_parts(3, ApiKey::Fetch, 12, &body).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(
        parts[0],
        encode_response(3, ApiKey::Fetch, 12, &body).unwrap()
    );
}
