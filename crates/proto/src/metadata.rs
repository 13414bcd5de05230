//! Authorization server metadata (RFC 8414 §2).

use serde::{Deserialize, Serialize};

use crate::GrantType;

/// The document served at `/.well-known/oauth-authorization-server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    /// Where browsers are sent for the authorization code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    /// Where the public keys of signed access tokens are (RFC 7517).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub grant_types_supported: Vec<GrantType>,
    pub response_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// PKCE methods (RFC 7636 §4.3): tollgate accepts S256 only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// OpenID Connect Discovery §3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_types_supported: Vec<String>,
    /// RP-Initiated Logout 1.0 §2.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_signing_alg_values_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<String>,
    /// OpenID Connect Prompt Create §4.1: the `prompt` values understood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_values_supported: Vec<String>,
    /// OpenID Connect Discovery §3: whether `request` is taken (default
    /// false); always written.
    #[serde(default)]
    pub request_parameter_supported: bool,
    /// Whether `request_uri` is taken; always written, as it defaults to
    /// true when absent.
    #[serde(default)]
    pub request_uri_parameter_supported: bool,
    /// Back-Channel Logout 1.0 §2.1: logout tokens are sent, with `sid`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_supported: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_supported: bool,
    /// RFC 7591 §3: where clients register themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// RFC 8628 §4: where a device asks for a user code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9207: authorization responses carry `iss`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
}
