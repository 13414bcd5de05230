//! What a valid access token grants, as the bearer check, introspection
//! and the gateway need it: read from a stored token or a verified JWT,
//! and kept in the validation cache until the token expires.

use tollgate_proto::{Audience, GrantType, Scope};

use super::cache::Entry;
use crate::config::Limits;
use crate::store::TokenLookup;

/// What a valid access token grants, as the bearer check and
/// introspection need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub client_id: String,
    pub username: Option<String>,
    pub scope: Scope,
    pub grant_type: GrantType,
    /// Unix seconds.
    pub issued_at: i64,
    /// The token is dead from this instant (Unix ms) on.
    pub expires_at_ms: i64,
    pub family_id: String,
    /// The client's registered limits (`None`: server default).
    pub qps: Option<u64>,
    pub per_day: Option<u64>,
    /// The resources that accept it (`aud`).
    pub audience: Audience,
}

impl Validated {
    /// A stored token's grant; its audience is its client's (else the
    /// `issuer`), as a JWT of that client would carry.
    pub fn from_lookup(lookup: TokenLookup, issuer: &str) -> Self {
        let audience = lookup.client_audience.unwrap_or_else(|| issuer.to_owned());
        let t = lookup.token;
        Self {
            audience: audience.into(),
            client_id: t.client_id,
            username: t.username,
            scope: t.scope,
            grant_type: t.grant_type,
            issued_at: t.issued_at,
            expires_at_ms: t.expires_at.saturating_mul(1000),
            family_id: t.family_id,
            qps: lookup.client_qps,
            per_day: lookup.client_per_day,
        }
    }

    /// Unix seconds, as introspection reports `exp`.
    pub fn expires_at(&self) -> i64 {
        self.expires_at_ms / 1000
    }

    pub fn limits(&self, default: Limits) -> Limits {
        Limits {
            qps: self.qps.unwrap_or(default.qps),
            per_day: self.per_day.unwrap_or(default.per_day),
        }
    }
}

impl Entry for Validated {
    /// Dead from `exp` on.
    fn live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }
}
