//! Arbitrary bytes as a segment file (and, split off the input, as its
//! offset index and the log's checkpoint): opening the log must not panic and
//! must leave a valid log — every batch it serves passes its CRC, offsets
//! grow, and it accepts a new append right after its end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logbus::clock::ManualClock;
use logbus::log::storage::{MemoryStorage, Storage};
use logbus::log::{Durability, Log, LogConfig};
use logbus::record::{BatchBuilder, BatchHeader, Compression, compute_crc, header, verify_crc};
use std::path::Path;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // First byte: how many following bytes go to the index (0..=63); then
    // 26 bytes of checkpoint when bit 7 is set; the rest is the segment, whose
    // batch CRCs are fixed up when bit 6 is set so that mutations get past the
    // CRC and reach the offset, length and index checks.
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let index_len = usize::from(selector & 0x3f).min(rest.len());
    let (index, rest) = rest.split_at(index_len);
    let (checkpoint, segment) = if selector & 0x80 != 0 && rest.len() >= 26 { rest.split_at(26) } else { (&[][..], rest) };

    let mut segment = segment.to_vec();
    if selector & 0x40 != 0 {
        let mut at = 0;
        while let Ok(Some(h)) = BatchHeader::parse(&segment[at..]) {
            let end = at + h.total_len();
            if end > segment.len() {
                break;
            }
            let crc = compute_crc(&segment[at..end]);
            segment[at + header::CRC..at + header::CRC + 4].copy_from_slice(&crc.to_be_bytes());
            at = end;
        }
    }
    let storage = MemoryStorage::new();
    let dir = Path::new("/data/t-0");
    storage.create_dir_all(dir).unwrap();
    storage.write_file_raw(&dir.join("00000000000000000000.log"), &segment).unwrap();
    if !index.is_empty() {
        storage.write_file_raw(&dir.join("00000000000000000000.index"), index).unwrap();
    }
    if !checkpoint.is_empty() {
        storage.write_file_raw(&dir.join("checkpoint"), checkpoint).unwrap();
    }
    let clock = ManualClock::new(0);
    let log = Log::open(Arc::new(storage), dir, LogConfig::default(), Arc::new(clock)).expect("open never fails on bad data");

    let start = log.log_start_offset();
    let end = log.log_end_offset();
    assert!(start <= end);
    let mut next = start;
    let mut last_seen = i64::MIN;
    while next < end {
        let bytes = log.read(next, 1 << 16).expect("read inside the range").bytes;
        assert!(!bytes.is_empty(), "no batch at {next} below the end {end}");
        let mut at = 0;
        while at < bytes.len() {
            let h = BatchHeader::parse(&bytes[at..]).unwrap().unwrap();
            verify_crc(&bytes[at..at + h.total_len()]).expect("served batches pass their CRC");
            assert!(h.base_offset > last_seen);
            last_seen = h.last_offset();
            next = h.next_offset();
            at += h.total_len();
        }
    }
    let mut builder = BatchBuilder::new(Compression::None);
    builder.append(1, Some(b"k"), Some(b"v"), &[]).unwrap();
    let mut batch = builder.build().unwrap();
    let info = log.append(&mut batch, Durability::Fsync).expect("append after recovery");
    assert_eq!(info.first_offset, end);
});
