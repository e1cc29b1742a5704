//! Records read in place, without allocating: [`record_bytes`] gives the
//! (decompressed if need be) record run of a batch and [`RecordViews`] walks
//! it, yielding [`RecordView`]s that borrow keys, values and the raw header
//! bytes. The log's cleaner reads every record of a log twice per round, so
//! this path must not allocate per record; [`super::BatchBuilder::push_view`]
//! writes a view back, copying its header bytes unchanged.
//!
//! Like the rest of the record layer, this knows nothing of logs or files.

use std::borrow::Cow;

use super::compression::{self, Compression};
use super::header::{BatchHeader, HEADER_LEN};
use super::records;
use super::{MalformedReason, RecordError};

/// The record run of one whole `batch` (header included in `batch`):
/// borrowed when uncompressed, decompressed (under `max_decompressed`) otherwise.
///
/// # Errors
/// [`RecordError::UnsupportedCompression`], [`RecordError::DecompressedTooLarge`]
/// or [`RecordError::Decompression`].
///
/// # Panics
/// If `batch` is shorter than [`HEADER_LEN`].
pub fn record_bytes<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    max_decompressed: usize,
) -> Result<Cow<'a, [u8]>, RecordError> {
    let payload = &batch[HEADER_LEN..];
    match Compression::from_code(header.compression_code())? {
        Compression::None => Ok(Cow::Borrowed(payload)),
        codec => compression::decompress(codec, payload, max_decompressed).map(Cow::Owned),
    }
}

/// One record seen in place: absolute offset and timestamp, borrowed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Absolute offset: the batch's base offset plus the record's delta.
    pub offset: i64,
    /// Absolute timestamp (the batch's max timestamp under log-append time).
    pub timestamp: i64,
    /// Key bytes, `None` for null.
    pub key: Option<&'a [u8]>,
    /// Value bytes, `None` for null (a tombstone under compaction).
    pub value: Option<&'a [u8]>,
    /// Number of headers.
    pub header_count: usize,
    /// The headers exactly as encoded (without their count), to copy unchanged.
    pub raw_headers: &'a [u8],
}

/// Walks the records of a record run (see [`record_bytes`]) in order.
#[derive(Debug, Clone)]
pub struct RecordViews<'a> {
    buf: &'a [u8],
    pos: usize,
    index: usize,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

impl<'a> RecordViews<'a> {
    /// A walk over `records`, the record run of the batch whose header is `header`.
    pub fn new(records: &'a [u8], header: &BatchHeader) -> RecordViews<'a> {
        RecordViews {
            buf: records,
            pos: 0,
            index: 0,
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: header.is_log_append_time().then_some(header.max_timestamp),
        }
    }
}

impl<'a> Iterator for RecordViews<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let index = self.index;
        let malformed = |reason: MalformedReason| RecordError::MalformedRecord { index, reason };
        let raw = match records::parse_record(self.buf, self.pos) {
            Ok(raw) => raw,
            Err(reason) => {
                // Stop after an error: the position of the next record is unknown.
                self.pos = self.buf.len();
                return Some(Err(malformed(reason)));
            }
        };
        self.pos = raw.end;
        self.index += 1;
        let buf = self.buf;
        // The header count varint sits right before `headers_start`; the
        // headers run to the record's end (parse_record checked both).
        Some(Ok(RecordView {
            // Java's long arithmetic wraps; so does ours, never panicking.
            offset: self.base_offset.wrapping_add(i64::from(raw.offset_delta)),
            // With the delete-horizon bit (KIP-534), base_timestamp is the
            // horizon and deltas are relative to it, so base + delta is still
            // the record's own timestamp, as Kafka's DefaultRecordBatch reads it.
            timestamp: self
                .log_append_time
                .unwrap_or(self.base_timestamp.wrapping_add(raw.timestamp_delta)),
            key: raw.key.map(|r| &buf[r]),
            value: raw.value.map(|r| &buf[r]),
            header_count: raw.header_count,
            raw_headers: &buf[raw.headers_start..raw.end],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Header, RecordBatch, validate};
    use bytes::Bytes;

    fn sample(codec: Compression) -> Vec<u8> {
        let headers = [Header {
            key: "h".to_owned(),
            value: Some(Bytes::from_static(b"v")),
        }];
        let mut b = BatchBuilder::new(codec).base_offset(100);
        b.append(5_000, Some(b"a"), Some(b"1"), &headers).unwrap();
        b.append(4_000, Some(b"b"), None, &[]).unwrap();
        b.append(6_000, None, Some(b"3"), &headers).unwrap();
        b.build().unwrap()
    }

    #[test]
    fn views_match_decoded_records_for_every_codec() {
        for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let bytes = sample(codec);
            let h = validate(&bytes).unwrap();
            let run = record_bytes(&bytes, &h, 1 << 20).unwrap();
            let views: Vec<_> = RecordViews::new(&run, &h).map(Result::unwrap).collect();
            let records = RecordBatch::new(Bytes::from(bytes.clone()))
                .unwrap()
                .records()
                .unwrap();
            assert_eq!(views.len(), records.len());
            for (v, r) in views.iter().zip(&records) {
                assert_eq!(v.offset, r.offset);
                assert_eq!(v.timestamp, r.timestamp);
                assert_eq!(v.key, r.key.as_deref());
                assert_eq!(v.value, r.value.as_deref());
                assert_eq!(v.header_count, r.headers.len());
            }
        }
    }

    #[test]
    fn pushed_views_keep_offsets_timestamps_and_headers_under_a_delete_horizon() {
        let bytes = sample(Compression::None);
        let h = validate(&bytes).unwrap();
        let run = record_bytes(&bytes, &h, 1 << 20).unwrap();
        let mut b = BatchBuilder::new(Compression::Lz4)
            .base_offset(100)
            .delete_horizon(9_000_000)
            .last_offset_delta(h.last_offset_delta);
        // Drop the first record: the rest keep their offsets and timestamps.
        for v in RecordViews::new(&run, &h).skip(1) {
            b.push_view(&v.unwrap()).unwrap();
        }
        let rebuilt = b.build().unwrap();
        let rh = validate(&rebuilt).unwrap();
        assert!(rh.has_delete_horizon());
        assert_eq!(rh.base_timestamp, 9_000_000);
        assert_eq!(rh.last_offset_delta, 2);
        let old = RecordBatch::new(Bytes::from(bytes))
            .unwrap()
            .records()
            .unwrap();
        let new = RecordBatch::new(Bytes::from(rebuilt))
            .unwrap()
            .records()
            .unwrap();
        assert_eq!(new, old[1..]);
    }
}
