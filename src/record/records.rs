//! One record of a batch: the decoded [`Record`] and [`Header`] types, and
//! the varint-framed wire form they are read from and written to.
//!
//! This file owns the record layout only. It does not know the batch header,
//! compression or CRCs: callers hand it the (decompressed) record bytes and
//! the batch's base offset and timestamp.
//!
//! ```text
//! Record (varint/varlong are zig-zag, see varint.rs; no fixed-width fields
//! except `attributes`):
//!   length          varint   bytes after this field, up to the record's end
//!   attributes      i8       unused by Kafka, written 0
//!   timestampDelta  varlong  timestamp - batch base_timestamp
//!   offsetDelta     varint   offset - batch base_offset
//!   keyLength       varint   -1 = null key
//!   key             bytes
//!   valueLength     varint   -1 = null value
//!   value           bytes
//!   headerCount     varint
//!   headers         headerCount times:
//!     headerKeyLength    varint  never null (must be >= 0)
//!     headerKey          bytes   UTF-8
//!     headerValueLength  varint  -1 = null value
//!     headerValue        bytes
//! ```
//!
//! The smallest record is 7 bytes (every field one byte, no key, value or
//! headers), the smallest header 2 bytes: decoders clamp every count read
//! from the wire by those minimums over the bytes present before reserving
//! memory for it.

use std::ops::Range;

use bytes::Bytes;

use super::varint::{get_varint, get_varlong, put_varint, put_varlong, varint_len, varlong_len};
use super::{MalformedReason, RecordError};

/// Smallest possible encoded record, length prefix included.
pub const MIN_RECORD_LEN: usize = 7;
/// Smallest possible encoded header (empty key, null value).
pub const MIN_HEADER_LEN: usize = 2;

/// One record header: a UTF-8 key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header name; Kafka forbids null keys.
    pub key: String,
    /// Header value, `None` for null.
    pub value: Option<Bytes>,
}

/// One decoded record with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Absolute offset: the batch's base offset plus the record's delta.
    pub offset: i64,
    /// Absolute timestamp: base timestamp plus delta, or the batch's max
    /// timestamp when the batch uses log-append time.
    pub timestamp: i64,
    /// Record key, `None` for null.
    pub key: Option<Bytes>,
    /// Record value, `None` for null (a tombstone under compaction).
    pub value: Option<Bytes>,
    /// Record headers, in wire order.
    pub headers: Vec<Header>,
}

/// Positions of one record's fields inside a record buffer; no copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRecord {
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Key bytes, `None` for null.
    pub key: Option<Range<usize>>,
    /// Value bytes, `None` for null.
    pub value: Option<Range<usize>>,
    /// Number of headers.
    pub header_count: usize,
    /// Where the first header starts.
    pub headers_start: usize,
    /// Position just past the record.
    pub end: usize,
}

/// A small cursor over a record buffer that turns every failure into a
/// [`MalformedReason`].
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varint(&mut self) -> Result<i32, MalformedReason> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let (value, len) = get_varint(rest).map_err(MalformedReason::BadVarint)?;
        self.pos += len;
        Ok(value)
    }

    fn varlong(&mut self) -> Result<i64, MalformedReason> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let (value, len) = get_varlong(rest).map_err(MalformedReason::BadVarint)?;
        self.pos += len;
        Ok(value)
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Skips `len` bytes and returns their range.
    fn take(&mut self, len: usize) -> Result<Range<usize>, MalformedReason> {
        if len > self.remaining() {
            return Err(MalformedReason::BadLength);
        }
        let range = self.pos..self.pos + len;
        self.pos += len;
        Ok(range)
    }

    /// Reads a varint length and the bytes behind it; -1 means null.
    fn nullable_bytes(&mut self) -> Result<Option<Range<usize>>, MalformedReason> {
        match self.varint()? {
            -1 => Ok(None),
            len if len < 0 => Err(MalformedReason::BadLength),
            len => self.take(len as usize).map(Some),
        }
    }

    /// Reads one header: a non-null UTF-8 key and a nullable value.
    fn header(&mut self) -> Result<(Range<usize>, Option<Range<usize>>), MalformedReason> {
        let key_len = self.varint()?;
        if key_len < 0 {
            return Err(MalformedReason::BadHeaderKey);
        }
        let key = self.take(key_len as usize)?;
        // Checked here so that a batch `validate` accepts always decodes.
        if std::str::from_utf8(&self.buf[key.clone()]).is_err() {
            return Err(MalformedReason::BadHeaderKey);
        }
        let value = self.nullable_bytes()?;
        Ok((key, value))
    }
}

/// Parses the record starting at `pos` in `buf`, checking every field,
/// every header key's UTF-8, and that the record's own length matches the
/// fields it holds. Allocates nothing.
pub(crate) fn parse_record(buf: &[u8], pos: usize) -> Result<RawRecord, MalformedReason> {
    let mut cur = Cursor { buf, pos };
    let length = cur.varint()?;
    if length < 0 || length as usize > cur.remaining() {
        return Err(MalformedReason::BadLength);
    }
    let body_start = cur.pos;
    let end = body_start + length as usize;
    // Fields are read against the whole buffer, then compared with the
    // declared length, as Kafka does: a mismatch either way is one error.
    cur.take(1)?; // attributes: unused, any value accepted as Kafka does
    let timestamp_delta = cur.varlong()?;
    let offset_delta = cur.varint()?;
    let key = cur.nullable_bytes()?;
    let value = cur.nullable_bytes()?;
    let header_count = cur.varint()?;
    if header_count < 0 || header_count as usize > cur.remaining() / MIN_HEADER_LEN {
        return Err(MalformedReason::BadLength);
    }
    let headers_start = cur.pos;
    for _ in 0..header_count {
        cur.header()?;
    }
    if cur.pos != end {
        return Err(MalformedReason::LengthMismatch);
    }
    Ok(RawRecord {
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count: header_count as usize,
        headers_start,
        end,
    })
}

/// Builds the owned [`Record`] for a parsed record; key, value and header
/// values are zero-copy slices of `buf`.
///
/// `log_append_time` is the batch's max timestamp when the batch uses
/// log-append time: Kafka then reports it for every record.
pub(crate) fn decode_record(
    buf: &Bytes,
    raw: &RawRecord,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
) -> Result<Record, MalformedReason> {
    let mut cur = Cursor {
        buf,
        pos: raw.headers_start,
    };
    // `raw.header_count` was clamped by the bytes present in parse_record.
    let mut headers = Vec::with_capacity(raw.header_count);
    for _ in 0..raw.header_count {
        let (key, value) = cur.header()?;
        // `cur.header` checked the key is UTF-8, so nothing is replaced here.
        let key = String::from_utf8_lossy(&buf[key]).into_owned();
        headers.push(Header {
            key,
            value: value.map(|r| buf.slice(r)),
        });
    }
    Ok(Record {
        // Java's long arithmetic wraps; so does ours, never panicking.
        offset: base_offset.wrapping_add(i64::from(raw.offset_delta)),
        timestamp: log_append_time.unwrap_or(base_timestamp.wrapping_add(raw.timestamp_delta)),
        key: raw.key.clone().map(|r| buf.slice(r)),
        value: raw.value.clone().map(|r| buf.slice(r)),
        headers,
    })
}

/// Encoded size of a nullable byte field: its varint length plus its bytes.
fn nullable_len(field: Option<&[u8]>) -> usize {
    match field {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

/// Bytes a record takes after its length prefix.
fn body_len(
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let mut len = 1 // attributes
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_len(key)
        + nullable_len(value)
        + varint_len(headers.len() as i32);
    for h in headers {
        len += nullable_len(Some(h.key.as_bytes())) + nullable_len(h.value.as_deref());
    }
    len
}

/// Encoded size of one record, length prefix included (kafka-python's
/// `DefaultRecordBatchBuilder.size_in_bytes`).
pub fn record_size(
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let body = body_len(offset_delta, timestamp_delta, key, value, headers);
    varint_len(body as i32) + body
}

/// Fails when a length cannot be written as Kafka's i32 varint.
fn check_len(len: usize) -> Result<(), RecordError> {
    if i32::try_from(len).is_err() {
        return Err(RecordError::RecordTooLarge { size: len });
    }
    Ok(())
}

fn put_nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Appends one record to `out` and returns how many bytes it took.
///
/// # Errors
/// [`RecordError::RecordTooLarge`] when the record or one of its fields
/// exceeds `i32::MAX` bytes (or there are more than `i32::MAX` headers).
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> Result<usize, RecordError> {
    check_len(key.map_or(0, <[u8]>::len))?;
    check_len(value.map_or(0, <[u8]>::len))?;
    check_len(headers.len())?;
    for h in headers {
        check_len(h.key.len())?;
        check_len(h.value.as_ref().map_or(0, Bytes::len))?;
    }
    let body = body_len(offset_delta, timestamp_delta, key, value, headers);
    check_len(body)?;
    let start = out.len();
    put_fields(
        out,
        body,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers.len(),
    );
    for h in headers {
        put_nullable(out, Some(h.key.as_bytes()));
        put_nullable(out, h.value.as_deref());
    }
    Ok(out.len() - start)
}

/// Writes a record's length and every field up to its header count; the
/// headers follow. `body` is the record's length after the length varint.
fn put_fields(
    out: &mut Vec<u8>,
    body: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    header_count: usize,
) {
    out.reserve(varint_len(body as i32) + body);
    put_varint(out, body as i32);
    out.push(0); // attributes
    put_varlong(out, timestamp_delta);
    put_varint(out, offset_delta);
    put_nullable(out, key);
    put_nullable(out, value);
    put_varint(out, header_count as i32);
}

/// Appends one record whose headers are given already encoded (`raw_headers`,
/// `header_count` of them, as a [`crate::record::RecordView`] borrows them),
/// and returns how many bytes it took.
///
/// # Errors
/// [`RecordError::RecordTooLarge`] as for [`write_record`].
pub(crate) fn write_record_raw(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    header_count: usize,
    raw_headers: &[u8],
) -> Result<usize, RecordError> {
    check_len(key.map_or(0, <[u8]>::len))?;
    check_len(value.map_or(0, <[u8]>::len))?;
    check_len(header_count)?;
    let body = 1 // attributes
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_len(key)
        + nullable_len(value)
        + varint_len(header_count as i32)
        + raw_headers.len();
    check_len(body)?;
    let start = out.len();
    put_fields(
        out,
        body,
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count,
    );
    out.extend_from_slice(raw_headers);
    Ok(out.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &str, value: Option<&'static [u8]>) -> Header {
        Header {
            key: key.to_owned(),
            value: value.map(Bytes::from_static),
        }
    }

    #[test]
    fn written_record_parses_back_with_the_same_fields() {
        let headers = [
            header("a", Some(b"1")),
            header("null", None),
            header("", Some(b"")),
        ];
        let mut out = Vec::new();
        let n = write_record(&mut out, 3, -20, Some(b"key"), None, &headers).unwrap();
        assert_eq!(n, out.len());
        assert_eq!(n, record_size(3, -20, Some(b"key"), None, &headers));
        let raw = parse_record(&out, 0).unwrap();
        assert_eq!(raw.end, out.len());
        let buf = Bytes::from(out);
        let rec = decode_record(&buf, &raw, 100, 1_000, None).unwrap();
        assert_eq!(rec.offset, 103);
        assert_eq!(rec.timestamp, 980);
        assert_eq!(rec.key.as_deref(), Some(&b"key"[..]));
        assert_eq!(rec.value, None);
        assert_eq!(rec.headers, headers);
    }

    #[test]
    fn smallest_record_is_seven_bytes() {
        let mut out = Vec::new();
        write_record(&mut out, 0, 0, None, None, &[]).unwrap();
        assert_eq!(out.len(), MIN_RECORD_LEN);
    }

    #[test]
    fn record_length_larger_than_its_fields_is_rejected() {
        let mut out = Vec::new();
        write_record(&mut out, 0, 0, None, None, &[]).unwrap();
        out[0] = 14; // zig-zag 7: one more byte than the 6 fields hold
        out.push(0);
        assert_eq!(parse_record(&out, 0), Err(MalformedReason::LengthMismatch));
    }

    #[test]
    fn record_length_past_the_buffer_is_rejected() {
        let mut out = Vec::new();
        write_record(&mut out, 0, 0, None, None, &[]).unwrap();
        out[0] = 100;
        assert_eq!(parse_record(&out, 0), Err(MalformedReason::BadLength));
    }

    #[test]
    fn null_or_non_utf8_header_key_is_rejected() {
        let mut out = Vec::new();
        write_record(&mut out, 0, 0, None, None, &[header("k", None)]).unwrap();
        let mut null_key = out.clone();
        null_key[7] = 0x01; // key length -1
        assert_eq!(
            parse_record(&null_key, 0),
            Err(MalformedReason::BadHeaderKey)
        );
        let mut bad_utf8 = out;
        bad_utf8[8] = 0xff;
        assert_eq!(
            parse_record(&bad_utf8, 0),
            Err(MalformedReason::BadHeaderKey)
        );
    }

    #[test]
    fn huge_header_count_is_rejected_before_looping() {
        // length, attrs, ts, offset, key -1, value -1, header count i32::MAX
        let mut out = vec![0u8; 0];
        let mut body = vec![0, 0, 0, 1, 1];
        put_varint(&mut body, i32::MAX);
        put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
        assert_eq!(parse_record(&out, 0), Err(MalformedReason::BadLength));
    }
}
