//! `GET /oauth2/quota`: where the calling client stands against its API
//! quota (limits, used, remaining, reset), read without spending any. The
//! client proves who it is with one of its access tokens (any scope) or
//! its own credentials (HTTP Basic), as at the token endpoint.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tollgate_proto::admin::{QuotaStatus, QuotaWindow};
use tollgate_proto::{FormParams, Scope};

use super::client_auth::{self, Source};
use crate::error::json_response;
use crate::error::Error;
use crate::oauth::client_auth::authenticate;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/oauth2/quota",
    tag = "oauth",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "where the client stands; nothing is spent", body = QuotaStatus),
        (status = 400, description = "invalid_request", body = super::schemas::OAuthError),
        (status = 401, description = "invalid_client or invalid_token", body = super::schemas::OAuthError),
    )
)]
pub async fn quota_get(
    State(state): State<AppState>,
    Source(source): Source,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (client_id, qps, per_day) = if bearer(&headers) {
        let resource = state.resource();
        let v = resource
            .authorize(&headers, &Scope::default(), resource.issuer())
            .await?;
        (v.client_id.clone(), v.qps, v.per_day)
    } else {
        let presented = client_auth::presented(&headers, &FormParams::default())?;
        let c = authenticate(state.oauth(), &presented, source).await?;
        (c.client_id.clone(), c.settings.qps, c.settings.per_day)
    };
    let Some((standing, _)) = state.resource().standing(&client_id, qps, per_day).await else {
        return Err(Error::Unavailable(
            "the quota store (redis) is unreachable".into(),
        ));
    };
    let window = |(limit, remaining, reset): (u64, u64, u64)| QuotaWindow {
        limit,
        used: limit.saturating_sub(remaining),
        remaining,
        reset,
    };
    let status = QuotaStatus {
        client_id,
        per_second: standing.per_second.map(window),
        per_day: standing.per_day.map(window),
    };
    Ok(json_response(StatusCode::OK, &status))
}

/// Whether the request presents a bearer token rather than client
/// credentials.
fn bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}
