//! `/admin/v1/clients`: register, list (paged, filtered), read, change,
//! delete, and rotate a secret with a grace period.

use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_proto::admin::{
    ClientCredentials, ClientInfo, ClientRegistration, Page, SecretRotation,
};
use tollgate_proto::GrantType;

use super::body::Body;
use super::{created, no_content, ok, page_size, Caller, PREFIX};
use crate::error::Error;
use crate::store::ClientFilter;

/// `GET /admin/v1/clients?limit=&after=&enabled=&name=&grant_type=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
    /// The `next` of the previous page.
    after: Option<String>,
    enabled: Option<bool>,
    /// Part of the name, any case.
    name: Option<String>,
    grant_type: Option<GrantType>,
    /// Only the clients this person registered.
    owner: Option<String>,
    /// Only clients with scopes awaiting approval.
    pending: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/clients",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(ListQuery),
    responses(
        (status = 200, description = "a page of clients by id", body = Page<ClientInfo>),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(caller: Caller, Query(q): Query<ListQuery>) -> Result<Response, Error> {
    let filter = ClientFilter {
        limit: page_size(q.limit)?,
        after: q.after,
        enabled: q.enabled,
        name: q.name,
        grant: q.grant_type,
        owner: q.owner,
        pending: q.pending.unwrap_or(false),
    };
    Ok(ok(&caller.admin().list_clients(filter).await?))
}

#[utoipa::path(
    post,
    path = "/admin/v1/clients",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    request_body(content = ClientRegistration, content_type = "application/json"),
    responses(
        (status = 201, description = "registered; the secret, shown once", body = ClientCredentials),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 409, description = "it exists already", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    caller: Caller,
    Body(reg): Body<ClientRegistration>,
) -> Result<Response, Error> {
    let c = caller.admin().register_client(reg).await?;
    Ok(created(&format!("{PREFIX}/clients/{}", c.client_id), &c))
}

#[utoipa::path(
    get,
    path = "/admin/v1/clients/{client_id}",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("client_id" = String, Path, description = "the client id")),
    responses(
        (status = 200, description = "the client", body = ClientInfo),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn show(caller: Caller, Path(client_id): Path<String>) -> Result<Response, Error> {
    Ok(ok(&caller.admin().client(&client_id).await?))
}

#[utoipa::path(
    patch,
    path = "/admin/v1/clients/{client_id}",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("client_id" = String, Path, description = "the client id")),
    request_body(
        content = Object,
        content_type = "application/merge-patch+json",
        description = "A JSON merge patch (RFC 7396) of the ClientInfo: a member sets a field, `null` returns it to its default. `client_id`, `created_at`, `previous_secret_until` and `public` cannot change; `application/json` is accepted too."
    ),
    responses(
        (status = 200, description = "the client as changed", body = ClientInfo),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    caller: Caller,
    Path(client_id): Path<String>,
    Body(patch): Body<Map<String, Value>>,
) -> Result<Response, Error> {
    Ok(ok(&caller.admin().patch_client(&client_id, patch).await?))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/clients/{client_id}",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("client_id" = String, Path, description = "the client id")),
    responses(
        (status = 204, description = "deleted, with its tokens"),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(caller: Caller, Path(client_id): Path<String>) -> Result<Response, Error> {
    caller.admin().delete_client(&client_id).await?;
    Ok(no_content())
}

/// `POST /admin/v1/clients/{id}/secret` with `{"grace_secs": N}` (or no
/// body): the new secret, shown once.
#[utoipa::path(
    post,
    path = "/admin/v1/clients/{client_id}/secret",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("client_id" = String, Path, description = "the client id")),
    request_body(content = Option<SecretRotation>, content_type = "application/json"),
    responses(
        (status = 200, description = "the new secret, shown once", body = ClientCredentials),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate_secret(
    caller: Caller,
    Path(client_id): Path<String>,
    body: Option<Body<SecretRotation>>,
) -> Result<Response, Error> {
    let rotation = body.map(|Body(r)| r).unwrap_or_default();
    let creds = caller
        .admin()
        .rotate_client_secret(&client_id, rotation)
        .await?;
    Ok(ok(&creds))
}
