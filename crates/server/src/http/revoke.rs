//! `POST /oauth2/revoke.oauth2`: RFC 7009. Answers 200 for any token, known
//! or not, once the client has authenticated; with `{}` as a JSON body,
//! since popular clients (simple-oauth2) parse every answer as JSON.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use std::net::IpAddr;
use std::sync::Arc;

use super::client_auth::{self, Source};
use super::form;
use crate::error::json_response;
use crate::error::Error;
use crate::oauth::{self, client_auth::authenticate};
use crate::state::AppState;
use crate::store::Client;

#[utoipa::path(
    post,
    path = "/oauth2/revoke.oauth2",
    tag = "oauth",
    request_body(content = super::schemas::TokenReference, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "revoked, or nothing to revoke (RFC 7009 §2.2)", body = Object),
        (status = 400, description = "invalid_request or unsupported_token_type", body = super::schemas::OAuthError),
        (status = 401, description = "invalid_client", body = super::schemas::OAuthError),
    )
)]
pub async fn revoke_post(
    State(state): State<AppState>,
    Source(source): Source,
    form::FormRequest { headers, body }: form::FormRequest,
) -> Result<Response, Error> {
    let client = revoke(&state, &headers, &body, source).await?;
    let mut resp = json_response(StatusCode::OK, &serde_json::json!({}));
    resp.extensions_mut().insert(super::cors::Allowed(client));
    Ok(resp)
}

async fn revoke(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    source: IpAddr,
) -> Result<Arc<Client>, Error> {
    let form = form::read_form(headers, body, state.config().limits.max_form_params)?;
    let presented = client_auth::presented(headers, &form)?;
    let client = authenticate(state.oauth(), &presented, source).await?;
    let token = form.require("token").map_err(Error::from)?;
    oauth::revoke::revoke(state.oauth(), &client, token).await?;
    Ok(client)
}
