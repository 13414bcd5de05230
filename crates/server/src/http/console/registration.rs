//! Self-registration for admins: issue an initial access token (RFC 7591
//! §3) a developer's client sends to `/oauth2/register`, shown once with
//! the request that uses it. The clients it registers appear in the
//! clients list like any other.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use tollgate_proto::admin::Role;

use super::auth::Posted;
use super::credentials::copy;
use super::views::{self, csrf, when, Detour, Nav};
use super::visitor::Visitor;
use crate::state::AppState;

/// Where the form posts.
pub const PATH: &str = "/console/admin/clients/registration-token";

/// The clients page's section that offers a token.
pub fn offer(v: &Visitor, issuer: &str) -> Markup {
    html! {
        section {
            h2 { "Self-registration" }
            p.muted {
                "Clients can register themselves at " code { (issuer) "/oauth2/register" }
                " (RFC 7591) with an initial access token. Issue one for a developer: it works for a day and is shown once."
            }
            form method="post" action=(PATH) {
                (csrf(v))
                button type="submit" { "Issue a registration token" }
            }
        }
    }
}

/// `POST /console/admin/clients/registration-token`
pub async fn issue(
    State(state): State<AppState>,
    Posted { v, .. }: Posted,
) -> Result<Response, Detour> {
    v.require(Role::Admin)?;
    let (token, expires_at) = v
        .admin(&state)
        .issue_initial_access_token(None)
        .await
        .map_err(|e| views::failed(&v, Nav::Clients, e))?;
    let issuer = state.config().issuer.trim_end_matches('/');
    let example = format!(
        "curl -s -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n  -d '{{\"client_name\":\"My app\",\"grant_types\":[\"client_credentials\"]}}' \\\n  {issuer}/oauth2/register"
    );
    let body = html! {
        h1 { "Registration token" }
        p.notice role="status" {
            strong { "Copy the token now." }
            " It is shown only this once. It works until " (when(expires_at)) ", for as many registrations as are made with it."
        }
        dl.facts {
            dt { "Initial access token" }
            dd { code #initial-token { (token) } " " (copy("initial-token")) }
        }
        h2 { "Register a client with it" }
        pre { code { (example) } }
        p { a.button href="/console/admin/clients" { "Back to the clients" } }
    };
    Ok(views::respond(
        StatusCode::OK,
        views::layout(&v, Nav::Clients, "Registration token", body),
    ))
}
