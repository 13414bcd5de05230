//! The authorization endpoint's decisions (RFC 6749 §4.1, RFC 7636, RFC
//! 8252), with no HTTP types: is this request one tollgate may answer, and
//! where; then the code.
//!
//! Until the client and its redirect URI are trusted, a bad request is shown
//! to the person on an error page ([`Refusal::Page`]) and never sent
//! anywhere; after, it goes back to the client (`error=` on the redirect URI,
//! [`Refusal::Redirect`]). Codes live 60 s, are single use, and are bound to
//! the client, the redirect URI and the PKCE challenge.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tollgate_proto::{ErrorCode, FormParams, GrantType, Scope};

use super::error::GrantError;
use super::interaction::{self, Back, Interaction};
use super::{secret, AuthServer};
use crate::store::{AuthCode, Client, Session};

/// How long a code lives (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_SECS: i64 = 60;

/// A request that passed every check: what the code will be bound to.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Arc<Client>,
    pub redirect_uri: String,
    /// Whether the request named the redirect URI.
    pub redirect_given: bool,
    pub scope: Scope,
    pub state: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// How the answer goes back.
    pub response_mode: ResponseMode,
    /// What the request asked of the sign-in (OpenID Connect).
    pub interaction: Interaction,
}

/// How the code or error goes back to the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseMode {
    /// In the redirect URI's query (RFC 6749 §4.1.2).
    #[default]
    Query,
    /// POSTed by the browser from an auto-submitting form (OAuth 2.0 Form
    /// Post Response Mode): nothing lands in the history or a log.
    FormPost,
}

impl ResponseMode {
    /// What discovery advertises as `response_modes_supported`.
    pub const VALUES: [&'static str; 2] = ["query", "form_post"];

    fn parse(value: Option<&str>) -> Result<Self, Back> {
        match value {
            None | Some("query") => Ok(Self::Query),
            Some("form_post") => Ok(Self::FormPost),
            Some(_) => Err((
                ErrorCode::InvalidRequest,
                "response_mode must be query or form_post".into(),
            )),
        }
    }
}

/// Why a request is not answered with a code.
#[derive(Debug)]
pub enum Refusal {
    /// Shown to the person; the redirect URI is not trusted.
    Page(String),
    /// Sent back to the client.
    Redirect {
        redirect_uri: String,
        mode: ResponseMode,
        error: ErrorCode,
        description: String,
        state: Option<String>,
    },
    /// The server could not decide (its store failed): logged, and the
    /// person told to try again, never told why.
    Unavailable(GrantError),
}

impl Refusal {
    /// The refusal for `req`'s client, at its redirect URI.
    pub fn redirect(req: &AuthorizationRequest, error: ErrorCode, description: &str) -> Self {
        Self::Redirect {
            redirect_uri: req.redirect_uri.clone(),
            mode: req.response_mode,
            error,
            description: description.to_owned(),
            state: req.state.clone(),
        }
    }
}

/// Checks an authorization request's parameters (query or form).
pub async fn check(server: &AuthServer, p: &FormParams) -> Result<AuthorizationRequest, Refusal> {
    let client = registered_client(server, p.get("client_id")).await?;
    let given = p.get("redirect_uri");
    let openid = p
        .get("scope")
        .is_some_and(|s| s.split(' ').any(|w| w == "openid"));
    let redirect_uri = redirect_uri(&client, given, openid)?;
    let mut req = AuthorizationRequest {
        client: client.clone(),
        redirect_uri,
        redirect_given: given.is_some(),
        scope: Scope::empty(),
        state: p.get("state").map(str::to_owned),
        code_challenge: None,
        nonce: p.get("nonce").map(str::to_owned),
        response_mode: ResponseMode::Query,
        interaction: Interaction::default(),
    };
    // From here on the redirect URI is trusted: refusals go back to it.
    let refuse = |req: &AuthorizationRequest, (code, description): Back| {
        Refusal::redirect(req, code, &description)
    };
    req.response_mode = ResponseMode::parse(p.get("response_mode")).map_err(|e| refuse(&req, e))?;
    let checked = response_type(p).and_then(|()| {
        no_request_object(p)?;
        let challenge = code_challenge(p, client.settings.public)?;
        Ok((challenge, requested_scope(p, &client)?))
    });
    let (challenge, scope) = checked.map_err(|e| refuse(&req, e))?;
    req.code_challenge = challenge;
    req.scope = scope;
    req.interaction = interaction::read(server, p, &client)
        .await
        .map_err(|e| refuse(&req, e))?;
    Ok(req)
}

/// `request` and `request_uri` (OIDC Core §6, RFC 9101) are refused, not
/// ignored: a client that put its parameters there must not be answered
/// as if it had asked for something else.
fn no_request_object(p: &FormParams) -> Result<(), Back> {
    if p.get("request").is_some() {
        let d = "request objects are not supported: send the parameters themselves";
        return Err((ErrorCode::RequestNotSupported, d.into()));
    }
    if p.get("request_uri").is_some() {
        let d = "request_uri is not supported: send the parameters themselves";
        return Err((ErrorCode::RequestUriNotSupported, d.into()));
    }
    Ok(())
}

fn page(message: &str) -> Refusal {
    Refusal::Page(message.to_owned())
}

/// What a person is told when a browser request names a client that is
/// unknown or disabled (the two look alike).
pub const NOT_REGISTERED: &str =
    "The application that sent you here is not registered with this server.";

/// The client `client_id` names, if it exists and is enabled: the lookup
/// of every browser request (authorization, sign-out).
pub async fn enabled_client(
    server: &AuthServer,
    client_id: &str,
) -> Result<Option<Arc<Client>>, GrantError> {
    let found = server.store.get_client(client_id).await?;
    Ok(found.filter(|c| c.enabled).map(Arc::new))
}

/// The enabled client `client_id` names, if it may use the browser flow.
async fn registered_client(
    server: &AuthServer,
    client_id: Option<&str>,
) -> Result<Arc<Client>, Refusal> {
    let client_id =
        client_id.ok_or_else(|| page("The request names no client (client_id is missing)."))?;
    let client = match enabled_client(server, client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(page(NOT_REGISTERED)),
        Err(e) => return Err(Refusal::Unavailable(e)),
    };
    let grants = &client.settings.grant_types;
    if !grants.contains(&GrantType::AuthorizationCode) {
        return Err(page(
            "This application may not sign people in through the browser.",
        ));
    }
    Ok(client)
}

/// Where the code goes: the URI given, if registered; else the only one,
/// but never for OpenID Connect, where `redirect_uri` is required (OIDC
/// Core §3.1.2.1).
fn redirect_uri(client: &Client, given: Option<&str>, openid: bool) -> Result<String, Refusal> {
    match (given, client.settings.redirect_uris.as_slice()) {
        (None, _) if openid => Err(page(
            "The request names no redirect URI, which OpenID Connect requires.",
        )),
        (Some(uri), _) if uri.contains('#') => Err(page(
            "The application's redirect URI has a fragment (#), which OAuth forbids.",
        )),
        (Some(uri), registered) if registered.iter().any(|r| redirect_matches(r, uri)) => {
            Ok(uri.to_owned())
        }
        (Some(_), _) => Err(page(
            "The application asked to send you to an address it has not registered.",
        )),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(page(
            "The request names no redirect URI, and the application has several (or none).",
        )),
    }
}

/// `response_type=code`, answered in the query.
fn response_type(p: &FormParams) -> Result<(), Back> {
    let invalid = |d: &'static str| Err((ErrorCode::InvalidRequest, d.into()));
    match p.get("response_type") {
        Some("code") => {}
        Some(_) => {
            let d = "only response_type=code is supported";
            return Err((ErrorCode::UnsupportedResponseType, d.into()));
        }
        None => return invalid("response_type is missing"),
    }
    Ok(())
}

/// The PKCE challenge (RFC 7636): S256 only, required of public clients.
fn code_challenge(p: &FormParams, public: bool) -> Result<Option<String>, Back> {
    let invalid = |d: &'static str| Err((ErrorCode::InvalidRequest, d.into()));
    match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (None, Some(_)) => invalid("code_challenge_method without code_challenge"),
        (None, None) if public => {
            invalid("PKCE is required: send code_challenge with code_challenge_method=S256")
        }
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => {
            invalid("code_challenge_method must be S256 (plain is refused)")
        }
        (Some(c), Some("S256")) if is_s256_challenge(c) => Ok(Some(c.to_owned())),
        (Some(_), Some("S256")) => invalid("code_challenge must be 43 base64url characters (S256)"),
        (Some(_), Some(_)) => invalid("code_challenge_method must be S256"),
    }
}

/// The scope asked for, all of it allowed to the client.
fn requested_scope(p: &FormParams, client: &Client) -> Result<Scope, Back> {
    let requested: Scope = match p.scope() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => return Err((ErrorCode::InvalidScope, e.description.into())),
    };
    let refused = requested.difference(&allowed_scopes(client));
    if !refused.is_empty() {
        let d = format!("this application is not approved for scope `{refused}`");
        return Err((ErrorCode::InvalidScope, d.into()));
    }
    Ok(requested)
}

/// The requested scope if all of it is `allowed` (the seed's rule at the
/// token endpoint: the client's own scopes; and the device grant's, which
/// asks a person: [`allowed_scopes`]).
pub fn approved_scope(allowed: &Scope, requested: Option<Scope>) -> Result<Scope, GrantError> {
    let requested = requested.unwrap_or_default();
    let refused = requested.difference(allowed);
    if refused.is_empty() {
        Ok(requested)
    } else {
        Err(GrantError::oauth(
            ErrorCode::InvalidScope,
            format!("this client is not approved for scope `{refused}`"),
        ))
    }
}

/// The scopes a client may ask a user for: its own, and OpenID Connect's.
pub fn allowed_scopes(client: &Client) -> Scope {
    client
        .settings
        .scope
        .iter()
        .chain(["openid", "profile", "email"])
        .collect()
}

/// Whether `given` is the registered `registered`: exactly, or for a
/// loopback registration, the same but for the port (RFC 8252 §7.3: native
/// apps listen on whatever port is free).
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    // Never a fragment (RFC 6749 §3.1.2), which `Uri` would drop unseen;
    // registration refuses one, and a given URI with one matches nothing.
    if given.contains('#') || registered.contains('#') {
        return false;
    }
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (
        registered.parse::<axum::http::Uri>(),
        given.parse::<axum::http::Uri>(),
    ) else {
        return false;
    };
    let loopback = |u: &axum::http::Uri| {
        u.scheme_str() == Some("http")
            && matches!(u.host(), Some("127.0.0.1" | "[::1]" | "::1" | "localhost"))
    };
    loopback(&r)
        && loopback(&g)
        && r.host() == g.host()
        && r.path_and_query().map(|p| p.as_str()) == g.path_and_query().map(|p| p.as_str())
}

/// 43 characters of base64url: a SHA-256 (RFC 7636 §4.2).
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (RFC 7636 §4.1: 43 to 128 unreserved characters)
/// hashes to `challenge`, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let hashed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && secret::constant_time_eq(hashed.as_bytes(), challenge.as_bytes())
}

/// Checks a person's password on the sign-in page, with the same waits
/// after failures as the password grant.
pub async fn sign_in(
    server: &AuthServer,
    username: &str,
    password: String,
    source: std::net::IpAddr,
) -> Result<(), GrantError> {
    super::sign_in::check_password(server, username, password, source).await
}

/// Whether `username` must be asked before `req`'s client gets `req.scope`.
pub async fn needs_consent(
    server: &AuthServer,
    req: &AuthorizationRequest,
    username: &str,
) -> Result<bool, GrantError> {
    if req.interaction.prompt.consent {
        return Ok(true);
    }
    if req.client.settings.first_party {
        return Ok(false);
    }
    let given = server
        .store
        .consent(username, &req.client.client_id)
        .await?;
    Ok(!given.is_some_and(|s| req.scope.is_subset(&s)))
}

/// Remembers that `username` let `req`'s client have `req.scope` (and
/// whatever it was given before).
pub async fn remember_consent(
    server: &AuthServer,
    req: &AuthorizationRequest,
    username: &str,
) -> Result<(), GrantError> {
    let before = server
        .store
        .consent(username, &req.client.client_id)
        .await?
        .unwrap_or_default();
    let scope: Scope = before.iter().chain(req.scope.iter()).collect();
    let now = server.clock.now_secs();
    server
        .store
        .save_consent(username, &req.client.client_id, &scope, now)
        .await?;
    Ok(())
}

/// Makes and stores a code for `req`, signed in as the session's person;
/// remembers that the session signed in to the client (Back-Channel
/// Logout tells it when the session ends). Returns the code.
pub async fn issue_code(
    server: &AuthServer,
    req: &AuthorizationRequest,
    session: &Session,
) -> Result<String, GrantError> {
    let code = secret::new_code()?;
    let now = server.clock.now_secs();
    let (username, auth_time) = (session.username.as_str(), session.auth_time);
    let sid = (!session.sid.is_empty()).then(|| session.sid.clone());
    if let Some(sid) = &sid {
        let client_id = &req.client.client_id;
        server.store.record_session_client(sid, client_id).await?;
    }
    server
        .store
        .insert_code(&AuthCode {
            hash: secret::token_key(&code),
            client_id: req.client.client_id.clone(),
            username: username.to_owned(),
            redirect_uri: req.redirect_uri.clone(),
            redirect_given: req.redirect_given,
            code_challenge: req.code_challenge.clone(),
            scope: req.scope.clone(),
            nonce: req.nonce.clone(),
            auth_time,
            family_id: secret::new_family_id()?,
            expires_at: now + CODE_TTL_SECS,
            used_at: None,
            sid,
        })
        .await?;
    tracing::info!(client_id = %req.client.client_id, username, "authorization code issued");
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_or_on_any_loopback_port() {
        let yes = [
            ("https://app.example/cb", "https://app.example/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:53122/cb"),
            ("http://127.0.0.1:8000/cb", "http://127.0.0.1:53122/cb"),
            ("http://[::1]/cb", "http://[::1]:4000/cb"),
            ("http://localhost/cb", "http://localhost:4000/cb"),
        ];
        for (r, g) in yes {
            assert!(redirect_matches(r, g), "{r} {g}");
        }
        let no = [
            ("https://app.example/cb", "https://app.example/cb/"),
            ("https://app.example/cb", "https://app.example:444/cb"),
            ("https://app.example/cb", "https://evil.example/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/other"),
            ("http://127.0.0.1/cb", "http://localhost:5000/cb"),
            ("http://127.0.0.1/cb", "https://127.0.0.1:5000/cb"),
            ("http://app.example/cb", "http://app.example:81/cb"),
        ];
        for (r, g) in no {
            assert!(!redirect_matches(r, g), "{r} {g}");
        }
    }

    #[test]
    fn pkce_s256() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
