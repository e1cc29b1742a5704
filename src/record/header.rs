//! The fixed 61-byte header of a Kafka RecordBatch v2, parsed without
//! touching the records behind it.
//!
//! ```text
//! offset  size  field                  (all integers big-endian)
//!      0     8  base_offset            i64  not covered by the CRC
//!      8     4  batch_length           i32  bytes after this field
//!     12     4  partition_leader_epoch i32  not covered by the CRC
//!     16     1  magic                  i8   always 2
//!     17     4  crc                    u32  CRC-32C of bytes 21..end
//!     21     2  attributes             i16  see ATTR_* below
//!     23     4  last_offset_delta      i32
//!     27     8  base_timestamp         i64
//!     35     8  max_timestamp          i64
//!     43     8  producer_id            i64
//!     51     2  producer_epoch         i16
//!     53     4  base_sequence          i32
//!     57     4  record_count           i32
//!     61     …  records (possibly compressed)
//! ```

use super::RecordError;

/// Offset of `base_offset`.
pub const BASE_OFFSET: usize = 0;
/// Offset of `batch_length`.
pub const BATCH_LENGTH: usize = 8;
/// Offset of `partition_leader_epoch`.
pub const PARTITION_LEADER_EPOCH: usize = 12;
/// Offset of `magic`.
pub const MAGIC: usize = 16;
/// Offset of `crc`.
pub const CRC: usize = 17;
/// Offset of `attributes`: the CRC covers from here to the end of the batch.
pub const ATTRIBUTES: usize = 21;
/// Offset of `last_offset_delta`.
pub const LAST_OFFSET_DELTA: usize = 23;
/// Offset of `base_timestamp`.
pub const BASE_TIMESTAMP: usize = 27;
/// Offset of `max_timestamp`.
pub const MAX_TIMESTAMP: usize = 35;
/// Offset of `producer_id`.
pub const PRODUCER_ID: usize = 43;
/// Offset of `producer_epoch`.
pub const PRODUCER_EPOCH: usize = 51;
/// Offset of `base_sequence`.
pub const BASE_SEQUENCE: usize = 53;
/// Offset of `record_count`.
pub const RECORD_COUNT: usize = 57;
/// Size of the fixed header; records start here.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batch_length` counts: `base_offset` and `batch_length` itself.
pub const LOG_OVERHEAD: usize = 12;
/// The only supported magic value.
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0..=2: the compression codec.
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamps are log-append time, not create time.
pub const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit 5: the batch is a control batch (transaction markers).
pub const ATTR_CONTROL: i16 = 0x20;
/// Attribute bit 6: `base_timestamp` holds the delete horizon (KIP-534).
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Base sequence of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;

/// The parsed fixed header of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the `batch_length` field.
    pub batch_length: i32,
    /// Leader epoch of the partition when the batch was written.
    pub partition_leader_epoch: i32,
    /// Format version; 2 for every batch this crate accepts.
    pub magic: i8,
    /// CRC-32C of the bytes from `attributes` to the end of the batch.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon, see [`ATTR_DELETE_HORIZON`]).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}
fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}
fn i16_at(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}

impl BatchHeader {
    /// Parses the header at the start of `buf`.
    ///
    /// Returns `Ok(None)` while fewer than [`HEADER_LEN`] bytes are present.
    /// Checks only what the header alone can tell: the length is not below the
    /// header size and the magic is 2. It does not check the CRC.
    ///
    /// # Errors
    /// [`RecordError::NegativeLength`], [`RecordError::BatchTooSmall`] or
    /// [`RecordError::UnsupportedMagic`].
    pub fn parse(buf: &[u8]) -> Result<Option<BatchHeader>, RecordError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let batch_length = i32_at(buf, BATCH_LENGTH);
        if batch_length < 0 {
            return Err(RecordError::NegativeLength {
                length: batch_length,
            });
        }
        let min = (HEADER_LEN - LOG_OVERHEAD) as i32;
        if batch_length < min {
            return Err(RecordError::BatchTooSmall {
                length: batch_length,
                min,
            });
        }
        let magic = buf[MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordError::UnsupportedMagic { magic });
        }
        Ok(Some(BatchHeader {
            base_offset: i64_at(buf, BASE_OFFSET),
            batch_length,
            partition_leader_epoch: i32_at(buf, PARTITION_LEADER_EPOCH),
            magic,
            crc: i32_at(buf, CRC) as u32,
            attributes: i16_at(buf, ATTRIBUTES),
            last_offset_delta: i32_at(buf, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(buf, BASE_TIMESTAMP),
            max_timestamp: i64_at(buf, MAX_TIMESTAMP),
            producer_id: i64_at(buf, PRODUCER_ID),
            producer_epoch: i16_at(buf, PRODUCER_EPOCH),
            base_sequence: i32_at(buf, BASE_SEQUENCE),
            record_count: i32_at(buf, RECORD_COUNT),
        }))
    }

    /// Size of the whole batch in bytes, header included.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record in the batch.
    ///
    /// Wraps on overflow as Kafka's Java `long` does, rather than panicking on
    /// a hostile base offset near `i64::MAX`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// Offset the next batch will start at (wrapping, like [`Self::last_offset`]).
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The three compression bits of the attributes.
    pub fn compression_code(&self) -> u8 {
        (self.attributes & ATTR_COMPRESSION_MASK) as u8
    }

    /// Whether timestamps are log-append time.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }

    /// Whether the batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Whether `base_timestamp` holds a delete horizon (KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTR_DELETE_HORIZON != 0
    }

    /// Whether the batch came from an idempotent producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Computes the CRC-32C that the header of `batch` should hold.
///
/// # Panics
/// If `batch` is shorter than [`HEADER_LEN`].
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES..])
}

/// Checks the stored CRC of one complete batch against its bytes.
///
/// # Errors
/// [`RecordError::CrcMismatch`] when they differ.
///
/// # Panics
/// If `batch` is shorter than [`HEADER_LEN`].
pub fn verify_crc(batch: &[u8]) -> Result<(), RecordError> {
    let stored = i32_at(batch, CRC) as u32;
    let computed = compute_crc(batch);
    if stored == computed {
        Ok(())
    } else {
        Err(RecordError::CrcMismatch { stored, computed })
    }
}

/// Rewrites the base offset of a batch in place. The CRC does not cover it,
/// so the batch stays valid: this is how the log assigns offsets.
///
/// # Panics
/// If `batch` is shorter than 8 bytes.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites the partition leader epoch in place (also outside the CRC).
///
/// # Panics
/// If `batch` is shorter than [`HEADER_LEN`].
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}
