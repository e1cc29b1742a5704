//! Fuzzes the record batch decoders on arbitrary bytes: nothing may panic,
//! and whatever `validate` accepts must decode.
//!
//! Each input is tried twice: as given, and with its `batch_length` and CRC
//! rewritten to match, so mutations reach the record decoders instead of
//! stopping at the CRC check.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use logbus::record::{BatchHeader, HEADER_LEN, Limits, RecordBatch, compute_crc, validate_with};

fn check(data: &[u8]) {
    let _ = BatchHeader::parse(data);
    // A small decompression cap keeps each run fast; the cap itself is part
    // of what is being exercised.
    let limits = Limits {
        max_batch_bytes: usize::MAX,
        max_decompressed_bytes: 1 << 20,
    };
    let accepted = validate_with(data, &limits).is_ok();
    match RecordBatch::with_limits(Bytes::copy_from_slice(data), &limits) {
        Ok(batch) => {
            assert!(accepted, "RecordBatch accepted what validate rejected");
            let records = batch.records().expect("validated batch must decode");
            assert_eq!(records.len(), batch.record_count());
            let _ = (batch.header().last_offset(), batch.header().next_offset());
        }
        Err(_) => assert!(!accepted, "validate accepted what RecordBatch rejected"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= HEADER_LEN && data.len() - 12 <= i32::MAX as usize {
        let mut fixed = data.to_vec();
        fixed[8..12].copy_from_slice(&((data.len() - 12) as i32).to_be_bytes());
        fixed[16] = 2;
        let crc = compute_crc(&fixed);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        check(&fixed);
    }
});
