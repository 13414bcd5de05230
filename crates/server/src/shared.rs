//! Redis, for state shared by several instances: one multiplexed connection
//! kept by a background task ([`SharedRedis::keep`]), and publish/subscribe
//! on a channel. What travels on it is the caller's business.
//!
//! Requests never wait for Redis to come back: while it is down,
//! [`SharedRedis::conn`] answers `None` at once (so quotas fail open or
//! closed in microseconds), a failed command marks it down, and only the
//! keeper reconnects, in the background. Nothing queues up during an
//! outage to be replayed, late, when Redis returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

/// How often the keeper checks on Redis (a PING, or a reconnection).
const KEEP_EVERY: Duration = Duration::from_millis(250);
/// Longest wait for a connection or an answer; past it Redis counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const COMMAND_TIMEOUT: Duration = Duration::from_millis(100);
/// How long to wait before subscribing again after a failure.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

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

    /// Sends `message` to every subscriber of `channel` (this instance
    /// included); `false` when Redis is down or the command failed.
    pub async fn publish(&self, channel: &str, message: &str) -> bool {
        let Some(mut c) = self.conn() else {
            return false;
        };
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(message)
            .query_async(&mut c)
            .await;
        match sent {
            Ok(_) => true,
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Calls `on_message` with every message on `channel`, forever,
    /// subscribing again after every connection loss. Messages sent while
    /// the subscription was down are lost: callers must not need them.
    pub async fn subscribe(&self, channel: &str, mut on_message: impl FnMut(&str)) {
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(channel).await.is_ok() {
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let payload: String = msg.get_payload().unwrap_or_default();
                            on_message(&payload);
                        }
                    }
                    tracing::warn!(channel, "redis subscription lost; subscribing again");
                }
                Err(e) => tracing::debug!(error = %e, "cannot subscribe to redis yet"),
            }
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    }
}

async fn ping(c: &mut MultiplexedConnection) -> redis::RedisResult<()> {
    redis::cmd("PING").query_async::<String>(c).await.map(drop)
}
