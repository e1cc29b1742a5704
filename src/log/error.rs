//! The log layer's one error type.

use crate::record::RecordError;
use std::io;
use std::path::PathBuf;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An appended batch failed validation; nothing of the append was written.
    #[error("invalid record batch at byte {position} of the append")]
    InvalidBatch {
        /// Byte position of the offending batch within the appended buffer.
        position: usize,
        /// What the record layer found.
        #[source]
        source: RecordError,
    },
    /// A compacted log was asked to append a record without a key (Kafka
    /// rejects these too: compaction keeps the latest record per key).
    #[error(
        "record {record} of the batch at byte {position} has no key, which a compacted log requires"
    )]
    MissingKey {
        /// Byte position of the batch within the appended buffer.
        position: usize,
        /// Index of the keyless record within its batch.
        record: usize,
    },
    /// A stored batch failed its CRC or could not be decoded while the
    /// cleaner read it; nothing was rewritten.
    #[error("stored batch at byte {position} of {path} is corrupt")]
    CorruptBatch {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the batch in the file.
        position: u64,
        /// What the record layer found.
        #[source]
        source: RecordError,
    },
    /// Stored data failed its check on a read (a batch's header, offsets or
    /// CRC, or a hole where records are missing): nothing of the range is
    /// served. It stays so until the range is skipped on purpose
    /// ([`crate::log::Log::skip_damaged`], `logbus verify --skip-damaged`).
    #[error("log {dir} is damaged at {range}")]
    Damaged {
        /// The log's directory (the partition).
        dir: PathBuf,
        /// The offsets that cannot be read, and where and what the damage is.
        range: Box<crate::log::DamagedRange>,
    },
    /// An append carried no batch at all.
    #[error("append carried no record batch")]
    EmptyAppend,
    /// A requested offset lies outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The first offset still in the log.
        log_start_offset: i64,
        /// The offset the next record will get.
        log_end_offset: i64,
    },
    /// An earlier write or fsync failed: the log refuses writes until reopened.
    #[error("log {dir} refuses writes after an earlier I/O failure; reopen it to recover")]
    Poisoned {
        /// The log's directory.
        dir: PathBuf,
    },
    /// Another owner holds the data directory's lock.
    #[error("cannot lock {dir}")]
    Locked {
        /// The locked directory.
        dir: PathBuf,
        /// The backend's error.
        #[source]
        source: io::Error,
    },
    /// A checkpoint file is corrupt.
    #[error("checkpoint {path} is corrupt")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
    },
    /// The background cleaner's thread could not be started.
    #[error("could not start the log cleaner thread")]
    Spawn {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The storage backend failed.
    #[error("I/O error on {path} while trying to {action}")]
    Io {
        /// What the log was doing.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The backend's error.
        #[source]
        source: io::Error,
    },
}

/// Attaches the action and path to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error in [`LogError::Io`].
    fn context(self, action: &'static str, path: &std::path::Path) -> Result<T, LogError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, action: &'static str, path: &std::path::Path) -> Result<T, LogError> {
        self.map_err(|source| LogError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
