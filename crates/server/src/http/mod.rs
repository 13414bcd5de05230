//! HTTP routes: the authorization server's endpoints, operations, the demo
//! APIs, and the gateway as the fallback for every other path.
//!
//! Handlers are thin: read the request (`form`), authenticate the client
//! (`client_auth`), call `oauth`, and turn the outcome into a response. Every
//! error becomes a response in `crate::error` only.

pub mod admin;
mod authorize;
mod client_auth;
mod form;
mod guard;
mod introspect;
mod metadata;
mod ops;
mod pages;
mod quota;
mod revoke;
mod token;
mod userinfo;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;
use crate::{demo_api, gateway};

/// The token endpoint's paths: the seed's, its legacy one, and Spring's.
pub const TOKEN_PATHS: [&str; 3] = ["/oauth2/token.oauth2", "/oauth2/token", "/oauth/token"];
pub const INTROSPECT_PATH: &str = "/oauth2/introspect.oauth2";
pub const REVOKE_PATH: &str = "/oauth2/revoke.oauth2";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const USERINFO_PATH: &str = "/userinfo";
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";

/// The client a token-endpoint response was for, for the access log.
#[derive(Debug, Clone)]
pub struct ClientId(pub String);

/// All routes, each behind the one [guard](guard::guard) middleware
/// (in-flight slot, head limits, JSON for framework errors, access log).
pub fn router(state: AppState) -> Router {
    let form_limit = DefaultBodyLimit::max(state.config().limits.max_form_bytes);
    let mut r = Router::new();
    for path in TOKEN_PATHS {
        r = r.route(path, post(token::token_post).layer(form_limit));
    }
    r = r
        .route(
            INTROSPECT_PATH,
            post(introspect::introspect_post).layer(form_limit),
        )
        .route(REVOKE_PATH, post(revoke::revoke_post).layer(form_limit))
        .route(METADATA_PATH, get(metadata::metadata_get))
        .route(JWKS_PATH, get(metadata::jwks_get))
        .route(OPENID_CONFIGURATION_PATH, get(metadata::metadata_get))
        .route(
            USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(
            AUTHORIZE_PATH,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/oauth2/authorize/sign-in",
            post(authorize::sign_in_post).layer(form_limit),
        )
        .route(
            "/oauth2/authorize/consent",
            post(authorize::consent_post).layer(form_limit),
        )
        .route(quota::QUOTA_PATH, get(quota::quota_get))
        .route(pages::STYLE_PATH, get(pages::style_get))
        .route("/healthz", get(ops::healthz_get))
        .route("/readyz", get(ops::readyz_get))
        .route("/metrics", get(ops::metrics_get));
    if state.config().demo_apis {
        r = r.merge(demo_api::routes(state.resource()));
    }
    if state.config().admin_api && state.config().admin_listen.is_none() {
        r = r.merge(admin::routes(&state));
    }
    r.fallback(gateway::gateway)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// The admin API alone, for its own listener (`admin_listen`), behind the
/// same guard; every other path is a 404.
pub fn admin_router(state: AppState) -> Router {
    admin::routes(&state)
        .fallback(|| async { crate::Error::NotFound("not an admin API path".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// A bounded-cardinality name for the route a path belongs to.
fn route_label<'a>(state: &'a AppState, path: &'a str) -> &'a str {
    const FIXED: [&str; 17] = [
        quota::QUOTA_PATH,
        TOKEN_PATHS[0],
        TOKEN_PATHS[1],
        TOKEN_PATHS[2],
        INTROSPECT_PATH,
        REVOKE_PATH,
        METADATA_PATH,
        JWKS_PATH,
        AUTHORIZE_PATH,
        USERINFO_PATH,
        OPENID_CONFIGURATION_PATH,
        "/oauth2/authorize/sign-in",
        "/oauth2/authorize/consent",
        pages::STYLE_PATH,
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    if let Some(p) = FIXED.iter().find(|p| **p == path) {
        return p;
    }
    if path.starts_with(admin::PREFIX) {
        return admin::PREFIX;
    }
    if state.config().demo_apis {
        if path == demo_api::LOCATIONS_PATH {
            return demo_api::LOCATIONS_PATH;
        }
        let details = demo_api::USER_DETAILS_PATH.trim_end_matches("{user_id}");
        if path.starts_with(details) {
            return demo_api::USER_DETAILS_PATH;
        }
    }
    let canonical =
        crate::path::normalize(path).map_or(std::borrow::Cow::Borrowed(path), |n| n.path);
    match gateway::find(&state.config().routes, &canonical) {
        Some(r) => r.prefix.as_str(),
        None => "unmatched",
    }
}
