//! `POST /oauth2/token.oauth2` (and its aliases): RFC 6749 §5.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tollgate_proto::TokenRequest;

use std::net::IpAddr;

use super::client_auth::{self, Source};
use super::{form, ClientId};
use crate::config::Limits;
use crate::error::json_response;
use crate::error::Error;
use crate::oauth::{self, client_auth::authenticate};
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/oauth2/token.oauth2",
    tag = "oauth",
    request_body(content = super::schemas::TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "a token (RFC 6749 §5.1); also at /oauth2/token and /oauth/token", body = tollgate_proto::TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope", body = super::schemas::OAuthError),
        (status = 401, description = "invalid_client", body = super::schemas::OAuthError),
        (status = 429, description = "the token endpoint's quota, or too many failed authentications", body = super::schemas::OAuthError),
    )
)]
pub async fn token_post(
    State(state): State<AppState>,
    Source(source): Source,
    form::FormRequest { headers, body }: form::FormRequest,
) -> Result<Response, Error> {
    let mut grant = "unknown";
    let mut client = None;
    let outcome = token(&state, &headers, &body, source, &mut grant, &mut client).await;
    let label = match &outcome {
        Ok(_) => "issued",
        Err(Error::OAuth { code, .. }) => code.as_str(),
        Err(Error::Quota(_)) => "quota_exceeded",
        Err(Error::Throttled { .. }) => "throttled",
        Err(_) => "server_error",
    };
    state.metrics().token(grant, label);
    if let Some(client_id) = client {
        state.usage().token(&client_id, grant, label);
    }
    outcome
}

/// Parses, authenticates, applies the token endpoint's own per-client
/// limit, and issues. `grant` is set as soon as it is known, for metrics;
/// `client` once the client is authenticated, for usage records.
async fn token(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    source: IpAddr,
    grant: &mut &'static str,
    client_id: &mut Option<String>,
) -> Result<Response, Error> {
    let form = form::read_form(headers, body, state.config().limits.max_form_params)?;
    let presented = client_auth::presented(headers, &form)?;
    let request = TokenRequest::from_params(&form).map_err(Error::from)?;
    *grant = request.grant_type().as_str();
    let client = authenticate(state.oauth(), &presented, source).await?;
    *client_id = Some(client.client_id.clone());
    let limits = Limits {
        qps: state.config().quota.token_qps,
        per_day: 0,
    };
    state.token_quota().admit(&client.client_id, limits).await?;
    let issued = oauth::token::issue(state.oauth(), &client, request, source).await?;
    tracing::info!(client_id = %client.client_id, grant = *grant, "token issued");
    let mut resp = json_response(StatusCode::OK, &issued);
    resp.extensions_mut()
        .insert(ClientId(client.client_id.clone()));
    resp.extensions_mut()
        .insert(super::cors::Allowed(client.clone()));
    Ok(resp)
}
