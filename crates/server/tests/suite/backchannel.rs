//! Back-Channel Logout 1.0 (issue 32, point 5) over HTTP: ID tokens carry
//! the session's `sid`; signing out POSTs a logout token to every client
//! the session signed in to that registered a `backchannel_logout_uri`,
//! retrying one that failed; the token verifies against the JWKS, has
//! `typ` `logout+jwt`, the event, `sub` and `sid`, and no `nonce`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::mpsc;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::common::web::{authorize_url, exchange, server, Browser, REDIRECT, VERIFIER};
use crate::common::TestServer;
use crate::oidc::verified;

/// A relying party's back-channel endpoint on loopback: answers 500 to the
/// first `failures` POSTs, then 200, and reports every logout token.
async fn receiver(failures: usize) -> (String, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel(8);
    let seen = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/backchannel",
            axum::routing::post(
                move |State((tx, seen)): State<(mpsc::Sender<String>, Arc<AtomicUsize>)>,
                      body: axum::body::Bytes| async move {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let token = form_urlencoded::parse(&body)
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    tx.send(token).await.unwrap();
                    if n < failures {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .with_state((tx, seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/backchannel",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn rp(s: &TestServer, backchannel: Option<String>) -> (String, String) {
    s.register(ClientSettings {
        client_name: "Relying party".into(),
        grant_types: [GrantType::AuthorizationCode].into(),
        redirect_uris: vec![REDIRECT.into()],
        first_party: true,
        backchannel_logout_uri: backchannel,
        backchannel_logout_session_required: true,
        ..ClientSettings::default()
    })
    .await
}

/// The ID token of a sign-in in `b`'s session.
async fn id_token(b: &mut Browser<'_>, id: &str, secret: &str, sign_in: bool) -> String {
    let page = b.get(&authorize_url(id, "&scope=openid&nonce=n-1")).await;
    let back = if sign_in {
        b.sign_in(&page, "alice", "wonderland").await
    } else {
        page
    };
    let code = back.redirect_query()["code"].clone();
    let r = exchange(b.server(), id, secret, &code, VERIFIER).await;
    r.json["id_token"].as_str().unwrap().to_owned()
}

async fn next(rx: &mut mpsc::Receiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap()
}

/// A client told of a sign-out: the claims of the logout token it got,
/// and the `sid` of its ID token.
pub(crate) async fn told_of_a_sign_out(s: &TestServer) -> (serde_json::Value, String) {
    let (url, mut told) = receiver(0).await;
    let (id, secret) = rp(s, Some(url)).await;
    let mut b = Browser::new(s);
    let first = id_token(&mut b, &id, &secret, true).await;
    let sid = verified(s, &first, &id).await.1["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    b.get(&format!("/oauth2/logout?id_token_hint={first}"))
        .await;
    let token = next(&mut told).await;
    (verified(s, &token, &id).await.1, sid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_tells_each_client_of_the_session_with_a_logout_token() {
    let s = server().await;
    let (url, mut told) = receiver(1).await;
    let (id, secret) = rp(&s, Some(url)).await;
    let (quiet, quiet_secret) = rp(&s, None).await;
    let mut b = Browser::new(&s);
    let first = id_token(&mut b, &id, &secret, true).await;
    let (_, claims) = verified(&s, &first, &id).await;
    let sid = claims["sid"]
        .as_str()
        .expect("sid in the ID token")
        .to_owned();
    let other = id_token(&mut b, &quiet, &quiet_secret, false).await;
    assert_eq!(
        verified(&s, &other, &quiet).await.1["sid"],
        sid.as_str(),
        "one session"
    );

    let out = b
        .get(&format!("/oauth2/logout?id_token_hint={first}"))
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    // The first POST is answered 500: tollgate tries again with the same token.
    let token = next(&mut told).await;
    assert_eq!(next(&mut told).await, token, "retried after a failure");
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let (alg, c) = verified(&s, &token, &id).await;
    assert_eq!(
        alg,
        jsonwebtoken::Algorithm::RS256,
        "signed as its ID tokens are"
    );
    assert_eq!(
        (c["sub"].as_str(), c["sid"].as_str()),
        (Some("alice"), Some(sid.as_str()))
    );
    assert!(
        c["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(),
        "{c}"
    );
    assert!(
        c.get("nonce").is_none() && c["jti"].is_string() && c["iat"].is_i64(),
        "{c}"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(3), told.recv())
            .await
            .is_err(),
        "delivered once it was accepted; the client without a URI is not told"
    );
    let d = s.api("/.well-known/openid-configuration", None).await.json;
    assert_eq!(
        (
            d["backchannel_logout_supported"].as_bool(),
            d["backchannel_logout_session_supported"].as_bool()
        ),
        (Some(true), Some(true))
    );
    s.stop().await;
}
