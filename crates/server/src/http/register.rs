//! `POST /oauth2/register` (Dynamic Client Registration, RFC 7591) and
//! `GET|PUT|DELETE /oauth2/register/{client_id}` (its management protocol,
//! RFC 7592). Registering needs an initial access token an admin issued
//! (`Authorization: Bearer`), unless `open_registration` is on; managing a
//! registration needs the registration access token it was given. Bad
//! metadata is `400 invalid_client_metadata` or `invalid_redirect_uri`
//! naming the field; a missing or wrong token is `401 invalid_token`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tollgate_proto::registration::{ClientMetadata, RegisteredClient};
use tollgate_proto::ErrorCode;

use crate::admin::registration::{self, initial_token_works, managed_client};
use crate::admin::{Admin, AdminError};
use crate::error::{json_response, Error};
use crate::resource::bearer_token;
use crate::state::AppState;
use crate::store::Client;

/// Where clients register.
pub const REGISTRATION_PATH: &str = "/oauth2/register";

#[utoipa::path(
    post,
    path = "/oauth2/register",
    tag = "oauth",
    request_body(content = ClientMetadata, description = "client metadata (RFC 7591 §2); what is not understood is ignored"),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "registered: the client's id, its secret and its registration access token, shown once (RFC 7591 §3.2.1)", body = RegisteredClient),
        (status = 400, description = "invalid_client_metadata or invalid_redirect_uri", body = super::schemas::OAuthError),
        (status = 401, description = "no initial access token, or one that is unknown or expired", body = super::schemas::OAuthError),
    )
)]
pub async fn register_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let now = state.clock().now_secs();
    if !state.config().open_registration {
        let token = bearer_token(&headers, false)?;
        if !initial_token_works(state.store().as_ref(), token, now).await? {
            return Err(invalid_token(
                "the initial access token is unknown or expired",
            ));
        }
    }
    let m = metadata(&body)?;
    let admin = admin(&state, "registration");
    let offered = &state.config().self_service_scopes;
    let r = admin
        .register_metadata(&m, offered)
        .await
        .map_err(refused)?;
    let issuer = &state.config().issuer;
    let rat = Some(r.registration_access_token);
    let answer = registration::registered(&r.client, issuer, r.client_secret, rat);
    Ok(json_response(StatusCode::CREATED, &answer))
}

#[utoipa::path(
    get,
    path = "/oauth2/register/{client_id}",
    tag = "oauth",
    params(("client_id" = String, Path, description = "the registered client")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the registration as it stands (RFC 7592 §2.1)", body = RegisteredClient),
        (status = 401, description = "not this client's registration access token", body = super::schemas::OAuthError),
    )
)]
pub async fn registration_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, Error> {
    let client = managed(&state, &headers, &client_id).await?;
    let answer = registration::registered(&client, &state.config().issuer, None, None);
    Ok(json_response(StatusCode::OK, &answer))
}

#[utoipa::path(
    put,
    path = "/oauth2/register/{client_id}",
    tag = "oauth",
    params(("client_id" = String, Path, description = "the registered client")),
    request_body(content = ClientMetadata, description = "all of the client's metadata, with its client_id (RFC 7592 §2.2): what is left out returns to its default"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the registration as replaced", body = RegisteredClient),
        (status = 400, description = "invalid_client_metadata or invalid_redirect_uri", body = super::schemas::OAuthError),
        (status = 401, description = "not this client's registration access token", body = super::schemas::OAuthError),
    )
)]
pub async fn registration_put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    managed(&state, &headers, &client_id).await?;
    let m = metadata(&body)?;
    let doc: Value = serde_json::from_slice(&body).unwrap_or_default();
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
        return Err(bad_metadata(
            "the body must carry this client's client_id (RFC 7592 §2.2)".into(),
        ));
    }
    let actor = format!("registration:{client_id}");
    let offered = &state.config().self_service_scopes;
    let client = admin(&state, &actor)
        .replace_metadata(&client_id, &m, offered)
        .await
        .map_err(refused)?;
    let answer = registration::registered(&client, &state.config().issuer, None, None);
    Ok(json_response(StatusCode::OK, &answer))
}

#[utoipa::path(
    delete,
    path = "/oauth2/register/{client_id}",
    tag = "oauth",
    params(("client_id" = String, Path, description = "the registered client")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted, with its tokens (RFC 7592 §2.3)"),
        (status = 401, description = "not this client's registration access token", body = super::schemas::OAuthError),
    )
)]
pub async fn registration_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, Error> {
    managed(&state, &headers, &client_id).await?;
    let actor = format!("registration:{client_id}");
    admin(&state, &actor)
        .delete_client(&client_id)
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn admin<'a>(state: &'a AppState, actor: &'a str) -> Admin<'a> {
    Admin {
        store: state.store().as_ref(),
        now: state.clock().now_secs(),
        actor,
        caches: Some(state.oauth()),
    }
}

/// The client `client_id`, if the request carries its registration
/// access token; an unknown client answers as a wrong token does.
async fn managed(state: &AppState, headers: &HeaderMap, client_id: &str) -> Result<Client, Error> {
    let token = bearer_token(headers, false)?;
    match managed_client(state.store().as_ref(), client_id, token).await? {
        Some(c) => Ok(c),
        None => Err(invalid_token(
            "not the registration access token of this client",
        )),
    }
}

/// The metadata in a JSON body; what is wrong named by its field.
fn metadata(body: &[u8]) -> Result<ClientMetadata, Error> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de)
        .map_err(|e| bad_metadata(format!("the body is not client metadata in JSON: {e}")))
}

fn invalid_token(why: &str) -> Error {
    Error::Bearer {
        code: ErrorCode::InvalidToken,
        description: why.to_owned(),
        scope: None,
    }
}

fn bad_metadata(why: String) -> Error {
    Error::OAuth {
        code: ErrorCode::InvalidClientMetadata,
        description: why.into(),
    }
}

/// RFC 7591 §3.2.2's errors for what the metadata says; the rest as
/// anywhere.
fn refused(e: AdminError) -> Error {
    match e {
        AdminError::Invalid(why) => bad_metadata(why),
        AdminError::InvalidRedirect(why) => Error::OAuth {
            code: ErrorCode::InvalidRedirectUri,
            description: why.into(),
        },
        other => Error::from(other),
    }
}
