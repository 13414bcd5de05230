//! `[jwt]`: how signed access tokens are signed and checked. Whether a
//! token is signed at all is `token_format` (`tollgate_proto::client::
//! TokenFormat`, also a client setting).

use serde::Deserialize;
use tollgate_proto::jose::SigningAlg;

/// `[jwt]` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// The algorithm of access tokens (a key of every algorithm is kept,
    /// for ID tokens and signed userinfo).
    pub algorithm: SigningAlg,
    /// Seconds a rotated-in key is published in the JWKS before it signs,
    /// so verifiers that cached the JWKS see it first. At least
    /// `jwks_max_age_secs`.
    pub prepublish_secs: u64,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age_secs: u64,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            algorithm: SigningAlg::ES256,
            prepublish_secs: 600,
            jwks_max_age_secs: 300,
            leeway_secs: 30,
        }
    }
}
