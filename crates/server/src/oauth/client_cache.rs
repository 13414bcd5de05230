//! Registered clients this process has already read, so authenticating a
//! known client with its current secret costs no store round trip.
//!
//! Only what the store returned is cached, and only a successful
//! authentication is answered from here: an unknown id, a wrong secret or a
//! disabled client always goes to the store, so a new client or a new
//! secret works at once, and failures cost the same whatever the reason.
//! The cache is dropped whenever the store's revision changes (a client was
//! updated, disabled or given a new secret), so such a change applies within
//! `change_poll_ms`. A generation number discards an insert from a lookup
//! that began before such a drop.

use foldhash::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::store::Client;

/// More clients than this, and the cache starts over (clients are few).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct ClientCache {
    clients: RwLock<HashMap<String, Arc<Client>>>,
    generation: AtomicU64,
}

impl ClientCache {
    pub fn get(&self, client_id: &str) -> Option<Arc<Client>> {
        let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
        clients.get(client_id).cloned()
    }

    /// The generation to pass to [`insert`](Self::insert) before a lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches `client` unless the cache was dropped since `generation`.
    pub fn insert(&self, client: Arc<Client>, generation: u64) {
        let mut clients = self.clients.write().unwrap_or_else(|p| p.into_inner());
        if self.generation() != generation {
            return;
        }
        if clients.len() >= MAX_ENTRIES {
            clients.clear();
        }
        clients.insert(client.client_id.clone(), client);
    }

    /// Drops everything (a client changed somewhere).
    pub fn clear(&self) {
        let mut clients = self.clients.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str) -> Arc<Client> {
        Arc::new(Client {
            client_id: id.into(),
            settings: tollgate_proto::client::ClientSettings {
                client_name: id.into(),
                ..Default::default()
            },
            secret_hash: [0; 32],
            previous_secret: None,
            enabled: true,
            created_at: 0,
            owner: None,
            requested_scopes: tollgate_proto::Scope::empty(),
        })
    }

    #[test]
    fn insert_get_and_a_stale_insert_after_clear() {
        let c = ClientCache::default();
        let g = c.generation();
        c.insert(client("a"), g);
        assert!(c.get("a").is_some());
        assert!(c.get("b").is_none());
        c.clear();
        assert!(c.get("a").is_none());
        c.insert(client("b"), g);
        assert!(c.get("b").is_none(), "looked up before the clear");
    }
}
