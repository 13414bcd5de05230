//! Dynamic Client Registration (RFC 7591) and its management protocol
//! (RFC 7592): client metadata read into a client's settings and back; a
//! registration behind an initial access token an admin issued (or open,
//! when the server is set so); reading, replacing and deleting with the
//! client's registration access token. A registered client is an ordinary
//! client, so the console, the admin API and the portal see the same one.
//!
//! Scopes: a registration gets at once what the server offers for
//! self-service (`self_service_scopes`) and OpenID Connect's; anything else
//! it asks for waits for an admin's approval, as a portal request does.

use std::collections::BTreeSet;

use serde_json::json;
use tollgate_proto::admin::ClientRegistration;
use tollgate_proto::client::{AuthMethod, ClientSettings};
use tollgate_proto::registration::{signing_alg, ClientMetadata, RegisteredClient};
use tollgate_proto::{GrantType, Scope};

use super::{check_client, check_redirect_uri, new_client, Admin, AdminError};
use crate::oauth::secret;
use crate::store::{Client, InitialAccessToken, StoreError};

/// Where a registration is read, replaced and deleted (RFC 7592).
pub const CLIENT_PATH_PREFIX: &str = "/oauth2/register/";
/// How long an initial access token works when nobody says, and at most.
pub const INITIAL_TOKEN_TTL_SECS: i64 = 24 * 3600;
pub const MAX_INITIAL_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// The scopes every client may ask a person for (OpenID Connect's).
const OPENID_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// A registration just made: the client, and the two secrets shown once.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub client_secret: Option<String>,
    pub registration_access_token: String,
}

impl Admin<'_> {
    /// A new initial access token, working for `ttl_secs`; the token and
    /// when it expires.
    pub async fn issue_initial_access_token(
        &self,
        ttl_secs: Option<i64>,
    ) -> Result<(String, i64), AdminError> {
        let ttl = ttl_secs.unwrap_or(INITIAL_TOKEN_TTL_SECS);
        if !(1..=MAX_INITIAL_TOKEN_TTL_SECS).contains(&ttl) {
            return Err(AdminError::Invalid(format!(
                "an initial access token lives 1 to {MAX_INITIAL_TOKEN_TTL_SECS} seconds"
            )));
        }
        let token = secret::new_code()?;
        let expires_at = self.now.saturating_add(ttl);
        let record = InitialAccessToken {
            hash: secret::digest(&token),
            created_by: self.actor.to_owned(),
            created_at: self.now,
            expires_at,
        };
        self.store.insert_initial_access_token(&record).await?;
        let detail = json!({ "expires_at": expires_at });
        self.record("registration.initial_token", "", detail).await;
        Ok((token, expires_at))
    }

    /// Registers a client from its metadata (RFC 7591 §3.1).
    pub async fn register_metadata(
        &self,
        m: &ClientMetadata,
        offered: &Scope,
    ) -> Result<Registered, AdminError> {
        let (settings, pending) = settings_from(m, offered)?;
        let public = settings.public;
        let (mut client, secret) = new_client(self.now, ClientRegistration::from(settings))?;
        let rat = secret::new_code()?;
        client.registration_hash = Some(secret::digest(&rat));
        client.requested_scopes = pending;
        check_client(&client)?;
        self.store.create_client(&client).await?;
        let info = tollgate_proto::admin::ClientInfo::from(&client);
        self.record(
            "client.register",
            &client.client_id,
            json!({ "client": info }),
        )
        .await;
        Ok(Registered {
            client,
            client_secret: (!public).then_some(secret),
            registration_access_token: rat,
        })
    }

    /// Replaces a registered client's metadata (RFC 7592 §2.2): what the
    /// request leaves out returns to its default.
    pub async fn replace_metadata(
        &self,
        client_id: &str,
        m: &ClientMetadata,
        offered: &Scope,
    ) -> Result<Client, AdminError> {
        let (settings, pending) = settings_from(m, offered)?;
        self.edit_client(client_id, move |info| {
            info.settings = settings;
            info.requested_scope = pending;
            Ok(())
        })
        .await?;
        let client = self.store.get_client(client_id).await?;
        client.ok_or_else(|| StoreError::NotFound(format!("client `{client_id}`")).into())
    }
}

/// Whether `token` is an initial access token that works at `now`.
pub async fn initial_token_works(
    store: &dyn crate::store::Store,
    token: &str,
    now: i64,
) -> Result<bool, AdminError> {
    let found = store.initial_access_token(&secret::digest(token)).await?;
    Ok(found.is_some_and(|t| now < t.expires_at))
}

/// The client whose registration `token` manages, if it is that client's
/// registration access token (compared in constant time).
pub async fn managed_client(
    store: &dyn crate::store::Store,
    client_id: &str,
    token: &str,
) -> Result<Option<Client>, AdminError> {
    let client = store.get_client(client_id).await?;
    Ok(client.filter(|c| {
        c.registration_hash
            .as_ref()
            .is_some_and(|h| secret::verify(token, h))
    }))
}

fn invalid(why: String) -> AdminError {
    AdminError::Invalid(why)
}

/// The settings a registration asks for, and the scopes that must wait for
/// an admin.
pub fn settings_from(
    m: &ClientMetadata,
    offered: &Scope,
) -> Result<(ClientSettings, Scope), AdminError> {
    for uri in m.redirect_uris.iter().chain(&m.post_logout_redirect_uris) {
        check_redirect_uri(uri).map_err(|e| AdminError::InvalidRedirect(e.to_string()))?;
    }
    let (auth_method, public) = match m.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic") => (AuthMethod::Basic, false),
        Some("client_secret_post") => (AuthMethod::Post, false),
        Some("none") => (AuthMethod::Any, true),
        Some(other) => return Err(invalid(format!(
            "token_endpoint_auth_method `{other}` is not supported: client_secret_basic, client_secret_post or none"
        ))),
    };
    let grant_types = grants(m.grant_types.as_ref())?;
    check_response_types(m.response_types.as_ref(), &grant_types)?;
    let (scope, pending) = split_scope(m.scope.as_ref(), offered);
    let alg = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|a| {
                signing_alg(a)
                    .ok_or_else(|| invalid(format!("{name} `{a}`: one of ES256, EdDSA, RS256")))
            })
            .transpose()
    };
    let settings = ClientSettings {
        client_name: m
            .client_name
            .clone()
            .unwrap_or_else(|| "Registered client".into()),
        scope,
        grant_types,
        auth_method,
        public,
        redirect_uris: m.redirect_uris.clone(),
        post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: m.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: m.backchannel_logout_session_required.unwrap_or(false),
        default_max_age: m.default_max_age,
        id_token_signed_response_alg: alg(
            "id_token_signed_response_alg",
            &m.id_token_signed_response_alg,
        )?,
        userinfo_signed_response_alg: alg(
            "userinfo_signed_response_alg",
            &m.userinfo_signed_response_alg,
        )?,
        contacts: m.contacts.clone(),
        client_uri: m.client_uri.clone(),
        logo_uri: m.logo_uri.clone(),
        tos_uri: m.tos_uri.clone(),
        policy_uri: m.policy_uri.clone(),
        software_id: m.software_id.clone(),
        software_version: m.software_version.clone(),
        jwks_uri: m.jwks_uri.clone(),
        jwks: m.jwks.clone(),
        ..ClientSettings::default()
    };
    Ok((settings, pending))
}

/// The grant types named, by their RFC 7591 names (default: the code flow).
fn grants(named: Option<&BTreeSet<String>>) -> Result<BTreeSet<GrantType>, AdminError> {
    let Some(named) = named else {
        return Ok([GrantType::AuthorizationCode].into());
    };
    named
        .iter()
        .map(|g| match g.parse::<GrantType>() {
            Ok(GrantType::Password) => Err(invalid(
                "the password grant cannot be registered: an admin can register such a client"
                    .into(),
            )),
            Ok(grant) => Ok(grant),
            Err(_) => Err(invalid(format!("grant type `{g}` is not supported"))),
        })
        .collect()
}

/// `response_types` agrees with the grants (RFC 7591 §2.1): `code`
/// exactly when the authorization code grant is registered.
fn check_response_types(
    given: Option<&BTreeSet<String>>,
    grants: &BTreeSet<GrantType>,
) -> Result<(), AdminError> {
    let code = grants.contains(&GrantType::AuthorizationCode);
    let Some(given) = given else { return Ok(()) };
    if let Some(t) = given.iter().find(|t| *t != "code") {
        return Err(invalid(format!(
            "response type `{t}` is not supported: code only"
        )));
    }
    if given.contains("code") != code {
        return Err(invalid(
            "response_types `code` goes with the authorization_code grant, and only with it".into(),
        ));
    }
    Ok(())
}

/// The scope a registration gets now (what is offered, and OpenID
/// Connect's), and what waits for an admin.
fn split_scope(asked: Option<&Scope>, offered: &Scope) -> (Scope, Scope) {
    let asked = asked.cloned().unwrap_or_default();
    let now = asked
        .iter()
        .filter(|s| offered.contains(s) || OPENID_SCOPES.contains(s))
        .collect();
    let pending = asked.difference(&now);
    (now, pending)
}

/// A client's registration as RFC 7591 §3.2.1 and RFC 7592 §3 answer it.
pub fn registered(
    c: &Client,
    issuer: &str,
    client_secret: Option<String>,
    registration_access_token: Option<String>,
) -> RegisteredClient {
    let secret_shown = client_secret.is_some();
    RegisteredClient {
        client_id: c.client_id.clone(),
        client_secret,
        client_id_issued_at: c.created_at,
        client_secret_expires_at: secret_shown.then_some(0),
        registration_access_token,
        registration_client_uri: format!("{issuer}{CLIENT_PATH_PREFIX}{}", c.client_id),
        metadata: metadata_of(&c.settings),
    }
}

/// The metadata of a client's settings (RFC 7591 §2).
pub fn metadata_of(s: &ClientSettings) -> ClientMetadata {
    let method = match (s.public, s.auth_method) {
        (true, _) => "none",
        (false, AuthMethod::Post) => "client_secret_post",
        (false, AuthMethod::Basic | AuthMethod::Any) => "client_secret_basic",
    };
    let code = s.grant_types.contains(&GrantType::AuthorizationCode);
    ClientMetadata {
        redirect_uris: s.redirect_uris.clone(),
        token_endpoint_auth_method: Some(method.into()),
        grant_types: Some(
            s.grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
        ),
        response_types: Some(if code {
            ["code".to_owned()].into()
        } else {
            BTreeSet::new()
        }),
        client_name: Some(s.client_name.clone()),
        scope: (!s.scope.is_empty()).then(|| s.scope.clone()),
        contacts: s.contacts.clone(),
        client_uri: s.client_uri.clone(),
        logo_uri: s.logo_uri.clone(),
        tos_uri: s.tos_uri.clone(),
        policy_uri: s.policy_uri.clone(),
        jwks_uri: s.jwks_uri.clone(),
        jwks: s.jwks.clone(),
        software_id: s.software_id.clone(),
        software_version: s.software_version.clone(),
        id_token_signed_response_alg: Some(s.id_token_alg().as_str().to_owned()),
        userinfo_signed_response_alg: s
            .userinfo_signed_response_alg
            .map(|a| a.as_str().to_owned()),
        default_max_age: s.default_max_age,
        post_logout_redirect_uris: s.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: s.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: s
            .backchannel_logout_uri
            .as_ref()
            .map(|_| s.backchannel_logout_session_required),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: &str) -> ClientMetadata {
        serde_json::from_str(json).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn metadata_reads_into_settings_and_back() {
        let offered: Scope = "orders:read".parse().unwrap_or_default();
        let m = meta(
            r#"{"redirect_uris":["https://app.example/cb"],"client_name":"App",
                "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
                "token_endpoint_auth_method":"client_secret_post",
                "scope":"openid orders:read orders:write","contacts":["ops@app.example"],
                "id_token_signed_response_alg":"ES256"}"#,
        );
        let (s, pending) = settings_from(&m, &offered).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.scope.to_string(), "openid orders:read");
        assert_eq!(pending.to_string(), "orders:write", "waits for an admin");
        assert_eq!(s.auth_method, AuthMethod::Post);
        let back = metadata_of(&s);
        assert_eq!(back.redirect_uris, m.redirect_uris);
        assert_eq!(back.grant_types, m.grant_types);
        assert_eq!(back.id_token_signed_response_alg.as_deref(), Some("ES256"));
        assert_eq!(
            back.token_endpoint_auth_method.as_deref(),
            Some("client_secret_post")
        );
    }

    #[test]
    fn what_cannot_be_registered_is_named() {
        let none = Scope::default();
        let refused = [
            (r#"{"grant_types":["password"]}"#, "password grant"),
            (r#"{"grant_types":["implicit"]}"#, "`implicit`"),
            (
                r#"{"grant_types":["client_credentials"],"response_types":["code"]}"#,
                "response_types",
            ),
            (r#"{"response_types":["token"]}"#, "`token`"),
            (
                r#"{"token_endpoint_auth_method":"private_key_jwt"}"#,
                "private_key_jwt",
            ),
            (r#"{"id_token_signed_response_alg":"none"}"#, "`none`"),
        ];
        for (json, says) in refused {
            let said = match settings_from(&meta(json), &none) {
                Err(AdminError::Invalid(m)) => m,
                other => format!("not refused as invalid: {other:?}"),
            };
            assert!(said.contains(says), "{json}: {said}");
        }
        let bad_uri = meta(r#"{"redirect_uris":["http://evil.example/cb"]}"#);
        assert!(matches!(
            settings_from(&bad_uri, &none),
            Err(AdminError::InvalidRedirect(_))
        ));
    }
}
