//! Helpers shared by the compaction tests: keyed batches, replaying a log
//! into a key → value map, and a consumer-style read from any offset.
#![allow(dead_code)]

use bytes::Bytes;
use logbus::log::{CleanupPolicy, Log, LogConfig};
use logbus::record::{BatchBuilder, BatchHeader, Compression, Record, RecordBatch};
use std::collections::BTreeMap;

/// A record to write: key and value (`None` for a tombstone).
pub type Kv = (Vec<u8>, Option<Vec<u8>>);

/// One batch of keyed records, all at timestamp `ts`.
pub fn keyed_batch(records: &[Kv], ts: i64, codec: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    for (k, v) in records {
        b.append(ts, Some(k), v.as_deref(), &[])
            .expect("append record");
    }
    b.build().expect("build batch")
}

/// A compacted log's settings: small segments, every round cleans.
pub fn compact_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// Every stored batch from the log start, decoded: (header, records).
pub fn batches(log: &Log) -> Vec<(BatchHeader, Vec<Record>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let r = log.read(next, 1 << 20).expect("read");
        if r.bytes.is_empty() {
            return out;
        }
        let mut at = 0;
        while at < r.bytes.len() {
            let h = BatchHeader::parse(&r.bytes[at..]).unwrap().unwrap();
            let batch = RecordBatch::new(r.bytes.slice(at..at + h.total_len())).expect("valid");
            out.push((h, batch.records().expect("records")));
            next = h.last_offset() + 1;
            at += h.total_len();
        }
    }
}

/// Every stored record from the log start, in order.
pub fn records(log: &Log) -> Vec<Record> {
    batches(log).into_iter().flat_map(|(_, r)| r).collect()
}

/// Replays records into the state they describe: the latest value per key,
/// a tombstone deleting the key.
pub fn replay<'a>(records: impl IntoIterator<Item = &'a Record>) -> BTreeMap<Bytes, Bytes> {
    let mut map = BTreeMap::new();
    for r in records {
        let key = r.key.clone().expect("compacted logs hold keyed records");
        match &r.value {
            Some(v) => {
                map.insert(key, v.clone());
            }
            None => {
                map.remove(&key);
            }
        }
    }
    map
}

/// What a consumer fetching from `offset` sees first: the first record at or
/// after it, skipping records below it in the first batch returned (as Kafka
/// consumers do), or `None` at the log end.
pub fn next_record_from(log: &Log, offset: i64) -> Option<Record> {
    let mut from = offset;
    loop {
        let r = log.read(from, 1).expect("read");
        if r.bytes.is_empty() {
            return None;
        }
        let h = BatchHeader::parse(&r.bytes).unwrap().unwrap();
        assert!(
            h.last_offset() >= from,
            "a read never returns a batch wholly below its offset"
        );
        let batch = RecordBatch::new(r.bytes.slice(..h.total_len())).unwrap();
        if let Some(rec) = batch
            .records()
            .unwrap()
            .into_iter()
            .find(|r| r.offset >= offset)
        {
            return Some(rec);
        }
        from = h.last_offset() + 1;
    }
}
