//! The server's parts, built once from the configuration and wired to each
//! other here and nowhere else: the store, the token service, the
//! authorization server, the resource server, the gateway, the quotas.
//!
//! Handlers take the part they need through axum's `State` (`FromRef`
//! below), or call an accessor; no module reaches into the fields.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::oauth::error::GrantError;
use crate::oauth::keys::Keys;
use crate::oauth::tokens::{Tokens, TokensConfig};
use crate::oauth::AuthServer;
use crate::quota::Quota;
use crate::resource::Resource;
use crate::shared::SharedRedis;
use crate::store::Store;
use crate::usage::Usage;

/// Why the server's parts could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting that passed parsing but cannot be used (an https route's
    /// `ca_cert` that cannot be read, ...).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("redis: {0}")]
    Redis(String),
    #[error("the authorization server: {0}")]
    AuthServer(#[from] GrantError),
}

/// The state every handler shares: one `Arc`, so the per-request clones
/// axum and the middleware make cost one atomic increment.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Parts>);

#[derive(Debug)]
struct Parts {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    tokens: Arc<Tokens>,
    oauth: Arc<AuthServer>,
    resource: Arc<Resource>,
    gateway: Arc<Gateway>,
    /// Quotas of token requests, separate from API calls.
    token_quota: Quota,
    /// With `redis`: quotas and invalidations shared by every instance.
    redis: Option<Arc<SharedRedis>>,
    /// Slots for requests being handled (`limits.max_requests_in_flight`).
    in_flight: tokio::sync::Semaphore,
    /// Usage counts not yet flushed to the store.
    usage: Arc<Usage>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, clock: Clock) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let redis = match &config.redis {
            Some(url) => Some(Arc::new(SharedRedis::new(url).map_err(StartError::Redis)?)),
            None => None,
        };
        let quota = |endpoint| {
            Quota::new(
                endpoint,
                &config.quota,
                config.quota_fail_mode,
                redis.clone(),
                clock.clone(),
                metrics.clone(),
            )
        };
        let keys = Arc::new(Keys::new(store.clone(), clock.clone(), config.jwt));
        let tokens = Arc::new(Tokens::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            redis.clone(),
            keys,
            TokensConfig {
                max_entries: config.cache_max_entries,
                issuer: config.issuer.clone(),
                leeway_secs: config.jwt.leeway_secs,
            },
        ));
        let oauth = Arc::new(AuthServer::new(
            config.clone(),
            store.clone(),
            clock.clone(),
            tokens.clone(),
            metrics.clone(),
        )?);
        let usage = Arc::new(Usage::new(clock.clone()));
        let resource = Arc::new(Resource::new(
            tokens.clone(),
            quota("api"),
            usage.clone(),
            config.quota.defaults(),
            config.bearer_case_insensitive,
            config.issuer.clone(),
        ));
        let gateway = Arc::new(Gateway::new(
            config.routes.clone(),
            resource.clone(),
            config.upstream_timeout,
            (metrics.clone(), clock.clone(), quota("route")),
        )?);
        Ok(Self(Arc::new(Parts {
            token_quota: quota("token"),
            in_flight: tokio::sync::Semaphore::new(config.limits.max_requests_in_flight),
            config,
            store,
            clock,
            metrics,
            tokens,
            oauth,
            resource,
            gateway,
            redis,
            usage,
        })))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// The gateway, whose routes a reload replaces.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.0.gateway
    }

    /// Token lookups through the validation cache.
    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.0.tokens
    }

    /// The authorization server: client authentication and the grants.
    pub fn oauth(&self) -> &AuthServer {
        &self.0.oauth
    }

    /// The bearer check and API quota in front of built-in APIs.
    pub fn resource(&self) -> &Arc<Resource> {
        &self.0.resource
    }

    /// The quota of the token endpoint.
    pub fn token_quota(&self) -> &Quota {
        &self.0.token_quota
    }

    /// Redis, when configured.
    pub fn redis(&self) -> Option<&Arc<SharedRedis>> {
        self.0.redis.as_ref()
    }

    /// Usage counts, flushed to the store now and then.
    pub fn usage(&self) -> &Arc<Usage> {
        &self.0.usage
    }

    /// Slots for requests being handled now.
    pub fn in_flight(&self) -> &tokio::sync::Semaphore {
        &self.0.in_flight
    }
}

impl FromRef<AppState> for Arc<dyn Store> {
    fn from_ref(state: &AppState) -> Self {
        state.0.store.clone()
    }
}

impl FromRef<AppState> for Arc<Gateway> {
    fn from_ref(state: &AppState) -> Self {
        state.0.gateway.clone()
    }
}
