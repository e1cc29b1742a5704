//! Whole record batches: [`validate`] (run by the log on every append),
//! [`RecordBatch`] (a validated batch and its decoded records) and
//! [`BatchBuilder`] (which writes batches byte-identical to Kafka's).
//!
//! This file ties the header (header.rs), the records (records.rs) and the
//! codecs (compression.rs) together. It knows nothing of logs, segments or
//! offsets assignment beyond the batch itself.
//!
//! ```text
//! batch = 61-byte header (layout and offsets in header.rs)
//!       + records: record_count records back to back (layout in records.rs),
//!         the whole run compressed as one payload when attributes & 0x07 != 0
//! CRC-32C covers bytes 21 (attributes) .. end; base_offset (0..8),
//! batch_length (8..12), partition_leader_epoch (12..16) and magic (16) are
//! outside it.
//! ```

use bytes::Bytes;

use super::compression::{self, Compression, DEFAULT_MAX_DECOMPRESSED};
use super::header::{
    self, ATTR_CONTROL, ATTR_DELETE_HORIZON, ATTR_TIMESTAMP_TYPE, ATTR_TRANSACTIONAL, BatchHeader,
    HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use super::records::{self, Header, MIN_RECORD_LEN, Record};
use super::view::RecordView;
use super::{RecordError, verify_crc};

/// Partition leader epoch of a batch no leader has stamped yet (Kafka's
/// `RecordBatch.NO_PARTITION_LEADER_EPOCH`).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp Kafka writes when there is none (`RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

/// Size limits applied while validating or decoding a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole batch accepted, header included.
    pub max_batch_bytes: usize,
    /// Largest decompressed record payload accepted for a compressed batch.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    /// No batch-size limit (the slice is already in memory and batch_length is
    /// an i32 anyway: callers reading from the network bound their frames),
    /// and a 64 MiB decompression cap.
    fn default() -> Self {
        Limits {
            max_batch_bytes: usize::MAX,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// Validates exactly one complete batch with the default [`Limits`].
///
/// # Errors
/// See [`validate_with`].
pub fn validate(batch: &[u8]) -> Result<BatchHeader, RecordError> {
    validate_with(batch, &Limits::default())
}

/// Validates exactly one complete batch: header, size, CRC-32C, codec, and
/// every record (lengths, offset deltas, timestamps, count), and returns its
/// header. For an uncompressed batch this allocates nothing.
///
/// # Errors
/// - [`RecordError::Truncated`] if `batch` is shorter than the header or than
///   the length it declares; [`RecordError::TrailingBytes`] if it is longer.
/// - [`RecordError::BatchTooLarge`] above `limits.max_batch_bytes`.
/// - Header errors from [`BatchHeader::parse`], [`RecordError::CrcMismatch`],
///   [`RecordError::UnsupportedCompression`], [`RecordError::InvalidRecordCount`].
/// - Record errors: [`RecordError::MalformedRecord`],
///   [`RecordError::OffsetDeltaMismatch`], [`RecordError::TimestampAboveMax`],
///   [`RecordError::RecordCountMismatch`], [`RecordError::TrailingBytes`].
/// - For compressed batches, [`RecordError::DecompressedTooLarge`] and
///   [`RecordError::Decompression`].
pub fn validate_with(batch: &[u8], limits: &Limits) -> Result<BatchHeader, RecordError> {
    let Some(header) = BatchHeader::parse(batch)? else {
        return Err(RecordError::Truncated {
            needed: HEADER_LEN,
            available: batch.len(),
        });
    };
    let total = header.total_len();
    if total > limits.max_batch_bytes {
        return Err(RecordError::BatchTooLarge {
            size: total,
            max: limits.max_batch_bytes,
        });
    }
    if batch.len() < total {
        return Err(RecordError::Truncated {
            needed: total,
            available: batch.len(),
        });
    }
    if batch.len() > total {
        return Err(RecordError::TrailingBytes {
            extra: batch.len() - total,
        });
    }
    verify_crc(batch)?;
    let codec = Compression::from_code(header.compression_code())?;
    if header.record_count < 0 {
        return Err(RecordError::InvalidRecordCount {
            count: header.record_count,
        });
    }
    // -1 is what an empty batch built here carries; anything lower is nonsense.
    if header.last_offset_delta < -1 {
        return Err(RecordError::OffsetDeltaMismatch {
            expected: -1,
            found: i64::from(header.last_offset_delta),
        });
    }
    let payload = &batch[HEADER_LEN..];
    match codec {
        Compression::None => walk_records(payload, &header),
        _ => walk_records(
            &compression::decompress(codec, payload, limits.max_decompressed_bytes)?,
            &header,
        ),
    }?;
    Ok(header)
}

/// Walks the records of a batch without allocating, checking each one.
fn walk_records(buf: &[u8], header: &BatchHeader) -> Result<(), RecordError> {
    let declared = header.record_count;
    let check_timestamps = !header.is_log_append_time();
    let mut pos = 0;
    let mut previous_delta: i64 = -1;
    // Bounded by the bytes present, not by `declared`: a lying count of
    // i32::MAX stops at the first missing record.
    for index in 0..declared as usize {
        if pos == buf.len() {
            return Err(RecordError::RecordCountMismatch {
                declared,
                found: index,
            });
        }
        let raw = records::parse_record(buf, pos)
            .map_err(|reason| RecordError::MalformedRecord { index, reason })?;
        let delta = i64::from(raw.offset_delta);
        if delta <= previous_delta {
            return Err(RecordError::OffsetDeltaMismatch {
                expected: previous_delta + 1,
                found: delta,
            });
        }
        // Compaction may drop the last record but keeps lastOffsetDelta, so
        // the last record's delta may be below it, never above.
        if delta > i64::from(header.last_offset_delta) {
            return Err(RecordError::OffsetDeltaMismatch {
                expected: i64::from(header.last_offset_delta),
                found: delta,
            });
        }
        if check_timestamps {
            let timestamp = header.base_timestamp.wrapping_add(raw.timestamp_delta);
            if timestamp > header.max_timestamp {
                return Err(RecordError::TimestampAboveMax {
                    index,
                    timestamp,
                    max_timestamp: header.max_timestamp,
                });
            }
        }
        previous_delta = delta;
        pos = raw.end;
    }
    if pos == buf.len() {
        return Ok(());
    }
    // Bytes remain. If they are whole records, the count lied; otherwise
    // they are trailing garbage.
    let mut extra_records = 0;
    let mut p = pos;
    while p < buf.len() {
        match records::parse_record(buf, p) {
            Ok(raw) => {
                extra_records += 1;
                p = raw.end;
            }
            Err(_) => {
                return Err(RecordError::TrailingBytes {
                    extra: buf.len() - pos,
                });
            }
        }
    }
    Err(RecordError::RecordCountMismatch {
        declared,
        found: declared as usize + extra_records,
    })
}

/// One validated record batch, held as the bytes it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
    header: BatchHeader,
    max_decompressed_bytes: usize,
}

impl RecordBatch {
    /// Validates `bytes` as exactly one batch (default [`Limits`]) and wraps it.
    ///
    /// # Errors
    /// Whatever [`validate`] returns.
    pub fn new(bytes: Bytes) -> Result<RecordBatch, RecordError> {
        RecordBatch::with_limits(bytes, &Limits::default())
    }

    /// Validates `bytes` as exactly one batch under `limits` and wraps it;
    /// [`RecordBatch::records`] later decompresses under the same cap.
    ///
    /// # Errors
    /// Whatever [`validate_with`] returns.
    pub fn with_limits(bytes: Bytes, limits: &Limits) -> Result<RecordBatch, RecordError> {
        let header = validate_with(&bytes, limits)?;
        Ok(RecordBatch {
            bytes,
            header,
            max_decompressed_bytes: limits.max_decompressed_bytes,
        })
    }

    /// The batch's parsed header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as validated.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Gives back the batch's bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The batch's compression codec.
    pub fn compression(&self) -> Compression {
        // Validation rejected unknown codes, so this cannot fail.
        Compression::from_code(self.header.compression_code()).unwrap_or_default()
    }

    /// Offset of the first record (possibly removed by compaction).
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record (possibly removed by compaction).
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// Number of records the batch holds.
    pub fn record_count(&self) -> usize {
        self.header.record_count as usize
    }

    /// Decodes every record. Uncompressed keys, values and header values are
    /// slices of the batch's bytes; compressed ones slice one decompressed buffer.
    ///
    /// # Errors
    /// [`RecordError::DecompressedTooLarge`] or [`RecordError::Decompression`]
    /// for compressed batches (validation already decompressed once, so only a
    /// codec behaving differently the second time would fail);
    /// [`RecordError::MalformedRecord`] likewise cannot happen after validation.
    pub fn records(&self) -> Result<Vec<Record>, RecordError> {
        let payload = self.bytes.slice(HEADER_LEN..);
        let buf = match self.compression() {
            Compression::None => payload,
            codec => Bytes::from(compression::decompress(
                codec,
                &payload,
                self.max_decompressed_bytes,
            )?),
        };
        let h = &self.header;
        let log_append_time = h.is_log_append_time().then_some(h.max_timestamp);
        let count = (h.record_count as usize).min(buf.len() / MIN_RECORD_LEN);
        let mut out = Vec::with_capacity(count);
        let mut pos = 0;
        while pos < buf.len() {
            let index = out.len();
            let malformed = |reason| RecordError::MalformedRecord { index, reason };
            let raw = records::parse_record(&buf, pos).map_err(malformed)?;
            let record = records::decode_record(
                &buf,
                &raw,
                h.base_offset,
                h.base_timestamp,
                log_append_time,
            )
            .map_err(malformed)?;
            out.push(record);
            pos = raw.end;
        }
        Ok(out)
    }
}

/// Builds one batch from records, writing the bytes Kafka's (and
/// kafka-python's) `DefaultRecordBatchBuilder` writes for the same inputs.
///
/// Setters consume and return the builder; records are encoded as they are
/// added, so [`BatchBuilder::estimated_size`] is exact for uncompressed batches.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    log_append_time: bool,
    delete_horizon: Option<i64>,
    last_offset_delta: Option<i32>,
    max_timestamp_override: Option<i64>,
    /// Header placeholder (HEADER_LEN zero bytes), then the encoded records.
    buf: Vec<u8>,
    count: usize,
    first_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    /// Index of the (first) record holding `max_timestamp`.
    max_index: usize,
    last_offset: Option<i64>,
}

impl BatchBuilder {
    /// An empty builder: base offset 0, no producer id, create-time
    /// timestamps, partition leader epoch -1 (as Kafka's Java producer).
    pub fn new(compression: Compression) -> BatchBuilder {
        BatchBuilder {
            compression,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            log_append_time: false,
            delete_horizon: None,
            last_offset_delta: None,
            max_timestamp_override: None,
            buf: vec![0; HEADER_LEN],
            count: 0,
            first_timestamp: None,
            max_timestamp: None,
            max_index: 0,
            last_offset: None,
        }
    }

    /// Sets the offset of the first record.
    ///
    /// # Panics
    /// If records were already added: their offset deltas depend on it.
    pub fn base_offset(mut self, base_offset: i64) -> BatchBuilder {
        assert!(
            self.count == 0,
            "base_offset must be set before adding records"
        );
        self.base_offset = base_offset;
        self
    }

    /// Sets the idempotent producer's id, epoch and first sequence number.
    pub fn producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BatchBuilder {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction (attribute bit 4).
    pub fn transactional(mut self, transactional: bool) -> BatchBuilder {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as a control batch (attribute bit 5).
    pub fn control(mut self, control: bool) -> BatchBuilder {
        self.control = control;
        self
    }

    /// Marks timestamps as log-append time (attribute bit 3): readers then
    /// report the batch's max timestamp for every record.
    pub fn log_append_time(mut self, log_append_time: bool) -> BatchBuilder {
        self.log_append_time = log_append_time;
        self
    }

    /// Sets the partition leader epoch (outside the CRC; default -1).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> BatchBuilder {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Overrides `last_offset_delta`, which compaction keeps when it drops the
    /// batch's last record. [`BatchBuilder::build`] fails if it is below the
    /// last record's delta.
    pub fn last_offset_delta(mut self, last_offset_delta: i32) -> BatchBuilder {
        self.last_offset_delta = Some(last_offset_delta);
        self
    }

    /// Overrides `max_timestamp`: for a log-append-time batch, the broker's
    /// append time (Kafka's `logAppendTime`), which readers then report for
    /// every record. [`BatchBuilder::build`] fails if a create-time batch holds
    /// a record above it.
    pub fn max_timestamp(mut self, max_timestamp: i64) -> BatchBuilder {
        self.max_timestamp_override = Some(max_timestamp);
        self
    }

    /// Sets the delete horizon (KIP-534): attribute bit 6, and `base_timestamp`
    /// holds the horizon, record timestamp deltas being relative to it.
    ///
    /// # Panics
    /// If records were already added: their timestamp deltas depend on it.
    pub fn delete_horizon(mut self, delete_horizon: i64) -> BatchBuilder {
        assert!(
            self.count == 0,
            "delete_horizon must be set before adding records"
        );
        self.delete_horizon = Some(delete_horizon);
        self
    }

    /// Number of records added so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no record was added yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch built now, uncompressed: exact when the builder's
    /// codec is [`Compression::None`], an upper estimate otherwise.
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// What [`BatchBuilder::estimated_size`] would be after appending this record.
    pub fn estimated_size_with(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let base_ts = self.base_timestamp().unwrap_or(timestamp);
        let offset_delta = self
            .next_offset()
            .map_or(i64::from(i32::MAX), |o| o.wrapping_sub(self.base_offset));
        let offset_delta = i32::try_from(offset_delta).unwrap_or(i32::MAX);
        self.buf.len()
            + records::record_size(
                offset_delta,
                timestamp.wrapping_sub(base_ts),
                key,
                value,
                headers,
            )
    }

    /// The timestamp deltas are relative to: the delete horizon, or else the
    /// first record's timestamp.
    fn base_timestamp(&self) -> Option<i64> {
        self.delete_horizon.or(self.first_timestamp)
    }

    /// The offset [`BatchBuilder::append`] assigns next, `None` past `i64::MAX`.
    fn next_offset(&self) -> Option<i64> {
        match self.last_offset {
            None => Some(self.base_offset),
            Some(last) => last.checked_add(1),
        }
    }

    /// Appends a record at the next offset (the base offset, then previous + 1)
    /// and returns that offset.
    ///
    /// # Errors
    /// [`RecordError::InvalidRecordOffset`] when the offset no longer fits the
    /// batch's i32 deltas; [`RecordError::RecordTooLarge`] for fields over
    /// `i32::MAX` bytes.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<i64, RecordError> {
        let offset = self.next_offset().ok_or(RecordError::InvalidRecordOffset {
            offset: i64::MAX,
            min: self.base_offset,
            max: self.base_offset.saturating_add(i64::from(i32::MAX)),
        })?;
        self.add(offset, timestamp, key, value, headers)?;
        Ok(offset)
    }

    /// Appends `record` keeping its absolute offset, so gaps survive (as
    /// compaction needs). With log-append time its timestamp is stored as given.
    ///
    /// # Errors
    /// [`RecordError::InvalidRecordOffset`] unless the offset is above the
    /// previous record's (at least the base offset) and within `i32::MAX` of
    /// the base offset; [`RecordError::RecordTooLarge`] as for `append`.
    pub fn push(&mut self, record: &Record) -> Result<(), RecordError> {
        self.add(
            record.offset,
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        )
    }

    /// Appends a record seen in place ([`RecordView`]) keeping its absolute
    /// offset, like [`BatchBuilder::push`], but copying its header bytes as
    /// they are: the cleaner's path, which allocates nothing per record.
    ///
    /// # Errors
    /// As [`BatchBuilder::push`].
    pub fn push_view(&mut self, record: &RecordView<'_>) -> Result<(), RecordError> {
        let (offset, timestamp) = (record.offset, record.timestamp);
        self.add_with(offset, timestamp, |buf, offset_delta, timestamp_delta| {
            records::write_record_raw(
                buf,
                offset_delta,
                timestamp_delta,
                record.key,
                record.value,
                record.header_count,
                record.raw_headers,
            )
        })
    }

    fn add(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<(), RecordError> {
        self.add_with(offset, timestamp, |buf, offset_delta, timestamp_delta| {
            records::write_record(buf, offset_delta, timestamp_delta, key, value, headers)
        })
    }

    /// Checks the offset, computes the deltas, and lets `write` encode the record.
    fn add_with(
        &mut self,
        offset: i64,
        timestamp: i64,
        write: impl FnOnce(&mut Vec<u8>, i32, i64) -> Result<usize, RecordError>,
    ) -> Result<(), RecordError> {
        let min = self.next_offset().unwrap_or(i64::MAX);
        let max = self.base_offset.saturating_add(i64::from(i32::MAX));
        if offset < min || offset > max || self.last_offset == Some(i64::MAX) {
            return Err(RecordError::InvalidRecordOffset { offset, min, max });
        }
        // In range by the check above.
        let offset_delta = (offset - self.base_offset) as i32;
        let base_ts = self.base_timestamp().unwrap_or(timestamp);
        // Java's long subtraction wraps; readers add it back with wrapping too.
        let timestamp_delta = timestamp.wrapping_sub(base_ts);
        let len_before = self.buf.len();
        if let Err(e) = write(&mut self.buf, offset_delta, timestamp_delta) {
            self.buf.truncate(len_before);
            return Err(e);
        }
        self.first_timestamp.get_or_insert(timestamp);
        if self.max_timestamp.is_none_or(|m| timestamp > m) {
            self.max_timestamp = Some(timestamp);
            self.max_index = self.count;
        }
        self.last_offset = Some(offset);
        self.count += 1;
        Ok(())
    }

    fn attributes(&self) -> i16 {
        let mut attributes = i16::from(self.compression.code());
        for (on, bit) in [
            (self.log_append_time, ATTR_TIMESTAMP_TYPE),
            (self.transactional, ATTR_TRANSACTIONAL),
            (self.control, ATTR_CONTROL),
            (self.delete_horizon.is_some(), ATTR_DELETE_HORIZON),
        ] {
            if on {
                attributes |= bit;
            }
        }
        attributes
    }

    /// Writes the header, compresses the records if asked, and returns the
    /// complete batch. An empty batch has base and max timestamps -1 and
    /// last offset delta -1 unless overridden (kafka-python writes 0, 0, 0).
    ///
    /// # Errors
    /// [`RecordError::OffsetDeltaMismatch`] if a `last_offset_delta` override
    /// is below the last record's delta; [`RecordError::BatchTooLarge`] if the
    /// batch exceeds Kafka's i32 length; [`RecordError::Compression`].
    pub fn build(self) -> Result<Vec<u8>, RecordError> {
        let actual_delta = match self.last_offset {
            Some(last) => (last - self.base_offset) as i32,
            None => -1,
        };
        let last_offset_delta = match self.last_offset_delta {
            Some(d) if d < actual_delta => {
                return Err(RecordError::OffsetDeltaMismatch {
                    expected: i64::from(actual_delta),
                    found: i64::from(d),
                });
            }
            Some(d) => d,
            None => actual_delta,
        };
        let attributes = self.attributes();
        let base_timestamp = self.base_timestamp().unwrap_or(NO_TIMESTAMP);
        let max_timestamp = match (self.max_timestamp_override, self.max_timestamp) {
            (Some(over), Some(actual)) if over < actual && !self.log_append_time => {
                return Err(RecordError::TimestampAboveMax {
                    index: self.max_index,
                    timestamp: actual,
                    max_timestamp: over,
                });
            }
            (Some(over), _) => over,
            (None, actual) => actual.unwrap_or(NO_TIMESTAMP),
        };
        let mut buf = self.buf;
        if self.compression != Compression::None {
            let packed = compression::compress(self.compression, &buf[HEADER_LEN..])?;
            buf.truncate(HEADER_LEN);
            buf.extend_from_slice(&packed);
        }
        let Ok(batch_length) = i32::try_from(buf.len() - LOG_OVERHEAD) else {
            return Err(RecordError::BatchTooLarge {
                size: buf.len(),
                max: i32::MAX as usize + LOG_OVERHEAD,
            });
        };
        let count = self.count as i32; // < batch_length / 7, so it fits
        let mut put = |at: usize, bytes: &[u8]| buf[at..at + bytes.len()].copy_from_slice(bytes);
        put(header::BASE_OFFSET, &self.base_offset.to_be_bytes());
        put(header::BATCH_LENGTH, &batch_length.to_be_bytes());
        put(
            header::PARTITION_LEADER_EPOCH,
            &self.partition_leader_epoch.to_be_bytes(),
        );
        put(header::MAGIC, &MAGIC_V2.to_be_bytes());
        put(header::ATTRIBUTES, &attributes.to_be_bytes());
        put(header::LAST_OFFSET_DELTA, &last_offset_delta.to_be_bytes());
        put(header::BASE_TIMESTAMP, &base_timestamp.to_be_bytes());
        put(header::MAX_TIMESTAMP, &max_timestamp.to_be_bytes());
        put(header::PRODUCER_ID, &self.producer_id.to_be_bytes());
        put(header::PRODUCER_EPOCH, &self.producer_epoch.to_be_bytes());
        put(header::BASE_SEQUENCE, &self.base_sequence.to_be_bytes());
        put(header::RECORD_COUNT, &count.to_be_bytes());
        // The CRC goes last: it covers attributes..end, all written above.
        let crc = header::compute_crc(&buf);
        buf[header::CRC..header::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(buf)
    }
}
