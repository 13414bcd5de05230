//! Issue 32, point 6: a single-page app on another loopback origin signs a
//! person in with oidc-client-ts (from npm, `interop/node`), the way its
//! documentation shows (`UserManager.signinRedirect`, then
//! `signinRedirectCallback` on the redirect page), in headless Chromium:
//! the code is exchanged by `fetch` across origins and the page calls
//! `/userinfo` with the token, which CORS must allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;
use tollgate_server::testing::{skip, ChromeDriver};

use crate::browser::{browser, fill_sign_in};
use crate::common::TestServer;

/// oidc-client-ts's browser bundle, as `npm ci` in `interop/node` installs it.
fn bundle() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/node/node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js");
    std::fs::read_to_string(path).ok()
}

/// The app's two pages: `/` starts the sign-in, `/cb` finishes it and
/// calls userinfo, writing the outcome into the title.
fn page(authority: &str, client_id: &str, origin: &str, callback: bool) -> String {
    let settings = format!(
        "{{authority: '{authority}', client_id: '{client_id}', redirect_uri: '{origin}/cb', response_type: 'code', scope: 'openid profile'}}"
    );
    let action = if callback {
        format!(
            "mgr.signinRedirectCallback().then(async (user) => {{
               const r = await fetch('{authority}/userinfo', {{ headers: {{ Authorization: 'Bearer ' + user.access_token }} }});
               const info = await r.json();
               document.title = 'ok ' + info.sub + ' ' + user.profile.sub;
             }}).catch((e) => {{ document.title = 'error ' + e; }});"
        )
    } else {
        "mgr.signinRedirect().catch((e) => { document.title = 'error ' + e; });".to_owned()
    };
    format!(
        "<!doctype html><title>app</title><script src=\"/oidc-client-ts.min.js\"></script>
         <script>const mgr = new oidc.UserManager({settings}); {action}</script>"
    )
}

/// Serves the app on `listener`, a loopback port of its own: another
/// origin.
fn serve_app(listener: tokio::net::TcpListener, authority: String, client_id: String, js: String) {
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let start = page(&authority, &client_id, &origin, false);
    let callback = page(&authority, &client_id, &origin, true);
    let router = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(start) }),
        )
        .route(
            "/cb",
            axum::routing::get(move || async move { axum::response::Html(callback) }),
        )
        .route(
            "/oidc-client-ts.min.js",
            axum::routing::get(move || async move { ([("content-type", "text/javascript")], js) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_signs_in_with_oidc_client_ts_and_calls_userinfo() {
    let Some(js) = bundle() else {
        skip("oidc-client-ts is not installed: run `npm ci` in interop/node");
        return;
    };
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    // The issuer is the server's own address, as a browser reaches it.
    let s = TestServer::start_with(|f| f.issuer = None).await;
    s.user("alice", "wonderland").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (client_id, _) = s
        .register(ClientSettings {
            client_name: "Single-page app".into(),
            grant_types: [GrantType::AuthorizationCode].into(),
            redirect_uris: vec![format!("{origin}/cb")],
            public: true,
            first_party: true,
            ..ClientSettings::default()
        })
        .await;
    serve_app(listener, s.base.clone(), client_id, js);

    let c = browser(&driver).await;
    c.goto(&format!("{origin}/")).await.unwrap();
    fill_sign_in(&c, "alice", "wonderland").await;
    let mut title = String::new();
    for _ in 0..150 {
        title = c.title().await.unwrap();
        if title.starts_with("ok") || title.starts_with("error") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(title, "ok alice alice", "the app's outcome");
    c.close().await.unwrap();
    s.stop().await;
}
