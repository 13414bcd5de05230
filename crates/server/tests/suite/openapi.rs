//! `/openapi.json`: an OpenAPI 3.1 document of exactly what the server
//! serves. Every documented operation is routed (called, it is not the
//! gateway's "no route" nor a 405), every built-in path is documented, and
//! parts that are off (demo APIs, the admin API) are left out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::TestServer;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(s: &TestServer) -> Value {
    let r = s.api("/openapi.json", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").starts_with("application/json"));
    r.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_and_every_listed_operation_is_routed() {
    let s = TestServer::start_with(|f| f.demo_apis = Some(true)).await;
    let doc = document(&s).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/oauth2/token.oauth2",
        "/oauth2/token",
        "/oauth/token",
        "/oauth2/introspect.oauth2",
        "/oauth2/revoke.oauth2",
        "/oauth2/authorize",
        "/oauth2/quota",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/userinfo",
        "/locations",
        "/admin/v1/clients",
        "/admin/v1/usage",
        "/admin/v1/audit",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let op = &item[*method];
            assert!(
                op["responses"]["default"].is_object(),
                "{method} {path}: no default"
            );
            let r = s
                .http
                .request(method.to_uppercase().parse().unwrap(), s.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(
                status != 405 && !body.contains("no route for"),
                "{method} {path}: {status} {body}"
            );
            operations += 1;
        }
    }
    assert!(operations >= 35, "{operations}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_that_are_off_are_left_out() {
    let s = TestServer::start_with(|f| {
        f.demo_apis = Some(false);
        f.admin_api = Some(false);
    })
    .await;
    let doc = document(&s).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/oauth2/token.oauth2"));
    assert!(!paths.contains_key("/locations"), "demo APIs are off");
    assert!(
        !paths.keys().any(|p| p.starts_with("/admin/")),
        "the admin API is off"
    );
    s.stop().await;
}
