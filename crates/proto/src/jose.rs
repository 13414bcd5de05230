//! The JOSE signature algorithms (RFC 7518 names) tollgate makes keys for
//! and signs with: a closed set, shared by the server's config, its stored
//! keys and the admin API's key bodies.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_jose_names() {
        for a in SigningAlg::ALL {
            let json = serde_json::to_string(&a).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(SigningAlg::parse(a.as_str()), Some(a));
        }
        assert!(serde_json::from_str::<SigningAlg>("\"HS256\"").is_err());
    }
}
