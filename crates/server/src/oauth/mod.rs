//! The authorization server's decisions, with no HTTP types in sight:
//! client authentication, the grants, introspection, revocation, and which
//! tokens are usable.
//!
//! Handlers in `http` parse the request and call into here with the
//! [`AuthServer`]; everything here takes plain values and returns
//! [`GrantError`] (`error`).

pub mod authorize;
pub mod backchannel;
pub mod cache;
pub mod client_auth;
pub mod device;
pub mod error;
pub mod interaction;
pub mod introspect;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod oidc;
pub mod password;
pub mod revoke;
pub mod secret;
pub mod sign_in;
pub mod throttle;
pub mod token;
pub mod tokens;
pub mod validated;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Client, Store, TokenLookup};
use cache::{Cache, Entry};
use error::GrantError;
use password::Passwords;
use throttle::Throttles;
use tokens::Tokens;

/// Most clients kept in the client cache (clients are few).
const MAX_CLIENTS: usize = 10_000;

/// A client read from the store is served from the cache until the store's
/// revision moves (or this server changes it): only what the store
/// returned is cached, and only a successful authentication is answered
/// from there, so an unknown id, a wrong secret or a disabled client always
/// goes to the store, and a new client or secret works at once.
impl Entry for Client {
    fn live(&self, _now_ms: i64) -> bool {
        true
    }
}

/// What the grant logic works with: the store, the caches in front of it,
/// the password hasher and the throttles.
#[derive(Debug)]
pub struct AuthServer {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    clock: Clock,
    passwords: Passwords,
    /// Waits after failed password checks and client authentications.
    throttles: Throttles,
    /// Clients already read from the store.
    clients: Cache<String, Client>,
    tokens: Arc<Tokens>,
    metrics: Arc<Metrics>,
}

impl AuthServer {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: Clock,
        tokens: Arc<Tokens>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, GrantError> {
        Ok(Self {
            passwords: Passwords::new(config.argon2)?,
            throttles: Throttles::new(&config.throttle),
            clients: Cache::new(MAX_CLIENTS),
            config,
            store,
            clock,
            tokens,
            metrics,
        })
    }

    /// The password hasher (also used to register users).
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// The guessing throttles (their sizes are reported in tests).
    pub fn throttles(&self) -> &Throttles {
        &self.throttles
    }

    /// The store changed (a key, a client, a user, a revocation): reads the
    /// signing keys again, then drops every cached client and validation.
    /// Keys first: a token checked between the two would otherwise stay
    /// cached as valid under a key just revoked, for as long as it lives.
    pub async fn follow_change(&self) -> Result<(), GrantError> {
        let read = self.tokens.keys().reload().await;
        self.forget_cached();
        read
    }

    /// Drops every cached client and validation: the store changed.
    pub fn forget_cached(&self) {
        self.tokens.clear();
        self.clients.clear();
    }
}

/// Whether a stored token may be used at `now_ms`: not expired, revoked or
/// rotated, and its client and user still enabled.
pub fn is_active(t: &TokenLookup, now_ms: i64) -> bool {
    let tok = &t.token;
    tok.revoked_at.is_none()
        && tok.rotated_at.is_none()
        && now_ms < tok.expires_at.saturating_mul(1000)
        && t.client_enabled
        && t.user_enabled != Some(false)
}
