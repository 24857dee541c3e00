//! A map bounded by the bytes of its values, evicting uniformly at random when full.
//!
//! Hand-written rather than taken from a cache crate: the ones at hand (`lru`, and the
//! recency-based designs of the larger caches) evict the least recently used entry, and a
//! mirror's clients read their dependency graphs in cycles. A cycle over a working set just
//! larger than the cache then misses on every request under LRU, while random eviction keeps
//! most of it. The earlier version evicted "the first key of the hash map", which is not random
//! at all: keys in the first buckets were evicted again right after each insert, so some
//! packages missed the cache on every request however small the working set was.

use std::collections::HashMap;
use std::hash::Hash;

/// Entries and their sizes, at most `max_bytes` in all.
pub(crate) struct ByteBoundedCache<K, V> {
    /// key → (value, size in bytes, position in `keys`).
    map: HashMap<K, (V, usize, usize)>,
    /// Every key once, in no particular order: the victim is `keys[random]`.
    keys: Vec<K>,
    bytes: usize,
    max_bytes: usize,
    /// xorshift64 state. Eviction needs no unpredictability (any client can cause misses by
    /// asking for other packages), only no bias, so a fixed seed keeps tests reproducible.
    state: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> ByteBoundedCache<K, V> {
    /// An empty cache holding at most `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            map: HashMap::new(),
            keys: Vec::new(),
            bytes: 0,
            max_bytes,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).map(|(v, _, _)| v.clone())
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Keeps `value` (of `size` bytes) under `key`, replacing what was there and evicting
    /// random entries until it fits. A value larger than the whole budget is not kept.
    pub(crate) fn insert(&mut self, key: K, value: V, size: usize) {
        self.remove(&key);
        if size > self.max_bytes {
            return;
        }
        while self.bytes.saturating_add(size) > self.max_bytes && !self.keys.is_empty() {
            let victim = self.next_random() % self.keys.len();
            if let Some(k) = self.keys.get(victim).cloned() {
                self.remove(&k);
            }
        }
        self.keys.push(key.clone());
        self.map.insert(key, (value, size, self.keys.len() - 1));
        self.bytes = self.bytes.saturating_add(size);
    }

    /// Drops `key`'s entry, if any.
    pub(crate) fn remove(&mut self, key: &K) {
        let Some((_, size, at)) = self.map.remove(key) else {
            return;
        };
        self.bytes = self.bytes.saturating_sub(size);
        self.keys.swap_remove(at);
        // The key that was last now sits where the removed one was.
        if let Some(moved) = self.keys.get(at)
            && let Some(entry) = self.map.get_mut(moved)
        {
            entry.2 = at;
        }
    }

    fn next_random(&mut self) -> usize {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        // The top 31 bits: they fit a `usize` on 32-bit targets too.
        usize::try_from(x >> 33).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// The budget holds however entries come and go, and positions stay consistent.
    #[test]
    fn bytes_stay_within_the_budget() {
        let mut c = ByteBoundedCache::new(1000);
        for i in 0..10_000u32 {
            c.insert(i % 97, i, usize::try_from(i % 150).unwrap());
            if i % 7 == 0 {
                c.remove(&(i % 13));
            }
            assert!(c.bytes() <= 1000);
            let sum: usize = c.map.values().map(|(_, s, _)| *s).sum();
            assert_eq!(sum, c.bytes());
            for (k, (_, _, at)) in &c.map {
                assert_eq!(&c.keys[*at], k);
            }
            assert_eq!(c.keys.len(), c.len());
        }
        c.insert(1, 1, 1001);
        assert!(c.get(&1).is_none(), "larger than the budget: not kept");
    }

    /// A working set that fits stays whole once it has been read twice, whatever filled the
    /// cache before (the first-key eviction it replaces kept missing some keys for ever).
    #[test]
    fn a_working_set_that_fits_stops_missing() {
        let mut c = ByteBoundedCache::new(100 * 100);
        for k in 1000..1100u32 {
            c.insert(k, k, 100);
        }
        let mut misses = 0;
        for round in 0..20 {
            for k in 0..60u32 {
                if c.get(&k).is_none() {
                    if round >= 10 {
                        misses += 1;
                    }
                    c.insert(k, k, 100);
                }
            }
        }
        assert_eq!(misses, 0);
    }

    /// A cycle over a working set 25% larger than the cache still hits most of the time
    /// (LRU would miss on every request).
    #[test]
    fn a_cycle_slightly_larger_than_the_cache_mostly_hits() {
        let mut c = ByteBoundedCache::new(800 * 10);
        let (mut hits, mut total) = (0, 0);
        for round in 0..50 {
            for k in 0..1000u32 {
                let hit = c.get(&k).is_some();
                if !hit {
                    c.insert(k, k, 10);
                }
                if round >= 10 {
                    total += 1;
                    hits += usize::from(hit);
                }
            }
        }
        assert!(hits * 2 > total, "{hits} of {total}");
    }
}
