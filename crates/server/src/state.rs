//! Shared server state: configuration, storage, clock and the helpers built
//! from them. Cheap to clone; handlers receive it through axum's `State`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::lockout::Lockout;
use crate::oauth::password::Passwords;
use crate::store::Store;
use crate::Error;

/// Counters exported for operators.
#[derive(Debug, Default)]
pub struct Metrics {
    pub client_auth_failures: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub passwords: Arc<Passwords>,
    pub lockout: Arc<Lockout>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, clock: Clock) -> Result<Self, Error> {
        Ok(Self {
            passwords: Arc::new(Passwords::new(config.argon2)?),
            lockout: Arc::new(Lockout::new(config.lockout)),
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(config),
            store,
            clock,
        })
    }
}
