//! The admin API's bodies (`/admin/v1`), shared by the server, which
//! answers with them, and `tollgate admin --url`, which sends and reads
//! them. Client fields take RFC 7591's names where it has one
//! (`client_name`, `scope`, `grant_types`, `redirect_uris`); the rest are
//! tollgate's own. No body ever carries a secret digest or a private key.
//!
//! A client's settings are `client::ClientSettings`, embedded here. A
//! client is changed with a JSON merge patch (RFC 7396, `merge_patch`) of
//! its [`ClientInfo`]; in a user patch, a field left out stays as it is and
//! `null` clears it.

use serde::{de, Deserialize, Deserializer, Serialize};

use serde_json::Map;

use crate::client::{with_settings, ClientSettings};
use crate::jose::SigningAlg;
use crate::Scope;

/// A registered client, as the API shows it: its settings, and what the
/// record holds besides (who owns it, whether it is on, scopes awaiting
/// approval). Read like [`ClientRegistration`], with errors that name the
/// field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientInfo {
    pub client_id: String,
    #[serde(flatten)]
    pub settings: ClientSettings,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// While a rotated-away secret still works: until when (Unix seconds).
    #[serde(default)]
    pub previous_secret_until: Option<i64>,
    /// The person who registered it in the developer portal, if one did.
    #[serde(default)]
    pub owner: Option<String>,
    /// Scopes asked for in the portal, awaiting an admin's approval.
    #[serde(default)]
    pub requested_scope: Scope,
}

impl<'de> Deserialize<'de> for ClientInfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Names it does not know are ignored: a newer server may send more.
        #[derive(Deserialize)]
        struct Own {
            client_id: String,
            enabled: bool,
            created_at: i64,
            #[serde(default)]
            previous_secret_until: Option<i64>,
            #[serde(default)]
            owner: Option<String>,
            #[serde(default)]
            requested_scope: Scope,
        }
        let body = Map::deserialize(d)?;
        let (settings, own) = with_settings::<Own>(body).map_err(de::Error::custom)?;
        Ok(Self {
            client_id: own.client_id,
            settings,
            enabled: own.enabled,
            created_at: own.created_at,
            previous_secret_until: own.previous_secret_until,
            owner: own.owner,
            requested_scope: own.requested_scope,
        })
    }
}

impl ClientInfo {
    /// What a patch may not change: fixed when the client is registered,
    /// or kept by the server.
    pub const READ_ONLY: [&'static str; 4] =
        ["client_id", "created_at", "previous_secret_until", "public"];

    /// Whether `name` is a member of the JSON form.
    pub fn is_field(name: &str) -> bool {
        ClientSettings::FIELDS.contains(&name)
            || [
                "client_id",
                "enabled",
                "created_at",
                "previous_secret_until",
                "owner",
                "requested_scope",
            ]
            .contains(&name)
    }
}

/// `POST /admin/v1/clients`: the settings, and optionally an id and secret
/// to import and the person it belongs to. Names it does not know are
/// refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientRegistration {
    /// `grant_types` left empty: `client_credentials`.
    #[serde(flatten)]
    pub settings: ClientSettings,
    /// Import an existing id instead of having one generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Import an existing secret (with `client_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The person it belongs to (a username): it shows in their portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Settings alone: a generated id and secret, nobody's.
impl From<ClientSettings> for ClientRegistration {
    fn from(settings: ClientSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }
}

impl<'de> Deserialize<'de> for ClientRegistration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Own {
            client_id: Option<String>,
            client_secret: Option<String>,
            owner: Option<String>,
        }
        let body = Map::deserialize(d)?;
        let (settings, own) = with_settings::<Own>(body).map_err(de::Error::custom)?;
        Ok(Self {
            settings,
            client_id: own.client_id,
            client_secret: own.client_secret,
            owner: own.owner,
        })
    }
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
    /// What the person sees in the console.
    #[serde(default)]
    pub roles: Vec<Role>,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
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
    pub roles: Option<Vec<Role>>,
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

/// What a person may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and changes every client, user and key.
    Admin,
    /// Registers and manages their own apps.
    Developer,
}

impl Role {
    pub const ALL: [Role; 2] = [Self::Admin, Self::Developer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a signing key does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, signing from `signs_from` (not yet).
    Pending,
    /// Signs new tokens.
    Signing,
    /// No longer signs; still published for the tokens it signed.
    Published,
    /// No longer published: it verifies nothing.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Signing => "signing",
            Self::Published => "published",
            Self::Retired => "retired",
        }
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing key, as the API shows it: never its private part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
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
    /// The algorithm of the new key; default: one new key of every
    /// algorithm the server signs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<SigningAlg>,
    /// Sign with it at once, skipping pre-publication; every key of its
    /// algorithm that signed until now is revoked.
    #[serde(default)]
    pub now: bool,
}

/// `POST /admin/v1/initial-access-tokens`: how long the token works.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InitialTokenRequest {
    /// Seconds; default one day, at most 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// An initial access token (RFC 7591 §3): a client that sends it as
/// `Authorization: Bearer` to the registration endpoint may register
/// itself, until it expires. Shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitialAccessToken {
    pub initial_access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for InitialAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitialAccessToken")
            .field("initial_access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
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
    fn a_registration_refuses_unknown_names_and_reads_the_flattened_settings() {
        let r: ClientRegistration =
            serde_json::from_str(r#"{"client_name":"a","qps":5,"owner":"ann"}"#)
                .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(r.settings.qps, Some(5));
        assert_eq!(r.owner.as_deref(), Some("ann"));
        let e = serde_json::from_str::<ClientRegistration>(r#"{"client_name":"a","colour":1}"#);
        assert!(e.is_err_and(|e| e.to_string().contains("unknown field `colour`")));
        let back = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(back["qps"], 5);
        assert!(back.get("client_secret").is_none());
    }

    #[test]
    fn client_info_names_its_fields() {
        let info = ClientInfo {
            client_id: "c".into(),
            settings: ClientSettings::default(),
            enabled: true,
            created_at: 0,
            previous_secret_until: None,
            owner: None,
            requested_scope: Scope::default(),
        };
        let json = serde_json::to_value(&info).unwrap_or_default();
        let keys = json
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>());
        for k in keys.unwrap_or_default() {
            assert!(ClientInfo::is_field(&k), "{k}");
        }
        assert!(!ClientInfo::is_field("colour"));
    }

    #[test]
    fn unknown_fields_and_secrets_in_debug() {
        assert!(serde_json::from_str::<UserPatch>(r#"{"colour": 1}"#).is_err());
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
