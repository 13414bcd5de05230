//! Registering and managing clients, users and signing keys: the
//! operations behind the admin API, `tollgate admin`, and the demo seed.
//! They work on any store, so a running server sharing the database sees
//! the changes within its poll interval.
//!
//! The free functions here make one change each. [`Admin`] is who makes
//! it and when: its methods (in `clients`, `users`, `signing_keys`) take and give
//! the admin API's wire types, check them as the free functions do, and
//! write every change to the audit log (`audit`).

mod audit;
mod clients;
mod metadata;
pub mod registration;
mod signing_keys;
mod users;
mod views;

use tollgate_proto::admin::{ClientRegistration, Role};
use tollgate_proto::{GrantType, Scope};

use crate::error::Error;
use crate::oauth::error::GrantError;
use crate::oauth::{keys, password::Passwords, secret, AuthServer};
use crate::store::{Client, PreviousSecret, SigningKey, Store, StoreError, User};
use tollgate_proto::jose::SigningAlg;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    /// A redirect URI that cannot be registered (RFC 7591's
    /// `invalid_redirect_uri`; elsewhere like `Invalid`).
    #[error("{0}")]
    InvalidRedirect(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Grant(#[from] GrantError),
}

impl From<AdminError> for Error {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) | AdminError::InvalidRedirect(m) => Error::invalid_request(m),
            AdminError::Store(StoreError::NotFound(what)) => {
                Error::NotFound(format!("{what} not found"))
            }
            AdminError::Store(StoreError::Conflict(what)) => {
                Error::Conflict(format!("{what} already exists"))
            }
            AdminError::Store(e) => Error::from(e),
            AdminError::Grant(e) => Error::from(e),
        }
    }
}

/// The roles, once each, in a stable order.
pub fn check_roles(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// The scope a token needs to reach the admin API.
pub const ADMIN_SCOPE: &str = "tollgate:admin";

/// A page of `limit` rows asked for, as the API shows it: a full page
/// gets a `next` cursor (`cursor` of its last row), a short one is the last.
fn page<R, T>(
    rows: Vec<R>,
    limit: u32,
    cursor: impl Fn(&R) -> String,
    view: impl Fn(R) -> T,
) -> tollgate_proto::admin::Page<T> {
    let full = rows.len() == limit as usize;
    let next = rows.last().filter(|_| full).map(cursor);
    tollgate_proto::admin::Page {
        items: rows.into_iter().map(view).collect(),
        next,
    }
}

/// Who changes what, and when: the audit log's actor and time.
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    pub store: &'a dyn Store,
    /// Unix seconds.
    pub now: i64,
    /// `client:ID` through the admin API, `cli:USER` through `tollgate admin`.
    pub actor: &'a str,
    /// The caches of the server this runs in, dropped after every change
    /// so that it applies here at once (other instances follow within
    /// `change_poll_ms`); `None` where no server runs (`tollgate admin`).
    pub caches: Option<&'a AuthServer>,
}

/// The longest client description, in bytes.
pub const MAX_DESCRIPTION: usize = 1000;

/// Registers a client; returns it with its secret, the only time the secret
/// is available in the clear (empty for a public client, which has none).
/// A registration without grants gets `client_credentials`.
pub async fn create_client(
    store: &dyn Store,
    now: i64,
    reg: ClientRegistration,
) -> Result<(Client, String), AdminError> {
    let (client, shown) = new_client(now, reg)?;
    store.create_client(&client).await?;
    Ok((client, shown))
}

/// The client a registration makes, checked, and its secret (empty for a
/// public client), not yet stored.
pub fn new_client(now: i64, reg: ClientRegistration) -> Result<(Client, String), AdminError> {
    let public = reg.settings.public;
    let client_id = match reg.client_id {
        Some(id) => {
            check_text("client id", &id)?;
            if id.contains(':') {
                return Err(AdminError::Invalid(
                    "a client id cannot contain `:` (HTTP Basic splits there)".into(),
                ));
            }
            id
        }
        None => secret::new_client_id()?,
    };
    let secret = match (reg.client_secret, public) {
        (Some(_), true) => return Err(AdminError::Invalid("a public client has no secret".into())),
        (Some(s), false) => {
            check_text("client secret", &s)?;
            s
        }
        (None, _) => secret::new_client_secret()?,
    };
    let mut settings = reg.settings;
    if settings.grant_types.is_empty() {
        settings.grant_types.insert(GrantType::ClientCredentials);
    }
    let client = Client {
        client_id,
        settings,
        secret_hash: secret::digest(&secret),
        previous_secret: None,
        enabled: true,
        created_at: now,
        owner: reg.owner,
        requested_scopes: Scope::default(),
        registration_hash: None,
    };
    check_client(&client)?;
    // A public client's secret digest is of a value nobody was given.
    let shown = if public { String::new() } else { secret };
    Ok((client, shown))
}

/// Whether a client's settings hang together: what creation and every
/// update must leave true.
pub fn check_client(c: &Client) -> Result<(), AdminError> {
    let s = &c.settings;
    check_text("client name", &s.client_name)?;
    if s.grant_types.is_empty() {
        return Err(AdminError::Invalid(
            "a client needs at least one grant".into(),
        ));
    }
    if s.public {
        let allowed = [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
        ];
        if !s.grant_types.iter().all(|g| allowed.contains(g)) {
            return Err(AdminError::Invalid(
                "a public client may have only the authorization_code, device_code and refresh_token grants"
                    .into(),
            ));
        }
    }
    for uri in &s.redirect_uris {
        check_redirect_uri(uri)?;
    }
    for origin in &s.allowed_cors_origins {
        check_origin(origin)?;
    }
    for uri in &s.post_logout_redirect_uris {
        check_redirect_uri(uri)?;
    }
    if s.grant_types.contains(&GrantType::AuthorizationCode) && s.redirect_uris.is_empty() {
        return Err(AdminError::Invalid(
            "the authorization_code grant needs at least one redirect URI".into(),
        ));
    }
    if s.token_ttl == Some(0) {
        return Err(AdminError::Invalid(
            "the token lifetime must be at least 1 second".into(),
        ));
    }
    if let Some(aud) = &s.audience {
        check_text("audience", aud)?;
    }
    if let Some(owner) = &c.owner {
        check_text("owner", owner)?;
    }
    metadata::check_about(s)?;
    if s.description.len() > MAX_DESCRIPTION {
        return Err(AdminError::Invalid(format!(
            "the description must be at most {MAX_DESCRIPTION} bytes long"
        )));
    }
    Ok(())
}

/// Replaces a client's secret with a new generated one and returns it. The
/// old secret keeps working for `grace_secs` (0: it stops at once); issued
/// tokens stay valid.
pub async fn rotate_secret(
    store: &dyn Store,
    client_id: &str,
    now: i64,
    grace_secs: u64,
) -> Result<String, AdminError> {
    let secret = secret::new_client_secret()?;
    let until = now.saturating_add(i64::try_from(grace_secs).unwrap_or(i64::MAX));
    let rotated = store
        .update_client(client_id, now, &mut |c: &mut Client| {
            if c.settings.public {
                return false;
            }
            c.previous_secret = (grace_secs > 0).then_some(PreviousSecret {
                hash: c.secret_hash,
                until,
            });
            c.secret_hash = secret::digest(&secret);
            true
        })
        .await?;
    match rotated {
        Some(_) => Ok(secret),
        None => Err(AdminError::Invalid("a public client has no secret".into())),
    }
}

/// What `user create` asks for.
#[derive(Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub async fn create_user(
    store: &dyn Store,
    passwords: &Passwords,
    now: i64,
    new: NewUser,
) -> Result<User, AdminError> {
    check_text("username", &new.username)?;
    check_password(&new.password)?;
    let roles = check_roles(new.roles);
    let user = User {
        roles,
        password_hash: passwords.hash(new.password).await?,
        username: new.username,
        full_name: new.full_name,
        email: new.email,
        enabled: true,
        created_at: now,
    };
    store.create_user(&user).await?;
    Ok(user)
}

pub async fn set_password(
    store: &dyn Store,
    passwords: &Passwords,
    username: &str,
    password: String,
    now: i64,
) -> Result<(), AdminError> {
    check_password(&password)?;
    if store.get_user(username).await?.is_none() {
        return Err(StoreError::NotFound(format!("user `{username}`")).into());
    }
    let hash = passwords.hash(password).await?;
    store.set_user_password(username, &hash, now).await?;
    // Whoever knew the old password is signed out everywhere.
    store.delete_user_sessions(username).await?;
    Ok(())
}

/// Adds a signing key of `alg`: published at once, signing
/// `prepublish_secs` later; or, with `now_too` (the current key leaked),
/// signing at once while every key of `alg` that signed until now is
/// revoked ([`revoke_key`]). Returns the new
/// key and the ids of those revoked.
pub async fn rotate_key(
    store: &dyn Store,
    now: i64,
    alg: SigningAlg,
    prepublish_secs: u64,
    now_too: bool,
) -> Result<(SigningKey, Vec<String>), AdminError> {
    if !now_too {
        let delay = i64::try_from(prepublish_secs).unwrap_or(i64::MAX);
        let key = add_key(store, alg, now, now.saturating_add(delay)).await?;
        return Ok((key, Vec::new()));
    }
    let signing: Vec<String> = store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.alg == alg && signs_at(k, now))
        .map(|k| k.kid)
        .collect();
    let key = add_key(store, alg, now, now).await?;
    for kid in &signing {
        store.retire_signing_key(kid, now, now).await?;
    }
    Ok((key, signing))
}

/// A new key of `alg`, made at `now`, signing from `signs_from`, stored.
async fn add_key(
    store: &dyn Store,
    alg: SigningAlg,
    now: i64,
    signs_from: i64,
) -> Result<SigningKey, AdminError> {
    let key = keys::generate(alg, now, signs_from)?;
    store.insert_signing_key(&key, None).await?;
    Ok(key)
}

/// Whether `k` signs at `now`: not retired, and its time has come.
fn signs_at(k: &SigningKey, now: i64) -> bool {
    k.retired_at.is_none() && k.signs_from <= now
}

/// Revokes `kid` (its private key leaked): it signs nothing more and
/// verifies nothing from `now` on, so every token it signed is dead; other
/// instances see it at their next poll of the store. When no other key of
/// its algorithm signs now, one is made first, signing at once, so tokens
/// are still issued. Returns that new key, if one was made.
pub async fn revoke_key(
    store: &dyn Store,
    now: i64,
    kid: &str,
) -> Result<Option<SigningKey>, AdminError> {
    let keys = store.signing_keys().await?;
    let published = |k: &SigningKey| k.published_until.is_none_or(|u| u > now);
    let Some(alg) = keys
        .iter()
        .find(|k| k.kid == kid && published(k))
        .map(|k| k.alg)
    else {
        return Err(StoreError::NotFound(format!("signing key `{kid}` still published")).into());
    };
    let made = if keys
        .iter()
        .any(|k| k.kid != kid && k.alg == alg && signs_at(k, now))
    {
        None
    } else {
        Some(add_key(store, alg, now, now).await?)
    };
    store.retire_signing_key(kid, now, now).await?;
    Ok(made)
}

/// Retires `kid`: it signs no more from `now`, and stays in the JWKS for
/// `longest_ttl` (the longest an access token it signed can live). Refused
/// when no other key of its algorithm signs now: rotate first.
pub async fn retire_key(
    store: &dyn Store,
    now: i64,
    kid: &str,
    longest_ttl: u64,
) -> Result<i64, AdminError> {
    let keys = store.signing_keys().await?;
    let Some(alg) = keys
        .iter()
        .find(|k| k.kid == kid && k.retired_at.is_none())
        .map(|k| k.alg)
    else {
        return Err(StoreError::NotFound(format!("signing key `{kid}` still in use")).into());
    };
    if !keys
        .iter()
        .any(|k| k.kid != kid && k.alg == alg && signs_at(k, now))
    {
        return Err(AdminError::Invalid(format!(
            "no other {alg} key signs yet: run `tollgate admin keys rotate --alg {alg}` first (with --now if `{kid}` leaked)"
        )));
    }
    let until = now.saturating_add(i64::try_from(longest_ttl).unwrap_or(i64::MAX));
    store.retire_signing_key(kid, now, until).await?;
    Ok(until)
}

/// A redirect URI tollgate will send codes to: absolute, no fragment, and
/// https, or http on loopback, or a private-use scheme of a native app
/// (`com.example.app:/cb`, RFC 8252 §7.1).
pub fn check_redirect_uri(uri: &str) -> Result<(), AdminError> {
    let bad = |why: &str| AdminError::Invalid(format!("redirect URI `{uri}`: {why}"));
    check_text("redirect URI", uri)?;
    if uri.contains('#') {
        return Err(bad("a fragment (#) is not allowed"));
    }
    if uri.contains(char::is_whitespace) {
        return Err(bad("spaces are not allowed"));
    }
    let scheme = uri.split_once(':').map_or("", |(s, _)| s);
    let scheme_ok = scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    if scheme_ok && scheme.contains('.') {
        return Ok(());
    }
    let parsed: axum::http::Uri = uri.parse().map_err(|_| bad("not an absolute URI"))?;
    match (parsed.scheme_str(), parsed.host()) {
        (Some("https"), Some(_)) => Ok(()),
        (Some("http"), Some("127.0.0.1" | "[::1]" | "::1" | "localhost")) => Ok(()),
        (Some("http"), _) => Err(bad("http is allowed on loopback only; use https")),
        _ => Err(bad(
            "must be https://…, http://127.0.0.1/…, or an app's own scheme (com.example.app:/…)",
        )),
    }
}

/// A CORS origin: `https://host[:port]`, or http on loopback; never `*`,
/// never a path.
pub fn check_origin(origin: &str) -> Result<(), AdminError> {
    let bad = |why: &str| AdminError::Invalid(format!("CORS origin `{origin}`: {why}"));
    check_text("CORS origin", origin)?;
    if tollgate_proto::client::origin_of(origin).as_deref() != Some(origin) {
        return Err(bad(
            "must be scheme://host[:port], with no path, like https://app.example",
        ));
    }
    check_redirect_uri(&format!("{origin}/")).map_err(|_| bad("must be https, or http on loopback"))
}

pub(crate) fn check_text(what: &str, value: &str) -> Result<(), AdminError> {
    if value.is_empty() || value.len() > 255 {
        return Err(AdminError::Invalid(format!(
            "the {what} must be 1 to 255 bytes long"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "the {what} must not contain control characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_password(password: &str) -> Result<(), AdminError> {
    if password.is_empty() {
        return Err(AdminError::Invalid("the password must not be empty".into()));
    }
    Ok(())
}
