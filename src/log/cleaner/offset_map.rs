//! The cleaner's key → latest offset map: a bounded open-addressing table
//! of 128-bit key hashes (Kafka's `SkimpyOffsetMap` keeps MD5 digests the
//! same way), so memory per key is fixed whatever the key's length.
//!
//! Collision risk: two distinct keys share a slot only if their 128-bit
//! XXH3 hashes are equal. XXH3-128 is not cryptographic, so the seed is
//! drawn at random per map (from std's `RandomState`), which keeps keys
//! chosen in advance from colliding on purpose; for keys not chosen against
//! the seed, the chance that any two of n keys collide is about
//! n² / 2¹²⁹ (≈ 1.5·10⁻²⁷ for a million keys). A collision would make the
//! cleaner drop the older key's latest record, as in Kafka.
//!
//! Knows nothing of segments or batches: keys in, offsets out.

use std::hash::{BuildHasher, RandomState};
use twox_hash::XxHash3_128;

/// Bytes one slot takes: the 128-bit hash and the offset.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();
/// The table never fills beyond this fraction, keeping probes short.
const MAX_LOAD: f64 = 0.75;
/// Slots allocated at first, before any growth.
const INITIAL_SLOTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    hi: u64,
    lo: u64,
    /// The latest offset seen for the key; -1 marks an empty slot
    /// (log offsets are never negative).
    offset: i64,
}

const EMPTY: Slot = Slot {
    hi: 0,
    lo: 0,
    offset: -1,
};

/// What [`OffsetMap::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The key is mapped to the offset.
    Stored,
    /// The key is new and the map holds `max_entries` keys: nothing changed.
    Full,
}

/// A bounded map from key hashes to the latest offset of each key.
#[derive(Debug, Clone)]
pub struct OffsetMap {
    seed: u64,
    slots: Vec<Slot>,
    len: usize,
    max_entries: usize,
    /// The largest capacity growth may reach, fixed by `max_entries`.
    max_slots: usize,
}

impl OffsetMap {
    /// An empty map that will hold at most `max_entries` keys (at least 1).
    /// The table starts small and doubles as keys arrive, never beyond what
    /// `max_entries` needs at the maximum load factor.
    pub fn new(max_entries: usize) -> OffsetMap {
        let max_entries = max_entries.max(1);
        let max_slots = slots_for(max_entries);
        OffsetMap {
            seed: RandomState::new().hash_one(0x6c6f_6762_7573_u64),
            slots: vec![EMPTY; INITIAL_SLOTS.min(max_slots)],
            len: 0,
            max_entries,
            max_slots,
        }
    }

    /// How many keys a map of `bytes` bytes of slots can hold.
    pub fn entries_for_bytes(bytes: usize) -> usize {
        ((bytes / SLOT_BYTES) as f64 * MAX_LOAD) as usize
    }

    /// The most memory the slots of a map of `max_entries` keys take.
    pub fn max_bytes(max_entries: usize) -> usize {
        slots_for(max_entries.max(1)) * SLOT_BYTES
    }

    /// Number of keys mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is mapped.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the slot table takes now.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    fn hash(&self, key: &[u8]) -> (u64, u64) {
        let h = XxHash3_128::oneshot_with_seed(self.seed, key);
        ((h >> 64) as u64, h as u64)
    }

    /// The slot holding `(hi, lo)`, or the empty slot where it would go.
    fn find(slots: &[Slot], hi: u64, lo: u64) -> usize {
        let n = slots.len();
        // Multiply-shift maps the hash onto 0..n without needing a power of two.
        let mut i = ((u128::from(hi) * n as u128) >> 64) as usize;
        loop {
            let s = &slots[i];
            if s.offset < 0 || (s.hi == hi && s.lo == lo) {
                return i;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Maps `key` to `offset` (offsets arrive in increasing order, so the
    /// latest wins). A new key is refused once `max_entries` keys are mapped.
    pub fn put(&mut self, key: &[u8], offset: i64) -> Put {
        let (hi, lo) = self.hash(key);
        let i = Self::find(&self.slots, hi, lo);
        if self.slots[i].offset >= 0 {
            self.slots[i].offset = offset;
            return Put::Stored;
        }
        if self.len >= self.max_entries {
            return Put::Full;
        }
        if (self.len + 1) as f64 > self.slots.len() as f64 * MAX_LOAD
            && self.slots.len() < self.max_slots
        {
            self.grow();
            let i = Self::find(&self.slots, hi, lo);
            self.slots[i] = Slot { hi, lo, offset };
        } else {
            self.slots[i] = Slot { hi, lo, offset };
        }
        self.len += 1;
        Put::Stored
    }

    /// The latest offset mapped for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        let (hi, lo) = self.hash(key);
        let s = self.slots[Self::find(&self.slots, hi, lo)];
        (s.offset >= 0).then_some(s.offset)
    }

    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).min(self.max_slots);
        let mut slots = vec![EMPTY; new_len];
        for s in self.slots.iter().filter(|s| s.offset >= 0) {
            let i = Self::find(&slots, s.hi, s.lo);
            slots[i] = *s;
        }
        self.slots = slots;
    }
}

/// Slots needed for `entries` keys at the maximum load factor (plus one
/// free slot, so a probe always ends).
fn slots_for(entries: usize) -> usize {
    (entries as f64 / MAX_LOAD).ceil() as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_unknown_keys_are_absent() {
        let mut map = OffsetMap::new(10);
        assert_eq!(map.put(b"a", 1), Put::Stored);
        assert_eq!(map.put(b"b", 2), Put::Stored);
        assert_eq!(map.put(b"a", 3), Put::Stored);
        assert_eq!(map.get(b"a"), Some(3));
        assert_eq!(map.get(b"b"), Some(2));
        assert_eq!(map.get(b"c"), None);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn a_full_map_refuses_new_keys_but_updates_known_ones() {
        let mut map = OffsetMap::new(3);
        for (i, k) in [b"a", b"b", b"c"].iter().enumerate() {
            assert_eq!(map.put(*k, i as i64), Put::Stored);
        }
        assert_eq!(map.put(b"d", 9), Put::Full);
        assert_eq!(map.get(b"d"), None);
        assert_eq!(map.put(b"a", 10), Put::Stored);
        assert_eq!(map.get(b"a"), Some(10));
    }

    #[test]
    fn growth_keeps_every_key_and_stays_within_the_bound() {
        let n = 50_000;
        let mut map = OffsetMap::new(n);
        for i in 0..n {
            assert_eq!(
                map.put(format!("key-{i}").as_bytes(), i as i64),
                Put::Stored
            );
        }
        for i in 0..n {
            assert_eq!(map.get(format!("key-{i}").as_bytes()), Some(i as i64));
        }
        assert!(map.memory_bytes() <= OffsetMap::max_bytes(n));
        assert_eq!(map.put(b"one more", 1), Put::Full);
    }
}
