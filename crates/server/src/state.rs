//! Shared server state: configuration, storage, clock and the helpers built
//! from them. Cheap to clone; handlers receive it through axum's `State`.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::gateway::{upstream_client, UpstreamClient};
use crate::metrics::Metrics;
use crate::oauth::lockout::Lockout;
use crate::oauth::password::Passwords;
use crate::quota::Quotas;
use crate::resource::cache::ValidationCache;
use crate::store::Store;
use crate::Error;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub passwords: Arc<Passwords>,
    pub lockout: Arc<Lockout>,
    pub metrics: Arc<Metrics>,
    pub cache: Arc<ValidationCache>,
    /// Quotas of API calls (built-in and proxied).
    pub api_quotas: Arc<Quotas>,
    /// Quotas of token requests, separate from API calls.
    pub token_quotas: Arc<Quotas>,
    pub upstream: UpstreamClient,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, clock: Clock) -> Result<Self, Error> {
        Ok(Self {
            passwords: Arc::new(Passwords::new(config.argon2)?),
            lockout: Arc::new(Lockout::new(config.lockout)),
            metrics: Arc::new(Metrics::default()),
            cache: Arc::new(ValidationCache::new(config.cache_max_entries)),
            api_quotas: Arc::new(Quotas::new(config.quota.burst)),
            token_quotas: Arc::new(Quotas::new(config.quota.burst)),
            upstream: upstream_client(),
            config: Arc::new(config),
            store,
            clock,
        })
    }
}
