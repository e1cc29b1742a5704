//! Kafka's variable-length integers: zig-zag encoded, protobuf-style base-128
//! varints for `i32` ("varint") and `i64` ("varlong").
//!
//! This file owns only the integer encoding; it knows nothing of records or
//! batches. Decoding reads from a byte slice, is bounded (at most 5 bytes for
//! a varint, 10 for a varlong) and never panics.
//!
//! ```text
//! zig-zag:  0 → 0, -1 → 1, 1 → 2, -2 → 3, …   (n << 1) ^ (n >> 31|63)
//! bytes:    7 value bits per byte, least significant group first;
//!           the high bit (0x80) is set on every byte but the last.
//! ```

/// Most bytes an `i32` varint may take.
pub const MAX_VARINT_LEN: usize = 5;
/// Most bytes an `i64` varlong may take.
pub const MAX_VARLONG_LEN: usize = 10;

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended before the varint's last byte.
    #[error("varint runs past the end of the input")]
    Truncated,
    /// The varint is longer than its type allows, or its last byte carries
    /// bits beyond the type's width.
    #[error("varint is too long for its type")]
    Overlong,
}

/// Zig-zag encodes an `i32` into an unsigned value.
fn zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Zig-zag encodes an `i64` into an unsigned value.
fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Number of bytes [`put_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(zigzag32(value)))
}

/// Number of bytes [`put_varlong`] writes for `value`.
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(zigzag64(value))
}

/// Bytes needed for an unsigned base-128 value: one per started 7-bit group.
fn unsigned_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the zig-zag varint encoding of `value` to `out`.
pub fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_unsigned(out, u64::from(zigzag32(value)));
}

/// Appends the zig-zag varlong encoding of `value` to `out`.
pub fn put_varlong(out: &mut Vec<u8>, value: i64) {
    put_unsigned(out, zigzag64(value));
}

fn put_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes an unsigned base-128 value of at most `max_len` bytes whose last
/// byte may carry at most `last_bits` significant bits.
fn get_unsigned(buf: &[u8], max_len: usize, last_bits: u32) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for i in 0..max_len {
        let Some(&byte) = buf.get(i) else {
            return Err(VarintError::Truncated);
        };
        let last = i + 1 == max_len;
        // The final permitted byte may neither continue nor carry bits that
        // would fall outside the type: Java silently drops them, we reject.
        if last && (byte & 0x80 != 0 || u32::from(byte) >> last_bits != 0) {
            return Err(VarintError::Overlong);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    // Unreachable in practice: the loop returns on the last byte either way.
    Err(VarintError::Overlong)
}

/// Decodes a zig-zag varint (`i32`) from the start of `buf`.
///
/// Returns the value and the number of bytes it took. Non-minimal encodings
/// (e.g. `0x80 0x00` for zero) are accepted, as Kafka accepts them.
///
/// # Errors
/// [`VarintError::Truncated`] if `buf` ends inside the varint,
/// [`VarintError::Overlong`] if it needs more than 5 bytes or 32 bits.
pub fn get_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    // 4 full groups of 7 bits leave 4 bits for the fifth byte.
    let (raw, len) = get_unsigned(buf, MAX_VARINT_LEN, 4)?;
    let raw = raw as u32;
    Ok((((raw >> 1) as i32) ^ -((raw & 1) as i32), len))
}

/// Decodes a zig-zag varlong (`i64`) from the start of `buf`.
///
/// Returns the value and the number of bytes it took.
///
/// # Errors
/// [`VarintError::Truncated`] if `buf` ends inside the varlong,
/// [`VarintError::Overlong`] if it needs more than 10 bytes or 64 bits.
pub fn get_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    // 9 full groups of 7 bits leave 1 bit for the tenth byte.
    let (raw, len) = get_unsigned(buf, MAX_VARLONG_LEN, 1)?;
    Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_kafka() {
        // Values from Kafka's ByteUtilsTest.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(value, bytes) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(get_varint(bytes), Ok((value, bytes.len())));
        }
        let mut out = Vec::new();
        put_varlong(&mut out, i64::MIN);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(get_varlong(&out), Ok((i64::MIN, 10)));
    }

    #[test]
    fn truncated_varint_is_an_error() {
        assert_eq!(get_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(get_varint(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(get_varlong(&[0xff; 9]), Err(VarintError::Truncated));
    }

    #[test]
    fn overlong_varint_is_an_error() {
        assert_eq!(get_varint(&[0xff; 6]), Err(VarintError::Overlong));
        // Fifth byte carrying bits beyond 32.
        assert_eq!(
            get_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(VarintError::Overlong)
        );
        assert_eq!(get_varlong(&[0xff; 11]), Err(VarintError::Overlong));
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert_eq!(get_varlong(&ten), Err(VarintError::Overlong));
    }

    #[test]
    fn non_minimal_encoding_is_accepted() {
        assert_eq!(get_varint(&[0x80, 0x00]), Ok((0, 2)));
    }

    proptest! {
        #[test]
        fn varint_round_trips(value: i32, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            prop_assert_eq!(out.len(), varint_len(value));
            let len = out.len();
            out.extend_from_slice(&tail);
            prop_assert_eq!(get_varint(&out), Ok((value, len)));
        }

        #[test]
        fn varlong_round_trips(value: i64) {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            prop_assert_eq!(out.len(), varlong_len(value));
            prop_assert_eq!(get_varlong(&out), Ok((value, out.len())));
        }

        #[test]
        fn varint_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = get_varint(&bytes);
            let _ = get_varlong(&bytes);
        }
    }
}
