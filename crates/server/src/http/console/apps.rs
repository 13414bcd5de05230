//! The developer portal: a developer's own apps. Register one (its key and
//! secret shown once, with commands ready to paste), see its quota and
//! usage, rotate its secret, disable, enable or delete it. Another
//! person's app answers as if it did not exist.

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tollgate_proto::admin::{ClientInfo, ClientRegistration, Role, SecretRotation};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::{FormParams, GrantType, Scope};

use super::auth::Posted;
use super::credentials;
use super::redirect;
use super::reports::{client_usage, enc};
use super::views::{self, when, Detour, Nav};
use super::visitor::Visitor;
use crate::admin::AdminError;
use crate::state::AppState;
use crate::store::ClientFilter;

const DEVELOPER: Role = Role::Developer;
/// Apps on one page of the list.
const PAGE: u32 = 50;

/// `GET /console`: the first page each role needs.
pub async fn home(v: Visitor) -> Response {
    if v.is(DEVELOPER) {
        redirect("/console/apps")
    } else if v.is(Role::Admin) {
        redirect("/console/admin/clients")
    } else {
        views::respond(
            StatusCode::FORBIDDEN,
            views::message(
                &v,
                Nav::None,
                "No console role yet",
                "Your account has neither the developer nor the admin role. Ask an administrator for one.",
            ),
        )
    }
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    after: Option<String>,
}

/// `GET /console/apps`
pub async fn list(
    State(state): State<AppState>,
    v: Visitor,
    Query(q): Query<ListParams>,
) -> Result<Response, Detour> {
    v.require(DEVELOPER)?;
    let filter = ClientFilter {
        after: q.after,
        limit: PAGE,
        owner: Some(v.username.clone()),
        ..ClientFilter::default()
    };
    let page = v
        .admin(&state)
        .list_clients(filter)
        .await
        .map_err(|e| views::failed(&v, Nav::Apps, e))?;
    let body = html! {
        div.heading {
            h1 { "My apps" }
            a.button href="/console/apps/new" { "Register an app" }
        }
        @if page.items.is_empty() {
            p { "You have no apps yet. Register one to receive a key and secret for the APIs." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th { "Name" } th { "Key (client id)" } th { "Scopes" } th { "State" } th { "Registered" } } }
                    tbody {
                        @for c in &page.items {
                            tr {
                                td { a href=(app_path(&c.client_id)) { (c.settings.client_name) } }
                                td { code { (c.client_id) } }
                                td { (c.settings.scope) @if !c.requested_scope.is_empty() { " " span.badge { "awaiting approval: " (c.requested_scope) } } }
                                td { (state_label(c)) }
                                td { (when(c.created_at)) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &page.next {
                p { a href=(format!("/console/apps?after={}", enc(next))) { "More apps" } }
            }
        }
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Apps, "My apps", body),
    ))
}

/// `GET /console/apps/new`
pub async fn new_form(State(state): State<AppState>, v: Visitor) -> Result<Response, Detour> {
    v.require(DEVELOPER)?;
    Ok(registration_page(
        &state,
        &v,
        StatusCode::OK,
        &FormParams::default(),
        None,
    ))
}

fn registration_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    form: &FormParams,
    error: Option<&str>,
) -> Response {
    let offered = &state.config().self_service_scopes;
    let body = html! {
        h1 { "Register an app" }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stacked method="post" action="/console/apps" {
            (views::csrf(v))
            label for="name" { "Name" }
            input #name type="text" name="name" required maxlength="255" value=[form.get("name")]
                autofocus aria-describedby="name-help";
            p #name-help .help { "How the app is shown to you, to admins, and to people who sign in through it." }
            label for="description" { "Description " span.muted { "(optional)" } }
            textarea #description name="description" maxlength="1000" rows="3" { (form.get("description").unwrap_or("")) }
            fieldset {
                legend { "Scopes" }
                @if offered.is_empty() {
                    p.muted { "No scope is open for self-service here; ask for what you need below." }
                }
                @for s in offered.iter() {
                    @let field = format!("scope:{s}");
                    div.check {
                        input id=(field) type="checkbox" name=(field) value="on" checked[form.get(&field).is_some()];
                        label for=(field) { code { (s) } }
                    }
                }
                label for="requested" { "Other scopes to ask an admin for " span.muted { "(optional, space-separated)" } }
                input #requested type="text" name="requested" maxlength="255" value=[form.get("requested")];
            }
            label for="redirect_uris" { "Redirect URIs " span.muted { "(optional: for apps people sign in through; one per line)" } }
            textarea #redirect_uris name="redirect_uris" rows="2" placeholder="https://app.example.com/callback" {
                (form.get("redirect_uris").unwrap_or(""))
            }
            button type="submit" { "Register" }
        }
    };
    views::respond(status, views::layout(v, Nav::Apps, "Register an app", body))
}

/// `POST /console/apps`: registered → its key and secret, once.
pub async fn create(
    State(state): State<AppState>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(DEVELOPER)?;
    let again =
        |why: &str| registration_page(&state, &v, StatusCode::BAD_REQUEST, &form, Some(why));
    let (reg, requested) = match registration(&state, &v, &form) {
        Ok(r) => r,
        Err(why) => return Err(again(&why).into()),
    };
    let ops = v.admin(&state);
    let creds = match ops.register_client(reg).await {
        Ok(c) => c,
        Err(crate::admin::AdminError::Invalid(why)) => return Err(again(&why).into()),
        Err(e) => return Err(views::failed(&v, Nav::Apps, e)),
    };
    if !requested.is_empty() {
        ops.edit_client(&creds.client_id, |c| {
            c.requested_scope = requested;
            Ok(())
        })
        .await
        .map_err(|e| views::failed(&v, Nav::Apps, e))?;
    }
    let back = app_path(&creds.client.client_id);
    Ok(credentials::page(
        &state,
        &v,
        Nav::Apps,
        &creds,
        "Your app is registered",
        &back,
    ))
}

/// The registration a form asks for, and the scopes to ask an admin for.
fn registration(
    state: &AppState,
    v: &Visitor,
    form: &FormParams,
) -> Result<(ClientRegistration, Scope), String> {
    let name = form.get("name").unwrap_or("").trim();
    if name.is_empty() {
        return Err("Give the app a name.".into());
    }
    let offered = &state.config().self_service_scopes;
    let scope: Scope = offered
        .iter()
        .filter(|s| form.get(&format!("scope:{s}")).is_some())
        .collect();
    let asked: Scope = form.get("requested").unwrap_or("").parse().map_err(|_| {
        "Scopes are words without quotes or backslashes, separated by spaces.".to_owned()
    })?;
    let (granted, requested) = split(offered, &asked);
    let scope: Scope = scope.iter().chain(granted.iter()).collect();
    let redirect_uris = lines(form.get("redirect_uris").unwrap_or(""));
    let mut grant_types = BTreeSet::from([GrantType::ClientCredentials]);
    if !redirect_uris.is_empty() {
        grant_types.extend([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    }
    Ok((
        ClientRegistration {
            settings: ClientSettings {
                client_name: name.to_owned(),
                description: form.get("description").unwrap_or("").trim().to_owned(),
                scope,
                grant_types,
                redirect_uris,
                ..ClientSettings::default()
            },
            owner: Some(v.username.clone()),
            ..ClientRegistration::default()
        },
        requested,
    ))
}

/// `GET /console/apps/{id}`
pub async fn show(
    State(state): State<AppState>,
    v: Visitor,
    Path(id): Path<String>,
) -> Result<Response, Detour> {
    let c = owned(&state, &v, &id).await?;
    let usage = client_usage(&state, &c).await;
    let body = html! {
        div.heading {
            h1 { (c.settings.client_name) }
            span.badge { (state_label(&c)) }
        }
        @if !c.settings.description.is_empty() { p { (c.settings.description) } }
        dl.facts {
            dt { "Key (client id)" } dd { code #client-id { (c.client_id) } " " (credentials::copy("client-id")) }
            dt { "Scopes" } dd { @if c.settings.scope.is_empty() { span.muted { "none" } } @else { (c.settings.scope) } }
            @if !c.requested_scope.is_empty() {
                dt { "Awaiting approval" } dd { (c.requested_scope) }
            }
            dt { "Grants" } dd { (c.settings.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")) }
            @if !c.settings.redirect_uris.is_empty() {
                dt { "Redirect URIs" } dd { @for u in &c.settings.redirect_uris { code { (u) } br; } }
            }
            dt { "Registered" } dd { (when(c.created_at)) }
            @if let Some(until) = c.previous_secret_until {
                dt { "Previous secret" } dd { "still accepted until " (when(until)) }
            }
        }
        (usage)
        (credentials::commands(&state, &c, None))
        (edit_section(&v, &c))
        (manage_section(&v, &c))
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Apps, &c.settings.client_name, body),
    ))
}

/// What a developer may change of their app.
fn edit_section(v: &Visitor, c: &ClientInfo) -> Markup {
    html! {
        section aria-labelledby="edit-h" {
            h2 #edit-h { "Settings" }
            form.stacked method="post" action=(app_path(&c.client_id)) {
                (views::csrf(v))
                label for="name" { "Name" }
                input #name type="text" name="name" required maxlength="255" value=(c.settings.client_name);
                label for="description" { "Description" }
                textarea #description name="description" maxlength="1000" rows="2" { (c.settings.description) }
                label for="requested" { "More scopes " span.muted { "(space-separated; self-service ones are granted at once, others wait for an admin)" } }
                input #requested type="text" name="requested" maxlength="255";
                label for="redirect_uris" { "Redirect URIs " span.muted { "(one per line)" } }
                textarea #redirect_uris name="redirect_uris" rows="2" { (c.settings.redirect_uris.join("\n")) }
                button type="submit" { "Save" }
            }
        }
    }
}

/// Rotating the secret, turning the app off and on, deleting it.
fn manage_section(v: &Visitor, c: &ClientInfo) -> Markup {
    html! {
        section aria-labelledby="manage-h" {
            h2 #manage-h { "Manage" }
            form.stacked method="post" action=(format!("{}/secret", app_path(&c.client_id))) {
                (views::csrf(v))
                label for="grace" { "Rotate the secret; the old one keeps working for" }
                select #grace name="grace_secs" {
                    option value="0" { "no time: stop it now" }
                    option value="3600" { "one hour" }
                    option value="86400" { "one day" }
                }
                button type="submit" { "Rotate the secret" }
            }
            form.inline method="post" action=(format!("{}/enabled", app_path(&c.client_id))) {
                (views::csrf(v))
                @if c.enabled {
                    input type="hidden" name="enabled" value="false";
                    button.secondary type="submit" { "Disable the app" }
                    span.muted { " Its tokens stop working; nothing is deleted." }
                } @else {
                    input type="hidden" name="enabled" value="true";
                    button type="submit" { "Enable the app" }
                }
            }
            form.inline method="post" action=(format!("{}/delete", app_path(&c.client_id))) {
                (views::csrf(v))
                div.check {
                    input #confirm type="checkbox" name="confirm" value="yes" required;
                    label for="confirm" { "Delete " (c.settings.client_name) " and its tokens, for good" }
                }
                button.danger type="submit" { "Delete the app" }
            }
        }
    }
}

/// `POST /console/apps/{id}`: the developer's settings form.
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    let c = owned(&state, &v, &id).await?;
    let offered = &state.config().self_service_scopes;
    let asked: Scope = form.get("requested").unwrap_or("").parse().map_err(|_| {
        let why = "Scopes are words without quotes or backslashes, separated by spaces.";
        views::failed(&v, Nav::Apps, AdminError::Invalid(why.into()))
    })?;
    v.admin(&state)
        .edit_client(&c.client_id, |c| {
            developer_settings(offered, &asked, &form, c);
            Ok(())
        })
        .await
        .map_err(|e| views::failed(&v, Nav::Apps, e))?;
    Ok(redirect(&app_path(&c.client_id)))
}

/// What a developer may change: name, description, redirect URIs (which
/// bring the authorization code grant, or take it away), and more scopes
/// (self-service ones at once, the rest to ask an admin for).
fn developer_settings(offered: &Scope, asked: &Scope, form: &FormParams, c: &mut ClientInfo) {
    let (granted, requested) = split(offered, asked);
    let s = &mut c.settings;
    s.scope = s.scope.iter().chain(granted.iter()).collect();
    c.requested_scope = c
        .requested_scope
        .iter()
        .chain(requested.iter().filter(|r| !s.scope.contains(r)))
        .collect();
    s.client_name = form.get("name").unwrap_or("").trim().to_owned();
    s.description = form.get("description").unwrap_or("").trim().to_owned();
    s.redirect_uris = lines(form.get("redirect_uris").unwrap_or(""));
    if s.redirect_uris.is_empty() {
        s.grant_types.remove(&GrantType::AuthorizationCode);
    } else {
        s.grant_types
            .extend([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    }
}

/// The scopes `asked` for, split into those a developer gets at once (the
/// ones `offered` for self-service) and those an admin must approve.
fn split(offered: &Scope, asked: &Scope) -> (Scope, Scope) {
    let granted = asked.iter().filter(|s| offered.contains(s)).collect();
    let pending = asked.iter().filter(|s| !offered.contains(s)).collect();
    (granted, pending)
}

/// The non-empty lines of a text area, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /console/apps/{id}/secret`
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    let c = owned(&state, &v, &id).await?;
    let grace_secs = credentials::grace(&form).map_err(|e| views::failed(&v, Nav::Apps, e))?;
    let creds = v
        .admin(&state)
        .rotate_client_secret(&c.client_id, SecretRotation { grace_secs })
        .await
        .map_err(|e| views::failed(&v, Nav::Apps, e))?;
    let back = app_path(&creds.client.client_id);
    Ok(credentials::page(
        &state,
        &v,
        Nav::Apps,
        &creds,
        "A new secret",
        &back,
    ))
}

/// `POST /console/apps/{id}/enabled` (`enabled=true|false`)
pub async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    let c = owned(&state, &v, &id).await?;
    let enabled = form.get("enabled") == Some("true");
    v.admin(&state)
        .edit_client(&c.client_id, |c| {
            c.enabled = enabled;
            Ok(())
        })
        .await
        .map_err(|e| views::failed(&v, Nav::Apps, e))?;
    Ok(redirect(&app_path(&c.client_id)))
}

/// `POST /console/apps/{id}/delete` (`confirm=yes`)
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    let c = owned(&state, &v, &id).await?;
    credentials::confirmed(&form).map_err(|e| views::failed(&v, Nav::Apps, e))?;
    v.admin(&state)
        .delete_client(&c.client_id)
        .await
        .map_err(|e| views::failed(&v, Nav::Apps, e))?;
    Ok(redirect("/console/apps"))
}

/// The app, if it is this developer's; else the page that says there is
/// no such app (the same page whether it exists or not).
async fn owned(state: &AppState, v: &Visitor, id: &str) -> Result<ClientInfo, Detour> {
    v.require(DEVELOPER)?;
    match v.admin(state).client(id).await {
        Ok(c) if c.owner.as_deref() == Some(v.username.as_str()) => Ok(c),
        Ok(_) | Err(crate::admin::AdminError::Store(crate::store::StoreError::NotFound(_))) => {
            Err(views::not_found(v, Nav::Apps))
        }
        Err(e) => Err(views::failed(v, Nav::Apps, e)),
    }
}

fn app_path(id: &str) -> String {
    format!("/console/apps/{}", enc(id))
}

fn state_label(c: &ClientInfo) -> &'static str {
    if c.enabled {
        "enabled"
    } else {
        "disabled"
    }
}
