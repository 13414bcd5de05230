//! The admin console's people: search and page through users, create them,
//! give them roles, disable them, set passwords. Admins only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use tollgate_proto::admin::{Role, UserInfo, UserPatch, UserRegistration};
use tollgate_proto::FormParams;

use super::auth::Posted;
use super::manage::{ADMIN, PAGE};
use super::redirect;
use super::reports::enc;
use super::views::{self, Detour, Nav};
use super::visitor::Visitor;
use crate::admin::AdminError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct UserList {
    after: Option<String>,
    q: Option<String>,
}

/// `GET /console/admin/users?after=`
pub async fn users(
    State(state): State<AppState>,
    v: Visitor,
    Query(q): Query<UserList>,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let search = Search {
        after: q.after.as_deref(),
        q: q.q.as_deref().map(str::trim).filter(|q| !q.is_empty()),
    };
    Ok(users_page(&state, &v, search, StatusCode::OK, None).await)
}

/// Which page of users: after a username, matching a search.
#[derive(Debug, Clone, Copy, Default)]
struct Search<'a> {
    after: Option<&'a str>,
    q: Option<&'a str>,
}

async fn users_page(
    state: &AppState,
    v: &Visitor,
    search: Search<'_>,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let page = match v
        .admin(state)
        .list_users(search.after, PAGE, search.q)
        .await
    {
        Ok(p) => p,
        Err(e) => return views::failed(v, Nav::Users, e).into_response(),
    };
    let body = html! {
        h1 { "Users" }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.inline role="search" method="get" action="/console/admin/users" {
            label for="q" { "Username or name contains" }
            input #q type="search" name="q" value=[search.q];
            button type="submit" { "Search" }
        }
        div.table-wrap {
            table {
                thead { tr { th { "Username" } th { "Name" } th { "Roles and state" } th { "Password" } } }
                tbody {
                    @for u in &page.items { (user_row(v, u)) }
                }
            }
        }
        @if page.items.is_empty() { p.muted { "No user matches." } }
        @if let Some(next) = &page.next {
            @let more = match search.q {
                Some(q) => format!("/console/admin/users?after={}&q={}", enc(next), enc(q)),
                None => format!("/console/admin/users?after={}", enc(next)),
            };
            p { a href=(more) { "Next page" } }
        }
        (new_user_form(v))
    };
    views::respond(status, views::layout(v, Nav::Users, "Users", body))
}

/// One user: roles and state to change, and a new password to set.
fn user_row(v: &Visitor, u: &UserInfo) -> Markup {
    html! {
        @let path = format!("/console/admin/users/{}", enc(&u.username));
        @let id = |what: &str| format!("{what}-{}", enc(&u.username));
        tr {
            td { (u.username) }
            td { (u.full_name.as_deref().unwrap_or("")) @if let Some(e) = &u.email { br; span.muted { (e) } } }
            td {
                form.inline method="post" action=(path) {
                    (views::csrf(v))
                    @for role in Role::ALL {
                        @let field = id(role.as_str());
                        span.check {
                            input id=(field) type="checkbox" name=(format!("role:{role}")) value="on" checked[u.roles.contains(&role)];
                            label for=(field) { (role) }
                        }
                    }
                    @let field = id("enabled");
                    span.check {
                        input id=(field) type="checkbox" name="enabled" value="on" checked[u.enabled];
                        label for=(field) { "enabled" }
                    }
                    button.secondary type="submit" { "Save" span.visually-hidden { " " (u.username) } }
                }
            }
            td {
                form.inline method="post" action=(format!("{path}/password")) {
                    (views::csrf(v))
                    @let field = id("password");
                    label.visually-hidden for=(field) { "New password for " (u.username) }
                    input id=(field) type="password" name="password" autocomplete="new-password" required placeholder="new password";
                    button.secondary type="submit" { "Set" span.visually-hidden { " the password of " (u.username) } }
                }
            }
        }
    }
}

/// The form that adds a user.
fn new_user_form(v: &Visitor) -> Markup {
    html! {
        section aria-labelledby="new-user-h" {
            h2 #new-user-h { "Add a user" }
            form.stacked method="post" action="/console/admin/users" {
                (views::csrf(v))
                label for="username" { "Username" }
                input #username type="text" name="username" required maxlength="255" autocomplete="off";
                label for="full_name" { "Full name " span.muted { "(optional)" } }
                input #full_name type="text" name="full_name" maxlength="255";
                label for="email" { "Email " span.muted { "(optional)" } }
                input #email type="email" name="email" maxlength="255";
                label for="password" { "Password" }
                input #password type="password" name="password" required autocomplete="new-password";
                fieldset {
                    legend { "Roles" }
                    @for role in Role::ALL {
                        @let field = format!("new-role-{role}");
                        div.check {
                            input id=(field) type="checkbox" name=(format!("role:{role}")) value="on";
                            label for=(field) { (role) }
                        }
                    }
                }
                button type="submit" { "Add the user" }
            }
        }
    }
}

fn roles_in(form: &FormParams) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| form.get(&format!("role:{r}")).is_some())
        .collect()
}

/// `POST /console/admin/users`: a new user.
pub async fn create_user(
    State(state): State<AppState>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let optional = |name: &str| {
        form.get(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let reg = UserRegistration {
        username: form.get("username").unwrap_or("").trim().to_owned(),
        password: form.get("password").unwrap_or("").to_owned(),
        full_name: optional("full_name"),
        email: optional("email"),
        roles: roles_in(&form),
    };
    users_answer(
        &state,
        &v,
        v.admin(&state)
            .register_user(state.oauth().passwords(), reg)
            .await
            .map(|_| ()),
    )
    .await
}

/// `POST /console/admin/users/{name}`: roles and state.
pub async fn update_user(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let enabled = form.get("enabled").is_some();
    if name == v.username && (!enabled || !roles_in(&form).contains(&ADMIN)) {
        let why =
            "You cannot disable yourself or take away your own admin role here: ask another admin.";
        return Err(users_page(
            &state,
            &v,
            Search::default(),
            StatusCode::BAD_REQUEST,
            Some(why),
        )
        .await
        .into());
    }
    let patch = UserPatch {
        enabled: Some(enabled),
        roles: Some(roles_in(&form)),
        ..UserPatch::default()
    };
    users_answer(
        &state,
        &v,
        v.admin(&state).update_user(&name, patch).await.map(|_| ()),
    )
    .await
}

/// `POST /console/admin/users/{name}/password`
pub async fn set_password(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let password = form.get("password").unwrap_or("").to_owned();
    let done = v
        .admin(&state)
        .set_user_password(state.oauth().passwords(), &name, password)
        .await;
    users_answer(&state, &v, done).await
}

/// Back to the users page, or the page again with what was wrong.
async fn users_answer(
    state: &AppState,
    v: &Visitor,
    outcome: Result<(), AdminError>,
) -> Result<Response, Detour> {
    match outcome {
        Ok(()) => Ok(redirect("/console/admin/users")),
        Err(AdminError::Invalid(why)) => Err(users_page(
            state,
            v,
            Search::default(),
            StatusCode::BAD_REQUEST,
            Some(&why),
        )
        .await
        .into()),
        Err(AdminError::Store(crate::store::StoreError::Conflict(what))) => {
            let why = format!("{what} already exists");
            Err(users_page(
                state,
                v,
                Search::default(),
                StatusCode::CONFLICT,
                Some(&why),
            )
            .await
            .into())
        }
        Err(e) => Err(views::failed(v, Nav::Users, e)),
    }
}
