//! Where encodings go. A plain `BytesMut` copies every byte into one
//! buffer; a [`FrameWriter`] copies small fields but keeps long byte
//! strings (the record batches of a Fetch response) as parts of their own,
//! shared with the value that holds them, so a fetched batch is never
//! copied into a response frame.

use bytes::{Bytes, BytesMut};

/// Byte strings at least this long are shared, not copied, by a
/// [`FrameWriter`]: below it a copy costs less than one more part to write.
pub const SHARE_MIN: usize = 16 * 1024;

/// A destination for Kafka encodings.
pub trait KafkaWrite {
    /// Appends `src`, copied.
    fn write_slice(&mut self, src: &[u8]);

    /// Appends `src`; a writer that keeps parts may share it instead of
    /// copying. The default copies.
    fn write_shared(&mut self, src: &Bytes) {
        self.write_slice(src);
    }
}

impl KafkaWrite for BytesMut {
    fn write_slice(&mut self, src: &[u8]) {
        self.extend_from_slice(src);
    }
}

/// An encoding as a list of parts in order: copied fields in buffers,
/// byte strings of [`SHARE_MIN`] bytes or more as shared parts. Write the
/// parts with one vectored write.
#[derive(Debug, Default)]
pub struct FrameWriter {
    /// The first part, kept mutable so a frame's length prefix can be
    /// patched in at the end (set once a shared part follows it).
    head: Option<BytesMut>,
    parts: Vec<Bytes>,
    buf: BytesMut,
}

impl KafkaWrite for FrameWriter {
    fn write_slice(&mut self, src: &[u8]) {
        self.buf.extend_from_slice(src);
    }

    fn write_shared(&mut self, src: &Bytes) {
        if src.len() < SHARE_MIN {
            self.buf.extend_from_slice(src);
            return;
        }
        let before = self.buf.split();
        if self.head.is_none() {
            self.head = Some(before);
        } else if !before.is_empty() {
            self.parts.push(before.freeze());
        }
        self.parts.push(src.clone());
    }
}

impl FrameWriter {
    /// An empty writer.
    pub fn new() -> FrameWriter {
        FrameWriter::default()
    }

    /// Bytes written so far, across all parts.
    pub fn len(&self) -> usize {
        self.head.as_ref().map_or(0, BytesMut::len)
            + self.parts.iter().map(Bytes::len).sum::<usize>()
            + self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first part, mutable: where an encoding that began with a
    /// placeholder patches it.
    pub fn first_mut(&mut self) -> &mut BytesMut {
        self.head.as_mut().unwrap_or(&mut self.buf)
    }

    /// The parts, in order, none empty.
    pub fn into_parts(self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.parts.len() + 2);
        out.extend(self.head.map(BytesMut::freeze));
        out.extend(self.parts);
        out.push(self.buf.freeze());
        out.retain(|part| !part.is_empty());
        out
    }
}
