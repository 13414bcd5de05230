//! The admin API's bodies (`/admin/v1`), shared by the server, which
//! answers with them, and `tollgate admin --url`, which sends and reads
//! them. Client fields take RFC 7591's names where it has one
//! (`client_name`, `scope`, `grant_types`, `redirect_uris`); the rest are
//! tollgate's own. No body ever carries a secret digest or a private key.
//!
//! In a patch, a field left out stays as it is; `null` (for the fields with
//! a server default) returns it to that default.

use serde::{Deserialize, Deserializer, Serialize};

use crate::GrantType;

/// A registered client, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientInfo {
    pub client_id: String,
    pub client_name: String,
    pub enabled: bool,
    /// Scopes it may request, space-separated.
    pub scope: String,
    pub grant_types: Vec<GrantType>,
    /// `any`, `basic` or `post`.
    pub auth_method: String,
    /// Access-token lifetime, seconds; `null`: the server's `token_ttl`.
    pub token_ttl: Option<u64>,
    /// Requests per second (0 unlimited); `null`: the server's default.
    pub qps: Option<u64>,
    /// Requests per UTC day (0 unlimited); `null`: the server's default.
    pub per_day: Option<u64>,
    pub introspect_any: bool,
    /// `opaque` or `jwt`; `null`: the server's `token_format`.
    pub token_format: Option<String>,
    /// `aud` of its JWTs; `null`: the issuer.
    pub audience: Option<String>,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// While a rotated-away secret still works: until when (Unix seconds).
    pub previous_secret_until: Option<i64>,
    /// The person who registered it in the developer portal, if one did.
    #[serde(default)]
    pub owner: Option<String>,
    /// What it is for, in its developer's words.
    #[serde(default)]
    pub description: String,
    /// Scopes asked for in the portal, awaiting an admin's approval.
    #[serde(default)]
    pub requested_scope: String,
}

/// `POST /admin/v1/clients`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub client_name: String,
    /// Import an existing id instead of having one generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Import an existing secret (with `client_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub scope: String,
    /// Default: `client_credentials`.
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
    #[serde(default)]
    pub introspect_any: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub first_party: bool,
    /// The person it belongs to (a username): it shows in their portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: String,
}

/// The answer to a registration or a secret rotation: the only time the
/// secret is shown (none for a public client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientCredentials {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client: ClientInfo,
}

/// `PATCH /admin/v1/clients/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<GrantType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_ttl: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub qps: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_day: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspect_any: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_format: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub audience: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_party: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Scopes awaiting approval (space-separated); `""` clears them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_scope: Option<String>,
    /// The person it belongs to; `null`: nobody's.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub owner: Option<Option<String>>,
}

/// `POST /admin/v1/clients/{id}/secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// Seconds the old secret keeps working beside the new one (default 0:
    /// it stops at once).
    #[serde(default)]
    pub grace_secs: u64,
}

/// A user (a resource owner), as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub username: String,
    pub enabled: bool,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
    /// `admin`, `developer`: what the person sees in the console.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `POST /admin/v1/users`. `Debug` leaves the password out.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserRegistration {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `admin`, `developer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl std::fmt::Debug for UserRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRegistration")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `PATCH /admin/v1/users/{username}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub full_name: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replaces the roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// `PUT /admin/v1/users/{username}/password`. `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { .. }")
    }
}

/// A signing key, as the API shows it: never its private part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `signing`, `pending` (published, not signing yet), `published` (no
    /// longer signing) or `retired` (no longer published).
    pub state: String,
    pub created_at: i64,
    pub signs_from: i64,
    pub retired_at: Option<i64>,
    pub published_until: Option<i64>,
}

/// `POST /admin/v1/keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// `ES256`, `EdDSA` or `RS256`; default: the server's `jwt.algorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Sign with it at once, skipping pre-publication.
    #[serde(default)]
    pub now: bool,
}

/// One page of a list, and the cursor of the next (`after=`), if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// API calls of one client on one UTC day to one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallUsage {
    pub client_id: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub route: String,
    pub admitted: u64,
    /// Refused by the per-second quota.
    pub rejected_per_second: u64,
    /// Refused by the per-day quota.
    pub rejected_per_day: u64,
}

/// Token requests of one client on one UTC day, by grant and outcome
/// (`issued`, or the OAuth error code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenUsage {
    pub client_id: String,
    pub day: String,
    pub grant_type: String,
    pub outcome: String,
    pub count: u64,
}

/// `GET /admin/v1/usage`: the days `from..=to`, every client or one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    pub client_id: Option<String>,
    pub calls: Vec<CallUsage>,
    pub token_requests: Vec<TokenUsage>,
}

/// One change in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `client:ID` (the admin API) or `cli:USER` (`tollgate admin`).
    pub actor: String,
    pub action: String,
    pub target: String,
    /// What changed; never a secret.
    pub detail: serde_json::Value,
}

/// `GET /oauth2/quota`: where a client stands, read without spending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaStatus {
    pub client_id: String,
    /// `null`: no per-second limit.
    pub per_second: Option<QuotaWindow>,
    /// `null`: no per-day limit.
    pub per_day: Option<QuotaWindow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaWindow {
    /// Requests the window allows (per second: rate plus burst).
    pub limit: u64,
    /// Used in the current window (per day: today, UTC).
    pub used: u64,
    pub remaining: u64,
    /// Seconds until the window is full again (per day: until 00:00 UTC).
    pub reset: u64,
}

/// A field that, when present, is set: `null` sets it to "none".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_absent_from_null() {
        let p: ClientPatch = serde_json::from_str(r#"{"qps": null, "per_day": 5}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.qps, Some(None));
        assert_eq!(p.per_day, Some(Some(5)));
        assert_eq!(p.token_ttl, None);
        let back = serde_json::to_string(&ClientPatch {
            per_day: Some(Some(5)),
            ..ClientPatch::default()
        })
        .unwrap_or_default();
        assert_eq!(back, r#"{"per_day":5}"#);
    }

    #[test]
    fn unknown_fields_and_secrets_in_debug() {
        assert!(serde_json::from_str::<ClientPatch>(r#"{"colour": 1}"#).is_err());
        let u = UserRegistration {
            username: "ann".into(),
            password: "hunter2".into(),
            ..UserRegistration::default()
        };
        assert!(!format!("{u:?}").contains("hunter2"));
        let p = PasswordChange {
            password: "hunter2".into(),
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
