//! Where `tollgate admin` makes its changes: straight on the database
//! (`Local`, through `tollgate_server::admin::Admin`, audited as
//! `cli:$USER`), or through a server's admin API (`Remote`, with `--url`,
//! holding a token of client credentials that carry `tollgate:admin`).
//! Both take and give the admin API's wire types, so each command is
//! written once.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tollgate_client::{Credentials, Grant, TokenSource, TokenSourceConfig};
use tollgate_proto::admin::{
    ClientCredentials, ClientInfo, ClientRegistration, InitialAccessToken, InitialTokenRequest,
    KeyInfo, KeyRotation, Page, PasswordChange, SecretRotation, UserInfo, UserPatch,
    UserRegistration,
};
use tollgate_server::admin::{Admin, ADMIN_SCOPE};
use tollgate_server::config::{Argon2Params, JwtConfig};
use tollgate_server::oauth::password::Passwords;
use tollgate_server::store::{ClientFilter, Store};

/// Items asked for per page when listing everything.
const PAGE: u32 = 500;

pub enum Backend {
    Local(Local),
    Remote(Remote),
}

/// The database, and what the server's config says about it.
pub struct Local {
    pub store: Arc<dyn Store>,
    pub argon2: Argon2Params,
    pub jwt: JwtConfig,
    /// The server's default access-token lifetime (for retiring keys).
    pub token_ttl: u64,
    actor: String,
}

/// A server's admin API.
pub struct Remote {
    http: reqwest::Client,
    /// `https://host:port/admin/v1`
    base: String,
    tokens: TokenSource,
}

impl Local {
    pub fn new(
        store: Arc<dyn Store>,
        argon2: Argon2Params,
        jwt: JwtConfig,
        token_ttl: u64,
    ) -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            store,
            argon2,
            jwt,
            token_ttl,
            actor: format!("cli:{user}"),
        }
    }

    fn admin(&self) -> Admin<'_> {
        Admin {
            store: self.store.as_ref(),
            now: tollgate_server::Clock::system().now_secs(),
            actor: &self.actor,
            caches: None,
        }
    }

    fn passwords(&self) -> Result<Passwords> {
        Ok(Passwords::new(self.argon2)?)
    }
}

impl Remote {
    /// `url` is the server's base URL; the token comes from `token_url`
    /// (default: the server's `/oauth2/token`).
    pub fn new(
        http: reqwest::Client,
        url: &str,
        token_url: Option<String>,
        client_id: String,
        secret: String,
    ) -> Self {
        let url = url.trim_end_matches('/');
        let token_url = token_url.unwrap_or_else(|| format!("{url}/oauth2/token"));
        let mut config = TokenSourceConfig::new(
            token_url,
            Credentials::new(client_id, secret),
            Grant::ClientCredentials,
        );
        config.scopes = vec![ADMIN_SCOPE.to_owned()];
        Self {
            tokens: TokenSource::new(http.clone(), config),
            http,
            base: format!("{url}/admin/v1"),
        }
    }

    /// One call; `None` for an answer without a body (204).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<Option<T>> {
        let token = self
            .tokens
            .token()
            .await
            .context("getting a token for the admin API")?;
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(token.secret());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("calling {url}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the answer")?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            bail!("the server refused ({status}): {detail}");
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_slice(&bytes)
                .context("the server's answer is not what was expected")?,
        ))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None::<&()>)
            .await?
            .context("an empty answer")
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &(impl Serialize + Sync),
    ) -> Result<T> {
        self.call(method, path, Some(body))
            .await?
            .context("an empty answer")
    }

    /// Every item of a paged list.
    async fn all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        every(|after| async move {
            let query = match after {
                None => format!("{path}?limit={PAGE}"),
                Some(a) => format!("{path}?limit={PAGE}&after={}", encode(&a)),
            };
            self.get::<Page<T>>(&query).await
        })
        .await
    }
}

/// Every item of a paged list: `fetch` gets each page after the cursor
/// (none for the first) until a page has no `next`.
async fn every<T, F, Fut>(mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(after).await?;
        items.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(items),
        }
    }
}

fn encode(s: &str) -> String {
    tollgate_proto::basic::form_encode(s)
}

impl Backend {
    pub async fn register_client(&self, reg: ClientRegistration) -> Result<ClientCredentials> {
        match self {
            Self::Local(l) => Ok(l.admin().register_client(reg).await?),
            Self::Remote(r) => r.send(Method::POST, "/clients", &reg).await,
        }
    }

    pub async fn clients(&self) -> Result<Vec<ClientInfo>> {
        match self {
            Self::Local(l) => {
                every(|after| async move {
                    let filter = ClientFilter {
                        after,
                        limit: PAGE,
                        ..ClientFilter::default()
                    };
                    Ok(l.admin().list_clients(filter).await?)
                })
                .await
            }
            Self::Remote(r) => r.all("/clients").await,
        }
    }

    pub async fn client(&self, id: &str) -> Result<ClientInfo> {
        match self {
            Self::Local(l) => Ok(l.admin().client(id).await?),
            Self::Remote(r) => r.get(&format!("/clients/{}", encode(id))).await,
        }
    }

    /// Applies a JSON merge patch (RFC 7396) of the client.
    pub async fn update_client(
        &self,
        id: &str,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<ClientInfo> {
        match self {
            Self::Local(l) => Ok(l.admin().patch_client(id, patch).await?),
            Self::Remote(r) => {
                let path = format!("/clients/{}", encode(id));
                r.send(Method::PATCH, &path, &patch).await
            }
        }
    }

    pub async fn rotate_secret(&self, id: &str, grace_secs: u64) -> Result<ClientCredentials> {
        let rotation = SecretRotation { grace_secs };
        match self {
            Self::Local(l) => Ok(l.admin().rotate_client_secret(id, rotation).await?),
            Self::Remote(r) => {
                let path = format!("/clients/{}/secret", encode(id));
                r.send(Method::POST, &path, &rotation).await
            }
        }
    }

    pub async fn delete_client(&self, id: &str) -> Result<()> {
        match self {
            Self::Local(l) => Ok(l.admin().delete_client(id).await?),
            Self::Remote(r) => {
                let path = format!("/clients/{}", encode(id));
                r.call::<serde_json::Value>(Method::DELETE, &path, None::<&()>)
                    .await
                    .map(drop)
            }
        }
    }

    pub async fn register_user(&self, reg: UserRegistration) -> Result<UserInfo> {
        match self {
            Self::Local(l) => Ok(l.admin().register_user(&l.passwords()?, reg).await?),
            Self::Remote(r) => r.send(Method::POST, "/users", &reg).await,
        }
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        match self {
            Self::Local(l) => {
                every(|after| async move {
                    Ok(l.admin().list_users(after.as_deref(), PAGE, None).await?)
                })
                .await
            }
            Self::Remote(r) => r.all("/users").await,
        }
    }

    pub async fn update_user(&self, name: &str, patch: UserPatch) -> Result<UserInfo> {
        match self {
            Self::Local(l) => Ok(l.admin().update_user(name, patch).await?),
            Self::Remote(r) => {
                let path = format!("/users/{}", encode(name));
                r.send(Method::PATCH, &path, &patch).await
            }
        }
    }

    pub async fn set_password(&self, name: &str, password: String) -> Result<()> {
        match self {
            Self::Local(l) => Ok(l
                .admin()
                .set_user_password(&l.passwords()?, name, password)
                .await?),
            Self::Remote(r) => {
                let path = format!("/users/{}/password", encode(name));
                let body = PasswordChange { password };
                r.call::<serde_json::Value>(Method::PUT, &path, Some(&body))
                    .await
                    .map(drop)
            }
        }
    }

    pub async fn keys(&self) -> Result<Vec<KeyInfo>> {
        match self {
            Self::Local(l) => Ok(l.admin().keys().await?),
            Self::Remote(r) => r.get("/keys").await,
        }
    }

    pub async fn rotate_keys(&self, rotation: KeyRotation) -> Result<Vec<KeyInfo>> {
        match self {
            Self::Local(l) => Ok(l.admin().rotate_keys(&l.jwt, rotation).await?),
            Self::Remote(r) => r.send(Method::POST, "/keys", &rotation).await,
        }
    }

    pub async fn retire_key(&self, kid: &str) -> Result<KeyInfo> {
        match self {
            Self::Local(l) => Ok(l
                .admin()
                .retire_key_after_tokens(kid, l.token_ttl, l.jwt.leeway_secs)
                .await?),
            Self::Remote(r) => {
                let path = format!("/keys/{}/retire", encode(kid));
                r.send(Method::POST, &path, &serde_json::json!({})).await
            }
        }
    }

    pub async fn revoke_key(&self, kid: &str) -> Result<KeyInfo> {
        match self {
            Self::Local(l) => Ok(l.admin().revoke_key(kid).await?),
            Self::Remote(r) => {
                let path = format!("/keys/{}/revoke", encode(kid));
                r.send(Method::POST, &path, &serde_json::json!({})).await
            }
        }
    }

    pub async fn initial_access_token(
        &self,
        expires_in: Option<i64>,
    ) -> Result<InitialAccessToken> {
        match self {
            Self::Local(l) => {
                let (token, expires_at) = l.admin().issue_initial_access_token(expires_in).await?;
                Ok(InitialAccessToken {
                    initial_access_token: token,
                    expires_at,
                })
            }
            Self::Remote(r) => {
                let body = InitialTokenRequest { expires_in };
                r.send(Method::POST, "/initial-access-tokens", &body).await
            }
        }
    }

    /// Closes the database, when there is one.
    pub async fn close(&self) {
        if let Self::Local(l) = self {
            l.store.close().await;
        }
    }
}
