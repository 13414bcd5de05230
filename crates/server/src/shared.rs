//! Redis, for state shared by several instances: a connection that is made
//! lazily and remade after failures (so an instance starts, and recovers,
//! whether or not Redis is up), and the invalidation channel that tells
//! every instance to drop revoked tokens from its validation cache.
//!
//! Losing a message is safe: the store's revision poll clears the cache
//! within `change_poll_ms` anyway. The channel only makes it sooner.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::clock::Clock;
use crate::resource::cache::ValidationCache;
use crate::store::{digest_hex, Digest};

pub const CHANNEL: &str = "tollgate:invalidate";
/// How often a failed connection is retried, at most.
const RETRY_MS: i64 = 1000;

/// A Redis server shared by the instances.
pub struct SharedRedis {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_attempt_ms: AtomicI64,
    clock: Clock,
}

impl std::fmt::Debug for SharedRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRedis").finish_non_exhaustive()
    }
}

/// What to drop from every instance's validation cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Token(Digest),
    Family(String),
    All,
}

impl Invalidation {
    fn encode(&self) -> String {
        match self {
            Self::Token(d) => format!("token:{}", digest_hex(d)),
            Self::Family(f) => format!("family:{f}"),
            Self::All => "all".into(),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        if s == "all" {
            return Some(Self::All);
        }
        if let Some(f) = s.strip_prefix("family:") {
            return Some(Self::Family(f.to_owned()));
        }
        let hex = s.strip_prefix("token:")?;
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        bytes?.try_into().ok().map(Self::Token)
    }

    /// Drops what this names from `cache`.
    pub fn apply(&self, cache: &ValidationCache) {
        match self {
            Self::Token(d) => cache.remove(d),
            Self::Family(f) => cache.remove_family(f),
            Self::All => cache.clear(),
        }
    }
}

impl SharedRedis {
    pub fn new(url: &str, clock: Clock) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis URL `{url}`: {e}"))?;
        Ok(Self {
            client,
            conn: tokio::sync::Mutex::new(None),
            last_attempt_ms: AtomicI64::new(i64::MIN),
            clock,
        })
    }

    /// A working connection, or `None` while Redis is unreachable.
    pub async fn conn(&self) -> Option<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        let now = self.clock.now_ms();
        if now.saturating_sub(self.last_attempt_ms.load(Ordering::Relaxed)) < RETRY_MS {
            return None;
        }
        self.last_attempt_ms.store(now, Ordering::Relaxed);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(1);
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(c) => {
                tracing::info!("connected to redis");
                *slot = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis unreachable");
                None
            }
        }
    }

    /// Tells every instance (this one included) to drop tokens.
    pub async fn publish(&self, what: &Invalidation) {
        let Some(mut c) = self.conn().await else {
            return;
        };
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(what.encode())
            .query_async(&mut c)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not publish a revocation; other instances catch up within the poll interval");
        }
    }

    /// Applies invalidations from the channel to `cache`, forever,
    /// resubscribing after every connection loss. Messages missed meanwhile
    /// need no special care: the revision poll clears the cache within
    /// `change_poll_ms` of any revocation, and clearing here as well would
    /// throw away the validations that keep APIs up while PostgreSQL is down.
    pub async fn listen(&self, cache: &ValidationCache) {
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(CHANNEL).await.is_ok() {
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let payload: String = msg.get_payload().unwrap_or_default();
                            if let Some(inv) = Invalidation::decode(&payload) {
                                inv.apply(cache);
                            }
                        }
                    }
                    tracing::warn!("redis subscription lost; resubscribing");
                }
                Err(e) => tracing::debug!(error = %e, "cannot subscribe to redis yet"),
            }
            tokio::time::sleep(Duration::from_millis(RETRY_MS as u64)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip() {
        for inv in [
            Invalidation::Token([0xab; 32]),
            Invalidation::Family("f-1".into()),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&inv.encode()), Some(inv));
        }
        assert_eq!(Invalidation::decode("token:zz"), None);
        assert_eq!(Invalidation::decode("nonsense"), None);
    }
}
