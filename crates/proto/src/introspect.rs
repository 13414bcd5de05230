//! Token introspection (RFC 7662) as the seed's introspection endpoint shows it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{GrantType, ProtoError, Scope};

/// The `token_type_hint` form field (RFC 7009 §2.1, RFC 7662 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

impl fmt::Display for TokenTypeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenTypeHint {
    type Err = ProtoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "access_token" => Ok(Self::AccessToken),
            "refresh_token" => Ok(Self::RefreshToken),
            other => Err(ProtoError::UnknownTokenTypeHint(other.to_owned())),
        }
    }
}

/// An introspection answer. An inactive token is exactly `{"active":false}`;
/// an active refresh token carries only `active` and `exp` (as in the seed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<GrantType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Whom the token is for: the resources that accept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<crate::Audience>,
}

impl IntrospectionResponse {
    /// `{"active":false}` and nothing else (RFC 7662 §2.2).
    pub fn inactive() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_is_exactly_active_false() {
        let json = serde_json::to_string(&IntrospectionResponse::inactive()).unwrap_or_default();
        assert_eq!(json, r#"{"active":false}"#);
    }

    #[test]
    fn hints_parse() {
        assert_eq!("access_token".parse(), Ok(TokenTypeHint::AccessToken));
        assert_eq!("refresh_token".parse(), Ok(TokenTypeHint::RefreshToken));
        assert!("id_token".parse::<TokenTypeHint>().is_err());
    }
}
