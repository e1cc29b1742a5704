//! Topic ids: the persistent 128-bit UUID each topic gets when it is created
//! (Kafka's KIP-516), stored in its metadata file. Kafka clients name topics
//! by id in newer requests; an id never changes for the life of a topic, and
//! a topic deleted and created again under the same name gets a new one.
//!
//! Knows nothing of files or clients: plain data and its text forms.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A topic's UUID. The all-zero id means "no id" on Kafka's wire and is
/// never handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    /// The all-zero id: "no id" (topics written by logbus before ids existed
    /// decode to it until the broker gives them one).
    pub const ZERO: TopicId = TopicId([0; 16]);

    /// A fresh random (version 4) UUID, never zero and never Kafka's reserved
    /// metadata-topic id (`...0001`).
    pub fn random() -> TopicId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // `RandomState` keys come from the OS once per process and change on
        // every `new()`; hashing a counter and the time with them gives
        // unpredictable bits without another dependency.
        let mut bytes = [0u8; 16];
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            h.write_u128(nanos);
            half.copy_from_slice(&h.finish().to_be_bytes());
        }
        // RFC 4122 version 4, variant 1: never zero, never `...0001`.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        TopicId(bytes)
    }

    /// Whether this is the all-zero "no id".
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

/// Kafka prints ids as URL-safe base64 without padding (22 characters).
impl std::fmt::Display for TopicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(22);
        for chunk in self.0.chunks(3) {
            let mut n = 0u32;
            for (i, b) in chunk.iter().enumerate() {
                n |= u32::from(*b) << (16 - 8 * i);
            }
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_distinct_version_4_and_never_zero() {
        let ids: std::collections::HashSet<TopicId> =
            (0..1000).map(|_| TopicId::random()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert!(!id.is_zero());
            assert_eq!(id.0[6] >> 4, 4);
            assert_eq!(id.0[8] >> 6, 0b10);
        }
    }

    #[test]
    fn ids_print_as_kafka_does_in_url_safe_base64() {
        // Kafka's Uuid.toString of 0x...0001 is "AAAAAAAAAAAAAAAAAAAAAQ".
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(TopicId(one).to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(TopicId([0xff; 16]).to_string(), "_____________________w");
    }
}
