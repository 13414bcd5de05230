//! Dynamic Client Registration (RFC 7591) and its management protocol
//! (RFC 7592): the client metadata a registration sends and gets back, and
//! the fields the server adds. Names are the RFCs' and OpenID Connect
//! Registration's; metadata tollgate does not understand is ignored, as
//! RFC 7591 §2 says, and so never echoed back.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jose::SigningAlg;
use crate::Scope;

/// Client metadata (RFC 7591 §2), as sent and as answered. A grant type or
/// algorithm is a string here, checked by the server, so an unknown value
/// is `invalid_client_metadata` naming it, not a parse error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientMetadata {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// `client_secret_basic` (the default), `client_secret_post`, or
    /// `none` (a public client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Default `["authorization_code"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<BTreeSet<String>>,
    /// Default `["code"]`; `code` exactly when `authorization_code` is a grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// OpenID Connect Registration §2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<u32>,
    /// RP-Initiated Logout 1.0 §3.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-Channel Logout 1.0 §2.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
}

/// The answer to a registration, a read or an update (RFC 7591 §3.2.1,
/// RFC 7592 §3): the metadata as registered, and the client's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisteredClient {
    pub client_id: String,
    /// Only when the client was just registered with a secret; never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire. Present whenever a secret is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// What reads, updates and deletes this registration (RFC 7592 §3);
    /// given once, at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    pub registration_client_uri: String,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// The signing algorithms registration accepts, by name.
pub fn signing_alg(name: &str) -> Option<SigningAlg> {
    SigningAlg::ALL.into_iter().find(|a| a.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_metadata_is_ignored_and_never_echoed() {
        let m: ClientMetadata = serde_json::from_str(
            r#"{"client_name":"a","redirect_uris":["https://a.example/cb"],"frobnicate":1}"#,
        )
        .unwrap_or_default();
        assert_eq!(m.client_name.as_deref(), Some("a"));
        let back = serde_json::to_value(&m).unwrap_or_default();
        assert!(back.get("frobnicate").is_none(), "{back}");
        assert_eq!(signing_alg("RS256"), Some(SigningAlg::RS256));
        assert_eq!(signing_alg("none"), None);
    }
}
