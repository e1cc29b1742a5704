//! Hostile and corrupt input: every rejection is a typed error, nothing
//! panics, and nothing allocates by what a length field claims.

use std::time::{Duration, Instant};

use bytes::Bytes;
use logbus::record::header::{
    ATTRIBUTES, BATCH_LENGTH, CRC, LAST_OFFSET_DELTA, MAGIC, RECORD_COUNT,
};
use logbus::record::{
    BatchBuilder, Compression, HEADER_LEN, Header, Limits, MalformedReason, Record, RecordBatch,
    RecordError, compress, compute_crc, validate, validate_with,
};
use proptest::prelude::*;

/// A valid uncompressed batch of `n` records with keys, values and headers.
fn sample(codec: Compression, n: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec).base_offset(10);
    let headers = [Header {
        key: "h".into(),
        value: Some(Bytes::from_static(b"v")),
    }];
    for i in 0..n {
        b.append(
            1_000 + i,
            Some(b"key"),
            Some(format!("value {i}").as_bytes()),
            &headers,
        )
        .unwrap();
    }
    b.build().unwrap()
}

fn put_i32(batch: &mut [u8], at: usize, v: i32) {
    batch[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Rewrites the CRC so that the batch gets past the CRC check.
fn fix_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A batch with `template`'s header and `payload` as its records, with the
/// length, record count, last offset delta and CRC made consistent.
fn with_payload(template: &[u8], payload: &[u8], count: i32, last_offset_delta: i32) -> Vec<u8> {
    let mut batch = template[..HEADER_LEN].to_vec();
    batch.extend_from_slice(payload);
    let len = (batch.len() - 12) as i32;
    put_i32(&mut batch, BATCH_LENGTH, len);
    put_i32(&mut batch, RECORD_COUNT, count);
    put_i32(&mut batch, LAST_OFFSET_DELTA, last_offset_delta);
    fix_crc(&mut batch);
    batch
}

/// A compressed batch whose payload is `payload` compressed with `codec`.
fn compressed_batch(codec: Compression, payload: &[u8], count: i32) -> Vec<u8> {
    let mut template = sample(Compression::None, 0);
    template[ATTRIBUTES + 1] |= codec.code();
    with_payload(
        &template,
        &compress(codec, payload).unwrap(),
        count,
        count - 1,
    )
}

#[test]
fn valid_batch_is_accepted() {
    for codec in Compression::ALL {
        let header = validate(&sample(codec, 5)).unwrap();
        assert_eq!(header.record_count, 5);
        assert_eq!(header.last_offset(), 14);
    }
}

#[test]
fn truncated_batch_is_rejected_at_every_length() {
    for codec in Compression::ALL {
        let batch = sample(codec, 4);
        for len in 0..batch.len() {
            let err = validate(&batch[..len]).unwrap_err();
            assert!(
                matches!(err, RecordError::Truncated { .. }),
                "{codec:?} len {len}: {err:?}"
            );
        }
    }
}

#[test]
fn bytes_after_the_batch_are_rejected() {
    let mut batch = sample(Compression::None, 2);
    batch.push(0);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::TrailingBytes { extra: 1 })
    ));
}

#[test]
fn batch_above_max_batch_bytes_is_rejected() {
    let batch = sample(Compression::None, 3);
    let limits = Limits {
        max_batch_bytes: batch.len() - 1,
        ..Limits::default()
    };
    assert!(matches!(
        validate_with(&batch, &limits),
        Err(RecordError::BatchTooLarge { size, max }) if size == batch.len() && max == batch.len() - 1
    ));
    let exact = Limits {
        max_batch_bytes: batch.len(),
        ..Limits::default()
    };
    assert!(validate_with(&batch, &exact).is_ok());
}

#[test]
fn wrong_magic_is_rejected() {
    for magic in [0u8, 1, 3, 0xff] {
        let mut batch = sample(Compression::None, 1);
        batch[MAGIC] = magic;
        assert!(
            matches!(validate(&batch), Err(RecordError::UnsupportedMagic { .. })),
            "magic {magic}"
        );
    }
}

#[test]
fn negative_batch_length_is_rejected() {
    let mut batch = sample(Compression::None, 1);
    put_i32(&mut batch, BATCH_LENGTH, -5);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::NegativeLength { length: -5 })
    ));
    put_i32(&mut batch, BATCH_LENGTH, 10);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::BatchTooSmall { length: 10, .. })
    ));
}

#[test]
fn every_flipped_byte_in_the_crc_range_is_a_crc_mismatch() {
    for codec in Compression::ALL {
        let batch = sample(codec, 3);
        for i in 0..batch.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = batch.clone();
                bad[i] ^= mask;
                let result = validate(&bad);
                if i >= ATTRIBUTES || (CRC..CRC + 4).contains(&i) {
                    assert!(
                        matches!(result, Err(RecordError::CrcMismatch { .. })),
                        "{codec:?} byte {i} mask {mask:#x}: {result:?}"
                    );
                } else if i < BATCH_LENGTH || (BATCH_LENGTH + 4..MAGIC).contains(&i) {
                    // Base offset and partition leader epoch are outside the CRC
                    // by design: the broker rewrites them.
                    assert!(result.is_ok(), "{codec:?} byte {i}: {result:?}");
                } else {
                    assert!(
                        result.is_err(),
                        "{codec:?} byte {i} mask {mask:#x} accepted"
                    );
                }
            }
        }
    }
}

#[test]
fn unknown_compression_code_is_rejected() {
    for code in 5..=7 {
        let mut batch = sample(Compression::None, 1);
        batch[ATTRIBUTES + 1] |= code;
        fix_crc(&mut batch);
        assert!(matches!(
            validate(&batch),
            Err(RecordError::UnsupportedCompression { code: c }) if c == code
        ));
    }
}

#[test]
fn negative_record_count_is_rejected() {
    let mut batch = sample(Compression::None, 1);
    put_i32(&mut batch, RECORD_COUNT, -1);
    fix_crc(&mut batch);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::InvalidRecordCount { count: -1 })
    ));
}

#[test]
fn record_count_lie_is_rejected() {
    for codec in Compression::ALL {
        let batch = sample(codec, 3);
        for (count, found) in [(4, 3), (2, 3), (0, 3)] {
            let mut bad = batch.clone();
            put_i32(&mut bad, RECORD_COUNT, count);
            fix_crc(&mut bad);
            let err = validate(&bad).unwrap_err();
            assert!(
                matches!(err, RecordError::RecordCountMismatch { declared, found: f } if declared == count && f == found),
                "{codec:?} count {count}: {err:?}"
            );
        }
    }
}

#[test]
fn huge_record_count_on_a_tiny_batch_fails_fast() {
    for codec in Compression::ALL {
        let mut batch = sample(codec, 1);
        put_i32(&mut batch, RECORD_COUNT, i32::MAX);
        put_i32(&mut batch, LAST_OFFSET_DELTA, i32::MAX);
        fix_crc(&mut batch);
        let start = Instant::now();
        assert!(matches!(
            validate(&batch),
            Err(RecordError::RecordCountMismatch {
                declared: i32::MAX,
                found: 1
            })
        ));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{codec:?} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn malformed_varint_in_a_record_is_rejected() {
    let template = sample(Compression::None, 0);
    // A record length varint with the continuation bit on every byte.
    let batch = with_payload(&template, &[0xff; 12], 1, 0);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::MalformedRecord {
            index: 0,
            reason: MalformedReason::BadVarint(_)
        })
    ));
    // A varint cut short by the end of the batch.
    let batch = with_payload(&template, &[0x80], 1, 0);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::MalformedRecord {
            index: 0,
            reason: MalformedReason::BadVarint(_)
        })
    ));
}

#[test]
fn record_length_not_matching_its_fields_is_rejected() {
    let good = sample(Compression::None, 1);
    let mut payload = good[HEADER_LEN..].to_vec();
    payload[0] -= 2; // zig-zag: declared length one byte shorter
    let batch = with_payload(&good, &payload, 1, 0);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::MalformedRecord {
            index: 0,
            reason: MalformedReason::LengthMismatch
        })
    ));
}

#[test]
fn garbage_after_the_last_record_is_trailing_bytes() {
    let good = sample(Compression::None, 2);
    let mut payload = good[HEADER_LEN..].to_vec();
    payload.extend_from_slice(&[0x7f, 0x01]);
    let batch = with_payload(&good, &payload, 2, 1);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::TrailingBytes { extra: 2 })
    ));
}

#[test]
fn offset_deltas_must_increase_and_stay_within_last_offset_delta() {
    let mut repeated = BatchBuilder::new(Compression::None);
    repeated.append(1, None, None, &[]).unwrap();
    let one = repeated.build().unwrap();
    let record = &one[HEADER_LEN..];
    let twice = [record, record].concat();
    let batch = with_payload(&one, &twice, 2, 0);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::OffsetDeltaMismatch {
            expected: 1,
            found: 0
        })
    ));

    let three = sample(Compression::None, 3);
    let mut batch = three.clone();
    put_i32(&mut batch, LAST_OFFSET_DELTA, 1);
    fix_crc(&mut batch);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::OffsetDeltaMismatch {
            expected: 1,
            found: 2
        })
    ));
}

#[test]
fn record_timestamp_above_max_timestamp_is_rejected() {
    let mut batch = sample(Compression::None, 3);
    let max = i64::from_be_bytes(batch[35..43].try_into().unwrap());
    batch[35..43].copy_from_slice(&(max - 1).to_be_bytes());
    fix_crc(&mut batch);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::TimestampAboveMax { index: 2, .. })
    ));
}

#[test]
fn compacted_batch_keeping_last_offset_delta_is_accepted() {
    let mut b = BatchBuilder::new(Compression::None)
        .base_offset(100)
        .last_offset_delta(9);
    for offset in [101, 104] {
        b.push(&Record {
            offset,
            timestamp: 5,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![],
        })
        .unwrap();
    }
    let batch = RecordBatch::new(b.build().unwrap().into()).unwrap();
    assert_eq!(batch.last_offset(), 109);
    let offsets: Vec<i64> = batch.records().unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [101, 104]);
}

#[test]
fn builder_rejects_offsets_out_of_order_or_range() {
    let rec = |offset| Record {
        offset,
        timestamp: 0,
        key: None,
        value: None,
        headers: vec![],
    };
    let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    assert!(matches!(
        b.push(&rec(9)),
        Err(RecordError::InvalidRecordOffset {
            offset: 9,
            min: 10,
            ..
        })
    ));
    b.push(&rec(12)).unwrap();
    assert!(matches!(
        b.push(&rec(12)),
        Err(RecordError::InvalidRecordOffset { min: 13, .. })
    ));
    let too_far = 10 + i64::from(i32::MAX) + 1;
    assert!(matches!(
        b.push(&rec(too_far)),
        Err(RecordError::InvalidRecordOffset { .. })
    ));
    assert_eq!(b.len(), 1);
    let short = b.clone().last_offset_delta(1);
    assert!(matches!(
        short.build(),
        Err(RecordError::OffsetDeltaMismatch {
            expected: 2,
            found: 1
        })
    ));
    let built = b.build().unwrap();
    assert_eq!(validate(&built).unwrap().last_offset(), 12);
}

#[test]
fn decompression_bomb_is_rejected() {
    // 2 MiB of zeros: a few KiB compressed, over a 1 MiB cap.
    let zeros = vec![0u8; 2 << 20];
    let limits = Limits {
        max_decompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let batch = compressed_batch(codec, &zeros, 1);
        assert!(
            batch.len() < 200_000,
            "{codec:?} bomb is {} bytes",
            batch.len()
        );
        assert!(
            matches!(validate_with(&batch, &limits), Err(RecordError::DecompressedTooLarge { limit }) if limit == 1 << 20),
            "{codec:?}"
        );
        assert!(matches!(
            RecordBatch::with_limits(Bytes::from(batch), &limits),
            Err(RecordError::DecompressedTooLarge { .. })
        ));
    }
}

#[test]
fn zstd_bomb_over_the_default_cap_is_rejected() {
    let zeros = vec![0u8; (64 << 20) + 1];
    let batch = compressed_batch(Compression::Zstd, &zeros, 1);
    assert!(batch.len() < 10_000);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::DecompressedTooLarge { limit }) if limit == 64 << 20
    ));
}

#[test]
fn corrupt_compressed_payload_is_a_decompression_error() {
    let mut template = sample(Compression::None, 0);
    template[ATTRIBUTES + 1] |= Compression::Gzip.code();
    let batch = with_payload(&template, b"not gzip at all", 1, 0);
    assert!(matches!(
        validate(&batch),
        Err(RecordError::Decompression { codec: "gzip", .. })
    ));
}

#[test]
fn fuzz_regressions_are_rejected_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        // Other layers keep their finds in subdirectories (e.g. `protocol/`).
        if path.is_dir() {
            continue;
        }
        let data = std::fs::read(path).unwrap();
        let _ = validate(&data);
        if let Ok(batch) = RecordBatch::new(Bytes::from(data)) {
            batch.records().unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = validate(&data);
        if let Ok(batch) = RecordBatch::new(Bytes::from(data)) {
            prop_assert!(batch.records().is_ok());
        }
    }

    #[test]
    fn arbitrary_records_behind_a_valid_header_never_panic(
        codec in proptest::sample::select(Compression::ALL.to_vec()),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        count in -2i32..8,
        last_offset_delta in -2i32..8,
    ) {
        let mut template = sample(Compression::None, 0);
        template[ATTRIBUTES + 1] |= codec.code();
        let batch = with_payload(&template, &payload, count, last_offset_delta);
        let accepted = validate(&batch).is_ok();
        if let Ok(batch) = RecordBatch::new(Bytes::from(batch)) {
            prop_assert!(accepted);
            prop_assert_eq!(batch.records().unwrap().len(), batch.record_count());
        }
    }
}
