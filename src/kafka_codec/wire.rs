//! Kafka's primitive types, read from and written to byte buffers: the
//! building blocks the generated messages call. Classic versions use
//! fixed-width lengths (`i16` for strings, `i32` for bytes and arrays);
//! flexible versions use compact lengths (an unsigned varint holding N + 1,
//! 0 for null) and end every struct with a tagged-field section.
//!
//! It knows no message. Its promise on hostile input: every length or count
//! is checked against the bytes actually left before anything is allocated
//! (a count times the smallest encoding of its element must fit), arrays cap
//! at [`MAX_ARRAY_ELEMENTS`] and tagged sections at [`MAX_TAGGED_FIELDS`],
//! and nothing here panics on any input.

use bytes::{Buf, Bytes, BytesMut};

use super::writer::KafkaWrite;

use super::error::KafkaCodecError;

/// Kafka 4.4's cap on the elements of one array.
pub const MAX_ARRAY_ELEMENTS: usize = 1_000_000;
/// Kafka 4.4's cap on the fields of one tagged-field section.
pub const MAX_TAGGED_FIELDS: usize = 10_000;
/// The most capacity reserved up front for a decoded array; beyond it the
/// vector grows as elements actually decode (as Kafka 4.4 does).
const MAX_INITIAL_CAPACITY: usize = 1_000;

type Result<T> = std::result::Result<T, KafkaCodecError>;

/// A Kafka UUID (topic ids): 16 bytes, all zero meaning "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

/// Fails unless `buf` holds at least `n` more bytes.
pub(crate) fn need(buf: &Bytes, n: usize) -> Result<()> {
    if buf.remaining() < n {
        return Err(KafkaCodecError::Truncated {
            needed: n,
            available: buf.remaining(),
        });
    }
    Ok(())
}

macro_rules! fixed {
    ($($get:ident, $put:ident, $ty:ty, $len:expr, $buf_get:ident;)*) => {$(
        /// Reads one big-endian value.
        // The generator calls only the types the advertised specs use.
        #[allow(dead_code)]
        pub(crate) fn $get(buf: &mut Bytes) -> Result<$ty> {
            need(buf, $len)?;
            Ok(buf.$buf_get())
        }
        /// Writes one big-endian value.
        #[allow(dead_code)]
        pub(crate) fn $put<W: KafkaWrite>(buf: &mut W, value: $ty) {
            buf.write_slice(&value.to_be_bytes());
        }
    )*};
}

fixed! {
    get_i8, put_i8, i8, 1, get_i8;
    get_i16, put_i16, i16, 2, get_i16;
    get_u16, put_u16, u16, 2, get_u16;
    get_i32, put_i32, i32, 4, get_i32;
    get_u32, put_u32, u32, 4, get_u32;
    get_i64, put_i64, i64, 8, get_i64;
    get_f64, put_f64, f64, 8, get_f64;
}

/// Reads a boolean: Kafka treats any non-zero byte as true.
pub(crate) fn get_bool(buf: &mut Bytes) -> Result<bool> {
    Ok(get_i8(buf)? != 0)
}

/// Writes a boolean as 0 or 1.
pub(crate) fn put_bool<W: KafkaWrite>(buf: &mut W, value: bool) {
    buf.write_slice(&[u8::from(value)]);
}

/// Reads a 16-byte UUID.
pub(crate) fn get_uuid(buf: &mut Bytes) -> Result<Uuid> {
    need(buf, 16)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(Uuid(id))
}

/// Writes a 16-byte UUID.
pub(crate) fn put_uuid<W: KafkaWrite>(buf: &mut W, value: Uuid) {
    buf.write_slice(&value.0);
}

/// Reads an unsigned varint of at most 5 bytes that fits 32 bits.
///
/// # Errors
/// [`KafkaCodecError::BadVarint`] past 5 bytes or 32 bits,
/// [`KafkaCodecError::Truncated`] if the buffer ends inside it.
pub(crate) fn get_uvarint(buf: &mut Bytes) -> Result<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let byte = buf.get_u8();
        let bits = u32::from(byte & 0x7f);
        // The fifth byte may carry only the top 4 bits of a u32.
        if i == 4 && bits > 0x0f {
            return Err(KafkaCodecError::BadVarint);
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(KafkaCodecError::BadVarint)
}

/// Writes an unsigned varint.
pub(crate) fn put_uvarint<W: KafkaWrite>(buf: &mut W, mut value: u32) {
    let mut out = [0u8; 5];
    let mut len = 0;
    while value >= 0x80 {
        out[len] = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
        len += 1;
    }
    out[len] = value as u8;
    buf.write_slice(&out[..=len]);
}

/// Reads a length (or count) prefix: `None` for null. Compact lengths are an
/// unsigned varint holding N + 1; classic ones are `i16` (`short`) or `i32`.
fn get_length(buf: &mut Bytes, compact: bool, short: bool) -> Result<Option<usize>> {
    let raw: i64 = if compact {
        i64::from(get_uvarint(buf)?) - 1
    } else if short {
        i64::from(get_i16(buf)?)
    } else {
        i64::from(get_i32(buf)?)
    };
    match raw {
        -1 => Ok(None),
        n if n < -1 => Err(KafkaCodecError::NegativeLength { length: n }),
        // Fits: raw ≤ u32::MAX.
        n => Ok(Some(n as usize)),
    }
}

/// Writes a length prefix for `len` elements or bytes, or null.
fn put_length<W: KafkaWrite>(
    buf: &mut W,
    len: Option<usize>,
    compact: bool,
    short: bool,
    what: &'static str,
) -> Result<()> {
    let max = if compact {
        u32::MAX as usize - 1
    } else if short {
        i16::MAX as usize
    } else {
        i32::MAX as usize
    };
    match len {
        Some(n) if n > max => Err(KafkaCodecError::TooLongToEncode { what, len: n, max }),
        Some(n) if compact => {
            put_uvarint(buf, n as u32 + 1);
            Ok(())
        }
        Some(n) if short => {
            put_i16(buf, n as i16);
            Ok(())
        }
        Some(n) => {
            put_i32(buf, n as i32);
            Ok(())
        }
        None if compact => {
            put_uvarint(buf, 0);
            Ok(())
        }
        None if short => {
            put_i16(buf, -1);
            Ok(())
        }
        None => {
            put_i32(buf, -1);
            Ok(())
        }
    }
}

/// Reads a (nullable) string; compact in flexible versions.
pub(crate) fn get_string(buf: &mut Bytes, compact: bool) -> Result<Option<String>> {
    let Some(n) = get_length(buf, compact, true)? else {
        return Ok(None);
    };
    need(buf, n)?;
    // Checked before allocating: n bytes are present.
    let text = std::str::from_utf8(&buf[..n])
        .map_err(|_| KafkaCodecError::InvalidUtf8)?
        .to_owned();
    buf.advance(n);
    Ok(Some(text))
}

/// Writes a (nullable) string.
///
/// # Errors
/// [`KafkaCodecError::TooLongToEncode`] past `i16::MAX` bytes (classic).
pub(crate) fn put_string<W: KafkaWrite>(
    buf: &mut W,
    value: Option<&str>,
    compact: bool,
) -> Result<()> {
    put_length(buf, value.map(str::len), compact, true, "string")?;
    if let Some(s) = value {
        buf.write_slice(s.as_bytes());
    }
    Ok(())
}

/// Reads (nullable) bytes as a zero-copy slice of the frame.
pub(crate) fn get_bytes(buf: &mut Bytes, compact: bool) -> Result<Option<Bytes>> {
    let Some(n) = get_length(buf, compact, false)? else {
        return Ok(None);
    };
    need(buf, n)?;
    // `split_to` shares the frame's allocation: record batches are not copied.
    Ok(Some(buf.split_to(n)))
}

/// Writes (nullable) bytes; long ones (record batches) are shared, not
/// copied, when `buf` keeps parts (see [`KafkaWrite::write_shared`]).
pub(crate) fn put_bytes<W: KafkaWrite>(
    buf: &mut W,
    value: Option<&Bytes>,
    compact: bool,
) -> Result<()> {
    put_length(buf, value.map(Bytes::len), compact, false, "bytes")?;
    if let Some(b) = value {
        buf.write_shared(b);
    }
    Ok(())
}

/// Reads a (nullable) array whose elements each take at least `min_each`
/// bytes, checking the count against the bytes left and the element cap
/// before reserving anything.
pub(crate) fn get_array<T>(
    buf: &mut Bytes,
    compact: bool,
    min_each: usize,
    mut element: impl FnMut(&mut Bytes) -> Result<T>,
) -> Result<Option<Vec<T>>> {
    let Some(n) = get_length(buf, compact, false)? else {
        return Ok(None);
    };
    if n > MAX_ARRAY_ELEMENTS {
        return Err(KafkaCodecError::TooManyElements {
            count: n,
            max: MAX_ARRAY_ELEMENTS,
        });
    }
    // `max(1)`: even an element that could be empty cannot make a count
    // larger than the bytes left.
    need(buf, n.saturating_mul(min_each.max(1)))?;
    let mut items = Vec::with_capacity(n.min(MAX_INITIAL_CAPACITY));
    for _ in 0..n {
        items.push(element(buf)?);
    }
    Ok(Some(items))
}

/// Writes a (nullable) array.
pub(crate) fn put_array<W: KafkaWrite, T>(
    buf: &mut W,
    value: Option<&[T]>,
    compact: bool,
    mut element: impl FnMut(&mut W, &T) -> Result<()>,
) -> Result<()> {
    put_length(buf, value.map(<[T]>::len), compact, false, "array")?;
    for item in value.unwrap_or_default() {
        element(buf, item)?;
    }
    Ok(())
}

/// Reads the count of a tagged-field section, checked against the cap and
/// the bytes left (every field takes at least 2 bytes: tag and size).
pub(crate) fn get_tagged_count(buf: &mut Bytes) -> Result<usize> {
    let n = get_uvarint(buf)? as usize;
    if n > MAX_TAGGED_FIELDS {
        return Err(KafkaCodecError::TooManyTaggedFields {
            count: n,
            max: MAX_TAGGED_FIELDS,
        });
    }
    need(buf, n.saturating_mul(2))?;
    Ok(n)
}

/// Reads one tagged field's tag and its value bytes (a slice of the frame).
pub(crate) fn get_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes)> {
    let tag = get_uvarint(buf)?;
    let size = get_uvarint(buf)? as usize;
    need(buf, size)?;
    Ok((tag, buf.split_to(size)))
}

/// Fails unless a known tagged field's value used exactly its declared size.
pub(crate) fn tagged_done(tag: u32, declared: usize, rest: &Bytes) -> Result<()> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(KafkaCodecError::TaggedFieldSize {
            tag,
            declared,
            used: declared - rest.len(),
        })
    }
}

/// Writes one tagged field: its tag, its size, then the bytes `value` writes.
pub(crate) fn put_tagged_field<W: KafkaWrite>(
    buf: &mut W,
    tag: u32,
    value: impl FnOnce(&mut BytesMut) -> Result<()>,
) -> Result<()> {
    let mut field = BytesMut::new();
    value(&mut field)?;
    put_uvarint(buf, tag);
    let len = u32::try_from(field.len()).map_err(|_| KafkaCodecError::TooLongToEncode {
        what: "tagged field",
        len: field.len(),
        max: u32::MAX as usize,
    })?;
    put_uvarint(buf, len);
    buf.write_slice(&field);
    Ok(())
}

/// Unwraps a decoded value that must not be null at this version.
pub(crate) fn non_null<T>(value: Option<T>) -> Result<T> {
    value.ok_or(KafkaCodecError::UnexpectedNull)
}

/// Checks a decoded nullable value: null is accepted only if `nullable`.
pub(crate) fn null_if<T>(value: Option<T>, nullable: bool) -> Result<Option<T>> {
    if value.is_none() && !nullable {
        return Err(KafkaCodecError::UnexpectedNull);
    }
    Ok(value)
}

/// Checks a value to encode: `None` is written only if `nullable`.
pub(crate) fn check_null<T>(value: Option<T>, nullable: bool, field: &'static str) -> Result<()> {
    if value.is_none() && !nullable {
        return Err(KafkaCodecError::NullNotAllowed { field });
    }
    Ok(())
}
