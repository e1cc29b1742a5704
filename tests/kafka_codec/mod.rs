//! Shared by the Kafka codec tests: a deterministic random source and the
//! generated samples of every message.

pub mod samples;

use bytes::Bytes;
use logbus::kafka_codec::Uuid;

/// A small deterministic generator (splitmix64) for sample values.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Any value of `T`, edge values (0, -1, extremes) often.
    pub fn any<T: FromRng>(&mut self) -> T {
        T::from_rng(self)
    }

    /// A short ASCII string, sometimes empty.
    pub fn string(&mut self) -> String {
        let len = self.below(12) as usize;
        (0..len)
            .map(|_| char::from(b'a' + self.below(26) as u8))
            .collect()
    }

    /// A few arbitrary bytes, sometimes none.
    pub fn bytes(&mut self) -> Bytes {
        let len = self.below(20) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Values a sample can hold.
pub trait FromRng {
    /// A random value.
    fn from_rng(rng: &mut Rng) -> Self;
}

macro_rules! int_from_rng {
    ($($ty:ty),*) => {$(
        impl FromRng for $ty {
            fn from_rng(rng: &mut Rng) -> Self {
                match rng.below(4) {
                    0 => 0,
                    1 => <$ty>::MAX,
                    2 => (rng.next() % 3) as $ty,
                    _ => rng.next() as $ty,
                }
            }
        }
    )*};
}
int_from_rng!(i8, u8, i16, i32, i64, u16, u32);

impl FromRng for bool {
    fn from_rng(rng: &mut Rng) -> Self {
        rng.below(2) == 1
    }
}

impl FromRng for f64 {
    fn from_rng(rng: &mut Rng) -> Self {
        // Finite, so the value equals itself after a round trip.
        rng.next() as f64 / 7.0
    }
}

impl FromRng for Uuid {
    fn from_rng(rng: &mut Rng) -> Self {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next().to_be_bytes());
        id[8..].copy_from_slice(&rng.next().to_be_bytes());
        Uuid(id)
    }
}

/// Messages that can be sampled at a version (generated in `samples`).
pub trait Sample {
    /// A random value with every field of `version` set.
    fn sample(rng: &mut Rng, version: i16) -> Self;
}
