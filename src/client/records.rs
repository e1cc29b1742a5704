//! Decoding the raw batches a fetch returns: whole batches are validated
//! and decoded, a partial batch at the end (cut by the size limits) is
//! dropped, and control batches are skipped. Knows the record format only.

use super::error::ClientError;
use crate::record::{BatchHeader, Record, RecordBatch};
use bytes::Bytes;

/// Every record of the whole data batches in `bytes` at or after `from`.
///
/// # Errors
/// [`ClientError::Record`] if a whole batch fails validation (CRC, format).
pub fn decode_batches(bytes: &Bytes, from: i64) -> Result<Vec<Record>, ClientError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = match BatchHeader::parse(&bytes[at..]) {
            Ok(Some(h)) => h,
            // Too short for a header: the cut tail of the response.
            Ok(None) => break,
            Err(source) => return Err(ClientError::Record { source }),
        };
        let Some(end) = at.checked_add(header.total_len()) else {
            break;
        };
        if end > bytes.len() {
            break;
        }
        if !header.is_control() && header.last_offset() >= from {
            let batch = RecordBatch::new(bytes.slice(at..end))
                .map_err(|source| ClientError::Record { source })?;
            let records = batch
                .records()
                .map_err(|source| ClientError::Record { source })?;
            out.extend(records.into_iter().filter(|r| r.offset >= from));
        }
        at = end;
    }
    Ok(out)
}
