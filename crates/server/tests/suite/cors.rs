//! CORS for browser apps (issue 32, point 6), over HTTP: preflights, the
//! origins a client registered (its redirect URIs' by default), public
//! documents for anyone, never credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

use crate::common::web::server;
use crate::common::{urlencode, Reply, TestServer};
use crate::oidc::{code_flow_tokens, signing_client};

const SPA: &str = "https://spa.example";

async fn with_origin(
    s: &TestServer,
    method: &str,
    path: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = s
        .http
        .request(method.parse().unwrap(), s.url(path))
        .header("origin", origin);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    Reply::from(req.send().await.unwrap()).await
}

fn allowed(r: &Reply) -> &str {
    r.header("access-control-allow-origin")
}

#[tokio::test]
async fn preflights_are_answered_and_only_registered_origins_read_answers() {
    let s = server().await;
    let pre = with_origin(
        &s,
        "OPTIONS",
        "/oauth2/token.oauth2",
        SPA,
        &[
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
    )
    .await;
    assert_eq!(pre.status, 204, "{pre:?}");
    assert_eq!(allowed(&pre), SPA);
    assert!(
        pre.header("access-control-allow-headers")
            .contains("Authorization"),
        "{pre:?}"
    );
    assert_eq!(
        pre.header("access-control-allow-credentials"),
        "",
        "never credentials"
    );

    let (id, secret) = s
        .register(ClientSettings {
            client_name: "spa".into(),
            grant_types: [GrantType::ClientCredentials].into(),
            allowed_cors_origins: vec![SPA.into()],
            ..ClientSettings::default()
        })
        .await;
    let creds = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={}",
        urlencode(&secret)
    );
    let path = "/oauth2/token.oauth2";
    let from_spa = [("origin", SPA)];
    let from_evil = [("origin", "https://evil.example")];
    let ok = s.post_raw(path, None, &from_spa, &creds).await;
    assert_eq!((ok.status, allowed(&ok)), (200, SPA), "{ok:?}");
    assert!(ok.header("vary").contains("Origin"), "{ok:?}");
    let other = s.post_raw(path, None, &from_evil, &creds).await;
    assert_eq!(
        (other.status, allowed(&other)),
        (200, ""),
        "another origin cannot read it"
    );

    let token = ok.json["access_token"].as_str().unwrap();
    let revoke = format!(
        "token={token}&client_id={id}&client_secret={}",
        urlencode(&secret)
    );
    let r = s
        .post_raw("/oauth2/revoke.oauth2", None, &from_spa, &revoke)
        .await;
    assert_eq!((r.status, allowed(&r)), (200, SPA), "{r:?}");

    for doc in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let r = with_origin(&s, "GET", doc, "https://anyone.example", &[]).await;
        assert_eq!((r.status, allowed(&r)), (200, "*"), "{doc}");
    }
    s.stop().await;
}

#[tokio::test]
async fn userinfo_answers_pages_of_the_redirect_uris_origin() {
    let s = server().await;
    let (id, secret) = signing_client(&s, None, None).await;
    let tokens = code_flow_tokens(&s, &id, &secret).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    // The client registered http://127.0.0.1/cb.
    let r = with_origin(&s, "GET", "/userinfo", "http://127.0.0.1", &auth).await;
    assert_eq!((r.status, allowed(&r)), (200, "http://127.0.0.1"), "{r:?}");
    let r = with_origin(&s, "GET", "/userinfo", "http://127.0.0.1:9", &auth).await;
    assert_eq!(allowed(&r), "", "another port is another origin");
    s.stop().await;
}

#[tokio::test]
async fn an_origin_is_scheme_host_and_port_never_a_wildcard_or_a_path() {
    let s = server().await;
    for bad in [
        "*",
        "https://spa.example/app",
        "http://spa.example",
        "spa.example",
    ] {
        let made = tollgate_server::admin::create_client(
            s.state.store().as_ref(),
            0,
            ClientSettings {
                client_name: "bad".into(),
                grant_types: [GrantType::ClientCredentials].into(),
                allowed_cors_origins: vec![bad.into()],
                ..ClientSettings::default()
            }
            .into(),
        )
        .await;
        let Err(e) = made else {
            panic!("{bad} accepted")
        };
        assert!(e.to_string().contains("CORS origin"), "{bad}: {e}");
    }
    s.stop().await;
}

/// `[[routes]]` with `cors_origins`: preflights answered before the bearer
/// check, answers (refusals too) readable by those origins only.
#[tokio::test]
async fn a_gateway_route_answers_the_origins_it_names() {
    let up = crate::common::upstream::Upstream::start().await;
    let s = TestServer::start_with(|f| {
        f.routes = Some(vec![tollgate_server::config::RouteConfig {
            path_prefix: "/api".into(),
            upstream: Some(up.url()),
            cors_origins: vec![SPA.into()],
            ..Default::default()
        }]);
    })
    .await;
    let asks = [("access-control-request-method", "GET")];
    let pre = with_origin(&s, "OPTIONS", "/api/items", SPA, &asks).await;
    assert_eq!((pre.status, allowed(&pre)), (204, SPA), "{pre:?}");
    assert_eq!(up.hits(), 0, "a preflight is answered by the gateway");
    let evil = with_origin(&s, "OPTIONS", "/api/items", "https://evil.example", &asks).await;
    assert_eq!((evil.status, allowed(&evil)), (401, ""), "{evil:?}");

    let refused = with_origin(&s, "GET", "/api/items", SPA, &[]).await;
    assert_eq!(
        (refused.status, allowed(&refused)),
        (401, SPA),
        "the page reads why"
    );
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let token = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let ok = with_origin(&s, "GET", "/api/items", SPA, &auth).await;
    assert_eq!((ok.status, allowed(&ok)), (200, SPA), "{ok:?}");
    let other = with_origin(&s, "GET", "/api/items", "https://evil.example", &auth).await;
    assert_eq!((other.status, allowed(&other)), (200, ""));

    let bad = tollgate_server::config::Route::try_from(tollgate_server::config::RouteConfig {
        path_prefix: "/api".into(),
        upstream: Some("http://127.0.0.1:1".into()),
        cors_origins: vec!["*".into()],
        ..Default::default()
    });
    assert!(bad.is_err_and(|e| e.contains("CORS origin")));
    s.stop().await;
}
