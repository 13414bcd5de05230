//! `GET|POST /oauth2/authorize` (RFC 6749 §4.1) and the two forms it shows:
//! sign in (`POST /oauth2/authorize/sign-in`) and consent (`POST
//! /oauth2/authorize/consent`). The authorization request travels through
//! the forms as hidden fields and is checked again at every step.
//!
//! Cookies: the sign-in session (random, stored by its key, 8 hours) and a
//! CSRF token checked against the form's (double submit); both `HttpOnly`,
//! `SameSite=Lax`, `Path=/oauth2`, and `Secure` unless the issuer is plain
//! http (a loopback development server).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_proto::{ErrorCode, FormParams};

use super::client_auth::Source;
use super::form::read_form;
use super::pages::{self, Consent, SignIn};
use super::session;
use crate::error::Error;
use crate::oauth::authorize::{self, AuthorizationRequest, Refusal, ResponseMode};
use crate::oauth::error::GrantError;
use crate::oauth::interaction;
use crate::oauth::secret;
use crate::state::AppState;
use crate::store::Session;

const SESSION_COOKIE: &str = session::SIGN_IN_COOKIE;
const CSRF_COOKIE: &str = "tollgate_csrf";

/// The authorization request's parameters, carried through the forms.
const CARRIED: [&str; 13] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
];

#[utoipa::path(
    get,
    path = "/oauth2/authorize",
    tag = "sign-in",
    params(super::schemas::AuthorizeParams),
    responses(
        (status = 200, description = "the sign-in or consent page", content_type = "text/html", body = String),
        (status = 303, description = "back to the client with a code or an error (303 See Other, RFC 9700 §4.12)"),
        (status = 400, description = "an error page: the request cannot be sent back", content_type = "text/html", body = String),
    )
)]
pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let max = state.config().limits.max_form_params;
    match FormParams::parse(query.unwrap_or_default().as_bytes(), max) {
        Ok(params) => begin(&state, &headers, &params).await,
        Err(e) => bad_page(&e.description),
    }
}

/// OpenID Connect §3.1.2.1: the same request as a form.
#[utoipa::path(
    post,
    path = "/oauth2/authorize",
    tag = "sign-in",
    request_body(content = super::schemas::AuthorizeParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the sign-in or consent page", content_type = "text/html", body = String),
        (status = 303, description = "back to the client with a code or an error (303 See Other, RFC 9700 §4.12)"),
        (status = 400, description = "an error page", content_type = "text/html", body = String),
    )
)]
pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match read_form(&headers, &body, state.config().limits.max_form_params) {
        Ok(params) => begin(&state, &headers, &params).await,
        Err(e) => bad_page(&e.to_string()),
    }
}

#[utoipa::path(
    post,
    path = "/oauth2/authorize/sign-in",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "the sign-in form (username, password, csrf, and the request carried)", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the next page", content_type = "text/html", body = String),
        (status = 303, description = "back to the client with a code or an error (303 See Other, RFC 9700 §4.12)"),
        (status = 400, description = "an error page", content_type = "text/html", body = String),
        (status = 403, description = "the CSRF check failed", content_type = "text/html", body = String),
    )
)]
pub async fn sign_in_post(
    State(state): State<AppState>,
    Source(source): Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, req) = match posted(&state, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let username = form.get("username").unwrap_or("");
    match sign_in_form(&state, &form, source).await {
        Ok((value, session)) => {
            let mut resp = proceed(&state, &headers, &req, &form, &session).await;
            keep_session(&state, &mut resp, &value);
            resp
        }
        Err(NotSignedIn::Refused(why)) => {
            sign_in_page(&state, &headers, &req, &form, username, Some(&why))
        }
        Err(NotSignedIn::Failed(resp)) => *resp,
    }
}

/// Why a sign-in form signed nobody in.
pub(super) enum NotSignedIn {
    /// Wrong credentials, or a wait after failed ones: said on the form.
    Refused(String),
    /// The server could not check: the page to answer with.
    Failed(Box<Response>),
}

/// Checks a sign-in form's username and password (behind the password
/// grant's throttles) and starts a session: the cookie's value and the
/// session. The authorization and device pages sign people in with it.
pub(super) async fn sign_in_form(
    state: &AppState,
    form: &FormParams,
    source: std::net::IpAddr,
) -> Result<(String, Session), NotSignedIn> {
    let username = form.get("username").unwrap_or("");
    let password = form.get("password").unwrap_or("").to_owned();
    match authorize::sign_in(state.oauth(), username, password, source).await {
        Ok(()) => {}
        Err(GrantError::Refused { description, .. }) => {
            return Err(NotSignedIn::Refused(description.into_owned()))
        }
        Err(e) => return Err(NotSignedIn::Failed(Box::new(unavailable(e)))),
    }
    start_session(state, username)
        .await
        .map_err(|e| NotSignedIn::Failed(Box::new(unavailable(e))))
}

/// Sets the sign-in session's cookie (`value`) on `resp`.
pub(super) fn keep_session(state: &AppState, resp: &mut Response, value: &str) {
    let lifetime = state.config().session_lifetime;
    set_cookie(state, resp, SESSION_COOKIE, value, lifetime);
}

#[utoipa::path(
    post,
    path = "/oauth2/authorize/consent",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "the consent form (decision, csrf, and the request carried)", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the next page", content_type = "text/html", body = String),
        (status = 303, description = "back to the client with a code or an error (303 See Other, RFC 9700 §4.12)"),
        (status = 400, description = "an error page", content_type = "text/html", body = String),
        (status = 403, description = "the CSRF check failed", content_type = "text/html", body = String),
    )
)]
pub async fn consent_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, req) = match posted(&state, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let Some(session) = current_session(&state, &headers).await else {
        return sign_in_page(
            &state,
            &headers,
            &req,
            &form,
            "",
            Some("Your session ended: sign in again."),
        );
    };
    if form.get("decision") != Some("allow") {
        tracing::info!(client_id = %req.client.client_id, username = %session.username, "consent denied");
        let denied =
            Refusal::redirect(&req, ErrorCode::AccessDenied, "the user denied the request");
        return refused(&state, denied);
    }
    if let Err(e) = authorize::remember_consent(state.oauth(), &req, &session.username).await {
        return unavailable(e);
    }
    code_redirect(&state, &req, &session).await
}

/// A posted form with its CSRF token checked, and the authorization
/// request it carries checked again; else the page or redirect that says no.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(FormParams, AuthorizationRequest), Box<Response>> {
    let form = checked_form(state, headers, body).map_err(|r| Box::new(r.page()))?;
    match authorize::check(state.oauth(), &form).await {
        Ok(req) => Ok((form, req)),
        Err(refusal) => Err(Box::new(refused(state, refusal))),
    }
}

/// A checked request: signed in already or not, asked already or not, as
/// `prompt`, `max_age` and the hints allow.
async fn begin(state: &AppState, headers: &HeaderMap, params: &FormParams) -> Response {
    let req = match authorize::check(state.oauth(), params).await {
        Ok(r) => r,
        Err(refusal) => return refused(state, refusal),
    };
    let session = current_session(state, headers).await;
    let now = state.clock().now_secs();
    match interaction::session_stands(&req.interaction, session.as_ref(), now) {
        Ok(Some(session)) => proceed(state, headers, &req, params, session).await,
        Ok(None) => {
            let username = interaction::username_to_fill(&req.interaction, session.as_ref());
            sign_in_page(state, headers, &req, params, username, None)
        }
        Err((code, why)) => refused(state, Refusal::redirect(&req, code, &why)),
    }
}

/// Signed in: the consent page when needed, else the code.
async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    params: &FormParams,
    session: &Session,
) -> Response {
    match authorize::needs_consent(state.oauth(), req, &session.username).await {
        Ok(false) => code_redirect(state, req, session).await,
        Ok(true) if req.interaction.prompt.none => {
            let why = "the user has not consented to this request";
            refused(
                state,
                Refusal::redirect(req, ErrorCode::ConsentRequired, why),
            )
        }
        Ok(true) => form_page(state, headers, params, &CARRIED, |carried, csrf| {
            pages::consent(&Consent {
                client_name: &req.client.settings.client_name,
                username: &session.username,
                scopes: req.scope.iter().collect(),
                carried,
                csrf,
            })
        }),
        Err(e) => unavailable(e),
    }
}

/// The code, sent back to the client (with `state` and `iss`, RFC 9207).
async fn code_redirect(
    state: &AppState,
    req: &AuthorizationRequest,
    session: &Session,
) -> Response {
    match authorize::issue_code(state.oauth(), req, session).await {
        Ok(code) => send_back(
            state,
            &req.redirect_uri,
            req.response_mode,
            vec![("code", code.as_str())],
            req.state.as_deref(),
        ),
        Err(e) => unavailable(e),
    }
}

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    params: &FormParams,
    username: &str,
    error: Option<&str>,
) -> Response {
    form_page(state, headers, params, &CARRIED, |carried, csrf| {
        pages::sign_in(&SignIn {
            action: "/oauth2/authorize/sign-in",
            client_name: &req.client.settings.client_name,
            carried,
            csrf,
            username,
            error,
        })
    })
}

/// A page with a form: the request's parameters `names` carried in hidden
/// fields, the browser's CSRF token in it (a new one set as a cookie when
/// there was none). The sign-out question uses it too.
pub(super) fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    params: &FormParams,
    names: &[&str],
    render: impl FnOnce(pages::Carried<'_>, &str) -> maud::Markup,
) -> Response {
    let (csrf, fresh) = csrf_token(headers);
    let mut resp = pages::respond(StatusCode::OK, render(&carried(params, names), &csrf));
    if fresh {
        let lifetime = state.config().session_lifetime;
        set_cookie(state, &mut resp, CSRF_COOKIE, &csrf, lifetime);
    }
    resp
}

/// A refusal: an error page, or the client's redirect URI with `error=`.
fn refused(state: &AppState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(message) => bad_page(&message),
        Refusal::Unavailable(e) => unavailable(e),
        Refusal::Redirect {
            redirect_uri,
            mode,
            error,
            description,
            state: client_state,
        } => send_back(
            state,
            &redirect_uri,
            mode,
            vec![
                ("error", error.as_str()),
                ("error_description", &description),
            ],
            client_state.as_deref(),
        ),
    }
}

/// The answer to the client, with `state` and `iss` (RFC 9207) after
/// `fields`: in the redirect's query, or posted by the browser.
fn send_back<'a>(
    state: &'a AppState,
    redirect_uri: &str,
    mode: ResponseMode,
    mut fields: Vec<(&'a str, &'a str)>,
    client_state: Option<&'a str>,
) -> Response {
    if let Some(s) = client_state {
        fields.push(("state", s));
    }
    fields.push(("iss", &state.config().issuer));
    match mode {
        ResponseMode::Query => {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish();
            redirect(redirect_uri, &query)
        }
        ResponseMode::FormPost => pages::form_post(redirect_uri, &fields),
    }
}

pub(super) fn redirect(uri: &str, query: &str) -> Response {
    let separator = match (query.is_empty(), uri.contains('?')) {
        (true, _) => "",
        (false, true) => "&",
        (false, false) => "?",
    };
    match HeaderValue::from_str(&format!("{uri}{separator}{query}")) {
        Ok(location) => {
            // 303: the browser follows with a GET, never re-sending a posted
            // password (RFC 9700 §4.12).
            let mut resp = StatusCode::SEE_OTHER.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => bad_page("The application's redirect URI cannot be used in a redirect."),
    }
}

pub(super) fn bad_page(message: &str) -> Response {
    pages::respond(StatusCode::BAD_REQUEST, pages::error(message))
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "authorization endpoint: cannot continue");
    pages::respond(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::error("The server cannot complete this now. Try again in a moment."),
    )
}

/// Why a form was not read.
pub(super) enum FormRefused {
    Malformed(String),
    /// Its CSRF token is not the cookie's.
    Forged,
}

impl FormRefused {
    pub(super) fn page(self) -> Response {
        match self {
            Self::Malformed(why) => bad_page(&why),
            Self::Forged => pages::respond(
                StatusCode::FORBIDDEN,
                pages::error("This form expired or did not come from this page. Go back to the application and start again."),
            ),
        }
    }
}

/// The form, if its CSRF token is the cookie's.
pub(super) fn checked_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<FormParams, FormRefused> {
    let form = read_form(headers, body, state.config().limits.max_form_params)
        .map_err(|e| FormRefused::Malformed(e.to_string()))?;
    let expected = cookie_value(headers, CSRF_COOKIE);
    match (expected, form.get("csrf")) {
        (Some(e), Some(g)) if secret::constant_time_eq(e.as_bytes(), g.as_bytes()) => Ok(form),
        _ => Err(FormRefused::Forged),
    }
}

/// The browser's CSRF token, or a new one (`true`: set the cookie).
fn csrf_token(headers: &HeaderMap) -> (String, bool) {
    match cookie_value(headers, CSRF_COOKIE).filter(|v| v.len() == 43) {
        Some(v) => (v, false),
        None => (secret::new_code().unwrap_or_default(), true),
    }
}

/// The parameters `names` of a request, for hidden fields.
fn carried(params: &FormParams, names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|k| params.get(k).map(|v| ((*k).to_owned(), v.to_owned())))
        .collect()
}

pub(super) async fn current_session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    session::current(state, headers, SESSION_COOKIE)
        .await
        .map(|(_, s)| s)
}

pub(super) async fn start_session(
    state: &AppState,
    username: &str,
) -> Result<(String, Session), Error> {
    session::start(state, username, state.clock().now_secs()).await
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    session::value(headers, name)
}

pub(super) fn set_cookie(
    state: &AppState,
    resp: &mut Response,
    name: &str,
    value: &str,
    max_age: i64,
) {
    session::set(state, resp, "/oauth2", name, value, max_age);
}
