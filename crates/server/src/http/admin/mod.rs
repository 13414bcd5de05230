//! The admin API under `/admin/v1`: clients, users, signing keys, usage
//! and the audit log, as JSON. Every request needs a bearer token with
//! scope `tollgate:admin` from this server (client_credentials for
//! automation); every error is an RFC 9457 problem (the guard converts the
//! one error map's answer). Handlers are glue: [`Caller`] says who asks,
//! and [`crate::admin::Admin`] does the work and writes the audit log.

mod body;
mod clients;
mod records;
mod users;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;
use tollgate_proto::Scope;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::{Admin, ADMIN_SCOPE};
use crate::error::json_response;
use crate::error::Error;
use crate::state::AppState;

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";
/// Most items a page may hold, and how many when not asked.
const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;

/// The admin API's routes with their descriptions (paths include
/// [`PREFIX`]).
pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let limit = DefaultBodyLimit::max(state.config().limits.max_form_bytes);
    OpenApiRouter::new()
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update))
        .routes(routes!(users::set_password))
        .routes(routes!(records::keys, records::rotate_key))
        .routes(routes!(records::retire_key))
        .routes(routes!(records::revoke_key))
        .routes(routes!(records::issue_initial_token))
        .routes(routes!(records::usage))
        .routes(routes!(records::audit))
        .layer(limit)
}

/// The admin making a request: a valid access token with `tollgate:admin`.
/// Taken before the body is read, so a caller without one learns nothing
/// from how its body would have been judged.
#[derive(Debug)]
pub struct Caller {
    actor: String,
    state: AppState,
}

impl Caller {
    /// The operations, on behalf of this caller, now.
    fn admin(&self) -> Admin<'_> {
        Admin {
            store: self.state.store().as_ref(),
            now: self.state.clock().now_secs(),
            actor: &self.actor,
            caches: Some(self.state.oauth()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let needed: Scope = ADMIN_SCOPE.parse().unwrap_or_default();
        let resource = state.resource();
        let v = resource
            .authorize(&parts.headers, &needed, resource.issuer())
            .await?;
        let actor = match &v.username {
            Some(user) => format!("client:{} user:{user}", v.client_id),
            None => format!("client:{}", v.client_id),
        };
        Ok(Caller {
            actor,
            state: state.clone(),
        })
    }
}

/// A page size: `DEFAULT_PAGE` when not given, else 1 to `MAX_PAGE`.
fn page_size(limit: Option<u32>) -> Result<u32, Error> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(Error::invalid_request(format!(
            "limit must be 1 to {MAX_PAGE}"
        ))),
    }
}

fn ok(body: &impl Serialize) -> Response {
    json_response(StatusCode::OK, body)
}

/// 201 with the new resource's address.
fn created(location: &str, body: &impl Serialize) -> Response {
    let mut r = json_response(StatusCode::CREATED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn no_content() -> Response {
    let mut r = json_response(StatusCode::NO_CONTENT, &());
    *r.body_mut() = axum::body::Body::empty();
    r.headers_mut().remove(header::CONTENT_TYPE);
    r
}
