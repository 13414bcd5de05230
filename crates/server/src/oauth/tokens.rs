//! Which tokens are usable, as the bearer check and introspection both ask:
//! the store's answer, kept in the [validation cache](super::cache) so the
//! steady state costs no database round trip, and dropped from it the
//! moment a token is revoked, here or (through Redis) on another instance.
//!
//! An opaque token is its row. A JWT is believed once its signature and
//! times pass ([`super::jwt::verify`]), and then judged like a row: its
//! client and user enabled, its `jti` and `sid` not on the denylist (one
//! query); the verdict is cached under the token's key like any other.
//!
//! Losing a Redis message is safe: the store's revision poll clears the
//! cache within `change_poll_ms` anyway; the channel only makes it sooner.

use std::sync::Arc;

use tollgate_proto::GrantType;

use super::cache::Cache;
use super::error::GrantError;
use super::keys::Keys;
use super::validated::Validated;
use super::{is_active, jwt, secret};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::shared::SharedRedis;
use crate::store::{Digest, Store, TokenKind};

/// The Redis channel invalidations travel on.
pub const CHANNEL: &str = "tollgate:invalidate";

/// What is known of a presented token.
#[derive(Debug)]
pub enum Found {
    /// An active access token.
    Access(Arc<Validated>),
    /// A refresh token, active or not.
    Refresh {
        active: bool,
        client_id: String,
        expires_at: i64,
    },
    /// An access token that expired, was revoked, or whose client or user
    /// is disabled.
    Inactive,
    Unknown,
    /// A JWT that failed a check: why.
    Rejected(&'static str),
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
            Self::Token(d) => format!("token:{}", hex::encode(d)),
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
        let mut digest = [0u8; 32];
        hex::decode_to_slice(s.strip_prefix("token:")?, &mut digest).ok()?;
        Some(Self::Token(digest))
    }

    fn apply(&self, cache: &ValidationCache) {
        match self {
            Self::Token(d) => cache.remove(d),
            Self::Family(f) => cache.retain(|v| v.family_id != *f),
            Self::All => cache.clear(),
        }
    }
}

/// The validation cache: what each token already checked grants.
type ValidationCache = Cache<Digest, Validated>;

/// Token lookups through the validation cache.
#[derive(Debug)]
pub struct Tokens {
    store: Arc<dyn Store>,
    cache: ValidationCache,
    clock: Clock,
    metrics: Arc<Metrics>,
    redis: Option<Arc<SharedRedis>>,
    keys: Arc<Keys>,
    /// The `iss` JWTs must carry.
    issuer: String,
    /// Seconds of skew allowed on a JWT's `exp` and `nbf`.
    leeway: i64,
}

/// What [`Tokens`] is built from.
#[derive(Debug)]
pub struct TokensConfig {
    pub max_entries: usize,
    pub issuer: String,
    pub leeway_secs: u64,
}

impl Tokens {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Clock,
        metrics: Arc<Metrics>,
        redis: Option<Arc<SharedRedis>>,
        keys: Arc<Keys>,
        config: TokensConfig,
    ) -> Self {
        Self {
            store,
            cache: Cache::new(config.max_entries),
            clock,
            metrics,
            redis,
            keys,
            issuer: config.issuer,
            leeway: i64::try_from(config.leeway_secs).unwrap_or(i64::MAX),
        }
    }

    /// What `token` is: an active access token from the validation cache
    /// when there, else from the store or its signature (and then cached).
    pub async fn find(&self, token: &str) -> Result<Found, GrantError> {
        let digest = secret::token_key(token);
        let now = self.clock.now_ms();
        if let Some(v) = self.cache.get(&digest, now) {
            self.metrics.cache_hit();
            return Ok(Found::Access(v));
        }
        self.metrics.cache_miss();
        let generation = self.cache.generation();
        if jwt::looks_like_jwt(token) {
            return self.judge_jwt(token, digest, generation, now).await;
        }
        self.find_stored(&digest, generation, now).await
    }

    async fn find_stored(
        &self,
        digest: &Digest,
        generation: u64,
        now: i64,
    ) -> Result<Found, GrantError> {
        let Some(lookup) = self.store.find_token(digest).await? else {
            return Ok(Found::Unknown);
        };
        let active = is_active(&lookup, now);
        if lookup.token.kind == TokenKind::Refresh {
            let t = lookup.token;
            return Ok(Found::Refresh {
                active,
                client_id: t.client_id,
                expires_at: t.expires_at,
            });
        }
        if !active {
            return Ok(Found::Inactive);
        }
        let v = Arc::new(Validated::from_lookup(lookup, &self.issuer));
        self.cache.insert(*digest, v.clone(), generation, now);
        Ok(Found::Access(v))
    }

    /// A JWT: checked, then judged by its client, user and the denylist.
    async fn judge_jwt(
        &self,
        token: &str,
        digest: Digest,
        generation: u64,
        now: i64,
    ) -> Result<Found, GrantError> {
        let claims = match self.verify_jwt(token).await {
            Ok(c) => c,
            Err(jwt::Rejected(why)) => return Ok(Found::Rejected(why)),
        };
        let denied = [format!("jti:{}", claims.jti), format!("sid:{}", claims.sid)];
        let state = self
            .store
            .jwt_state(
                &claims.client_id,
                claims.username.as_deref(),
                [&denied[0], &denied[1]],
            )
            .await?;
        let user_ok = match &claims.username {
            None => true,
            Some(_) => state.user_enabled == Some(true),
        };
        let Some(client) = state
            .client
            .filter(|c| c.enabled && user_ok && !state.denied)
        else {
            return Ok(Found::Inactive);
        };
        let Ok(scope) = claims.scope.parse() else {
            return Ok(Found::Rejected("the JWT's scope is malformed"));
        };
        // Tokens minted before `gty` existed: a user's came from a user grant.
        let grant_type = claims.gty.unwrap_or(match claims.username {
            Some(_) => GrantType::Password,
            None => GrantType::ClientCredentials,
        });
        let v = Arc::new(Validated {
            grant_type,
            client_id: claims.client_id,
            username: claims.username,
            scope,
            issued_at: claims.iat,
            // Cached until `exp`; within the leeway after it, checked afresh.
            expires_at_ms: claims.exp.saturating_mul(1000),
            family_id: claims.sid,
            qps: client.qps,
            per_day: client.per_day,
            audience: claims.aud,
        });
        self.cache.insert(digest, v.clone(), generation, now);
        Ok(Found::Access(v))
    }

    /// The claims of a JWT of this server, if it passes every check now
    /// (signature, issuer, times): whether it is revoked is not asked.
    pub async fn verify_jwt(&self, token: &str) -> Result<jwt::AccessClaims, jwt::Rejected> {
        let now = self.clock.now_secs();
        jwt::verify(token, &self.keys, &self.issuer, self.leeway, now).await
    }

    /// Seconds of skew allowed on a JWT's `exp` and `nbf`.
    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// Drops tokens from this instance's cache at once, and from every
    /// other instance's through Redis when configured.
    pub async fn invalidate(&self, what: Invalidation) {
        what.apply(&self.cache);
        if let Some(redis) = &self.redis {
            if !redis.publish(CHANNEL, &what.encode()).await {
                tracing::warn!("could not publish a revocation; other instances catch up within the poll interval");
            }
        }
    }

    /// Forgets every validation (something changed in the store).
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// Applies other instances' invalidations, forever (with Redis only).
    /// Messages missed while unsubscribed need no special care: the
    /// revision poll clears the cache within `change_poll_ms` of any
    /// revocation, and clearing here as well would throw away the
    /// validations that keep APIs up while PostgreSQL is down.
    pub async fn follow_invalidations(&self) {
        let Some(redis) = &self.redis else {
            return;
        };
        redis
            .subscribe(CHANNEL, |message| {
                if let Some(what) = Invalidation::decode(message) {
                    what.apply(&self.cache);
                }
            })
            .await;
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
        assert_eq!(Invalidation::decode("token:abab"), None);
        assert_eq!(Invalidation::decode("nonsense"), None);
    }
}
