//! Who is looking at the console, and how they got there.
//!
//! The console is a client of this server (`tollgate-console`: public,
//! first party, PKCE): `/console/sign-in` sends the browser to
//! `/oauth2/authorize` with a fresh `state` and S256 challenge, kept in a
//! short-lived cookie; `/console/callback` checks the `state`, redeems the
//! code with its verifier (in process, through the same code the token
//! endpoint uses) and starts a console session (cookie on `/console`).
//!
//! [`Visitor`] is the signed-in person on every other page: an enabled
//! user with their roles read from the store at each request, and the CSRF
//! token their forms must carry (derived from the session, so it cannot be
//! guessed without the `HttpOnly` cookie).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tollgate_proto::admin::Role;
use tollgate_proto::FormParams;

use super::views::{self, Detour, Nav};
use super::visitor::Visitor;
use super::{redirect, CLIENT_ID, PREFIX};
use crate::http::form::read_form;
use crate::http::session;
use crate::oauth::{secret, token};
use crate::state::AppState;

const SESSION_COOKIE: &str = session::CONSOLE_COOKIE;
const LOGIN_COOKIE: &str = "tollgate_console_login";
/// How long a sign-in may take, from the console to the callback.
const LOGIN_TTL_SECS: i64 = 600;

/// The console's redirect URI: where the authorization server sends codes.
pub fn redirect_uri(issuer: &str) -> String {
    format!("{}{PREFIX}/callback", issuer.trim_end_matches('/'))
}

impl Visitor {
    /// The page, if this person has `role`; else a page saying so.
    pub fn require(&self, role: Role) -> Result<(), Detour> {
        if self.is(role) {
            return Ok(());
        }
        Err(Detour::from(views::respond(
            StatusCode::FORBIDDEN,
            views::message(
                self,
                Nav::None,
                "Not for your account",
                &format!(
                    "This page needs the {role} role. Ask an administrator to give it to you."
                ),
            ),
        )))
    }

    /// A posted form, if it carries this session's CSRF token.
    fn form(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<FormParams, Detour> {
        let max = state.config().limits.max_form_params;
        let form = read_form(headers, body, max).map_err(|e| {
            views::respond(
                StatusCode::BAD_REQUEST,
                views::message(self, Nav::None, "Cannot read the form", &e.to_string()),
            )
        })?;
        match form.get("csrf") {
            Some(given) if secret::constant_time_eq(given.as_bytes(), self.csrf.as_bytes()) => Ok(form),
            _ => Err(Detour::from(views::respond(
                StatusCode::FORBIDDEN,
                views::message(
                    self,
                    Nav::None,
                    "This form expired",
                    "The form did not come from this session's page. Reload the page and try again.",
                ),
            ))),
        }
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed_in = session::current(state, &parts.headers, SESSION_COOKIE).await;
        let user = match &signed_in {
            Some((_, s)) => state.store().get_user(&s.username).await.ok().flatten(),
            None => None,
        };
        match (signed_in, user) {
            (Some((value, s)), Some(user)) if user.enabled => {
                Ok(Visitor::new(s.username, user.roles, csrf_for(&value)))
            }
            _ => {
                // After signing in, back to the page asked for (a form's
                // target is not a page: the console's front page instead).
                let next = match parts.method {
                    Method::GET => parts.uri.path_and_query().map_or(PREFIX, |p| p.as_str()),
                    _ => PREFIX,
                };
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("next", next);
                Err(redirect(&format!("{PREFIX}/sign-in?{}", query.finish())))
            }
        }
    }
}

/// A form posted by a signed-in person, its CSRF token checked (before
/// anything else is looked at).
#[derive(Debug)]
pub struct Posted {
    pub v: Visitor,
    pub form: FormParams,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let v = Visitor::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = v
            .form(state, &headers, &body)
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { v, form })
    }
}

/// A session's CSRF token: a hash of the session cookie's value, so only a
/// page served to that browser can know it.
fn csrf_for(session: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tollgate console csrf\0");
    h.update(session.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// `GET /console/sign-in?next=`: off to the authorization endpoint.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

pub async fn sign_in(State(state): State<AppState>, Query(q): Query<SignInQuery>) -> Response {
    let next = q
        .next
        .filter(|n| is_console_path(n))
        .unwrap_or_else(|| PREFIX.to_owned());
    let (Ok(login_state), Ok(verifier)) = (secret::new_code(), secret::new_code()) else {
        return views::unavailable();
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri(&state.config().issuer))
        .append_pair("scope", "openid")
        .append_pair("state", &login_state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut resp = redirect(&format!(
        "{}?{}",
        crate::http::AUTHORIZE_PATH,
        query.finish()
    ));
    let cookie = format!("{login_state}.{verifier}.{}", URL_SAFE_NO_PAD.encode(next));
    session::set(
        &state,
        &mut resp,
        PREFIX,
        LOGIN_COOKIE,
        &cookie,
        LOGIN_TTL_SECS,
    );
    resp
}

/// A path inside the console, safe to redirect to after signing in.
fn is_console_path(p: &str) -> bool {
    (p == PREFIX || p.starts_with("/console/") || p.starts_with("/console?"))
        && !p.contains("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

/// `GET /console/callback?code=&state=` (or `error=`).
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Response {
    let started = session::value(&headers, LOGIN_COOKIE);
    let parts: Vec<&str> = started.as_deref().unwrap_or("").splitn(3, '.').collect();
    let [expected_state, verifier, next] = parts[..] else {
        return views::signed_out_page(
            StatusCode::BAD_REQUEST,
            "This sign-in did not start here, or took more than ten minutes.",
        );
    };
    let same = cb
        .state
        .as_deref()
        .is_some_and(|s| secret::constant_time_eq(s.as_bytes(), expected_state.as_bytes()));
    if !same {
        return views::signed_out_page(
            StatusCode::BAD_REQUEST,
            "This sign-in did not start here, or took more than ten minutes.",
        );
    }
    if let Some(error) = cb.error {
        let why = cb.error_description.unwrap_or(error);
        return views::signed_out_page(
            StatusCode::BAD_REQUEST,
            &format!("Sign-in did not finish: {why}"),
        );
    }
    let Some(code) = cb.code else {
        return views::signed_out_page(StatusCode::BAD_REQUEST, "The sign-in answer has no code.");
    };
    let next = URL_SAFE_NO_PAD
        .decode(next)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|n| is_console_path(n))
        .unwrap_or_else(|| PREFIX.to_owned());
    match signed_in(&state, &code, verifier).await {
        Ok(value) => {
            let mut resp = redirect(&next);
            session::set(
                &state,
                &mut resp,
                PREFIX,
                SESSION_COOKIE,
                &value,
                state.config().session_lifetime,
            );
            session::set(&state, &mut resp, PREFIX, LOGIN_COOKIE, "", 0);
            resp
        }
        Err(e @ crate::error::Error::OAuth { .. }) => views::signed_out_page(
            StatusCode::BAD_REQUEST,
            &format!("Sign-in did not finish: {e}"),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot finish a sign-in");
            views::unavailable()
        }
    }
}

/// The code redeemed with its verifier; a console session for its user.
async fn signed_in(
    state: &AppState,
    code: &str,
    verifier: &str,
) -> Result<String, crate::error::Error> {
    let client = state.store().get_client(CLIENT_ID).await?.ok_or_else(|| {
        crate::error::Error::Unavailable("the console's client is not registered yet".into())
    })?;
    let redirect = Some(redirect_uri(&state.config().issuer));
    let (code, _user) = token::redeem_code(
        state.oauth(),
        &client,
        code,
        redirect,
        Some(verifier.to_owned()),
    )
    .await?;
    let (value, _) = session::start(state, &code.username, code.auth_time).await?;
    tracing::info!(username = %code.username, "console: signed in");
    Ok(value)
}

/// `POST /console/sign-out`: every session of this person ends, sign-in and
/// console, in every browser and on every instance.
pub async fn sign_out(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(page) = visitor.form(&state, &headers, &body) {
        return page.into_response();
    }
    let mut resp = views::signed_out_page(StatusCode::OK, "You are signed out of the console.");
    session::sign_out(&state, &visitor.username, &mut resp).await;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/apps/abc?x=1"));
        assert!(!is_console_path("//evil.example/console"));
        assert!(!is_console_path("https://evil.example/console"));
        assert!(!is_console_path("/console//evil.example"));
        assert!(!is_console_path("/consoleevil"));
        assert!(!is_console_path("/console/\\evil"));
    }

    #[test]
    fn csrf_tokens_differ_by_session() {
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_eq!(csrf_for("a"), csrf_for("a"));
    }
}
