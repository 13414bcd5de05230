//! The grant types tollgate knows (RFC 6749 §4.1, §4.3, §4.4, §6; RFC 8628).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ProtoError;

/// A value of the `grant_type` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    Password,
    RefreshToken,
    /// RFC 6749 §4.1, with PKCE (RFC 7636).
    AuthorizationCode,
    /// The Device Authorization Grant (RFC 8628 §3.4), named by its URN.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        Self::ClientCredentials,
        Self::Password,
        Self::RefreshToken,
        Self::AuthorizationCode,
        Self::DeviceCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = ProtoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| ProtoError::UnknownGrantType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_rejects_unknown() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
            let json = serde_json::to_string(&g).unwrap_or_default();
            assert_eq!(
                json,
                format!("\"{}\"", g.as_str()),
                "serde and as_str agree"
            );
        }
        for bad in ["implicit", "Password", "", "client_credentials "] {
            assert!(bad.parse::<GrantType>().is_err(), "{bad:?}");
        }
    }
}
