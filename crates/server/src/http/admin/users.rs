//! `/admin/v1/users`: register, list (paged), read, change (names,
//! enabled), set a password.

use axum::extract::{Path, Query};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use tollgate_proto::admin::{PasswordChange, UserPatch, UserRegistration};

use super::{created, no_content, ok, page_size, Caller, PREFIX};
use crate::Error;

/// `GET /admin/v1/users?limit=&after=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

pub async fn list(caller: Caller, Query(q): Query<ListQuery>) -> Result<Response, Error> {
    let limit = page_size(q.limit)?;
    Ok(ok(&caller
        .admin()
        .list_users(q.after.as_deref(), limit)
        .await?))
}

pub async fn create(caller: Caller, Json(reg): Json<UserRegistration>) -> Result<Response, Error> {
    let passwords = caller.state.oauth().passwords();
    let user = caller.admin().register_user(passwords, reg).await?;
    Ok(created(&format!("{PREFIX}/users/{}", user.username), &user))
}

pub async fn show(caller: Caller, Path(username): Path<String>) -> Result<Response, Error> {
    Ok(ok(&caller.admin().user(&username).await?))
}

pub async fn update(
    caller: Caller,
    Path(username): Path<String>,
    Json(patch): Json<UserPatch>,
) -> Result<Response, Error> {
    Ok(ok(&caller.admin().update_user(&username, patch).await?))
}

pub async fn set_password(
    caller: Caller,
    Path(username): Path<String>,
    Json(change): Json<PasswordChange>,
) -> Result<Response, Error> {
    let passwords = caller.state.oauth().passwords();
    caller
        .admin()
        .set_user_password(passwords, &username, change.password)
        .await?;
    Ok(no_content())
}
