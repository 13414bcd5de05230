//! Grant logic: what the endpoints decide, with no HTTP types in sight.
//!
//! Handlers in `http` parse the request and call into here; everything here
//! takes plain values and returns [`crate::Error`].

pub mod client_auth;
pub mod client_cache;
pub mod introspect;
pub mod password;
pub mod revoke;
pub mod secret;
pub mod throttle;
pub mod token;

use crate::store::TokenLookup;

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
