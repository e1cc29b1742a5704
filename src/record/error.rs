//! The record layer's one error type.

/// Why a record batch was rejected or could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The `batchLength` field is negative.
    #[error("batch length {length} is negative")]
    NegativeLength {
        /// The length read from the header.
        length: i32,
    },
    /// The `batchLength` field is smaller than the fixed header.
    #[error("batch length {length} is smaller than the {min}-byte header")]
    BatchTooSmall {
        /// The length read from the header.
        length: i32,
        /// The smallest valid length.
        min: i32,
    },
    /// The batch is larger than the caller allows.
    #[error("batch of {size} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge {
        /// The batch's total size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes end before the batch does (only where a whole batch was required).
    #[error("batch truncated: needs {needed} bytes, {available} present")]
    Truncated {
        /// Bytes the batch claims.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// Only magic 2 (RecordBatch v2) is supported.
    #[error("unsupported record batch magic {magic} (only 2 is supported)")]
    UnsupportedMagic {
        /// The magic byte read.
        magic: i8,
    },
    /// The stored CRC-32C does not match the bytes.
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over attributes..end.
        computed: u32,
    },
    /// The compression codec is unknown or not supported by this build.
    #[error("unsupported compression codec {code}")]
    UnsupportedCompression {
        /// The three compression bits of the attributes.
        code: u8,
    },
    /// A negative or impossible record count.
    #[error("invalid record count {count}")]
    InvalidRecordCount {
        /// The count from the header.
        count: i32,
    },
    /// The header's record count disagrees with the records present.
    #[error("header declares {declared} records, batch holds {found}")]
    RecordCountMismatch {
        /// The count from the header.
        declared: i32,
        /// Records actually decoded.
        found: usize,
    },
    /// `lastOffsetDelta` or a record's offset delta is inconsistent.
    #[error("offset delta {found} where {expected} was expected")]
    OffsetDeltaMismatch {
        /// What the batch should hold.
        expected: i64,
        /// What it holds.
        found: i64,
    },
    /// A record inside the batch is malformed.
    #[error("malformed record {index}: {reason}")]
    MalformedRecord {
        /// Index of the record within the batch.
        index: usize,
        /// What is wrong with it.
        reason: MalformedReason,
    },
    /// A record's timestamp is above the batch's `max_timestamp` (create-time batches).
    #[error(
        "record {index} has timestamp {timestamp} above the batch max timestamp {max_timestamp}"
    )]
    TimestampAboveMax {
        /// Index of the record within the batch.
        index: usize,
        /// The record's absolute timestamp.
        timestamp: i64,
        /// The header's max timestamp.
        max_timestamp: i64,
    },
    /// A record given to the builder cannot take this offset in the batch.
    #[error("record offset {offset} outside the allowed range {min}..={max}")]
    InvalidRecordOffset {
        /// The offset asked for.
        offset: i64,
        /// Smallest offset allowed (base offset, or previous offset + 1).
        min: i64,
        /// Largest offset allowed (base offset + i32::MAX).
        max: i64,
    },
    /// A record, or one of its fields, is too large for Kafka's i32 lengths.
    #[error("record field of {size} bytes exceeds the i32 length limit")]
    RecordTooLarge {
        /// The size that does not fit.
        size: usize,
    },
    /// Bytes left over after the last record.
    #[error("{extra} trailing bytes after the last record")]
    TrailingBytes {
        /// Count of unexpected bytes.
        extra: usize,
    },
    /// Decompressed records would exceed the allowed size.
    #[error("decompressed records exceed the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed payload could not be decompressed.
    #[error("{codec} payload could not be decompressed")]
    Decompression {
        /// Codec name.
        codec: &'static str,
        /// The codec's error.
        #[source]
        source: std::io::Error,
    },
    /// Records could not be compressed.
    #[error("{codec} compression failed")]
    Compression {
        /// Codec name.
        codec: &'static str,
        /// The codec's error.
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong inside a malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedReason {
    /// A varint is longer than its type allows or runs past the end.
    BadVarint(super::varint::VarintError),
    /// A length field is negative (other than -1 for null) or runs past the end.
    BadLength,
    /// The record's own length does not match the fields it holds.
    LengthMismatch,
    /// A header key is null or is not UTF-8.
    BadHeaderKey,
}

impl std::fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MalformedReason::BadVarint(e) => return write!(f, "bad varint: {e}"),
            MalformedReason::BadLength => "bad length",
            MalformedReason::LengthMismatch => "record length does not match its fields",
            MalformedReason::BadHeaderKey => "header key is null or not UTF-8",
        })
    }
}
