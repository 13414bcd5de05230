//! The web console at `/console`: the developer portal (register an app,
//! get its key and secret, watch its usage against its quota) and the
//! admin console (clients, users, usage, audit log, signing keys), for the
//! two roles on the user record.
//!
//! Server-rendered HTML (maud) that works without script; one small script
//! adds copy buttons. The style sheet and script are compiled into the
//! binary and served from here, so the CSP allows nothing else. People sign
//! in through this server's own authorization code + PKCE flow ([`auth`]);
//! every change goes through [`crate::admin::Admin`], so it is checked the
//! same way as through the admin API and written to the audit log as
//! `console:USERNAME`.

mod apps;
mod auth;
mod chart;
mod credentials;
mod manage;
mod registration;
mod reports;
mod users;
mod views;
mod visitor;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tollgate_proto::admin::ClientRegistration;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::admin::{self, AdminError};
use crate::state::AppState;
use crate::store::{Client, StoreError};

pub use auth::redirect_uri;

/// Where the console lives.
pub const PREFIX: &str = "/console";
/// The console's own client at this server.
pub const CLIENT_ID: &str = "tollgate-console";
const STYLE_PATH: &str = "/console/static/console.css";
const SCRIPT_PATH: &str = "/console/static/console.js";

const STYLE: &str = include_str!("../../../assets/console.css");
const SCRIPT: &str = include_str!("../../../assets/console.js");

/// The console's routes (paths include [`PREFIX`]); requests for any other
/// path under it get an HTML 404.
pub fn routes(state: &AppState) -> Router<AppState> {
    let limit = axum::extract::DefaultBodyLimit::max(state.config().limits.max_form_bytes);
    Router::new()
        .route(PREFIX, get(apps::home))
        .route("/console/", get(apps::home))
        .route("/console/sign-in", get(auth::sign_in))
        .route("/console/callback", get(auth::callback))
        .route("/console/sign-out", post(auth::sign_out))
        .route(STYLE_PATH, get(style))
        .route(SCRIPT_PATH, get(script))
        .route("/console/apps", get(apps::list).post(apps::create))
        .route("/console/apps/new", get(apps::new_form))
        .route("/console/apps/{id}", get(apps::show).post(apps::edit))
        .route("/console/apps/{id}/secret", post(apps::rotate))
        .route("/console/apps/{id}/enabled", post(apps::set_enabled))
        .route("/console/apps/{id}/delete", post(apps::delete))
        .route(
            "/console/admin/clients",
            get(manage::clients).post(manage::create_client),
        )
        .route("/console/admin/clients/new", get(manage::new_client))
        .route(registration::PATH, post(registration::issue))
        .route(
            "/console/admin/clients/{id}/secret",
            post(manage::rotate_secret),
        )
        .route(
            "/console/admin/clients/{id}/delete",
            post(manage::delete_client),
        )
        .route(
            "/console/admin/clients/{id}",
            get(manage::client).post(manage::update_client),
        )
        .route("/console/admin/clients/{id}/approve", post(manage::approve))
        .route(
            "/console/admin/users",
            get(users::users).post(users::create_user),
        )
        .route("/console/admin/users/{name}", post(users::update_user))
        .route(
            "/console/admin/users/{name}/password",
            post(users::set_password),
        )
        .route("/console/admin/usage", get(reports::usage))
        .route("/console/admin/audit", get(reports::audit))
        .route(
            "/console/admin/keys",
            get(reports::keys).post(reports::rotate_key),
        )
        .route(
            "/console/admin/keys/{kid}/retire",
            post(reports::retire_key),
        )
        .route("/console/{*rest}", get(not_found).post(not_found))
        .layer(limit)
}

async fn not_found() -> Response {
    views::signed_out_page(
        StatusCode::NOT_FOUND,
        "There is no such page in the console.",
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `303 See Other` to `location` (after a form, or to sign in).
fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Registers the console's client, or brings its redirect URI up to date
/// with the issuer: a public, first-party client (no consent page) with the
/// authorization code grant only. Called at start; idempotent, so several
/// instances may all call it.
pub async fn ensure_client(state: &AppState) -> Result<(), AdminError> {
    let uri = redirect_uri(&state.config().issuer);
    let store = state.store().as_ref();
    let now = state.clock().now_secs();
    match store.get_client(CLIENT_ID).await? {
        Some(c) if is_current(&c.settings, &uri) => Ok(()),
        Some(_) => {
            let uri = uri.clone();
            store
                .update_client(CLIENT_ID, now, &mut |c: &mut Client| {
                    c.settings.redirect_uris = vec![uri.clone()];
                    c.settings.first_party = true;
                    c.settings.grant_types = [GrantType::AuthorizationCode].into();
                    true
                })
                .await?;
            Ok(())
        }
        None => {
            let reg = ClientRegistration {
                settings: ClientSettings {
                    client_name: "tollgate console".into(),
                    grant_types: [GrantType::AuthorizationCode].into(),
                    redirect_uris: vec![uri],
                    public: true,
                    first_party: true,
                    description: "The web console: signs people in to /console.".into(),
                    ..ClientSettings::default()
                },
                client_id: Some(CLIENT_ID.into()),
                ..ClientRegistration::default()
            };
            match admin::create_client(store, now, reg).await {
                Err(AdminError::Store(StoreError::Conflict(_))) | Ok(_) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

/// Whether the console's client is as [`ensure_client`] leaves it.
fn is_current(s: &ClientSettings, uri: &str) -> bool {
    s.redirect_uris == [uri] && s.public && s.first_party
}
