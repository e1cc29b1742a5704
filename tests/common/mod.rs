//! Helpers shared by the integration tests.
#![allow(dead_code)]

use logbus::clock::ManualClock;
use logbus::log::{Log, LogConfig, storage::Storage};
use logbus::record::{BatchBuilder, Compression};
use std::path::Path;
use std::sync::Arc;

/// An uncompressed batch of `n` records with values `"{tag}-{i}"` and timestamps `ts`.
pub fn batch(tag: &str, n: usize, ts: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    for i in 0..n {
        let key = format!("k{}", i % 7);
        let value = format!("{tag}-{i}");
        builder
            .append(ts, Some(key.as_bytes()), Some(value.as_bytes()), &[])
            .expect("append record");
    }
    builder.build().expect("build batch").to_vec()
}

/// A batch whose single value is `size` bytes long.
pub fn sized_batch(size: usize, ts: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None);
    builder
        .append(ts, None, Some(&vec![b'x'; size]), &[])
        .expect("append record");
    builder.build().expect("build batch").to_vec()
}

/// Opens a log with a manual clock.
pub fn open(storage: Arc<dyn Storage>, dir: &Path, config: LogConfig, clock: &ManualClock) -> Log {
    Log::open(storage, dir, config, Arc::new(clock.clone())).expect("open log")
}

/// Splits stored bytes into whole batches as (base offset, last offset, bytes).
pub fn split(bytes: &[u8]) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = logbus::record::BatchHeader::parse(&bytes[at..])
            .unwrap()
            .unwrap();
        out.push((
            h.base_offset,
            h.last_offset(),
            bytes[at..at + h.total_len()].to_vec(),
        ));
        at += h.total_len();
    }
    out
}

/// Reads every batch from `from` to the log end.
pub fn read_all(log: &Log, from: i64) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let r = log.read(next, 1 << 20).expect("read");
        if r.bytes.is_empty() {
            return out;
        }
        for b in split(&r.bytes) {
            next = b.1 + 1;
            out.push(b);
        }
    }
}
