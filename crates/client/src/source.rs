//! Getting and keeping access tokens.
//!
//! One [`TokenSource`] per (token URL, client, grant, scopes). It hands out
//! the cached token while it is fresh and otherwise makes a token request;
//! however many callers need a token at once, exactly one request is made
//! and all of them share its result or its error (single-flight). A refresh
//! token, when the server issues one, is used before falling back (once) to
//! the original grant.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use secrecy::{ExposeSecret, SecretString};
use tollgate_proto::{ErrorResponse, Scope, TokenRequest};

use crate::auth::{ClientAuth, Credentials};
use crate::token::Token;
use crate::Error;

/// The grant used to get a first token.
#[derive(Debug, Clone)]
pub enum Grant {
    ClientCredentials,
    Password {
        username: String,
        password: SecretString,
    },
    /// A person signed in through the browser (authorization code + PKCE,
    /// [`TokenSource::sign_in_with_code`]); afterwards only refreshed. When
    /// the refresh token is gone, [`Error::SignInRequired`].
    AuthorizationCode,
}

impl Grant {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::Password { .. } => "password",
            Self::AuthorizationCode => "authorization_code",
        }
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Password { username, .. } => Some(username),
            Self::ClientCredentials | Self::AuthorizationCode => None,
        }
    }
}

/// Everything a token source needs.
#[derive(Debug, Clone)]
pub struct TokenSourceConfig {
    pub token_url: String,
    pub credentials: Credentials,
    pub auth: ClientAuth,
    pub grant: Grant,
    pub scopes: Vec<String>,
    /// Extra form parameters on every token, introspection and revocation request.
    pub extra_params: Vec<(String, String)>,
    /// Extra headers on every token, introspection and revocation request.
    pub extra_headers: Vec<(String, String)>,
    /// Renew this long before expiry (never more than half the lifetime).
    pub expiry_margin: Duration,
}

impl TokenSourceConfig {
    pub fn new(token_url: impl Into<String>, credentials: Credentials, grant: Grant) -> Self {
        Self {
            token_url: token_url.into(),
            credentials,
            auth: ClientAuth::default(),
            grant,
            scopes: Vec::new(),
            extra_params: Vec::new(),
            extra_headers: Vec::new(),
            expiry_margin: Duration::from_secs(60),
        }
    }
}

type Fetch = Shared<BoxFuture<'static, Result<Arc<Token>, Error>>>;
type RefreshHook = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct State {
    current: Option<Arc<Token>>,
    refresh_token: Option<SecretString>,
    inflight: Option<Fetch>,
}

struct Inner {
    http: reqwest::Client,
    config: TokenSourceConfig,
    state: Mutex<State>,
    on_refresh_token: Option<RefreshHook>,
    requests: std::sync::atomic::AtomicU64,
}

/// A cache of one access token, refilled on demand. Cheap to clone.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.inner.config.token_url)
            .field("client_id", &self.inner.config.credentials.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(http: reqwest::Client, config: TokenSourceConfig) -> Self {
        Self::build(http, config, None)
    }

    /// Also calls `hook` with every new refresh token (to persist rotations).
    pub fn with_refresh_hook(
        http: reqwest::Client,
        config: TokenSourceConfig,
        hook: RefreshHook,
    ) -> Self {
        Self::build(http, config, Some(hook))
    }

    fn build(http: reqwest::Client, config: TokenSourceConfig, hook: Option<RefreshHook>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                config,
                state: Mutex::new(State::default()),
                on_refresh_token: hook,
                requests: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &TokenSourceConfig {
        &self.inner.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts from a token kept elsewhere (a disk cache), and its refresh token.
    pub fn seed(&self, token: Token) {
        let mut st = self.state();
        if let Some(rt) = &token.refresh_token {
            st.refresh_token = Some(rt.clone());
        }
        st.current = Some(Arc::new(token));
    }

    /// The current token, if any (fresh or not).
    pub fn current(&self) -> Option<Arc<Token>> {
        self.state().current.clone()
    }

    /// How many token requests this source has made.
    pub fn token_requests(&self) -> u64 {
        self.inner
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A fresh token: the cached one, or one new request shared by all
    /// callers waiting at the same time.
    pub async fn token(&self) -> Result<Arc<Token>, Error> {
        let fetch = {
            let mut st = self.state();
            if let Some(t) = &st.current {
                if t.is_fresh(SystemTime::now(), self.inner.config.expiry_margin) {
                    return Ok(t.clone());
                }
            }
            match &st.inflight {
                Some(f) => f.clone(),
                None => {
                    let f = self.clone().fetch().boxed().shared();
                    st.inflight = Some(f.clone());
                    f
                }
            }
        };
        fetch.await
    }

    /// Forgets `used` if it is still the cached token (an API rejected it).
    /// A token obtained meanwhile by another caller is kept.
    pub fn invalidate(&self, used: &Token) {
        let mut st = self.state();
        if st
            .current
            .as_ref()
            .is_some_and(|c| c.secret() == used.secret())
        {
            st.current = None;
        }
    }

    async fn fetch(self) -> Result<Arc<Token>, Error> {
        let result = self.obtain().await.map(Arc::new);
        let mut st = self.state();
        st.inflight = None;
        if let Ok(t) = &result {
            st.current = Some(t.clone());
            if let Some(rt) = &t.refresh_token {
                st.refresh_token = Some(rt.clone());
                if let Some(hook) = &self.inner.on_refresh_token {
                    hook(rt.expose_secret());
                }
            }
        }
        result
    }

    /// Refresh when possible; on `invalid_grant`, fall back once to the grant.
    async fn obtain(&self) -> Result<Token, Error> {
        let refresh = self.state().refresh_token.clone();
        if let Some(rt) = refresh {
            let req = TokenRequest::RefreshToken {
                refresh_token: rt.expose_secret().to_owned(),
                scope: self.requested_scope(),
            };
            match self.request(req).await {
                Err(e) if e.oauth_error() == Some("invalid_grant") => {
                    tracing::debug!("refresh token refused; falling back to the original grant");
                    self.state().refresh_token = None;
                }
                other => return other,
            }
        }
        let req = match &self.inner.config.grant {
            Grant::ClientCredentials => TokenRequest::ClientCredentials {
                scope: self.requested_scope(),
            },
            Grant::Password { username, password } => TokenRequest::Password {
                username: username.clone(),
                password: password.expose_secret().to_owned(),
                scope: self.requested_scope(),
            },
            Grant::AuthorizationCode => return Err(Error::SignInRequired),
        };
        self.request(req).await
    }

    /// Exchanges an authorization code (RFC 6749 §4.1.3) for tokens, which
    /// become this source's, as if obtained by its grant.
    pub async fn sign_in_with_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<Arc<Token>, Error> {
        let req = TokenRequest::AuthorizationCode {
            code: code.to_owned(),
            redirect_uri: Some(redirect_uri.to_owned()),
            code_verifier: Some(code_verifier.to_owned()),
        };
        let token = self.request(req).await?;
        Ok(self.adopt(token))
    }

    /// Makes tokens a person's sign-in brought (by code or device) this
    /// source's, as if its grant had obtained them.
    pub(crate) fn adopt(&self, token: Token) -> Arc<Token> {
        let token = Arc::new(token);
        let mut st = self.state();
        st.current = Some(token.clone());
        if let Some(rt) = &token.refresh_token {
            st.refresh_token = Some(rt.clone());
        }
        token
    }

    /// The scope to ask for: the configured scopes, if any.
    pub(crate) fn requested_scope(&self) -> Option<Scope> {
        let scopes = &self.inner.config.scopes;
        (!scopes.is_empty()).then(|| scopes.iter().map(String::as_str).collect())
    }

    pub(crate) async fn request(&self, req: TokenRequest) -> Result<Token, Error> {
        let cfg = &self.inner.config;
        self.inner
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut form: Vec<(String, String)> = req
            .to_form()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        form.extend(cfg.extra_params.iter().cloned());
        let builder = self.post(&cfg.token_url, &mut form);
        let (status, body) = send_form(builder, &cfg.token_url, &form).await?;
        if !(200..300).contains(&status) {
            return Err(endpoint_error(&cfg.token_url, status, &body, true));
        }
        Token::parse(&body, SystemTime::now()).map_err(|detail| Error::BadTokenResponse {
            url: cfg.token_url.clone(),
            detail,
        })
    }

    /// A POST to an endpoint of this server, authenticated as the client,
    /// with the configured extra headers.
    pub(crate) fn post(
        &self,
        url: &str,
        form: &mut Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        let cfg = &self.inner.config;
        let mut b = self
            .inner
            .http
            .post(url)
            .header("accept", "application/json");
        for (k, v) in &cfg.extra_headers {
            b = b.header(k, v);
        }
        cfg.credentials.apply(cfg.auth, b, form)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }
}

/// Sends `form` with `b` (a POST to `url`): the status and the body.
pub(crate) async fn send_form(
    b: reqwest::RequestBuilder,
    url: &str,
    form: &[(String, String)],
) -> Result<(u16, bytes::Bytes), Error> {
    let resp = b
        .form(form)
        .send()
        .await
        .map_err(|e| Error::transport(url, e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| Error::transport(url, e))?;
    Ok((status, body))
}

/// An error answer from the token, introspection or revocation endpoint.
pub(crate) fn endpoint_error(url: &str, status: u16, body: &[u8], token_endpoint: bool) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[name].as_str())
            .map(str::to_owned)
    };
    let (error, description) = match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => (Some(e.error.as_str().to_owned()), e.error_description),
        Err(_) => (field("error"), field("error_description")),
    };
    let url = url.to_owned();
    if token_endpoint {
        Error::TokenEndpoint {
            url,
            status,
            error,
            description,
        }
    } else {
        Error::Endpoint {
            url,
            status,
            error,
            description,
        }
    }
}
