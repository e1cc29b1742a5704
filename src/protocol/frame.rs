//! Framing: every request and response travels as a `u32` big-endian length
//! followed by that many payload bytes.
//!
//! ```text
//! offset  size  field
//!      0     4  length   u32, bytes after this field; at most the configured max
//!      4     N  payload  request or response header, then its body
//! ```
//!
//! This file knows nothing of headers or bodies, nor of sockets: a server or
//! client feeds it the bytes it has read so far.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::ProtocolError;
use super::wire::Encoder;

/// Size of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// Default maximum payload size of a frame: 8 MiB.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// The whole length (prefix included) of the frame starting at the front of
/// `buf`, once its prefix is there: `Ok(None)` while fewer than
/// [`LENGTH_PREFIX`] bytes are present.
///
/// # Errors
/// [`ProtocolError::FrameTooLarge`] when the prefix exceeds `max_frame`.
pub fn frame_len(buf: &[u8], max_frame: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(prefix) = buf.first_chunk::<LENGTH_PREFIX>() else {
        return Ok(None);
    };
    let size = u32::from_be_bytes(*prefix) as usize;
    if size > max_frame {
        return Err(ProtocolError::FrameTooLarge {
            size,
            max: max_frame,
        });
    }
    Ok(Some(LENGTH_PREFIX + size))
}

/// Takes one complete frame's payload off the front of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete. Nothing is reserved
/// for the rest of the frame: the caller grows `buf` as bytes arrive, so a
/// prefix that claims much and delivers little costs only what it delivered.
/// The payload is split off `buf` without copying.
///
/// # Errors
/// [`ProtocolError::FrameTooLarge`] when the prefix exceeds `max_frame`; the
/// stream cannot be resynchronised after that, so the connection should close.
pub fn decode_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Bytes>, ProtocolError> {
    let Some(total) = frame_len(buf, max_frame)? else {
        return Ok(None);
    };
    if buf.len() < total {
        return Ok(None);
    }
    buf.advance(LENGTH_PREFIX);
    Ok(Some(buf.split_to(total - LENGTH_PREFIX).freeze()))
}

/// Appends `payload` to `out` as one frame.
///
/// # Panics
/// If `payload` is longer than `u32::MAX` bytes.
pub fn encode_frame(payload: &[u8], out: &mut BytesMut) {
    let size = u32::try_from(payload.len()).expect("frame payload exceeds u32::MAX bytes");
    out.reserve(LENGTH_PREFIX + payload.len());
    out.put_u32(size);
    out.put_slice(payload);
}

/// One frame whose payload `write` produces, as parts to write in order
/// (see [`Encoder`]): a record batch in the payload stays shared with the
/// value that held it instead of being copied into the frame.
///
/// # Panics
/// If the payload grows past `u32::MAX` bytes.
pub fn frame_parts(write: impl FnOnce(&mut Encoder)) -> Vec<Bytes> {
    let mut out = Encoder::new();
    out.put_u32(0);
    write(&mut out);
    let size = out.encoded_len() - LENGTH_PREFIX;
    let size = u32::try_from(size).expect("frame payload exceeds u32::MAX bytes");
    out.first_mut()[..LENGTH_PREFIX].copy_from_slice(&size.to_be_bytes());
    out.into_parts()
}

/// Appends one frame whose payload `write` produces to `out`, contiguous
/// (its parts copied in).
///
/// # Panics
/// If the payload grows past `u32::MAX` bytes.
pub fn write_frame(out: &mut BytesMut, write: impl FnOnce(&mut Encoder)) {
    for part in frame_parts(write) {
        out.put_slice(&part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_leaves_the_next_one_in_place() {
        let mut buf = BytesMut::new();
        encode_frame(b"hello", &mut buf);
        encode_frame(b"", &mut buf);
        buf.put_slice(&[0, 0]);
        assert_eq!(
            decode_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            decode_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&b""[..])
        );
        assert_eq!(decode_frame(&mut buf, 16).unwrap(), None);
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn every_truncation_of_a_frame_is_incomplete_not_an_error() {
        let mut whole = BytesMut::new();
        encode_frame(b"0123456789", &mut whole);
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert_eq!(decode_frame(&mut part, 64).unwrap(), None, "cut at {cut}");
            assert_eq!(part.len(), cut, "an incomplete frame is not consumed");
        }
    }

    #[test]
    fn an_oversized_prefix_is_refused_without_reserving_its_length() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 1, 2][..]);
        let before = buf.capacity();
        assert_eq!(
            decode_frame(&mut buf, DEFAULT_MAX_FRAME),
            Err(ProtocolError::FrameTooLarge {
                size: u32::MAX as usize,
                max: DEFAULT_MAX_FRAME
            })
        );
        assert_eq!(buf.capacity(), before);
    }

    #[test]
    fn an_incomplete_frame_reserves_nothing_beyond_what_arrived() {
        let mut buf = BytesMut::with_capacity(8);
        buf.put_u32(8 * 1024 * 1024);
        buf.put_u8(1);
        assert_eq!(decode_frame(&mut buf, DEFAULT_MAX_FRAME).unwrap(), None);
        assert!(buf.capacity() < 1024, "reserved {} bytes", buf.capacity());
        assert_eq!(
            frame_len(&buf, DEFAULT_MAX_FRAME).unwrap(),
            Some(4 + (8 << 20))
        );
        assert_eq!(frame_len(&buf[..3], DEFAULT_MAX_FRAME).unwrap(), None);
    }

    #[test]
    fn a_frame_of_exactly_the_maximum_is_accepted() {
        let mut buf = BytesMut::new();
        encode_frame(&[7; 32], &mut buf);
        assert_eq!(decode_frame(&mut buf, 32).unwrap().unwrap().len(), 32);
        encode_frame(&[7; 33], &mut buf);
        assert!(matches!(
            decode_frame(&mut buf, 32),
            Err(ProtocolError::FrameTooLarge { size: 33, max: 32 })
        ));
    }

    #[test]
    fn a_long_byte_string_stays_a_shared_part_and_the_prefix_counts_it() {
        let batch = Bytes::from(vec![7u8; super::super::wire::SHARE_MIN]);
        let parts = frame_parts(|o| {
            o.put_u8(1);
            o.put_shared(&batch);
            o.put_u8(2);
        });
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].as_ptr(), batch.as_ptr(), "the batch was copied");
        let mut whole = BytesMut::new();
        for p in &parts {
            whole.put_slice(p);
        }
        let payload = decode_frame(&mut whole, DEFAULT_MAX_FRAME)
            .unwrap()
            .unwrap();
        assert_eq!(payload.len(), batch.len() + 2);
        assert_eq!((payload[0], payload[payload.len() - 1]), (1, 2));
    }

    #[test]
    fn write_frame_patches_the_length_in_place() {
        let mut out = BytesMut::from(&b"xy"[..]);
        write_frame(&mut out, |o| o.put_slice(b"abc"));
        assert_eq!(&out[..], b"xy\0\0\0\x03abc");
    }
}
