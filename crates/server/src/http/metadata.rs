//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//! `/.well-known/openid-configuration` (OpenID Connect Discovery): one
//! document, served at both, as Keycloak and oidc-provider do; and the JWKS.

use axum::extract::State;
use axum::Json;
use tollgate_proto::{AuthorizationServerMetadata, GrantType};

use super::{
    AUTHORIZE_PATH, DEVICE_AUTHORIZATION_PATH, INTROSPECT_PATH, JWKS_PATH, LOGOUT_PATH,
    REGISTRATION_PATH, REVOKE_PATH, TOKEN_PATHS, USERINFO_PATH,
};
use crate::oauth::authorize::ResponseMode;
use crate::oauth::interaction::Prompt;
use crate::state::AppState;
use tollgate_proto::jose::SigningAlg;

/// `GET /.well-known/jwks.json`: the public keys of signed access tokens,
/// cacheable for `jwt.jwks_max_age_secs`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "the public keys of signed access tokens (RFC 7517)", body = Object))
)]
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

#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    responses((status = 200, description = "RFC 8414 metadata; the same at /.well-known/openid-configuration", body = AuthorizationServerMetadata))
)]
pub async fn metadata_get(State(state): State<AppState>) -> Json<AuthorizationServerMetadata> {
    let issuer = &state.config().issuer;
    let methods = || {
        vec![
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned(),
        ]
    };
    let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // A current key of each is always in the JWKS (`oauth::keys`).
    let algs = || SigningAlg::ALL.map(|a| a.as_str().to_owned()).to_vec();
    let mut token_methods = methods();
    token_methods.push("none".to_owned());
    Json(AuthorizationServerMetadata {
        issuer: issuer.clone(),
        authorization_endpoint: Some(format!("{issuer}{AUTHORIZE_PATH}")),
        token_endpoint: format!("{issuer}{}", TOKEN_PATHS[0]),
        introspection_endpoint: format!("{issuer}{INTROSPECT_PATH}"),
        revocation_endpoint: format!("{issuer}{REVOKE_PATH}"),
        jwks_uri: Some(format!("{issuer}{JWKS_PATH}")),
        grant_types_supported: GrantType::ALL.to_vec(),
        response_types_supported: vec!["code".to_owned()],
        token_endpoint_auth_methods_supported: token_methods,
        introspection_endpoint_auth_methods_supported: methods(),
        revocation_endpoint_auth_methods_supported: methods(),
        scopes_supported: words(&["openid", "profile", "email"]),
        code_challenge_methods_supported: vec!["S256".to_owned()],
        userinfo_endpoint: Some(format!("{issuer}{USERINFO_PATH}")),
        end_session_endpoint: Some(format!("{issuer}{LOGOUT_PATH}")),
        subject_types_supported: words(&["public"]),
        id_token_signing_alg_values_supported: algs(),
        userinfo_signing_alg_values_supported: algs(),
        claims_supported: words(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "azp",
            "sid",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "email",
            "email_verified",
        ]),
        response_modes_supported: words(&ResponseMode::VALUES),
        prompt_values_supported: words(&Prompt::VALUES),
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
        device_authorization_endpoint: Some(format!("{issuer}{DEVICE_AUTHORIZATION_PATH}")),
        registration_endpoint: Some(format!("{issuer}{REGISTRATION_PATH}")),
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    })
}
