//! `POST /oauth2/token.oauth2` (and its aliases): RFC 6749 §5.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tollgate_proto::TokenRequest;

use super::{client_auth, form};
use crate::error::json_response;
use crate::oauth::{self, client_auth::authenticate};
use crate::state::AppState;
use crate::Error;

pub async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token(&state, &headers, &body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(&state.config.realm),
    }
}

async fn token(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, Error> {
    let form = form::read_form(headers, body)?;
    let presented = client_auth::presented(headers, &form)?;
    let request =
        TokenRequest::from_params(&form).map_err(|e| Error::oauth(e.code, e.description))?;
    let client = authenticate(state, &presented).await?;
    let grant = request.grant_type();
    let issued = oauth::token::issue(state, &client, request).await?;
    tracing::info!(client_id = %client.client_id, %grant, "token issued");
    Ok(json_response(StatusCode::OK, &issued))
}
