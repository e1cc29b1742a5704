//! Kafka's key partitioner (docs/design.md §7): a keyed record goes to
//! `(murmur2(key) & 0x7fffffff) % partitions`, the function Kafka's Java
//! client uses, so a key lands on the same partition number under logbus and
//! Kafka. A leaf: pure functions, shared by the broker and the network client
//! (which must not depend on the broker), knowing nothing of logs or sockets.

/// Kafka's 32-bit murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`),
/// written from the algorithm: seed `0x9747b28c`, little-endian 4-byte words,
/// Java `int` (wrapping) arithmetic and unsigned shifts.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    // The Java switch falls through from 3 to 2 to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key`:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
///
/// # Panics
/// If `partitions` is zero.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values Kafka's own `UtilsTest.testMurmur2` expects.
    #[test]
    fn murmur2_matches_kafkas_published_values() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, want) in cases {
            assert_eq!(murmur2(data), want, "{:?}", String::from_utf8_lossy(data));
        }
    }

    /// Values other clients check against Kafka's Java implementation.
    #[test]
    fn murmur2_matches_java_for_every_tail_length() {
        for (s, want) in [
            ("1", -1_993_445_489),
            ("12", 126_087_238),
            ("123", -267_702_483),
            ("1234", -1_614_185_708),
            ("12345", -1_188_365_604),
        ] {
            assert_eq!(murmur2(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn keyed_partition_is_positive_hash_modulo_partition_count() {
        // -973932308 & 0x7fffffff = 1173551340.
        assert_eq!(partition_for_key(b"21", 1_000_000_000), 173_551_340);
        assert_eq!(partition_for_key(b"21", 6), 1_173_551_340 % 6);
        assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
        for p in 1..50 {
            assert!(partition_for_key(b"any key", p) < p);
        }
    }
}
