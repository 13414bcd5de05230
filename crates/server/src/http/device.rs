//! The Device Authorization Grant's HTTP side (RFC 8628): the device
//! authorization endpoint a device posts to, and the pages a person uses
//! on another screen: `/device` (the short address a device shows) sends
//! the browser to `/oauth2/device`, where the code is entered (filled in
//! from `verification_uri_complete`), then sign-in when there is no
//! session, then Allow or Deny. Plain forms with CSRF tokens, no script,
//! the sign-in session and cookies of the authorization endpoint's pages.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tollgate_proto::{DeviceAuthorizationResponse, FormParams};

use super::authorize::{
    checked_form, current_session, form_page, keep_session, redirect, sign_in_form, unavailable,
    NotSignedIn,
};
use super::client_auth::{self, Source};
use super::form;
use super::pages::{self, DeviceConsent, SignIn};
use crate::config::Limits;
use crate::error::{json_response, Error};
use crate::oauth::client_auth::authenticate;
use crate::oauth::device::{self, Found};
use crate::oauth::error::GrantError;
use crate::state::AppState;
use crate::store::Session;

/// The endpoint a device posts to.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth2/device_authorization";
/// The short address a device shows, and the page it leads to.
pub const VERIFICATION_PATH: &str = "/device";
pub const DEVICE_PAGE_PATH: &str = "/oauth2/device";

/// What the confirmation form carries from page to page.
const CARRIED: [&str; 1] = ["user_code"];

#[utoipa::path(
    post,
    path = "/oauth2/device_authorization",
    tag = "oauth",
    request_body(content = std::collections::HashMap<String, String>, description = "client_id (or client credentials) and scope", content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "a device code and a user code (RFC 8628 §3.2)", body = DeviceAuthorizationResponse),
        (status = 400, description = "invalid_request, unauthorized_client or invalid_scope", body = super::schemas::OAuthError),
        (status = 401, description = "invalid_client", body = super::schemas::OAuthError),
        (status = 429, description = "the token endpoint's quota, or too many failed authentications", body = super::schemas::OAuthError),
    )
)]
pub async fn device_authorization_post(
    State(state): State<AppState>,
    Source(source): Source,
    form::FormRequest { headers, body }: form::FormRequest,
) -> Result<Response, Error> {
    let form = form::read_form(&headers, &body, state.config().limits.max_form_params)?;
    let presented = client_auth::presented(&headers, &form)?;
    let scope = form.scope().map_err(Error::from)?;
    let client = authenticate(state.oauth(), &presented, source).await?;
    // A device authorization costs a row: the token endpoint's quota.
    let limits = Limits {
        qps: state.config().quota.token_qps,
        per_day: 0,
    };
    state.token_quota().admit(&client.client_id, limits).await?;
    let started = device::start(state.oauth(), &client, scope).await?;
    let issuer = &state.config().issuer;
    let verification_uri = format!("{issuer}{VERIFICATION_PATH}");
    let complete = form_urlencoded::Serializer::new(format!("{verification_uri}?"))
        .append_pair("user_code", &started.user_code)
        .finish();
    let body = DeviceAuthorizationResponse {
        device_code: started.device_code,
        user_code: started.user_code,
        verification_uri,
        verification_uri_complete: Some(complete),
        expires_in: started.expires_in,
        interval: Some(started.interval),
    };
    let mut resp = json_response(StatusCode::OK, &body);
    resp.extensions_mut()
        .insert(super::cors::Allowed(client.clone()));
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/device",
    tag = "sign-in",
    responses((status = 303, description = "to /oauth2/device, the query kept"))
)]
pub async fn verification_get(RawQuery(query): RawQuery) -> Response {
    redirect(DEVICE_PAGE_PATH, &query.unwrap_or_default())
}

#[utoipa::path(
    get,
    path = "/oauth2/device",
    tag = "sign-in",
    params(("user_code" = Option<String>, Query, description = "the code, from verification_uri_complete")),
    responses((status = 200, description = "the code entry page", content_type = "text/html", body = String))
)]
pub async fn device_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let max = state.config().limits.max_form_params;
    let params = FormParams::parse(query.unwrap_or_default().as_bytes(), max).unwrap_or_default();
    let typed = params.get("user_code").unwrap_or("");
    entry_page(&state, &headers, typed, None)
}

#[utoipa::path(
    post,
    path = "/oauth2/device",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "user_code and csrf", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the sign-in or confirmation page, or the entry page again", content_type = "text/html", body = String),
        (status = 400, description = "the form is malformed, or the code is wrong, expired or throttled: the entry page again, saying so", content_type = "text/html", body = String),
        (status = 403, description = "the CSRF check failed", content_type = "text/html", body = String),
    )
)]
pub async fn device_post(
    State(state): State<AppState>,
    Source(source): Source,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (form, found) = match entered(&state, &headers, &body, source).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    match current_session(&state, &headers).await {
        Some(session) => confirm_page(&state, &headers, &form, &found, &session),
        None => sign_in_page(&state, &headers, &form, &found, "", None),
    }
}

#[utoipa::path(
    post,
    path = "/oauth2/device/sign-in",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "username, password, csrf and user_code", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the confirmation page, or the sign-in page again", content_type = "text/html", body = String),
        (status = 400, description = "the form is malformed, or the code is wrong, expired or throttled: the entry page again, saying so", content_type = "text/html", body = String),
        (status = 403, description = "the CSRF check failed", content_type = "text/html", body = String),
    )
)]
pub async fn device_sign_in_post(
    State(state): State<AppState>,
    Source(source): Source,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (form, found) = match entered(&state, &headers, &body, source).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let username = form.get("username").unwrap_or("");
    match sign_in_form(&state, &form, source).await {
        Ok((value, session)) => {
            let mut resp = confirm_page(&state, &headers, &form, &found, &session);
            keep_session(&state, &mut resp, &value);
            resp
        }
        Err(NotSignedIn::Refused(why)) => {
            sign_in_page(&state, &headers, &form, &found, username, Some(&why))
        }
        Err(NotSignedIn::Failed(resp)) => *resp,
    }
}

#[utoipa::path(
    post,
    path = "/oauth2/device/confirm",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "decision (allow or deny), csrf and user_code", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "done: the person may return to the device", content_type = "text/html", body = String),
        (status = 400, description = "the form is malformed, or the code is wrong, expired or throttled: the entry page again, saying so", content_type = "text/html", body = String),
        (status = 403, description = "the CSRF check failed", content_type = "text/html", body = String),
    )
)]
pub async fn device_confirm_post(
    State(state): State<AppState>,
    Source(source): Source,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (form, found) = match entered(&state, &headers, &body, source).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let Some(session) = current_session(&state, &headers).await else {
        let why = "Your session ended: sign in again.";
        return sign_in_page(&state, &headers, &form, &found, "", Some(why));
    };
    let allow = form.get("decision") == Some("allow");
    let who = allow.then_some((session.username.as_str(), session.auth_time));
    match device::decide(state.oauth(), &found, who).await {
        Ok(true) => pages::respond(StatusCode::OK, pages::device_done(allow)),
        Ok(false) => entry_page(
            &state,
            &headers,
            "",
            Some("That code was used already or has expired."),
        ),
        Err(e) => unavailable(e),
    }
}

/// A posted form with its CSRF token checked and the pending authorization
/// its user code names; else the page that says why.
async fn entered(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    source: std::net::IpAddr,
) -> Result<(FormParams, Found), Box<Response>> {
    let form = checked_form(state, headers, body).map_err(|r| Box::new(r.page()))?;
    let typed = form.get("user_code").unwrap_or("");
    match device::find(state.oauth(), typed, source).await {
        Ok(found) => Ok((form, found)),
        Err(GrantError::Refused { description, .. }) => Err(Box::new(entry_page(
            state,
            headers,
            typed,
            Some(&description),
        ))),
        Err(e) => Err(Box::new(unavailable(e))),
    }
}

fn entry_page(state: &AppState, headers: &HeaderMap, typed: &str, error: Option<&str>) -> Response {
    let none = FormParams::default();
    let mut resp = form_page(state, headers, &none, &[], |_, csrf| {
        pages::device_entry(csrf, typed, error)
    });
    if error.is_some() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    resp
}

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    form: &FormParams,
    found: &Found,
    username: &str,
    error: Option<&str>,
) -> Response {
    form_page(state, headers, form, &CARRIED, |carried, csrf| {
        pages::sign_in(&SignIn {
            action: "/oauth2/device/sign-in",
            client_name: &found.client.settings.client_name,
            carried,
            csrf,
            username,
            error,
        })
    })
}

fn confirm_page(
    state: &AppState,
    headers: &HeaderMap,
    form: &FormParams,
    found: &Found,
    session: &Session,
) -> Response {
    form_page(state, headers, form, &CARRIED, |carried, csrf| {
        pages::device_consent(&DeviceConsent {
            client_name: &found.client.settings.client_name,
            username: &session.username,
            user_code: &found.user_code,
            scopes: found.grant.scope.iter().collect(),
            carried,
            csrf,
        })
    })
}
