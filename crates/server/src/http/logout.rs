//! `GET|POST /oauth2/logout` (RP-Initiated Logout 1.0, the
//! `end_session_endpoint`) and its question, `POST /oauth2/logout/confirm`.
//! The decisions are `oauth::logout`'s; the sign-out is `session::sign_out`,
//! the console's button's too. The question's form carries the request and
//! the sign-in pages' CSRF token.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tollgate_proto::FormParams;

use super::authorize::{bad_page, checked_form, form_page, redirect, unavailable};
use super::form::read_form;
use super::{pages, session};
use crate::oauth::logout::{self, LogoutRequest, Refused};
use crate::state::AppState;

/// The request's parameters, carried through the question's form.
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

#[utoipa::path(
    get,
    path = "/oauth2/logout",
    tag = "sign-in",
    params(
        ("id_token_hint" = Option<String>, Query, description = "an ID token this server issued: who the client thinks is signed in"),
        ("client_id" = Option<String>, Query, description = "the client, when there is no hint"),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "where to send the browser after, one the client registered"),
        ("state" = Option<String>, Query, description = "given back with the redirect"),
    ),
    responses(
        (status = 200, description = "the question (no hint for the person signed in), or the signed-out page", content_type = "text/html", body = String),
        (status = 303, description = "signed out, back to post_logout_redirect_uri"),
        (status = 400, description = "an error page: the request cannot be followed", content_type = "text/html", body = String),
    )
)]
pub async fn logout_get(
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

/// The same request as a form (RP-Initiated Logout §2 allows both).
#[utoipa::path(
    post,
    path = "/oauth2/logout",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "id_token_hint, client_id, post_logout_redirect_uri, state", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the question, or the signed-out page", content_type = "text/html", body = String),
        (status = 303, description = "signed out, back to post_logout_redirect_uri"),
        (status = 400, description = "an error page", content_type = "text/html", body = String),
    )
)]
pub async fn logout_post(
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
    path = "/oauth2/logout/confirm",
    tag = "sign-in",
    request_body(content = std::collections::HashMap<String, String>, description = "the question's form (decision=sign-out|stay, csrf, and the request carried)", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the signed-out page", content_type = "text/html", body = String),
        (status = 303, description = "back to post_logout_redirect_uri"),
        (status = 400, description = "an error page", content_type = "text/html", body = String),
        (status = 403, description = "the CSRF check failed", content_type = "text/html", body = String),
    )
)]
pub async fn confirm_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match checked_form(&state, &headers, &body) {
        Ok(f) => f,
        Err(refused) => return refused.page(),
    };
    let req = match logout::check(state.oauth(), &form).await {
        Ok(r) => r,
        Err(refused) => return refusal(refused),
    };
    let signed_in = current_user(&state, &headers).await;
    if form.get("decision") == Some("sign-out") {
        finish(&state, &req, signed_in.as_deref()).await
    } else {
        stay(&req)
    }
}

/// A checked request: the question, or the sign-out at once.
async fn begin(state: &AppState, headers: &HeaderMap, params: &FormParams) -> Response {
    let req = match logout::check(state.oauth(), params).await {
        Ok(r) => r,
        Err(refused) => return refusal(refused),
    };
    let signed_in = current_user(state, headers).await;
    match signed_in {
        Some(user) if logout::must_ask(&req, Some(&user)) => {
            ask(state, headers, &req, params, &user)
        }
        user => finish(state, &req, user.as_deref()).await,
    }
}

/// Signs `user` out (when someone is signed in) and sends the browser on.
async fn finish(state: &AppState, req: &LogoutRequest, user: Option<&str>) -> Response {
    let mut resp = onward(req, true);
    if let Some(user) = user {
        session::sign_out(state, user, &mut resp).await;
    }
    resp
}

/// The person chose to stay signed in: on all the same.
fn stay(req: &LogoutRequest) -> Response {
    onward(req, false)
}

/// Where the request said, with its `state`; else the page that says
/// whether the person is now signed out.
fn onward(req: &LogoutRequest, signed_out: bool) -> Response {
    match &req.post_logout_redirect_uri {
        Some(uri) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(s) = &req.state {
                query.append_pair("state", s);
            }
            redirect(uri, &query.finish())
        }
        None => pages::respond(StatusCode::OK, pages::signed_out(signed_out)),
    }
}

fn ask(
    state: &AppState,
    headers: &HeaderMap,
    req: &LogoutRequest,
    params: &FormParams,
    user: &str,
) -> Response {
    let client_name = req.client.as_ref().map(|c| c.settings.client_name.as_str());
    form_page(state, headers, params, &CARRIED, |carried, csrf| {
        pages::sign_out(carried, csrf, user, client_name)
    })
}

fn refusal(refused: Refused) -> Response {
    match refused {
        Refused::Page(message) => bad_page(message),
        Refused::Unavailable(e) => unavailable(e),
    }
}

async fn current_user(state: &AppState, headers: &HeaderMap) -> Option<String> {
    session::current(state, headers, session::SIGN_IN_COOKIE)
        .await
        .map(|(_, s)| s.username)
}
