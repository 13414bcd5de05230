//! `POST /oauth2/introspect.oauth2`: RFC 7662 plus the seed's `api-key`
//! header, which must equal the authenticated caller's client id.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use subtle::ConstantTimeEq;
use tollgate_proto::ErrorCode;

use std::net::IpAddr;

use super::client_auth::{self, Source};
use super::form;
use crate::error::json_response;
use crate::error::Error;
use crate::oauth::{self, client_auth::authenticate};
use crate::state::AppState;

/// The seed's header naming the caller (a name given as text is parsed at
/// every use).
const API_KEY: HeaderName = HeaderName::from_static("api-key");

#[utoipa::path(
    post,
    path = "/oauth2/introspect.oauth2",
    tag = "oauth",
    request_body(content = super::schemas::TokenReference, content_type = "application/x-www-form-urlencoded"),
    params(("api-key" = Option<String>, Header, description = "the caller's own client id (the seed's header)")),
    security(("basic" = [])),
    responses(
        (status = 200, description = "the token's state (RFC 7662 §2.2)", body = tollgate_proto::IntrospectionResponse),
        (status = 400, description = "invalid_request", body = super::schemas::OAuthError),
        (status = 401, description = "invalid_client", body = super::schemas::OAuthError),
        (status = 403, description = "the api-key header is not the caller's client id", body = super::schemas::OAuthError),
    )
)]
pub async fn introspect_post(
    State(state): State<AppState>,
    Source(source): Source,
    form::FormRequest { headers, body }: form::FormRequest,
) -> Result<Response, Error> {
    introspect(&state, &headers, &body, source).await
}

async fn introspect(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    source: IpAddr,
) -> Result<Response, Error> {
    let form = form::read_form(headers, body, state.config().limits.max_form_params)?;
    let presented = client_auth::presented(headers, &form)?;
    let client = authenticate(state.oauth(), &presented, source).await?;
    // Said plainly, since the caller has proved who it is already.
    match headers.get(API_KEY).map(|v| v.as_bytes()) {
        None => {
            tracing::info!(client_id = %client.client_id, "introspection refused: no api-key header");
            return Err(Error::oauth(
                ErrorCode::InvalidClient,
                "the api-key header is missing: send `api-key: <your client id>`",
            ));
        }
        Some(key) if !bool::from(key.ct_eq(client.client_id.as_bytes())) => {
            tracing::info!(client_id = %client.client_id, "introspection refused: api-key is not the client id");
            return Err(Error::oauth(
                ErrorCode::InvalidClient,
                "the api-key header must equal the authenticated client id",
            ));
        }
        Some(_) => {}
    }
    let token = form.require("token").map_err(Error::from)?;
    let hint = form.get("token_type_hint").and_then(|h| h.parse().ok());
    let answer = oauth::introspect::introspect(state.oauth(), &client, token, hint).await?;
    Ok(json_response(StatusCode::OK, &answer))
}
