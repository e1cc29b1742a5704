//! Hostile input to the protocol codec: lengths and counts that promise far
//! more than the frame holds fail fast without allocating by the promise,
//! truncation is never a panic, and fuzz finds stay fixed.
//!
//! A counting global allocator records the largest single allocation made
//! on the current thread, so "without allocating" is measured, not assumed.
// The allocator hook is the one place a test needs `unsafe`: it forwards to
// the system allocator unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use logbus::protocol::{
    ApiKey, MalformedReason, ProtocolError, decode_frame, decode_request, decode_response,
};

struct PeakTracking;

thread_local! {
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` with the same arguments; the
// thread-local is const-initialised, so touching it never allocates.
unsafe impl GlobalAlloc for PeakTracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = PEAK.try_with(|p| p.set(p.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = PEAK.try_with(|p| p.set(p.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakTracking = PeakTracking;

/// Runs `f`, returning its result and the largest allocation it made and
/// asserting it finished within a second.
fn bounded<T>(f: impl FnOnce() -> T) -> (T, usize) {
    PEAK.with(|p| p.set(0));
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    (out, PEAK.with(Cell::get))
}

/// A request payload: header for `api`, null client id, then `body`.
fn request(api: ApiKey, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(api.to_i16());
    out.put_i16(0);
    out.put_i32(77);
    out.put_i16(-1);
    out.put_slice(body);
    out.freeze()
}

#[test]
fn the_peak_tracker_sees_a_large_allocation() {
    let (v, peak) = bounded(|| Vec::<u8>::with_capacity(1 << 20));
    assert!(
        peak >= 1 << 20,
        "tracker missed a {}-byte allocation",
        v.capacity()
    );
}

#[test]
fn an_array_count_of_two_billion_over_eight_bytes_fails_fast_without_allocating() {
    // DeleteTopics: array<string>; the count claims 2^31-1 names.
    let mut body = BytesMut::new();
    body.put_i32(i32::MAX);
    body.put_slice(&[0; 8]);
    let payload = request(ApiKey::DeleteTopics, &body);
    let (result, peak) = bounded(|| decode_request(payload));
    assert_eq!(
        result.unwrap_err(),
        ProtocolError::Malformed {
            message: "DeleteTopicsRequest",
            field: "names",
            reason: MalformedReason::Truncated {
                needed: i32::MAX as usize * 2,
                available: 8
            }
        }
    );
    assert!(peak < 4096, "largest allocation {peak} bytes");
}

#[test]
fn a_nested_huge_count_fails_fast_without_allocating() {
    // Produce: one topic whose partition array claims 2^31-1 entries.
    let mut body = BytesMut::new();
    body.put_i8(1); // durability
    body.put_i32(1000); // timeout
    body.put_i32(1); // one topic
    body.put_i16(1);
    body.put_slice(b"t");
    body.put_i32(i32::MAX);
    body.put_slice(&[0; 16]);
    let (result, peak) = bounded(|| decode_request(request(ApiKey::Produce, &body)));
    assert!(matches!(
        result,
        Err(ProtocolError::Malformed {
            message: "ProduceTopic",
            field: "partitions",
            reason: MalformedReason::Truncated { .. }
        })
    ));
    assert!(peak < 4096, "largest allocation {peak} bytes");
}

#[test]
fn a_string_length_beyond_the_frame_fails_without_allocating_it() {
    let mut body = BytesMut::new();
    body.put_i16(i16::MAX);
    body.put_slice(b"short");
    let (result, peak) = bounded(|| decode_request(request(ApiKey::DescribeGroup, &body)));
    assert!(matches!(
        result,
        Err(ProtocolError::Malformed {
            reason: MalformedReason::Truncated {
                needed: 32767,
                available: 5
            },
            ..
        })
    ));
    assert!(peak < 4096, "largest allocation {peak} bytes");
}

#[test]
fn a_records_length_beyond_the_frame_fails_without_allocating_it() {
    let mut body = BytesMut::new();
    body.put_i8(1);
    body.put_i32(1000);
    body.put_i32(1);
    body.put_i16(1);
    body.put_slice(b"t");
    body.put_i32(1);
    body.put_i32(0); // partition
    body.put_i32(i32::MAX); // records length
    body.put_slice(&[0; 10]);
    let (result, peak) = bounded(|| decode_request(request(ApiKey::Produce, &body)));
    assert!(matches!(
        result,
        Err(ProtocolError::Malformed {
            message: "ProducePartition",
            field: "records",
            ..
        })
    ));
    assert!(peak < 4096, "largest allocation {peak} bytes");
}

#[test]
fn negative_lengths_other_than_null_are_malformed() {
    let mut body = BytesMut::new();
    body.put_i32(-2);
    assert!(matches!(
        decode_request(request(ApiKey::DeleteTopics, &body)),
        Err(ProtocolError::Malformed {
            reason: MalformedReason::NegativeLength { length: -2 },
            ..
        })
    ));
    // A null where the field is not nullable.
    let mut body = BytesMut::new();
    body.put_i32(-1);
    assert!(matches!(
        decode_request(request(ApiKey::DeleteTopics, &body)),
        Err(ProtocolError::Malformed {
            reason: MalformedReason::UnexpectedNull,
            ..
        })
    ));
}

#[test]
fn an_undefined_enum_value_is_malformed() {
    let mut body = BytesMut::new();
    body.put_i8(9); // durability
    body.put_i32(0);
    body.put_i32(0);
    assert!(matches!(
        decode_request(request(ApiKey::Produce, &body)),
        Err(ProtocolError::Malformed {
            message: "ProduceRequest",
            field: "durability",
            reason: MalformedReason::UnknownValue { value: 9 }
        })
    ));
}

#[test]
fn a_huge_frame_prefix_is_refused_without_reserving_it() {
    let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff, 0, 0][..]);
    let (result, peak) = bounded(|| decode_frame(&mut buf, 8 << 20));
    assert!(matches!(result, Err(ProtocolError::FrameTooLarge { .. })));
    assert!(peak < 4096, "largest allocation {peak} bytes");
}

#[test]
fn a_frame_under_the_maximum_reserves_only_what_it_declares() {
    let mut buf = BytesMut::from(&[0, 0, 1, 0, 1, 2][..]);
    let (result, peak) = bounded(|| decode_frame(&mut buf, 8 << 20));
    assert_eq!(result, Ok(None));
    assert!(peak <= 256 + 4 + 64, "largest allocation {peak} bytes");
}

#[test]
fn a_truncated_header_is_malformed_not_a_panic() {
    for cut in 0..8 {
        let payload = request(ApiKey::ListGroups, &[]).slice(..cut);
        assert!(matches!(
            decode_request(payload),
            Err(ProtocolError::Malformed { .. })
        ));
    }
    for cut in 0..6 {
        let payload = Bytes::from(vec![0; cut]);
        assert!(decode_response(payload, ApiKey::ListGroups, 0).is_err());
    }
}

#[test]
fn fuzz_regressions_decode_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/protocol");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let data = Bytes::from(std::fs::read(entry.unwrap().path()).unwrap());
        let _ = decode_request(data.clone());
        for &api in ApiKey::ALL {
            let _ = decode_response(data.clone(), api, 0);
        }
        let mut frames = BytesMut::from(&data[..]);
        while let Ok(Some(frame)) = decode_frame(&mut frames, 1 << 16) {
            let _ = decode_request(frame);
        }
    }
}
