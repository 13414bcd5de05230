//! The one cache type: what this process has already read from the
//! store, so the steady state costs no database round trip.
//!
//! It holds the validation cache (tokens already checked, by key) and the
//! client cache (clients already read, by id). An entry is served while it
//! says it is live ([`Entry::live`]: a token until it expires, a client until
//! dropped), and is dropped when this server changes it; the whole cache is
//! dropped when the store's revision changes (another process disabled a
//! client or user, or revoked a token). A generation number closes the race
//! between a lookup that started before such an invalidation and its insert
//! after it: the insert is discarded. Sharded by the key's hash, to keep lock
//! contention low; bounded in entries.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::HashMap;

const SHARDS: usize = 32;

/// What an entry says about its own life.
pub trait Entry {
    /// Whether it may still be served at `now_ms` (Unix milliseconds).
    fn live(&self, now_ms: i64) -> bool;
}

type Shard<K, V> = HashMap<K, Arc<V>>;

/// A bounded, sharded, generation-guarded map from `K` to shared `V`s.
#[derive(Debug)]
pub struct Cache<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    per_shard: usize,
    generation: AtomicU64,
    hasher: foldhash::fast::FixedState,
}

impl<K: Hash + Eq + Clone, V: Entry> Cache<K, V> {
    /// A cache of at most about `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard: (max_entries / SHARDS).max(1),
            generation: AtomicU64::new(0),
            hasher: foldhash::fast::FixedState::default(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, Shard<K, V>> {
        let i = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key` if present and live at `now_ms`.
    pub fn get<Q>(&self, key: &Q, now_ms: i64) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(v) if v.live(now_ms) => Some(v.clone()),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    /// The generation to pass to [`insert`](Self::insert) after a lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches `v` unless the cache was invalidated since `generation`.
    /// When its shard is full, the dead entries go, then an eighth of the
    /// live ones if still full.
    pub fn insert(&self, key: K, v: Arc<V>, generation: u64, now_ms: i64) {
        let mut shard = self.shard(&key);
        if self.generation() != generation {
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, e| e.live(now_ms));
            if shard.len() >= self.per_shard {
                let drop_n = (self.per_shard / 8).max(1);
                let victims: Vec<K> = shard.keys().take(drop_n).cloned().collect();
                for k in victims {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(key, v);
    }

    /// Drops one entry (changed through this server).
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.shard(key).remove(key);
    }

    /// Drops every entry `keep` says no to (a token family revoked).
    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
            s.retain(|_, v| keep(v));
        }
    }

    /// Drops everything (something changed elsewhere).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token's entry: its family, dead from `exp` (ms) on.
    #[derive(Debug)]
    struct Token {
        family: &'static str,
        exp: i64,
    }

    impl Entry for Token {
        fn live(&self, now_ms: i64) -> bool {
            now_ms < self.exp
        }
    }

    fn entry(family: &'static str, exp: i64) -> Arc<Token> {
        Arc::new(Token { family, exp })
    }

    #[test]
    fn expiry_removal_and_generation() {
        let c: Cache<[u8; 32], Token> = Cache::new(1000);
        let g = c.generation();
        c.insert([1; 32], entry("f", 1000), g, 0);
        c.insert([2; 32], entry("f", 1000), g, 0);
        c.insert([3; 32], entry("other", 1000), g, 0);
        assert!(c.get(&[1; 32], 999).is_some());
        assert!(c.get(&[1; 32], 1000).is_none(), "dead at exp");
        c.retain(|v| v.family != "f");
        assert!(c.get(&[2; 32], 0).is_none());
        assert!(c.get(&[3; 32], 0).is_some());
        // An insert from a lookup that began before an invalidation is discarded.
        c.insert([4; 32], entry("x", 1000), g, 0);
        assert!(c.get(&[4; 32], 0).is_none());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn bounded() {
        let c: Cache<[u8; 32], Token> = Cache::new(64);
        for i in 0..=255u8 {
            c.insert([i; 32], entry("f", 10), c.generation(), 0);
        }
        assert!(c.len() <= 64, "{}", c.len());
    }

    #[test]
    fn borrowed_keys_and_a_stale_insert_after_clear() {
        let c: Cache<String, Token> = Cache::new(100);
        let g = c.generation();
        c.insert("a".to_owned(), entry("f", i64::MAX), g, 0);
        assert!(c.get("a", 0).is_some());
        assert!(c.get("b", 0).is_none());
        c.clear();
        assert!(c.get("a", 0).is_none());
        c.insert("b".to_owned(), entry("f", i64::MAX), g, 0);
        assert!(c.get("b", 0).is_none(), "looked up before the clear");
    }
}
