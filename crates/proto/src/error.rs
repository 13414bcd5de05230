//! OAuth error codes (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 6750 §3.1, RFC 8628
//! §3.5) and the
//! JSON error body, plus this crate's own parse errors.
//!
//! Codes are an enum, never free strings: the server maps each one to its HTTP
//! status in exactly one place, and the client matches on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OAuth 2.0 error code as it appears in the `error` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedTokenType,
    InvalidToken,
    InsufficientScope,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 6749 §4.1.2.1: at the authorization endpoint only.
    UnsupportedResponseType,
    AccessDenied,
    /// OpenID Connect Core §3.1.2.6, at the authorization endpoint only:
    /// `prompt=none` could not be honoured.
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    AccountSelectionRequired,
    /// The request object parameters, which tollgate does not take.
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 8628 §3.5, at the token endpoint while a device code waits.
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    /// RFC 7591 §3.2.2, at the registration endpoint.
    InvalidRedirectUri,
    InvalidClientMetadata,
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }

    const ALL: [ErrorCode; 24] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::UnsupportedTokenType,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::UnsupportedResponseType,
        Self::AccessDenied,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
        Self::AccountSelectionRequired,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::InvalidRedirectUri,
        Self::InvalidClientMetadata,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = ProtoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ProtoError::UnknownErrorCode(s.to_owned()))
    }
}

/// The JSON body of an OAuth error response (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    pub error: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Errors from parsing wire values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("unknown OAuth error code `{0}`")]
    UnknownErrorCode(String),
    #[error("unknown grant type `{0}`")]
    UnknownGrantType(String),
    #[error("unknown token type hint `{0}`")]
    UnknownTokenTypeHint(String),
    #[error("scope token `{0}` has a character RFC 6749 §3.3 does not allow")]
    InvalidScopeToken(String),
    #[error("the Authorization header is not HTTP Basic credentials: {0}")]
    InvalidBasic(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert!("nope".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn error_body_omits_missing_description() {
        let body = ErrorResponse {
            error: ErrorCode::InvalidScope,
            error_description: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap_or_default(),
            r#"{"error":"invalid_scope"}"#
        );
    }
}
