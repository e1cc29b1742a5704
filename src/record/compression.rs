//! The compression codecs of Kafka record batches, by their attribute codes,
//! with a hard cap on decompressed size.
//!
//! This file owns codec framing (gzip members, the zstd frame, the lz4 frame
//! of KIP-57, xerial-framed or raw snappy) and nothing else: it compresses
//! and decompresses byte slices and knows nothing of records or batch headers.
//!
//! Xerial snappy framing (the one layout parsed by hand here; big-endian):
//!
//! ```text
//! offset  size  field
//!      0     8  magic                 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
//!      8     4  version               i32, 1 (ignored when reading)
//!     12     4  compatible version    i32, 1 (ignored when reading)
//!     16     4  block length          i32, bytes of the block that follows
//!     20     …  raw snappy block      at most 32 KiB uncompressed when written
//!              (block length, block) repeat to the end of the payload
//! ```
//!
//! Every decoder reads through a bound of `limit + 1` bytes, so a small
//! hostile payload cannot inflate into gigabytes: the first byte past the
//! limit turns into [`RecordError::DecompressedTooLarge`].

use std::io::{self, Read, Write};

use super::RecordError;

/// Default cap on the decompressed records of one batch: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// A record batch's compression codec (attribute bits 0..=2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as they are (code 0).
    #[default]
    None,
    /// gzip, RFC 1952 (code 1).
    Gzip,
    /// snappy; written xerial-framed as Kafka's Java client does (code 2).
    Snappy,
    /// lz4 frame format, KIP-57 (code 3).
    Lz4,
    /// zstd frame format (code 4).
    Zstd,
}

impl Compression {
    /// Every codec, in attribute-code order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec for a Kafka attribute code.
    ///
    /// # Errors
    /// [`RecordError::UnsupportedCompression`] for codes 5..=7 (and above).
    pub fn from_code(code: u8) -> Result<Compression, RecordError> {
        match code {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(RecordError::UnsupportedCompression { code }),
        }
    }

    /// The Kafka attribute code of this codec.
    pub fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name as Kafka's `compression.type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// zstd level Kafka's producer uses by default.
const ZSTD_LEVEL: i32 = 3;

/// The 8-byte magic opening a xerial snappy stream: `\x82SNAPPY\0`.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Xerial header: magic, then big-endian i32 version and compatible version.
const XERIAL_HEADER_LEN: usize = 16;
/// Xerial format version (and minimum compatible version) Kafka writes.
const XERIAL_VERSION: i32 = 1;
/// Uncompressed bytes per xerial block, xerial's (and kafka-python's) default.
const XERIAL_BLOCK: usize = 32 * 1024;

/// Compresses `data` with `codec`.
///
/// # Errors
/// [`RecordError::Compression`] if the codec fails (it does not on valid input
/// in practice; the variant carries the underlying I/O error).
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    let err = |source: io::Error| RecordError::Compression {
        codec: codec.name(),
        source,
    };
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(err)?;
            enc.finish().map_err(err)
        }
        Compression::Snappy => xerial_compress(data).map_err(err),
        Compression::Lz4 => {
            // Independent blocks, no content size: what Kafka's Java
            // KafkaLZ4BlockOutputStream writes, and readable by every client.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).map_err(err)?;
            enc.finish().map_err(|e| err(io::Error::other(e)))
        }
        Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).map_err(err),
    }
}

/// Decompresses `data` with `codec`, refusing to produce more than `limit` bytes.
///
/// # Errors
/// [`RecordError::DecompressedTooLarge`] when the output would exceed `limit`;
/// [`RecordError::Decompression`] when the payload is corrupt.
pub fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(RecordError::DecompressedTooLarge { limit });
            }
            Ok(data.to_vec())
        }
        // Java's GZIPInputStream reads concatenated members; so do we.
        Compression::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(data), limit),
        Compression::Snappy => snappy_decompress(data, limit),
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), limit),
        Compression::Zstd => {
            let err = |source| decompression_error(codec, source);
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(err)?;
            // The decoder allocates its window up front from the frame header;
            // cap it so a tiny frame cannot ask for more than the limit needs.
            decoder
                .window_log_max(zstd_window_log(limit))
                .map_err(err)?;
            read_bounded(codec, decoder, limit)
        }
    }
}

/// Largest zstd window (log2) worth accepting under `limit`: enough to cover
/// the limit, at least 4 MiB (so frames from streaming encoders at any usual
/// level decode under small limits), at most zstd's default cap of 128 MiB.
fn zstd_window_log(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(22, 27)
}

fn decompression_error(codec: Compression, source: io::Error) -> RecordError {
    RecordError::Decompression {
        codec: codec.name(),
        source,
    }
}

/// Reads `reader` to its end through a `take(limit + 1)` bound.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(bound)
        .read_to_end(&mut out)
        .map_err(|source| decompression_error(codec, source))?;
    if out.len() > limit {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// Writes the xerial framing Kafka's Java client (via snappy-java's
/// `SnappyOutputStream`) and kafka-python write: the 16-byte header, then per
/// 32 KiB of input a big-endian i32 length and a raw snappy block.
fn xerial_compress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + snap::raw::max_compress_len(data.len()));
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in data.chunks(XERIAL_BLOCK) {
        let block = encoder.compress_vec(chunk).map_err(io::Error::other)?;
        let len = i32::try_from(block.len()).map_err(io::Error::other)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}

/// Decodes xerial-framed snappy (detected by its magic, as kafka-python does)
/// or, failing that, one raw snappy block.
fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let corrupt =
        |msg: &'static str| decompression_error(Compression::Snappy, io::Error::other(msg));
    if !data.starts_with(&XERIAL_MAGIC) {
        let mut out = Vec::new();
        raw_snappy_into(data, limit, &mut out)?;
        return Ok(out);
    }
    if data.len() < XERIAL_HEADER_LEN {
        return Err(corrupt("xerial snappy header truncated"));
    }
    // The version fields are ignored, as kafka-python and snappy-java do:
    // some producers are known to write them little-endian.
    let mut rest = &data[XERIAL_HEADER_LEN..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        // snappy-java reads concatenated streams: a header may recur between blocks.
        if rest.starts_with(&XERIAL_MAGIC) && rest.len() >= XERIAL_HEADER_LEN {
            rest = &rest[XERIAL_HEADER_LEN..];
            continue;
        }
        let Some((len_bytes, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt("xerial snappy block length truncated"));
        };
        let len = i32::from_be_bytes(*len_bytes);
        let Ok(len) = usize::try_from(len) else {
            return Err(corrupt("negative xerial snappy block length"));
        };
        if len > tail.len() {
            return Err(corrupt("xerial snappy block truncated"));
        }
        let (block, tail) = tail.split_at(len);
        raw_snappy_into(block, limit, &mut out)?;
        rest = tail;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking the length it declares
/// against what `limit` still allows before allocating for it.
fn raw_snappy_into(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
    let declared = snap::raw::decompress_len(block)
        .map_err(|e| decompression_error(Compression::Snappy, io::Error::other(e)))?;
    if declared > limit - out.len() {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    let start = out.len();
    out.resize(start + declared, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| decompression_error(Compression::Snappy, io::Error::other(e)))?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, data.len()).unwrap(),
                data,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn codes_round_trip_and_unknown_codes_are_rejected() {
        for codec in Compression::ALL {
            assert_eq!(Compression::from_code(codec.code()).unwrap(), codec);
        }
        for code in 5..=7 {
            assert!(matches!(
                Compression::from_code(code),
                Err(RecordError::UnsupportedCompression { code: c }) if c == code
            ));
        }
    }

    #[test]
    fn output_one_byte_over_the_limit_is_rejected() {
        let data = sample();
        for codec in Compression::ALL {
            let packed = compress(codec, &data).unwrap();
            assert!(
                matches!(
                    decompress(codec, &packed, data.len() - 1),
                    Err(RecordError::DecompressedTooLarge { .. })
                ),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn xerial_snappy_has_the_java_header() {
        let packed = compress(Compression::Snappy, b"hello hello hello").unwrap();
        assert_eq!(&packed[..8], b"\x82SNAPPY\0");
        assert_eq!(&packed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn raw_snappy_is_decoded_too() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"plain raw snappy")
            .unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 100).unwrap(),
            b"plain raw snappy"
        );
    }

    #[test]
    fn snappy_block_declaring_a_huge_length_is_rejected_before_allocating() {
        // A raw block whose length preamble claims ~4 GiB.
        let block = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress(Compression::Snappy, &block, 1 << 20),
            Err(RecordError::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn corrupt_payloads_are_decompression_errors() {
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            assert!(
                matches!(
                    decompress(codec, b"definitely not compressed", 1 << 20),
                    Err(RecordError::Decompression { .. })
                ),
                "{codec:?}"
            );
        }
    }
}
