//! `[jwt]`: how signed access tokens are signed and checked. Whether a
//! token is signed at all is `token_format` (`tollgate_proto::client::
//! TokenFormat`, also a client setting).

use serde::Deserialize;

/// The signature algorithms tollgate generates keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SigningAlg {
    /// ECDSA with P-256 and SHA-256: small keys and signatures, the default.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: for verifiers that
    /// know nothing else.
    RS256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [Self::ES256, Self::EdDSA, Self::RS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// `[jwt]` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// The algorithm of keys generated at first start and by `admin keys rotate`.
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
