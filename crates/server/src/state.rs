//! Shared server state: configuration, storage, clock and the helpers built
//! from them. Cheap to clone; handlers receive it through axum's `State`.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::config::QuotaFailMode;
use crate::gateway::{upstream_client, UpstreamClient};
use crate::metrics::Metrics;
use crate::oauth::client_cache::ClientCache;
use crate::oauth::password::Passwords;
use crate::oauth::throttle::Throttles;
use crate::quota::redis::{RedisQuotas, Shared};
use crate::quota::{Limits, Quotas, Standing};
use crate::resource::cache::ValidationCache;
use crate::shared::{Invalidation, SharedRedis};
use crate::store::Store;
use crate::Error;

/// The state every handler shares: one `Arc`, so the per-request clones
/// axum and the middleware make cost one atomic increment.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Inner {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub passwords: Arc<Passwords>,
    /// Waits after failed password checks and client authentications.
    pub throttles: Throttles,
    pub metrics: Arc<Metrics>,
    pub cache: Arc<ValidationCache>,
    /// Clients already read from the store (dropped with the cache).
    pub clients: Arc<ClientCache>,
    /// Quotas of API calls (built-in and proxied).
    pub api_quotas: Arc<Quotas>,
    /// Quotas of token requests, separate from API calls.
    pub token_quotas: Arc<Quotas>,
    pub upstream: UpstreamClient,
    /// With `redis`: quotas and invalidations shared by every instance.
    pub redis: Option<Arc<SharedRedis>>,
    /// Slots for requests being handled (`limits.max_requests_in_flight`).
    pub in_flight: tokio::sync::Semaphore,
    api_shared: Arc<RedisQuotas>,
    token_shared: Arc<RedisQuotas>,
}

/// Which quota a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    Api,
    TokenEndpoint,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, clock: Clock) -> Result<Self, Error> {
        Ok(Self(Arc::new(Inner {
            passwords: Arc::new(Passwords::new(config.argon2)?),
            throttles: Throttles::new(&config.throttle),
            metrics: Arc::new(Metrics::default()),
            cache: Arc::new(ValidationCache::new(config.cache_max_entries)),
            clients: Arc::new(ClientCache::default()),
            api_quotas: Arc::new(Quotas::new(config.quota.burst)),
            token_quotas: Arc::new(Quotas::new(config.quota.burst)),
            upstream: upstream_client(),
            redis: match &config.redis {
                Some(url) => Some(Arc::new(SharedRedis::new(url).map_err(Error::Internal)?)),
                None => None,
            },
            in_flight: tokio::sync::Semaphore::new(config.limits.max_requests_in_flight),
            api_shared: Arc::new(RedisQuotas::new(config.quota.burst, "api")),
            token_shared: Arc::new(RedisQuotas::new(config.quota.burst, "token")),
            config: Arc::new(config),
            store,
            clock,
        })))
    }
}

impl AppState {
    /// Counts one request of `client_id` against its quota: in Redis when
    /// configured (shared by every instance), else in this process. While
    /// Redis is unreachable, `quota_fail_mode` decides.
    pub async fn admit(
        &self,
        scope: QuotaScope,
        client_id: &str,
        limits: Limits,
    ) -> Result<Standing, Error> {
        let now = self.clock.now_ms();
        let (local, shared) = match scope {
            QuotaScope::Api => (&self.api_quotas, &self.api_shared),
            QuotaScope::TokenEndpoint => (&self.token_quotas, &self.token_shared),
        };
        let decision = match &self.redis {
            None => local.decide(client_id, limits, now),
            Some(redis) => match shared.decide(redis, client_id, limits).await {
                Shared::Decided(d) => d,
                Shared::Unreachable => return self.quota_store_unreachable(),
            },
        };
        decision.map_err(|rejection| {
            match scope {
                QuotaScope::Api => self.metrics.quota_rejected(rejection.exceeded),
                QuotaScope::TokenEndpoint => self.metrics.token_quota_rejected(rejection.exceeded),
            }
            Error::Quota(rejection)
        })
    }

    fn quota_store_unreachable(&self) -> Result<Standing, Error> {
        self.metrics.quota_store_error();
        match self.config.quota_fail_mode {
            QuotaFailMode::Open => {
                tracing::warn!("quota store unreachable: admitting (quota_fail_mode = open)");
                Ok(Standing::default())
            }
            QuotaFailMode::Closed => Err(Error::Unavailable(
                "the quota store (redis) is unreachable".into(),
            )),
        }
    }

    /// Drops tokens from this instance's cache at once, and from every
    /// other instance's through Redis when configured.
    pub async fn invalidate(&self, what: Invalidation) {
        what.apply(&self.cache);
        if let Some(redis) = &self.redis {
            redis.publish(&what).await;
        }
    }
}
