//! Property tests: whatever `BatchBuilder` writes, `RecordBatch` reads back
//! unchanged, for every codec; uncompressed sizes match an independent count.

use bytes::Bytes;
use logbus::record::varint::{varint_len, varlong_len};
use logbus::record::{
    BatchBuilder, Compression, HEADER_LEN, Header, NO_TIMESTAMP, Record, RecordBatch,
};
use proptest::prelude::*;

/// One record's inputs: offset gap from the previous record, timestamp, key,
/// value and headers.
type RecordSpec = (
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

/// Inputs for one batch.
#[derive(Debug, Clone)]
struct Spec {
    codec: Compression,
    base_offset: i64,
    producer: (i64, i16, i32),
    transactional: bool,
    log_append_time: bool,
    records: Vec<RecordSpec>,
}

fn bytes_opt(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max))
}

fn spec() -> impl Strategy<Value = Spec> {
    let record = (
        0i64..5,
        prop_oneof![
            1_600_000_000_000i64..1_800_000_000_000,
            any::<i64>(), // extremes: deltas wrap, as Java's long arithmetic does
        ],
        bytes_opt(24),
        bytes_opt(300),
        proptest::collection::vec(("\\PC{0,6}", bytes_opt(12)), 0..4),
    );
    (
        proptest::sample::select(Compression::ALL.to_vec()),
        0i64..1 << 50,
        (any::<i64>(), any::<i16>(), any::<i32>()),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(record, 0..24),
    )
        .prop_map(
            |(codec, base_offset, producer, transactional, log_append_time, records)| Spec {
                codec,
                base_offset,
                producer,
                transactional,
                log_append_time,
                records,
            },
        )
}

/// The records a spec describes, with absolute offsets (gaps kept).
fn records_of(spec: &Spec) -> Vec<Record> {
    let mut offset = spec.base_offset - 1;
    spec.records
        .iter()
        .map(|(gap, ts, key, value, headers)| {
            // Gaps, including before the first record, are what compaction leaves.
            offset += 1 + gap;
            Record {
                offset,
                timestamp: *ts,
                key: key.clone().map(Bytes::from),
                value: value.clone().map(Bytes::from),
                headers: headers
                    .iter()
                    .map(|(k, v)| Header {
                        key: k.clone(),
                        value: v.clone().map(Bytes::from),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Size of one record counted from the layout, independently of the encoder.
fn expected_record_len(r: &Record, base_offset: i64, base_ts: i64) -> usize {
    let field = |b: Option<&[u8]>| b.map_or(1, |b| varint_len(b.len() as i32) + b.len());
    let mut body = 1
        + varlong_len(r.timestamp.wrapping_sub(base_ts))
        + varint_len((r.offset - base_offset) as i32)
        + field(r.key.as_deref())
        + field(r.value.as_deref())
        + varint_len(r.headers.len() as i32);
    for h in &r.headers {
        body += field(Some(h.key.as_bytes())) + field(h.value.as_deref());
    }
    varint_len(body as i32) + body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn built_batches_decode_to_their_input(spec in spec()) {
        let input = records_of(&spec);
        let (pid, epoch, seq) = spec.producer;
        let mut builder = BatchBuilder::new(spec.codec)
            .base_offset(spec.base_offset)
            .producer(pid, epoch, seq)
            .transactional(spec.transactional)
            .log_append_time(spec.log_append_time);
        for r in &input {
            builder.push(r).unwrap();
        }
        prop_assert_eq!(builder.len(), input.len());
        let estimated = builder.estimated_size();
        let bytes = builder.build().unwrap();

        let batch = RecordBatch::new(Bytes::from(bytes.clone())).unwrap();
        let h = *batch.header();
        let max = input.iter().map(|r| r.timestamp).max();
        let base_ts = input.first().map_or(NO_TIMESTAMP, |r| r.timestamp);
        prop_assert_eq!(batch.compression(), spec.codec);
        prop_assert_eq!(h.base_offset, spec.base_offset);
        prop_assert_eq!(h.record_count as usize, input.len());
        prop_assert_eq!(h.base_timestamp, base_ts);
        prop_assert_eq!(h.max_timestamp, max.unwrap_or(NO_TIMESTAMP));
        prop_assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), spec.producer);
        prop_assert_eq!(h.is_transactional(), spec.transactional);
        prop_assert_eq!(h.is_log_append_time(), spec.log_append_time);
        prop_assert_eq!(
            batch.last_offset(),
            input.last().map_or(spec.base_offset - 1, |r| r.offset)
        );

        let mut expected = input.clone();
        if spec.log_append_time {
            // Readers report the batch's max timestamp for every record.
            for r in &mut expected {
                r.timestamp = h.max_timestamp;
            }
        }
        prop_assert_eq!(batch.records().unwrap(), expected);

        if spec.codec == Compression::None {
            let sum: usize = input
                .iter()
                .map(|r| expected_record_len(r, spec.base_offset, base_ts))
                .sum();
            prop_assert_eq!(bytes.len(), HEADER_LEN + sum);
            prop_assert_eq!(estimated, bytes.len());
        }
    }

    #[test]
    fn appended_records_get_consecutive_offsets(base in 0i64..1 << 40, n in 0usize..20) {
        let mut builder = BatchBuilder::new(Compression::None).base_offset(base);
        for i in 0..n {
            let predicted = builder.estimated_size_with(1_000 + i as i64, Some(b"k"), None, &[]);
            let offset = builder.append(1_000 + i as i64, Some(b"k"), None, &[]).unwrap();
            prop_assert_eq!(offset, base + i as i64);
            prop_assert_eq!(builder.estimated_size(), predicted);
        }
        let batch = RecordBatch::new(builder.build().unwrap().into()).unwrap();
        let offsets: Vec<i64> = batch.records().unwrap().iter().map(|r| r.offset).collect();
        prop_assert_eq!(offsets, (0..n as i64).map(|i| base + i).collect::<Vec<_>>());
    }
}
