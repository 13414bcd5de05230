//! The validation cache: tokens this process has already checked, so the
//! steady state costs no database round trip.
//!
//! Entries live no longer than their token, are dropped when this server
//! revokes the token or its family, and the whole cache is dropped when the
//! store's revision changes (another process disabled a client or user, or
//! revoked a token). A generation number closes the race between a lookup
//! that started before such an invalidation and its insert after it: the
//! insert is discarded. Sharded by the random end of the token key, to keep
//! lock contention low; bounded in size.

use foldhash::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tollgate_proto::{Audience, GrantType, Scope};

use crate::config::Limits;
use crate::store::{Digest, TokenLookup};

const SHARDS: usize = 32;

/// What a valid access token grants, as the bearer check and
/// introspection need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub client_id: String,
    pub username: Option<String>,
    pub scope: Scope,
    pub grant_type: GrantType,
    /// Unix seconds.
    pub issued_at: i64,
    /// The token is dead from this instant (Unix ms) on.
    pub expires_at_ms: i64,
    pub family_id: String,
    /// The client's registered limits (`None`: server default).
    pub qps: Option<u64>,
    pub per_day: Option<u64>,
    /// The resources that accept it (`aud`).
    pub audience: Audience,
}

impl Validated {
    /// A stored token's grant; its audience is its client's (else the
    /// `issuer`), as a JWT of that client would carry.
    pub fn from_lookup(lookup: TokenLookup, issuer: &str) -> Self {
        let audience = lookup.client_audience.unwrap_or_else(|| issuer.to_owned());
        let t = lookup.token;
        Self {
            audience: audience.into(),
            client_id: t.client_id,
            username: t.username,
            scope: t.scope,
            grant_type: t.grant_type,
            issued_at: t.issued_at,
            expires_at_ms: t.expires_at.saturating_mul(1000),
            family_id: t.family_id,
            qps: lookup.client_qps,
            per_day: lookup.client_per_day,
        }
    }

    /// Unix seconds, as introspection reports `exp`.
    pub fn expires_at(&self) -> i64 {
        self.expires_at_ms / 1000
    }

    pub fn limits(&self, default: Limits) -> Limits {
        Limits {
            qps: self.qps.unwrap_or(default.qps),
            per_day: self.per_day.unwrap_or(default.per_day),
        }
    }
}

type Shard = HashMap<Digest, Arc<Validated>>;

#[derive(Debug)]
pub struct ValidationCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    generation: AtomicU64,
}

impl ValidationCache {
    pub fn new(max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard: (max_entries / SHARDS).max(1),
            generation: AtomicU64::new(0),
        }
    }

    fn shard(&self, digest: &Digest) -> MutexGuard<'_, Shard> {
        // The last byte: a token key starts with a time-ordered id, and ends
        // with SHA-256 output (see `secret::token_key`).
        let i = usize::from(digest[31]) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `digest` if present and unexpired at `now_ms`.
    pub fn get(&self, digest: &Digest, now_ms: i64) -> Option<Arc<Validated>> {
        let mut shard = self.shard(digest);
        match shard.get(digest) {
            Some(v) if now_ms < v.expires_at_ms => Some(v.clone()),
            Some(_) => {
                shard.remove(digest);
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
    pub fn insert(&self, digest: Digest, v: Arc<Validated>, generation: u64, now_ms: i64) {
        let mut shard = self.shard(&digest);
        if self.generation() != generation {
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, e| now_ms < e.expires_at_ms);
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop an arbitrary eighth.
                let drop_n = (self.per_shard / 8).max(1);
                let victims: Vec<Digest> = shard.keys().take(drop_n).copied().collect();
                for k in victims {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(digest, v);
    }

    /// Drops one token (revoked through this server).
    pub fn remove(&self, digest: &Digest) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.shard(digest).remove(digest);
    }

    /// Drops every token of a family (refresh token revoked or reused).
    pub fn remove_family(&self, family_id: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(|p| p.into_inner());
            s.retain(|_, v| v.family_id != family_id);
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

    fn entry(family: &str, exp: i64) -> Arc<Validated> {
        Arc::new(Validated {
            client_id: "c".into(),
            username: None,
            scope: Scope::empty(),
            grant_type: GrantType::ClientCredentials,
            issued_at: 0,
            expires_at_ms: exp,
            family_id: family.into(),
            qps: None,
            per_day: None,
            audience: Audience::One("https://issuer".into()),
        })
    }

    #[test]
    fn expiry_removal_and_generation() {
        let c = ValidationCache::new(1000);
        let g = c.generation();
        c.insert([1; 32], entry("f", 1000), g, 0);
        c.insert([2; 32], entry("f", 1000), g, 0);
        c.insert([3; 32], entry("other", 1000), g, 0);
        assert!(c.get(&[1; 32], 999).is_some());
        assert!(c.get(&[1; 32], 1000).is_none(), "dead at exp");
        c.remove_family("f");
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
        let c = ValidationCache::new(64);
        for i in 0..=255u8 {
            c.insert([i; 32], entry("f", 10), c.generation(), 0);
        }
        assert!(c.len() <= 64, "{}", c.len());
    }
}
