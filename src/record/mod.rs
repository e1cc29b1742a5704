//! Kafka's RecordBatch v2 format (magic 2), byte for byte: parsing and
//! validating batches, decoding their records, and building new ones.
//!
//! This module is a leaf: it knows nothing of logs, files, sockets or the
//! broker. Every decoder bounds its allocations by the bytes present.

mod error;
pub mod header;

pub use error::{MalformedReason, RecordError};
pub use header::{BatchHeader, HEADER_LEN};
