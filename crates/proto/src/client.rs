//! A client's settings: the one type that says what a registered client may
//! do and how its tokens look. The admin API's bodies embed it
//! (`admin::ClientInfo`, `admin::ClientRegistration`), the server's store
//! keeps it as its record's settings, and the console's and CLI's forms
//! edit it; a new setting is a field here (with its serde default, so
//! records written before it read as the default).
//!
//! Names are RFC 7591's where it has one (`client_name`, `scope`,
//! `grant_types`, `redirect_uris`); the rest are tollgate's own. Closed sets
//! are enums, so a value outside them is refused where it is read.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jose::SigningAlg;
use crate::{GrantType, Scope};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Either method the metadata advertises, as Keycloak and Hydra accept
    /// for confidential clients: what a client registered without options gets.
    #[default]
    Any,
    /// HTTP Basic only (`client_secret_basic`).
    Basic,
    /// Credentials in the form body only (`client_secret_post`).
    Post,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [Self::Any, Self::Basic, Self::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Basic => "basic",
            Self::Post => "post",
        }
    }

    /// Whether a client with this method may authenticate with credentials
    /// in the body (`via_post`) or in the Basic header.
    pub fn allows(self, via_post: bool) -> bool {
        match self {
            Self::Any => true,
            Self::Basic => !via_post,
            Self::Post => via_post,
        }
    }
}

/// What an access token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// A random string, stored (by its key) and looked up: revocable at once
    /// everywhere, but only tollgate can validate it.
    #[default]
    Opaque,
    /// A signed JWT (RFC 9068) anyone can verify against the JWKS; nothing
    /// is written to the store when it is issued.
    Jwt,
}

impl TokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

/// What a registered client may do, and how its tokens look. `None` in a
/// limit or format means the server's default. Every field but
/// `client_name` has a default, so a record or body without it reads as
/// that default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSettings {
    /// A name for people; not used in the protocol.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub client_name: String,
    /// What it is for, in its developer's words.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: String,
    /// Scopes it may request.
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub grant_types: BTreeSet<GrantType>,
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// Access-token lifetime, seconds; `null`: the server's `token_ttl`.
    #[serde(default)]
    pub token_ttl: Option<u64>,
    /// Requests per second (0 unlimited); `null`: the server's default.
    #[serde(default)]
    pub qps: Option<u64>,
    /// Requests per UTC day (0 unlimited); `null`: the server's default.
    #[serde(default)]
    pub per_day: Option<u64>,
    /// May introspect tokens of other clients (a resource server).
    #[serde(default)]
    pub introspect_any: bool,
    /// `null`: the server's `token_format`.
    #[serde(default)]
    pub token_format: Option<TokenFormat>,
    /// `aud` of its JWT access tokens; `null`: the issuer.
    #[serde(default)]
    pub audience: Option<String>,
    /// Where the authorization code grant may send a browser back to.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Has no secret (a native or browser app): PKCE only, and only the
    /// authorization code and refresh token grants. Fixed at registration.
    #[serde(default)]
    pub public: bool,
    /// Trusted: its users see no consent page.
    #[serde(default)]
    pub first_party: bool,
    /// Seconds a sign-in may be old when a request of this client sends
    /// no `max_age` (OpenID Connect Registration); `null`: any age.
    #[serde(default)]
    pub default_max_age: Option<u32>,
    /// The algorithm of its ID tokens; `null`: RS256, the OpenID Connect
    /// default (Registration §2).
    #[serde(default)]
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// `/userinfo` answers it with a JWT signed with this algorithm;
    /// `null`: plain JSON.
    #[serde(default)]
    pub userinfo_signed_response_alg: Option<SigningAlg>,
    /// Origins (`https://app.example`) whose pages may call the token,
    /// revocation and userinfo endpoints (CORS), as Hydra names it; empty:
    /// the origins of its http(s) redirect URIs, as Keycloak's `+`.
    #[serde(default)]
    pub allowed_cors_origins: Vec<String>,
    /// Where RP-Initiated Logout may send the browser after signing out
    /// (`post_logout_redirect_uri`, matched exactly).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where a signed logout token is POSTed when a person's session that
    /// signed in to it ends (Back-Channel Logout 1.0); `null`: not told.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// It needs `sid` in logout tokens (tollgate always sends it).
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// What RFC 7591 §2 lets a client say about itself, shown to people:
    /// who to contact (e-mail addresses), its home page, logo, terms and
    /// privacy policy, and the software it is.
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    #[serde(default)]
    pub software_id: Option<String>,
    #[serde(default)]
    pub software_version: Option<String>,
    /// Its public keys (RFC 7591 §2): by reference (`https://`) or by value
    /// (a JWK Set), never both.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub jwks: Option<Value>,
}

impl ClientSettings {
    /// Whether pages of `origin` may read this client's answers (CORS): its
    /// `allowed_cors_origins`, else the origins of its http(s) redirect URIs.
    pub fn allows_origin(&self, origin: &str) -> bool {
        if !self.allowed_cors_origins.is_empty() {
            return self.allowed_cors_origins.iter().any(|o| o == origin);
        }
        self.redirect_uris
            .iter()
            .any(|u| origin_of(u).as_deref() == Some(origin))
    }

    /// The algorithm its ID tokens are signed with.
    pub fn id_token_alg(&self) -> SigningAlg {
        self.id_token_signed_response_alg
            .unwrap_or(SigningAlg::RS256)
    }

    /// The JSON names of the fields, for bodies that embed the settings and
    /// refuse names they do not know (serde's `deny_unknown_fields` does
    /// not combine with `flatten`). A test keeps it equal to the struct.
    pub const FIELDS: [&'static str; 30] = [
        "client_name",
        "description",
        "scope",
        "grant_types",
        "auth_method",
        "token_ttl",
        "qps",
        "per_day",
        "introspect_any",
        "token_format",
        "audience",
        "redirect_uris",
        "public",
        "first_party",
        "default_max_age",
        "id_token_signed_response_alg",
        "userinfo_signed_response_alg",
        "allowed_cors_origins",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "contacts",
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "software_id",
        "software_version",
        "jwks_uri",
        "jwks",
    ];
}

/// `scheme://host[:port]` of an http or https URI.
pub fn origin_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && !authority.contains('@')).then(|| format!("{scheme}://{authority}"))
}

/// Reads a JSON object that embeds [`ClientSettings`] beside fields of its
/// own (`R`, which refuses names it does not know): the settings' names go
/// to the settings, the rest to `R`. Errors name the field (`qps: invalid
/// type ...`), which serde's `flatten` would lose.
pub fn with_settings<R: DeserializeOwned>(
    body: Map<String, Value>,
) -> Result<(ClientSettings, R), String> {
    let (settings, rest): (Map<String, Value>, Map<String, Value>) = body
        .into_iter()
        .partition(|(k, _)| ClientSettings::FIELDS.contains(&k.as_str()));
    let read = |doc: Map<String, Value>| Value::Object(doc);
    let settings = serde_path_to_error::deserialize(read(settings)).map_err(|e| e.to_string())?;
    let rest = serde_path_to_error::deserialize(read(rest)).map_err(|e| e.to_string())?;
    Ok((settings, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_every_field_and_only_those() {
        let json = serde_json::to_value(ClientSettings::default()).unwrap_or_default();
        let mut keys: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut fields = ClientSettings::FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
    }

    #[test]
    fn cors_origins_default_to_the_redirect_uris_origins() {
        let s = ClientSettings {
            redirect_uris: vec![
                "https://app.example/cb?x=1".into(),
                "https://app.example/other".into(),
                "http://127.0.0.1:5173/cb".into(),
                "com.example.app:/cb".into(),
            ],
            ..ClientSettings::default()
        };
        for yes in ["https://app.example", "http://127.0.0.1:5173"] {
            assert!(s.allows_origin(yes), "{yes}");
        }
        for no in [
            "https://app.example/cb",
            "http://127.0.0.1",
            "com.example.app:",
            "",
        ] {
            assert!(!s.allows_origin(no), "{no}");
        }
        let own = ClientSettings {
            allowed_cors_origins: vec!["https://spa.example".into()],
            ..s
        };
        assert!(own.allows_origin("https://spa.example"));
        assert!(
            !own.allows_origin("https://app.example"),
            "its own list replaces the default"
        );
        assert_eq!(origin_of("https://u@evil.example/"), None);
    }

    #[test]
    fn only_the_name_is_required_and_closed_sets_are_checked() {
        let s: ClientSettings =
            serde_json::from_str(r#"{"client_name":"a"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.auth_method, AuthMethod::Any);
        assert_eq!(s.token_format, None);
        let bad = serde_json::from_str::<ClientSettings>(
            r#"{"client_name":"a","auth_method":"carrier-pigeon"}"#,
        );
        assert!(bad.is_err());
        let bad = serde_json::from_str::<ClientSettings>(r#"{"client_name":"a","scope":"a\"b"}"#);
        assert!(bad.is_err());
    }
}
