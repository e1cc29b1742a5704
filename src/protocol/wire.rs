//! The primitive codec every message is built from: big-endian integers,
//! booleans, nullable strings (`i16` length), byte strings (`i32` length) as
//! zero-copy slices of the frame, arrays (`i32` count) and optional values.
//!
//! It knows nothing of particular messages. Its one promise on hostile input:
//! every length or count is checked against the bytes actually present before
//! anything is allocated, so a decoder never allocates more than the frame
//! holds, and it never panics.
//!
//! ```text
//! type            encoding (big-endian)
//! bool            i8: 0 false, 1 true (anything else is malformed)
//! i8/i16/i32/i64  two's complement, 1/2/4/8 bytes
//! string          i16 length N ≥ 0, then N bytes of UTF-8
//! nullable string i16 length, -1 for null
//! bytes           i32 length N ≥ 0, then N bytes
//! nullable bytes  i32 length, -1 for null
//! array<T>        i32 count N ≥ 0, then N elements
//! nullable array  i32 count, -1 for null
//! optional<T>     i8 presence: 0 absent, 1 present followed by T
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::ops::{Deref, DerefMut};

use super::error::{MalformedReason, ProtocolError};

/// Byte strings at least this long are shared with the frame, not copied:
/// below it a copy costs less than one more part to write.
pub const SHARE_MIN: usize = 16 * 1024;

/// What messages encode into: a frame's bytes in order as parts. Fixed-size
/// fields and short strings are copied into the current buffer (the
/// encoder derefs to it, so codecs write with plain `BufMut` calls); byte
/// strings of [`SHARE_MIN`] bytes or more (record batches) become parts of
/// their own, shared with the value that holds them, so a fetched or
/// produced batch is never copied into a frame.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The parts before the current buffer; the first stays mutable so a
    /// frame's length prefix can be patched in at the end.
    head: Option<BytesMut>,
    parts: Vec<Bytes>,
    buf: BytesMut,
}

impl Deref for Encoder {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl DerefMut for Encoder {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Appends `b`: shared as a part of its own if long, else copied.
    pub fn put_shared(&mut self, b: &Bytes) {
        if b.len() < SHARE_MIN {
            self.buf.put_slice(b);
            return;
        }
        let before = self.buf.split();
        if self.head.is_none() {
            self.head = Some(before);
        } else if !before.is_empty() {
            self.parts.push(before.freeze());
        }
        self.parts.push(b.clone());
    }

    /// Bytes encoded so far, across all parts.
    pub fn encoded_len(&self) -> usize {
        self.head.as_ref().map_or(0, BytesMut::len)
            + self.parts.iter().map(Bytes::len).sum::<usize>()
            + self.buf.len()
    }

    /// The first part, mutable: where an encoding that began with a
    /// placeholder patches it.
    pub fn first_mut(&mut self) -> &mut BytesMut {
        self.head.as_mut().unwrap_or(&mut self.buf)
    }

    /// The encoded bytes as parts, in order, none empty.
    pub fn into_parts(self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.parts.len() + 2);
        out.extend(self.head.map(BytesMut::freeze));
        out.extend(self.parts);
        out.push(self.buf.freeze());
        out.retain(|p| !p.is_empty());
        out
    }
}

/// A value with a wire encoding: every message, and every field type in one.
pub trait Codec: Sized {
    /// Fewest bytes any value of this type encodes to; bounds the capacity
    /// reserved for arrays by the bytes present.
    const MIN_LEN: usize;

    /// Appends the encoding of `self` at `version` to `out`.
    ///
    /// # Panics
    /// If a string is longer than `i16::MAX` bytes or a byte string or array
    /// longer than `i32::MAX`: such a value cannot be expressed on the wire.
    fn encode(&self, version: i16, out: &mut Encoder);

    /// Reads one value at `version` from the front of `buf`, advancing it.
    ///
    /// # Errors
    /// [`ProtocolError::Malformed`] when the bytes do not encode a value.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError>;
}

/// Fails unless `buf` holds at least `n` more bytes.
fn need(buf: &Bytes, n: usize) -> Result<(), ProtocolError> {
    if buf.remaining() < n {
        return Err(ProtocolError::malformed(MalformedReason::Truncated {
            needed: n,
            available: buf.remaining(),
        }));
    }
    Ok(())
}

macro_rules! int_codec {
    ($($ty:ty, $len:expr, $put:ident, $get:ident;)*) => {$(
        impl Codec for $ty {
            const MIN_LEN: usize = $len;
            fn encode(&self, _version: i16, out: &mut Encoder) {
                out.$put(*self);
            }
            fn decode(buf: &mut Bytes, _version: i16) -> Result<Self, ProtocolError> {
                need(buf, $len)?;
                Ok(buf.$get())
            }
        }
    )*};
}

int_codec! {
    i8, 1, put_i8, get_i8;
    i16, 2, put_i16, get_i16;
    i32, 4, put_i32, get_i32;
    i64, 8, put_i64, get_i64;
}

impl Codec for bool {
    const MIN_LEN: usize = 1;
    fn encode(&self, _version: i16, out: &mut Encoder) {
        out.put_i8(i8::from(*self));
    }
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
        match i8::decode(buf, version)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(ProtocolError::malformed(MalformedReason::UnknownValue {
                value: value.into(),
            })),
        }
    }
}

/// Reads a length or count: `None` for -1 (null), an error below that or
/// when fewer than `len * min_each` bytes follow.
fn length(buf: &mut Bytes, raw: i32, min_each: usize) -> Result<Option<usize>, ProtocolError> {
    match raw {
        -1 => Ok(None),
        n if n < -1 => Err(ProtocolError::malformed(MalformedReason::NegativeLength {
            length: n,
        })),
        n => {
            let n = n as usize;
            need(buf, n.saturating_mul(min_each))?;
            Ok(Some(n))
        }
    }
}

fn put_len(len: usize, max: usize, what: &str) {
    assert!(len <= max, "{what} of {len} exceeds the wire limit {max}");
}

fn nullable_string(buf: &mut Bytes) -> Result<Option<String>, ProtocolError> {
    let raw = i16::decode(buf, 0)?;
    let Some(n) = length(buf, raw.into(), 1)? else {
        return Ok(None);
    };
    // Checked before allocating: `length` made sure n bytes are present.
    let text = std::str::from_utf8(&buf[..n])
        .map_err(|_| ProtocolError::malformed(MalformedReason::InvalidUtf8))?
        .to_owned();
    buf.advance(n);
    Ok(Some(text))
}

fn put_string(out: &mut BytesMut, s: &str) {
    put_len(s.len(), i16::MAX as usize, "string");
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

impl Codec for String {
    const MIN_LEN: usize = 2;
    fn encode(&self, _version: i16, out: &mut Encoder) {
        put_string(out, self);
    }
    fn decode(buf: &mut Bytes, _version: i16) -> Result<Self, ProtocolError> {
        nullable_string(buf)?.ok_or(ProtocolError::malformed(MalformedReason::UnexpectedNull))
    }
}

impl Codec for Option<String> {
    const MIN_LEN: usize = 2;
    fn encode(&self, _version: i16, out: &mut Encoder) {
        match self {
            Some(s) => put_string(out, s),
            None => out.put_i16(-1),
        }
    }
    fn decode(buf: &mut Bytes, _version: i16) -> Result<Self, ProtocolError> {
        nullable_string(buf)
    }
}

fn nullable_bytes(buf: &mut Bytes) -> Result<Option<Bytes>, ProtocolError> {
    let raw = i32::decode(buf, 0)?;
    // `split_to` shares the frame's allocation: record batches are not copied.
    Ok(length(buf, raw, 1)?.map(|n| buf.split_to(n)))
}

fn put_bytes(out: &mut Encoder, b: &Bytes) {
    put_len(b.len(), i32::MAX as usize, "byte string");
    out.put_i32(b.len() as i32);
    out.put_shared(b);
}

impl Codec for Bytes {
    const MIN_LEN: usize = 4;
    fn encode(&self, _version: i16, out: &mut Encoder) {
        put_bytes(out, self);
    }
    fn decode(buf: &mut Bytes, _version: i16) -> Result<Self, ProtocolError> {
        nullable_bytes(buf)?.ok_or(ProtocolError::malformed(MalformedReason::UnexpectedNull))
    }
}

impl Codec for Option<Bytes> {
    const MIN_LEN: usize = 4;
    fn encode(&self, _version: i16, out: &mut Encoder) {
        match self {
            Some(b) => put_bytes(out, b),
            None => out.put_i32(-1),
        }
    }
    fn decode(buf: &mut Bytes, _version: i16) -> Result<Self, ProtocolError> {
        nullable_bytes(buf)
    }
}

fn nullable_array<T: Codec>(
    buf: &mut Bytes,
    version: i16,
) -> Result<Option<Vec<T>>, ProtocolError> {
    let raw = i32::decode(buf, version)?;
    // `max(1)` so that even zero-sized elements cannot make a count of 2^31
    // loop: a count never exceeds the bytes left.
    let Some(n) = length(buf, raw, T::MIN_LEN.max(1))? else {
        return Ok(None);
    };
    // n ≤ remaining / MIN_LEN here, so the capacity is bounded by the frame.
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(T::decode(buf, version)?);
    }
    Ok(Some(items))
}

fn put_array<T: Codec>(items: &[T], version: i16, out: &mut Encoder) {
    put_len(items.len(), i32::MAX as usize, "array");
    out.put_i32(items.len() as i32);
    for item in items {
        item.encode(version, out);
    }
}

impl<T: Codec> Codec for Vec<T> {
    const MIN_LEN: usize = 4;
    fn encode(&self, version: i16, out: &mut Encoder) {
        put_array(self, version, out);
    }
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
        nullable_array(buf, version)?
            .ok_or(ProtocolError::malformed(MalformedReason::UnexpectedNull))
    }
}

impl<T: Codec> Codec for Option<Vec<T>> {
    const MIN_LEN: usize = 4;
    fn encode(&self, version: i16, out: &mut Encoder) {
        match self {
            Some(items) => put_array(items, version, out),
            None => out.put_i32(-1),
        }
    }
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
        nullable_array(buf, version)
    }
}

/// Implements [`Codec`] for `Option<T>` as a presence byte then the value,
/// for fixed-size types where no in-band value can mean "absent".
macro_rules! optional_codec {
    ($($ty:ty),*) => {$(
        impl $crate::protocol::wire::Codec for Option<$ty> {
            const MIN_LEN: usize = 1;
            fn encode(&self, version: i16, out: &mut $crate::protocol::wire::Encoder) {
                match self {
                    Some(v) => {
                        ::bytes::BufMut::put_i8(&mut **out, 1);
                        $crate::protocol::wire::Codec::encode(v, version, out);
                    }
                    None => ::bytes::BufMut::put_i8(&mut **out, 0),
                }
            }
            fn decode(
                buf: &mut ::bytes::Bytes,
                version: i16,
            ) -> Result<Self, $crate::protocol::ProtocolError> {
                if <bool as $crate::protocol::wire::Codec>::decode(buf, version)? {
                    Ok(Some(<$ty as $crate::protocol::wire::Codec>::decode(buf, version)?))
                } else {
                    Ok(None)
                }
            }
        }
    )*};
}
pub(crate) use optional_codec;

optional_codec!(i32, i64);

/// A field added in version `V` of its message: written and read only at
/// `V` and later; older versions carry nothing and decode to the default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Since<const V: i16, T>(pub T);

impl<const V: i16, T: Codec + Default> Codec for Since<V, T> {
    const MIN_LEN: usize = 0;
    fn encode(&self, version: i16, out: &mut Encoder) {
        if version >= V {
            self.0.encode(version, out);
        }
    }
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, ProtocolError> {
        if version >= V {
            Ok(Since(T::decode(buf, version)?))
        } else {
            Ok(Since(T::default()))
        }
    }
}

/// Defines a C-like enum stored on the wire as an `i8`, with its [`Codec`];
/// unknown values are malformed.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[repr(i8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )*
        }

        impl $crate::protocol::wire::Codec for $name {
            const MIN_LEN: usize = 1;
            fn encode(&self, _version: i16, out: &mut $crate::protocol::wire::Encoder) {
                ::bytes::BufMut::put_i8(&mut **out, *self as i8);
            }
            fn decode(
                buf: &mut ::bytes::Bytes,
                version: i16,
            ) -> Result<Self, $crate::protocol::ProtocolError> {
                match <i8 as $crate::protocol::wire::Codec>::decode(buf, version)? {
                    $( $value => Ok($name::$variant), )*
                    value => Err($crate::protocol::ProtocolError::malformed(
                        $crate::protocol::MalformedReason::UnknownValue { value: value.into() },
                    )),
                }
            }
        }

        #[cfg(test)]
        impl $crate::protocol::arb::Arb for $name {
            fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy;
                proptest::sample::select(vec![$($name::$variant),*]).boxed()
            }
        }
    };
}
pub(crate) use wire_enum;

/// Defines a plain struct whose wire encoding is its fields in order, with
/// its [`Codec`] (and, in tests, a proptest strategy).
///
/// Every field goes through the same `version`. When a later version adds or
/// drops a field, that struct leaves this macro and gets a hand-written
/// `Codec` that branches on `version`.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::protocol::wire::Codec for $name {
            const MIN_LEN: usize = 0 $( + <$ty as $crate::protocol::wire::Codec>::MIN_LEN )*;

            #[allow(unused_variables)]
            fn encode(&self, version: i16, out: &mut $crate::protocol::wire::Encoder) {
                $( $crate::protocol::wire::Codec::encode(&self.$field, version, out); )*
            }

            #[allow(unused_variables)]
            fn decode(
                buf: &mut ::bytes::Bytes,
                version: i16,
            ) -> Result<Self, $crate::protocol::ProtocolError> {
                Ok($name {
                    $( $field: <$ty as $crate::protocol::wire::Codec>::decode(buf, version)
                        .map_err(|e| e.within(stringify!($name), stringify!($field)))?, )*
                })
            }
        }

        #[cfg(test)]
        impl $crate::protocol::arb::Arb for $name {
            fn arb() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::{Just, Strategy};
                (Just(()), $( <$ty as $crate::protocol::arb::Arb>::arb(), )*)
                    .prop_map(|((), $( $field, )*)| $name { $( $field, )* })
                    .boxed()
            }
        }
    };
}
pub(crate) use wire_struct;
