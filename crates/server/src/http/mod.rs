//! HTTP routes: the authorization server's endpoints, operations, the demo
//! APIs, and the gateway as the fallback for every other path.
//!
//! Handlers are thin: read the request (`form`), authenticate the client
//! (`client_auth`), call `oauth`, and turn the outcome into a response. Every
//! error becomes a response in `crate::error` only.

pub mod admin;
mod authorize;
mod backchannel;
mod client_auth;
mod console;
mod cors;
mod device;
mod form;
mod guard;
mod introspect;
mod logout;
mod metadata;
pub mod openapi;
mod ops;
mod pages;
mod quota;
mod register;
mod revoke;
mod schemas;
mod session;
mod token;
mod userinfo;

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

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
pub const LOGOUT_PATH: &str = "/oauth2/logout";
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
pub use device::DEVICE_AUTHORIZATION_PATH;
pub use register::REGISTRATION_PATH;

/// The client a token-endpoint response was for, for the access log.
#[derive(Debug, Clone)]
pub struct ClientId(pub String);

/// All routes, each behind the one [guard](guard::guard) middleware
/// (in-flight slot, head limits, JSON for framework errors, access log).
/// Handlers are registered with their OpenAPI description (`routes!`), so
/// `/openapi.json` lists exactly what is served here.
pub fn router(state: AppState) -> Router {
    let form_limit = DefaultBodyLimit::max(state.config().limits.max_form_bytes);
    let limited =
        |(schemas, paths, m): UtoipaMethodRouter<AppState>| (schemas, paths, m.layer(form_limit));
    let document = Arc::new(OnceLock::new());
    let served = |(schemas, paths, m): UtoipaMethodRouter<AppState>| {
        (schemas, paths, m.layer(Extension(document.clone())))
    };
    let mut api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(limited(routes!(token::token_post)))
        .routes(limited(routes!(introspect::introspect_post)))
        .routes(limited(routes!(revoke::revoke_post)))
        .routes(routes!(metadata::metadata_get))
        .routes(routes!(metadata::jwks_get))
        .routes(routes!(userinfo::userinfo))
        .routes(routes!(authorize::authorize_get, authorize::authorize_post))
        .routes(limited(routes!(authorize::sign_in_post)))
        .routes(limited(routes!(authorize::consent_post)))
        .routes(limited(routes!(register::register_post)))
        .routes(limited(routes!(
            register::registration_get,
            register::registration_put,
            register::registration_delete
        )))
        .routes(limited(routes!(device::device_authorization_post)))
        .routes(routes!(device::verification_get))
        .routes(limited(routes!(device::device_get, device::device_post)))
        .routes(limited(routes!(device::device_sign_in_post)))
        .routes(limited(routes!(device::device_confirm_post)))
        .routes(routes!(logout::logout_get, logout::logout_post))
        .routes(limited(routes!(logout::confirm_post)))
        .routes(routes!(quota::quota_get))
        .routes(routes!(gateway::decision::decide))
        .routes(routes!(pages::style_get))
        .routes(routes!(ops::healthz_get))
        .routes(routes!(ops::readyz_get))
        .routes(routes!(ops::metrics_get))
        .routes(served(routes!(openapi::openapi_get)));
    if state.config().demo_apis {
        api = api.merge(demo_api::routes(state.resource()));
    }
    if state.config().admin_api && state.config().admin_listen.is_none() {
        api = api.merge(admin::routes(&state));
    }
    let (mut r, mut doc) = api.split_for_parts();
    // The same handlers under other names: described as their first name.
    for (alias, of) in [
        (TOKEN_PATHS[1], TOKEN_PATHS[0]),
        (TOKEN_PATHS[2], TOKEN_PATHS[0]),
        (OPENID_CONFIGURATION_PATH, METADATA_PATH),
    ] {
        if let Some(item) = doc.paths.paths.get(of).cloned() {
            doc.paths.paths.insert(alias.to_owned(), item);
        }
    }
    r = r
        .route(TOKEN_PATHS[1], post(token::token_post).layer(form_limit))
        .route(TOKEN_PATHS[2], post(token::token_post).layer(form_limit))
        .route(OPENID_CONFIGURATION_PATH, get(metadata::metadata_get))
        // Envoy's ext_authz: the original path after the decision path.
        .route(
            &format!("{}/{{*original}}", gateway::decision::DECISION_PATH),
            any(gateway::decision::decide),
        );
    let _ = document.set(openapi::Document::new(doc));
    if state.config().console {
        r = r.merge(console::routes(&state));
    }
    r.fallback(gateway::gateway)
        .layer(middleware::from_fn(cors::cors))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// Registers the console's own client when the console is on.
pub async fn prepare_console(state: &AppState) {
    if state.config().console {
        if let Err(e) = console::ensure_client(state).await {
            tracing::warn!(error = %e, "cannot register the console's client: /console cannot sign anyone in");
        }
    }
}

/// The admin API alone, for its own listener (`admin_listen`), behind the
/// same guard, with its own `/openapi.json`; every other path is a 404.
pub fn admin_router(state: AppState) -> Router {
    let document = Arc::new(OnceLock::new());
    let (schemas, paths, openapi_route) = routes!(openapi::openapi_get);
    let (r, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes((
            schemas,
            paths,
            openapi_route.layer(Extension(document.clone())),
        ))
        .merge(admin::routes(&state))
        .split_for_parts();
    let _ = document.set(openapi::Document::new(doc));
    r.fallback(|| async { crate::error::Error::NotFound("not an admin API path".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}
