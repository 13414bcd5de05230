//! `/admin/v1/users`: register, list (paged), read, change (names,
//! enabled), set a password.

use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use tollgate_proto::admin::{Page, PasswordChange, UserInfo, UserPatch, UserRegistration};

use super::body::Body;
use super::{created, no_content, ok, page_size, Caller, PREFIX};
use crate::error::Error;

/// `GET /admin/v1/users?limit=&after=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    /// Part of the username or full name, any case.
    name: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/users",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(ListQuery),
    responses(
        (status = 200, description = "a page of users by username", body = Page<UserInfo>),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(caller: Caller, Query(q): Query<ListQuery>) -> Result<Response, Error> {
    let limit = page_size(q.limit)?;
    Ok(ok(&caller
        .admin()
        .list_users(q.after.as_deref(), limit, q.name.as_deref())
        .await?))
}

#[utoipa::path(
    post,
    path = "/admin/v1/users",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    request_body(content = UserRegistration, content_type = "application/json"),
    responses(
        (status = 201, description = "registered", body = UserInfo),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 409, description = "it exists already", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(caller: Caller, Body(reg): Body<UserRegistration>) -> Result<Response, Error> {
    let passwords = caller.state.oauth().passwords();
    let user = caller.admin().register_user(passwords, reg).await?;
    Ok(created(&format!("{PREFIX}/users/{}", user.username), &user))
}

#[utoipa::path(
    get,
    path = "/admin/v1/users/{username}",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("username" = String, Path, description = "the username")),
    responses(
        (status = 200, description = "the user", body = UserInfo),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn show(caller: Caller, Path(username): Path<String>) -> Result<Response, Error> {
    Ok(ok(&caller.admin().user(&username).await?))
}

#[utoipa::path(
    patch,
    path = "/admin/v1/users/{username}",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("username" = String, Path, description = "the username")),
    request_body(content = UserPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "the user as changed", body = UserInfo),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    caller: Caller,
    Path(username): Path<String>,
    Body(patch): Body<UserPatch>,
) -> Result<Response, Error> {
    Ok(ok(&caller.admin().update_user(&username, patch).await?))
}

#[utoipa::path(
    put,
    path = "/admin/v1/users/{username}/password",
    tag = "admin",
    security(("bearer" = ["tollgate:admin"])),
    params(("username" = String, Path, description = "the username")),
    request_body(content = PasswordChange, content_type = "application/json"),
    responses(
        (status = 204, description = "changed"),
        (status = 400, description = "invalid input", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such resource", body = crate::http::schemas::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_password(
    caller: Caller,
    Path(username): Path<String>,
    Body(change): Body<PasswordChange>,
) -> Result<Response, Error> {
    let passwords = caller.state.oauth().passwords();
    caller
        .admin()
        .set_user_password(passwords, &username, change.password)
        .await?;
    Ok(no_content())
}
