//! The page that shows an app's key and secret, the only time the secret
//! is seen (after registration or rotation), with commands ready to paste;
//! and those commands, also on the app's page (with the secret left out).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use tollgate_proto::admin::{ClientCredentials, ClientInfo};
use tollgate_proto::FormParams;

use super::views::{self, Nav};
use super::visitor::Visitor;
use crate::admin::AdminError;
use crate::state::AppState;

/// The key and the secret, shown this once, with commands to try them.
pub fn page(
    state: &AppState,
    v: &Visitor,
    nav: Nav,
    creds: &ClientCredentials,
    title: &str,
    back: &str,
) -> Response {
    let c = &creds.client;
    let secret = creds.client_secret.as_deref().unwrap_or_default();
    let body = html! {
        h1 { (title) }
        p.notice role="status" {
            strong { "Copy the secret now." }
            " It is shown only this once: tollgate keeps only a hash of it. If you lose it, rotate it on the app's page."
        }
        dl.facts {
            dt { "App" } dd { (c.settings.client_name) }
            dt { "Key (client id)" }
            dd { code #client-id { (c.client_id) } " " (copy("client-id")) }
            dt { "Secret" }
            dd { code #client-secret { (secret) } " " (copy("client-secret")) }
        }
        (commands(state, c, Some(secret)))
        p { a.button href=(back) { "Go to the app's page" } }
    };
    views::respond(StatusCode::OK, views::layout(v, nav, title, body))
}

/// A copy button for the text of element `id` (shown by the script).
pub fn copy(id: &str) -> Markup {
    html! { button.copy type="button" data-copy=(id) hidden { "Copy" } }
}

/// Ready-to-paste commands: a token with curl, an API call with tollgate.
pub fn commands(state: &AppState, c: &ClientInfo, secret: Option<&str>) -> Markup {
    let base = state.config().issuer.trim_end_matches('/');
    let token_url = format!("{base}/oauth2/token.oauth2");
    let scope_arg = if c.settings.scope.is_empty() {
        String::new()
    } else {
        format!(" -d 'scope={}'", c.settings.scope)
    };
    let api = if state.config().demo_apis {
        format!("{base}/locations")
    } else {
        state
            .config()
            .routes
            .first()
            .map_or_else(|| format!("{base}/"), |r| format!("{base}{}", r.prefix))
    };
    let scopes: String = c
        .settings
        .scope
        .iter()
        .map(|s| format!(" --scope {s}"))
        .collect();
    let export = match secret {
        Some(s) => format!("export TOLLGATE_CLIENT_SECRET='{s}'\n"),
        None => "export TOLLGATE_CLIENT_SECRET='…the secret you saved…'\n".to_owned(),
    };
    let curl = format!(
        "{export}curl -s -u \"{}:$TOLLGATE_CLIENT_SECRET\" -d grant_type=client_credentials{scope_arg} {token_url}",
        c.client_id
    );
    let call = format!(
        "{export}tollgate call --token-url {token_url} --client-id {}{scopes} {api}",
        c.client_id
    );
    html! {
        h2 { "Try it" }
        p { "Get an access token with curl:" }
        div.command { pre { code #curl-command { (curl) } } (copy("curl-command")) }
        p { "Or call an API with the " code { "tollgate" } " CLI, which gets and caches the token for you:" }
        div.command { pre { code #call-command { (call) } } (copy("call-command")) }
    }
}

/// The grace period a rotation form chose: one of the offered values.
pub fn grace(form: &FormParams) -> Result<u64, AdminError> {
    match form.get("grace_secs").unwrap_or("0") {
        "0" => Ok(0),
        "3600" => Ok(3600),
        "86400" => Ok(86_400),
        _ => Err(AdminError::Invalid(
            "Choose how long the old secret keeps working from the list.".into(),
        )),
    }
}

/// Whether a deletion form's box was ticked.
pub fn confirmed(form: &FormParams) -> Result<(), AdminError> {
    if form.get("confirm") == Some("yes") {
        Ok(())
    } else {
        Err(AdminError::Invalid(
            "Tick the box to confirm the deletion.".into(),
        ))
    }
}
