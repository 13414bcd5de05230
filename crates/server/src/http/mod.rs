//! HTTP routes of the authorization server.
//!
//! Handlers are thin: read the request (`form`), authenticate the client
//! (`client_auth`), call `oauth`, and turn the outcome into a response. Every
//! error becomes a response in `crate::error` only.

mod client_auth;
mod form;
mod introspect;
mod metadata;
mod revoke;
mod token;

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// The token endpoint's paths: the seed's, its legacy one, and Spring's.
pub const TOKEN_PATHS: [&str; 3] = ["/oauth2/token.oauth2", "/oauth2/token", "/oauth/token"];
pub const INTROSPECT_PATH: &str = "/oauth2/introspect.oauth2";
pub const REVOKE_PATH: &str = "/oauth2/revoke.oauth2";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// All routes, with request logging.
pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for path in TOKEN_PATHS {
        r = r.route(path, post(token::token_post));
    }
    r.route(INTROSPECT_PATH, post(introspect::introspect_post))
        .route(REVOKE_PATH, post(revoke::revoke_post))
        .route(METADATA_PATH, get(metadata::metadata_get))
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// One log line per request: method, path (never the query, which may carry
/// a token a careless client put there), status and latency.
async fn log_request(State(_): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await.into_response();
    tracing::info!(
        %method,
        path,
        status = resp.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}
