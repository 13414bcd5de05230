//! Redis, for state shared by several instances: one multiplexed connection
//! kept by a background task ([`SharedRedis::keep`]), and the invalidation
//! channel that tells every instance to drop revoked tokens from its
//! validation cache.
//!
//! Requests never wait for Redis to come back: while it is down,
//! [`SharedRedis::conn`] answers `None` at once (so quotas fail open or
//! closed in microseconds), a failed command marks it down, and only the
//! keeper reconnects, in the background. Nothing queues up during an
//! outage to be replayed, late, when Redis returns.
//!
//! Losing a message is safe: the store's revision poll clears the cache
//! within `change_poll_ms` anyway. The channel only makes it sooner.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::resource::cache::ValidationCache;
use crate::store::{digest_hex, Digest};

pub const CHANNEL: &str = "tollgate:invalidate";
/// How often the keeper checks on Redis (a PING, or a reconnection).
const KEEP_EVERY: Duration = Duration::from_millis(250);
/// Longest wait for a connection or an answer; past it Redis counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const COMMAND_TIMEOUT: Duration = Duration::from_millis(100);
/// How often a failed subscription is retried.
const RETRY_MS: i64 = 1000;

/// A Redis server shared by the instances.
pub struct SharedRedis {
    client: redis::Client,
    /// The connection while Redis answers; `None` while it does not.
    conn: RwLock<Option<MultiplexedConnection>>,
    /// Whether the last word about Redis was "down" (for one log line per outage).
    down: AtomicBool,
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
    pub fn new(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis URL `{url}`: {e}"))?;
        Ok(Self {
            client,
            conn: RwLock::new(None),
            down: AtomicBool::new(false),
        })
    }

    /// The connection, at once, or `None` while Redis is down.
    pub fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A command on the connection failed: Redis is down until the keeper
    /// says otherwise.
    pub fn failed(&self, error: &redis::RedisError) {
        self.conn.write().unwrap_or_else(|p| p.into_inner()).take();
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "redis unreachable: deciding without it until it answers again");
        }
    }

    /// Connects, and checks the connection every [`KEEP_EVERY`], forever:
    /// the only place that waits for Redis.
    pub async fn keep(&self) {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT);
        let mut tick = tokio::time::interval(KEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let current = self.conn();
            let outcome = match current {
                Some(mut c) => ping(&mut c).await.map(|()| None),
                None => match self
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(mut c) => ping(&mut c).await.map(|()| Some(c)),
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Ok(None) => {}
                Ok(Some(fresh)) => {
                    *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
                    self.down.store(false, Ordering::Relaxed);
                    tracing::info!("connected to redis");
                }
                Err(e) => self.failed(&e),
            }
        }
    }

    /// Tells every instance (this one included) to drop tokens.
    pub async fn publish(&self, what: &Invalidation) {
        let Some(mut c) = self.conn() else {
            return;
        };
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(what.encode())
            .query_async(&mut c)
            .await;
        if let Err(e) = sent {
            self.failed(&e);
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

async fn ping(c: &mut MultiplexedConnection) -> redis::RedisResult<()> {
    redis::cmd("PING").query_async::<String>(c).await.map(drop)
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
