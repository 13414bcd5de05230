//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::extract::State;
use axum::Json;
use tollgate_proto::{AuthorizationServerMetadata, GrantType};

use super::{AUTHORIZE_PATH, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATHS};
use crate::state::AppState;

/// `GET /.well-known/jwks.json`: the public keys of signed access tokens,
/// cacheable for `jwt.jwks_max_age_secs`.
pub async fn jwks_get(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let keys = state.tokens().keys();
    let cache = format!("public, max-age={}", keys.jwks_max_age());
    (
        [(axum::http::header::CACHE_CONTROL, cache)],
        Json(keys.jwks()),
    )
        .into_response()
}

pub async fn metadata_get(State(state): State<AppState>) -> Json<AuthorizationServerMetadata> {
    let issuer = &state.config().issuer;
    let methods = || {
        vec![
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned(),
        ]
    };
    Json(AuthorizationServerMetadata {
        issuer: issuer.clone(),
        authorization_endpoint: Some(format!("{issuer}{AUTHORIZE_PATH}")),
        token_endpoint: format!("{issuer}{}", TOKEN_PATHS[0]),
        introspection_endpoint: format!("{issuer}{INTROSPECT_PATH}"),
        revocation_endpoint: format!("{issuer}{REVOKE_PATH}"),
        jwks_uri: Some(format!("{issuer}{JWKS_PATH}")),
        grant_types_supported: GrantType::ALL.to_vec(),
        response_types_supported: vec!["code".to_owned()],
        token_endpoint_auth_methods_supported: methods(),
        introspection_endpoint_auth_methods_supported: methods(),
        revocation_endpoint_auth_methods_supported: methods(),
        scopes_supported: Vec::new(),
        code_challenge_methods_supported: vec!["S256".to_owned()],
        response_modes_supported: vec!["query".to_owned()],
        authorization_response_iss_parameter_supported: true,
    })
}
