//! `/admin/v1/keys` (list, rotate, retire, revoke), `/admin/v1/usage` (per
//! client, day and route) and `/admin/v1/audit` (newest first).

use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use tollgate_proto::admin::{
    AuditEntry, InitialAccessToken, InitialTokenRequest, KeyInfo, KeyRotation, Page, UsageReport,
};

use super::body::Body;
use super::{created, ok, page_size, Caller, PREFIX};
use crate::clock::{day_of, iso_day, parse_iso_day};
use crate::error::Error;
use crate::store::{AuditQuery, UsageQuery};

/// The longest span one usage query may cover, in days.
const MAX_USAGE_DAYS: i64 = 366;

#[utoipa::path(
    get,
    path = "/admin/v1/keys",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    responses(
        (status = 200, description = "every signing key and its state", body = Vec<KeyInfo>),
    )
)]
pub async fn keys(caller: Caller) -> Result<Response, Error> {
    Ok(ok(&caller.admin().keys().await?))
}

#[utoipa::path(
    post,
    path = "/admin/v1/keys",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    request_body(content = Option<KeyRotation>, content_type = "application/json"),
    responses(
        (status = 201, description = "the new keys (one of `alg`, or one of every algorithm): published now, signing later; with `now`, signing at once and every key of their algorithm that signed revoked", body = Vec<KeyInfo>),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate_key(
    caller: Caller,
    body: Option<Body<KeyRotation>>,
) -> Result<Response, Error> {
    let rotation = body.map(|Body(r)| r).unwrap_or_default();
    let jwt = caller.state.config().jwt;
    let keys = caller.admin().rotate_keys(&jwt, rotation).await?;
    Ok(created(&format!("{PREFIX}/keys"), &keys))
}

#[utoipa::path(
    post,
    path = "/admin/v1/initial-access-tokens",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    request_body(content = Option<InitialTokenRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "a new initial access token for the registration endpoint (RFC 7591 §3), shown once", body = InitialAccessToken),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue_initial_token(
    caller: Caller,
    body: Option<Body<InitialTokenRequest>>,
) -> Result<Response, Error> {
    let asked = body.map(|Body(r)| r).unwrap_or_default();
    let admin = caller.admin();
    let (token, expires_at) = admin.issue_initial_access_token(asked.expires_in).await?;
    let issued = InitialAccessToken {
        initial_access_token: token,
        expires_at,
    };
    Ok(created("/oauth2/register", &issued))
}

#[utoipa::path(
    post,
    path = "/admin/v1/keys/{kid}/revoke",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("kid" = String, Path, description = "the key id")),
    responses(
        (status = 200, description = "the key, revoked: every token it signed is refused from now on (a new key signs if no other did)", body = KeyInfo),
        (status = 404, description = "no such key still published", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_key(caller: Caller, Path(kid): Path<String>) -> Result<Response, Error> {
    let key = caller.admin().revoke_key(&kid).await?;
    Ok(ok(&key))
}

#[utoipa::path(
    post,
    path = "/admin/v1/keys/{kid}/retire",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("kid" = String, Path, description = "the key id")),
    responses(
        (status = 200, description = "the key, retired", body = KeyInfo),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retire_key(caller: Caller, Path(kid): Path<String>) -> Result<Response, Error> {
    let config = caller.state.config();
    let (server_ttl, leeway) = (config.token_ttl, config.jwt.leeway_secs);
    let key = caller
        .admin()
        .retire_key_after_tokens(&kid, server_ttl, leeway)
        .await?;
    Ok(ok(&key))
}

/// `GET /admin/v1/usage?client_id=&from=YYYY-MM-DD&to=YYYY-MM-DD`; both
/// days default to today (UTC) and are included.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    client_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/usage",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(UsageParams),
    responses(
        (status = 200, description = "usage over the days asked", body = UsageReport),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn usage(caller: Caller, Query(q): Query<UsageParams>) -> Result<Response, Error> {
    let today = day_of(caller.state.clock().now_ms());
    let day = |v: Option<&str>, name: &str| match v {
        None => Ok(today),
        Some(s) => parse_iso_day(s)
            .ok_or_else(|| Error::invalid_request(format!("`{name}` must be a date, YYYY-MM-DD"))),
    };
    let (from, to) = (day(q.from.as_deref(), "from")?, day(q.to.as_deref(), "to")?);
    if to < from || to - from >= MAX_USAGE_DAYS {
        return Err(Error::invalid_request(format!(
            "`to` must be on or after `from`, and at most {MAX_USAGE_DAYS} days later"
        )));
    }
    let query = UsageQuery {
        client_id: q.client_id.clone(),
        from: iso_day(from),
        to: iso_day(to),
    };
    let (calls, token_requests) = caller.state.store().usage(&query).await?;
    Ok(ok(&UsageReport {
        from: query.from,
        to: query.to,
        client_id: q.client_id,
        calls,
        token_requests,
    }))
}

/// `GET /admin/v1/audit?limit=&before=&target=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    limit: Option<u32>,
    /// The `next` of the previous page.
    before: Option<i64>,
    target: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(AuditParams),
    responses(
        (status = 200, description = "a page of the audit log, newest first", body = Page<AuditEntry>),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn audit(caller: Caller, Query(q): Query<AuditParams>) -> Result<Response, Error> {
    let query = AuditQuery {
        limit: page_size(q.limit)?,
        before: q.before,
        target: q.target,
    };
    Ok(ok(&caller.admin().audit_log(query).await?))
}
