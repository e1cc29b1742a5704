//! Kafka's RecordBatch v2 format (magic 2), byte for byte: parsing and
//! validating batches, decoding their records, and building new ones.
//!
//! This module is a leaf: it knows nothing of logs, files, sockets or the
//! broker. Every decoder bounds its allocations by the bytes present.

mod batch;
mod compression;
mod error;
pub mod header;
mod records;
pub mod varint;
mod view;

pub use batch::{
    BatchBuilder, Limits, NO_PARTITION_LEADER_EPOCH, NO_TIMESTAMP, RecordBatch, validate,
    validate_with,
};
pub use compression::{Compression, DEFAULT_MAX_DECOMPRESSED, compress, decompress};
pub use error::{MalformedReason, RecordError};
pub use header::{BatchHeader, HEADER_LEN, compute_crc, verify_crc};
pub use records::{Header, MIN_HEADER_LEN, MIN_RECORD_LEN, Record, record_size};
pub use view::{RecordView, RecordViews, record_bytes};
