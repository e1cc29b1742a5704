//! A file's current contents as chunks of at most [`CHUNK`] bytes, so a
//! growing file never copies what it already holds (one large `Vec` would
//! copy the whole file at each doubling, under the file's lock: seconds of
//! stall for a 1 GiB segment) and memory follows the bytes written.

use std::io::{self, ErrorKind};

/// Bytes in each chunk but the last.
const CHUNK: usize = 1 << 20;

/// Bytes at positions `0..len`, in chunks; every chunk but the last is full.
#[derive(Default)]
pub(super) struct Contents {
    chunks: Vec<Vec<u8>>,
    len: usize,
}

impl Contents {
    /// Contents holding `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Contents {
        Contents {
            chunks: bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect(),
            len: bytes.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Cuts or extends (with zeros) to `len` bytes, reporting allocation
    /// failure rather than aborting.
    pub fn resize(&mut self, len: usize) -> io::Result<()> {
        if len <= self.len {
            let keep = len.div_ceil(CHUNK);
            self.chunks.truncate(keep);
            if let Some(last) = self.chunks.last_mut() {
                last.truncate(len - (keep - 1) * CHUNK);
            }
            self.len = len;
            return Ok(());
        }
        while self.len < len {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                // The first chunk grows as needed (most files are small);
                // later ones are allocated whole, once, with no regrowth.
                let mut chunk = Vec::new();
                if !self.chunks.is_empty() {
                    chunk
                        .try_reserve_exact(CHUNK)
                        .map_err(|e| io::Error::new(ErrorKind::OutOfMemory, e))?;
                }
                self.chunks.push(chunk);
            }
            let last = self.chunks.last_mut().expect("pushed above");
            let grow = (len - self.len).min(CHUNK - last.len());
            last.try_reserve(grow)
                .map_err(|e| io::Error::new(ErrorKind::OutOfMemory, e))?;
            last.resize(last.len() + grow, 0);
            self.len += grow;
        }
        Ok(())
    }

    /// Writes `data` at `pos`, extending with zeros as needed.
    pub fn write(&mut self, pos: usize, data: &[u8]) -> io::Result<()> {
        let end = pos + data.len();
        if end > self.len {
            self.resize(end)?;
        }
        let mut done = 0;
        while done < data.len() {
            let at = pos + done;
            let chunk = &mut self.chunks[at / CHUNK];
            let off = at % CHUNK;
            let n = (data.len() - done).min(chunk.len() - off);
            chunk[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Copies bytes from `pos` into `buf`; returns how many (0 past the end).
    pub fn read(&self, pos: usize, buf: &mut [u8]) -> usize {
        let n = self.len.saturating_sub(pos).min(buf.len());
        let mut done = 0;
        while done < n {
            let at = pos + done;
            let chunk = &self.chunks[at / CHUNK];
            let off = at % CHUNK;
            let m = (n - done).min(chunk.len() - off);
            buf[done..done + m].copy_from_slice(&chunk[off..off + m]);
            done += m;
        }
        n
    }

    /// The whole contents as one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_across_chunks_read_back_and_a_cut_then_grown_file_reads_zeros() {
        let mut c = Contents::default();
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        c.write(5, &data).unwrap();
        assert_eq!(c.len(), data.len() + 5);
        let mut buf = vec![0u8; data.len()];
        assert_eq!(c.read(5, &mut buf), data.len());
        assert_eq!(buf, data);
        c.resize(CHUNK + 3).unwrap();
        c.resize(2 * CHUNK).unwrap();
        let all = c.to_vec();
        assert_eq!(all.len(), 2 * CHUNK);
        assert_eq!(&all[5..CHUNK + 3], &data[..CHUNK - 2]);
        assert!(all[CHUNK + 3..].iter().all(|&b| b == 0));
        assert_eq!(c.read(2 * CHUNK, &mut buf), 0);
    }
}
