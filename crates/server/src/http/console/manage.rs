//! The admin console's clients: search and page through them, change a
//! client's scopes, grants, quotas and state, approve the scopes developers
//! asked for, rotate secrets and delete. Admins only (people: `users`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tollgate_proto::admin::{ClientInfo, ClientRegistration, Role, SecretRotation};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::jose::SigningAlg;
use tollgate_proto::{FormParams, GrantType};

use super::auth::Posted;
use super::credentials;
use super::redirect;
use super::reports::{client_usage, enc};
use super::views::{self, limit, when, Detour, Nav};
use super::visitor::Visitor;
use crate::admin::AdminError;
use crate::state::AppState;
use crate::store::ClientFilter;

pub(super) const ADMIN: Role = Role::Admin;
pub(super) const PAGE: u32 = 50;

#[derive(Debug, Deserialize)]
pub struct ClientSearch {
    q: Option<String>,
    /// `enabled`, `disabled`, `pending` or empty.
    show: Option<String>,
    after: Option<String>,
}

/// `GET /console/admin/clients?q=&show=&after=`
pub async fn clients(
    State(state): State<AppState>,
    v: Visitor,
    Query(s): Query<ClientSearch>,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let q = s.q.clone().filter(|q| !q.trim().is_empty());
    let show = s.show.clone().unwrap_or_default();
    let filter = ClientFilter {
        after: s.after.clone(),
        limit: PAGE,
        name: q.clone(),
        enabled: match show.as_str() {
            "enabled" => Some(true),
            "disabled" => Some(false),
            _ => None,
        },
        pending: show == "pending",
        ..ClientFilter::default()
    };
    let page = v
        .admin(&state)
        .list_clients(filter)
        .await
        .map_err(|e| views::failed(&v, Nav::Clients, e))?;
    let next = page.next.as_ref().map(|next| {
        let mut more = form_urlencoded::Serializer::new(String::new());
        more.append_pair("after", next);
        if let Some(q) = &q {
            more.append_pair("q", q);
        }
        more.append_pair("show", &show);
        format!("/console/admin/clients?{}", more.finish())
    });
    let body = html! {
        div.heading {
            h1 { "Clients" }
            a.button href="/console/admin/clients/new" { "Register a client" }
        }
        form.inline role="search" method="get" action="/console/admin/clients" {
            label for="q" { "Name contains" }
            input #q type="search" name="q" value=[q.as_deref()];
            label for="show" { "Show" }
            select #show name="show" {
                @for (value, text) in [("", "all"), ("enabled", "enabled"), ("disabled", "disabled"), ("pending", "awaiting scope approval")] {
                    option value=(value) selected[show == value] { (text) }
                }
            }
            button type="submit" { "Search" }
        }
        div.table-wrap {
            table {
                thead { tr { th { "Name" } th { "Client id" } th { "Owner" } th { "Scopes" } th { "Quota" } th { "State" } } }
                tbody {
                    @for c in &page.items {
                        tr {
                            td { a href=(client_path(&c.client_id)) { (c.settings.client_name) } }
                            td { code { (c.client_id) } }
                            td { (c.owner.as_deref().unwrap_or("—")) }
                            td { (c.settings.scope) @if !c.requested_scope.is_empty() { " " span.badge { "asks for " (c.requested_scope) } } }
                            td { (quota_text(&state, c)) }
                            td { @if c.enabled { "enabled" } @else { "disabled" } }
                        }
                    }
                }
            }
        }
        @if page.items.is_empty() { p.muted { "No client matches." } }
        @if let Some(next) = next { p { a href=(next) { "Next page" } } }
        (super::registration::offer(&v, state.config().issuer.trim_end_matches('/')))
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Clients, "Clients", body),
    ))
}

fn quota_text(state: &AppState, c: &ClientInfo) -> String {
    let d = state.config().quota.defaults();
    format!(
        "{}; {}",
        limit(c.settings.qps.unwrap_or(d.qps), "/s"),
        limit(c.settings.per_day.unwrap_or(d.per_day), "/day")
    )
}

/// `GET /console/admin/clients/{id}`
pub async fn client(
    State(state): State<AppState>,
    v: Visitor,
    Path(id): Path<String>,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let c = v
        .admin(&state)
        .client(&id)
        .await
        .map_err(|e| views::failed(&v, Nav::Clients, e))?;
    Ok(client_page(&state, &v, &c, StatusCode::OK, None).await)
}

async fn client_page(
    state: &AppState,
    v: &Visitor,
    c: &ClientInfo,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let usage = client_usage(state, c).await;
    let path = client_path(&c.client_id);
    let body = html! {
        h1 { (c.settings.client_name) }
        p.muted {
            code { (c.client_id) } " · registered " (when(c.created_at))
            @if let Some(o) = &c.owner { " by " (o) }
        }
        @if !c.settings.description.is_empty() { p { (c.settings.description) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if !c.requested_scope.is_empty() { (pending_section(v, c, &path)) }
        (settings_section(state, v, c, &path))
        (usage)
        (danger_section(v, c, &path))
    };
    views::respond(
        status,
        views::layout(v, Nav::Clients, &c.settings.client_name, body),
    )
}

/// Scopes a developer asked for, to approve or reject.
fn pending_section(v: &Visitor, c: &ClientInfo, path: &str) -> Markup {
    html! {
        section.pending aria-labelledby="pending-h" {
            h2 #pending-h { "Scopes awaiting approval" }
            p { "The developer asks for " strong { (c.requested_scope) } "." }
            form.inline method="post" action=(format!("{path}/approve")) {
                (views::csrf(v))
                button type="submit" name="decision" value="approve" { "Approve" }
                button.secondary type="submit" name="decision" value="reject" { "Reject" }
            }
        }
    }
}

/// The client's settings an admin may change: one input each.
fn settings_section(state: &AppState, v: &Visitor, c: &ClientInfo, path: &str) -> Markup {
    let num = |n: Option<u64>| n.map(|n| n.to_string());
    let defaults = state.config().quota.defaults();
    let default_ttl = state.config().token_ttl;
    html! {
        section aria-labelledby="settings-h" {
            h2 #settings-h { "Settings" }
            form.stacked method="post" action=(path) {
                (views::csrf(v))
                label for="client_name" { "Name" }
                input #client_name type="text" name="client_name" value=(c.settings.client_name) required maxlength="255";
                label for="scope" { "Scopes " span.muted { "(space-separated)" } }
                input #scope type="text" name="scope" value=(c.settings.scope);
                fieldset {
                    legend { "Grants" }
                    @for g in GrantType::ALL {
                        @let field = format!("grant:{}", g.as_str());
                        div.check {
                            input id=(field) type="checkbox" name=(field) value="on" checked[c.settings.grant_types.contains(&g)];
                            label for=(field) { code { (g.as_str()) } }
                        }
                    }
                }
                label for="qps" { "Calls per second " span.muted { "(0: unlimited; empty: the server's default)" } }
                input #qps type="number" name="qps" min="0" value=[num(c.settings.qps)] placeholder=(format!("default: {}", defaults.qps));
                label for="per_day" { "Calls per day " span.muted { "(0: unlimited; empty: the server's default)" } }
                input #per_day type="number" name="per_day" min="0" value=[num(c.settings.per_day)] placeholder=(format!("default: {}", defaults.per_day));
                label for="token_ttl" { "Token lifetime, seconds " span.muted { "(empty: the server's default)" } }
                input #token_ttl type="number" name="token_ttl" min="1" value=[num(c.settings.token_ttl)] placeholder=(format!("default: {default_ttl}"));
                label for="redirect_uris" { "Redirect URIs " span.muted { "(one per line)" } }
                textarea #redirect_uris name="redirect_uris" rows="2" { (c.settings.redirect_uris.join("\n")) }
                label for="post_logout_redirect_uris" { "After sign-out URIs " span.muted { "(one per line: where RP-initiated logout may send the browser)" } }
                textarea #post_logout_redirect_uris name="post_logout_redirect_uris" rows="2" { (c.settings.post_logout_redirect_uris.join("\n")) }
                label for="backchannel_logout_uri" { "Back-channel logout URI " span.muted { "(https: told with a logout token when a person's session ends; empty: not told)" } }
                input #backchannel_logout_uri type="url" name="backchannel_logout_uri" value=[c.settings.backchannel_logout_uri.as_deref()];
                label for="allowed_cors_origins" { "CORS origins " span.muted { "(one per line, like https://app.example; empty: the redirect URIs' origins)" } }
                textarea #allowed_cors_origins name="allowed_cors_origins" rows="2" { (c.settings.allowed_cors_origins.join("\n")) }
                label for="default_max_age" { "Sign in again after, seconds " span.muted { "(OpenID Connect default_max_age; empty: never)" } }
                input #default_max_age type="number" name="default_max_age" min="0" value=[c.settings.default_max_age.map(|n| n.to_string())];
                (alg_select("id_token_signed_response_alg", "ID token algorithm", "RS256, the OpenID Connect default", c.settings.id_token_signed_response_alg))
                (alg_select("userinfo_signed_response_alg", "Signed userinfo", "none: plain JSON", c.settings.userinfo_signed_response_alg))
                div.check {
                    input #enabled type="checkbox" name="enabled" value="on" checked[c.enabled];
                    label for="enabled" { "Enabled" }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

/// A choice of signing algorithm for the setting `name`; the empty choice
/// (`default`) is `null`.
fn alg_select(name: &str, label: &str, default: &str, current: Option<SigningAlg>) -> Markup {
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) {
            option value="" selected[current.is_none()] { "default (" (default) ")" }
            @for a in SigningAlg::ALL {
                option value=(a.as_str()) selected[current == Some(a)] { (a.as_str()) }
            }
        }
    }
}

/// Reads an [`alg_select`].
fn alg_field(form: &FormParams, name: &str) -> Result<Option<SigningAlg>, AdminError> {
    match form.get(name).unwrap_or("") {
        "" => Ok(None),
        a => SigningAlg::parse(a)
            .map(Some)
            .ok_or_else(|| AdminError::Invalid(format!("`{name}`: unknown algorithm `{a}`"))),
    }
}

/// Rotating the secret (confidential clients) and deleting the client.
fn danger_section(v: &Visitor, c: &ClientInfo, path: &str) -> Markup {
    html! {
        section aria-labelledby="danger-h" {
            h2 #danger-h { "Secret and deletion" }
            @if !c.settings.public {
                form.stacked method="post" action=(format!("{path}/secret")) {
                    (views::csrf(v))
                    label for="grace" { "Rotate the secret; the old one keeps working for" }
                    select #grace name="grace_secs" {
                        option value="0" { "no time: stop it now" }
                        option value="3600" { "one hour" }
                        option value="86400" { "one day" }
                    }
                    button type="submit" { "Rotate the secret" }
                }
            }
            form.inline method="post" action=(format!("{path}/delete")) {
                (views::csrf(v))
                div.check {
                    input #confirm type="checkbox" name="confirm" value="yes" required;
                    label for="confirm" { "Delete this client, its tokens and consents, for good" }
                }
                button.danger type="submit" { "Delete the client" }
            }
        }
    }
}

/// `POST /console/admin/clients/{id}`: the settings form.
pub async fn update_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let ops = v.admin(&state);
    let outcome = ops
        .edit_client(&id, |c| {
            settings_form(&form, &mut c.settings)?;
            c.enabled = form.get("enabled").is_some();
            Ok(())
        })
        .await;
    match outcome {
        Ok(_) => Ok(redirect(&client_path(&id))),
        Err(AdminError::Invalid(why)) => {
            let c = ops
                .client(&id)
                .await
                .map_err(|e| views::failed(&v, Nav::Clients, e))?;
            Err(
                client_page(&state, &v, &c, StatusCode::BAD_REQUEST, Some(&why))
                    .await
                    .into(),
            )
        }
        Err(e) => Err(views::failed(&v, Nav::Clients, e)),
    }
}

/// Sets what the settings form (and the registration form) holds: name,
/// scope, grants, limits, lifetime and redirect URIs.
fn settings_form(form: &FormParams, s: &mut ClientSettings) -> Result<(), AdminError> {
    let number = |name: &str| -> Result<Option<u64>, AdminError> {
        match form.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(n) => n.parse().map(Some).map_err(|_| {
                AdminError::Invalid(format!("`{name}` must be a whole number, 0 or more"))
            }),
        }
    };
    let scope = form.get("scope").unwrap_or("").trim();
    s.client_name = form.get("client_name").unwrap_or("").trim().to_owned();
    s.scope = scope
        .parse()
        .map_err(|_| AdminError::Invalid(format!("invalid scope `{scope}`")))?;
    s.grant_types = GrantType::ALL
        .into_iter()
        .filter(|g| form.get(&format!("grant:{}", g.as_str())).is_some())
        .collect();
    s.qps = number("qps")?;
    s.per_day = number("per_day")?;
    s.token_ttl = number("token_ttl")?;
    s.default_max_age = number("default_max_age")?
        .map(u32::try_from)
        .transpose()
        .map_err(|_| AdminError::Invalid("`default_max_age` is too large".into()))?;
    s.allowed_cors_origins = super::apps::lines(form.get("allowed_cors_origins").unwrap_or(""));
    s.post_logout_redirect_uris =
        super::apps::lines(form.get("post_logout_redirect_uris").unwrap_or(""));
    s.backchannel_logout_uri = form
        .get("backchannel_logout_uri")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    s.id_token_signed_response_alg = alg_field(form, "id_token_signed_response_alg")?;
    s.userinfo_signed_response_alg = alg_field(form, "userinfo_signed_response_alg")?;
    s.redirect_uris = super::apps::lines(form.get("redirect_uris").unwrap_or(""));
    Ok(())
}

/// `POST /console/admin/clients/{id}/approve` (`decision=approve|reject`)
pub async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let ops = v.admin(&state);
    let approve = form.get("decision") == Some("approve");
    ops.edit_client(&id, |c| {
        let requested = std::mem::take(&mut c.requested_scope);
        if approve {
            c.settings.scope = c.settings.scope.iter().chain(requested.iter()).collect();
        }
        Ok(())
    })
    .await
    .map_err(|e| views::failed(&v, Nav::Clients, e))?;
    Ok(redirect(&client_path(&id)))
}

fn client_path(id: &str) -> String {
    format!("/console/admin/clients/{}", enc(id))
}

/// `GET /console/admin/clients/new`
pub async fn new_client(State(state): State<AppState>, v: Visitor) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    Ok(new_client_page(
        &state,
        &v,
        StatusCode::OK,
        &FormParams::default(),
        None,
    ))
}

fn new_client_page(
    state: &AppState,
    v: &Visitor,
    status: StatusCode,
    form: &FormParams,
    error: Option<&str>,
) -> Response {
    let defaults = state.config().quota.defaults();
    let body = html! {
        h1 { "Register a client" }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stacked method="post" action="/console/admin/clients" {
            (views::csrf(v))
            label for="client_name" { "Name" }
            input #client_name type="text" name="client_name" required maxlength="255" value=[form.get("client_name")] autofocus;
            label for="description" { "Description " span.muted { "(optional)" } }
            textarea #description name="description" maxlength="1000" rows="2" { (form.get("description").unwrap_or("")) }
            label for="owner" { "Owner " span.muted { "(optional: a developer's username; it shows in their portal)" } }
            input #owner type="text" name="owner" maxlength="255" value=[form.get("owner")];
            label for="scope" { "Scopes " span.muted { "(space-separated)" } }
            input #scope type="text" name="scope" value=[form.get("scope")];
            fieldset {
                legend { "Grants" }
                @for g in GrantType::ALL {
                    @let field = format!("grant:{}", g.as_str());
                    div.check {
                        input id=(field) type="checkbox" name=(field) value="on"
                            checked[form.get(&field).is_some() || (g == GrantType::ClientCredentials && form.get("client_name").is_none())];
                        label for=(field) { code { (g.as_str()) } }
                    }
                }
            }
            label for="qps" { "Calls per second " span.muted { "(0: unlimited; empty: the server's default)" } }
            input #qps type="number" name="qps" min="0" value=[form.get("qps")] placeholder=(format!("default: {}", defaults.qps));
            label for="per_day" { "Calls per day " span.muted { "(0: unlimited; empty: the server's default)" } }
            input #per_day type="number" name="per_day" min="0" value=[form.get("per_day")] placeholder=(format!("default: {}", defaults.per_day));
            label for="redirect_uris" { "Redirect URIs " span.muted { "(one per line; needed for authorization_code)" } }
            textarea #redirect_uris name="redirect_uris" rows="2" { (form.get("redirect_uris").unwrap_or("")) }
            button type="submit" { "Register" }
        }
    };
    views::respond(
        status,
        views::layout(v, Nav::Clients, "Register a client", body),
    )
}

/// `POST /console/admin/clients`: registered → its key and secret, once.
pub async fn create_client(
    State(state): State<AppState>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let mut settings = ClientSettings {
        description: form.get("description").unwrap_or("").trim().to_owned(),
        ..ClientSettings::default()
    };
    let outcome = match settings_form(&form, &mut settings) {
        Ok(()) => {
            let owner = form.get("owner").map(str::trim).filter(|s| !s.is_empty());
            let reg = ClientRegistration {
                settings,
                owner: owner.map(str::to_owned),
                ..ClientRegistration::default()
            };
            v.admin(&state).register_client(reg).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(creds) => {
            let back = client_path(&creds.client_id);
            Ok(credentials::page(
                &state,
                &v,
                Nav::Clients,
                &creds,
                "Client registered",
                &back,
            ))
        }
        Err(AdminError::Invalid(why)) => {
            Err(new_client_page(&state, &v, StatusCode::BAD_REQUEST, &form, Some(&why)).into())
        }
        Err(e) => Err(views::failed(&v, Nav::Clients, e)),
    }
}

/// `POST /console/admin/clients/{id}/secret`
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    let grace_secs = credentials::grace(&form).map_err(|e| views::failed(&v, Nav::Clients, e))?;
    let creds = v
        .admin(&state)
        .rotate_client_secret(&id, SecretRotation { grace_secs })
        .await
        .map_err(|e| views::failed(&v, Nav::Clients, e))?;
    Ok(credentials::page(
        &state,
        &v,
        Nav::Clients,
        &creds,
        "A new secret",
        &client_path(&id),
    ))
}

/// `POST /console/admin/clients/{id}/delete` (`confirm=yes`)
pub async fn delete_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { v, form }: Posted,
) -> Result<Response, Detour> {
    v.require(ADMIN)?;
    credentials::confirmed(&form).map_err(|e| views::failed(&v, Nav::Clients, e))?;
    v.admin(&state)
        .delete_client(&id)
        .await
        .map_err(|e| views::failed(&v, Nav::Clients, e))?;
    Ok(redirect("/console/admin/clients"))
}
