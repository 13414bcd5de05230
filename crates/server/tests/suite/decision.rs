//! Auth decisions for the proxy a team already runs (issue 33 point 5):
//! `/gateway/decision` asked the way nginx, Caddy/Traefik and Envoy ask,
//! then real nginx (`auth_request`) and Caddy (`forward_auth`) running the
//! snippets in deploy/, in front of a real upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::upstream::Upstream;
use crate::common::{Reply, TestServer};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;
use tollgate_server::config::{QuotaConfig, RouteConfig};
use tollgate_server::testing::Proxy;

const NGINX: &str = include_str!("../../../../deploy/nginx-auth-request.conf");
const CADDY: &str = include_str!("../../../../deploy/Caddyfile.forward-auth");

/// `/inventory`, needing `inventory:read`, decision-only: no upstream.
fn inventory_route() -> RouteConfig {
    RouteConfig {
        path_prefix: "/inventory".into(),
        upstream: None,
        required_scopes: vec!["inventory:read".into()],
        ..RouteConfig::default()
    }
}

/// A server whose only route is [`inventory_route`].
async fn server() -> TestServer {
    TestServer::start_with(|f| {
        f.routes = Some(vec![inventory_route()]);
        f.quota = Some(QuotaConfig::default());
    })
    .await
}

/// A token for a client allowed `scopes`, at most `per_day` calls a day.
async fn token(s: &TestServer, scope: &str, per_day: Option<u64>) -> (String, String) {
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "behind a proxy".into(),
            scope: scope.parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            per_day,
            ..ClientSettings::default()
        })
        .await;
    let body = format!(
        "grant_type=client_credentials&scope={}",
        scope.replace(':', "%3A")
    );
    let t = s.access_token(&id, &secret, &body).await;
    (id, t)
}

/// A method, a path and the headers saying which request to decide.
type Style<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

async fn ask(s: &TestServer, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = s.http.request(method.parse().unwrap(), s.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Reply::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn each_proxy_style_is_judged_as_the_gateway_judges() {
    let s = server().await;
    let (id, t) = token(&s, "inventory:read", None).await;
    let bearer = format!("Bearer {t}");
    let styles: [Style; 3] = [
        (
            "GET",
            "/gateway/decision",
            vec![
                ("x-original-uri", "/inventory/items?x=1"),
                ("x-original-method", "POST"),
            ],
        ),
        (
            "GET",
            "/gateway/decision",
            vec![
                ("x-forwarded-uri", "/inventory/items"),
                ("x-forwarded-method", "GET"),
            ],
        ),
        ("DELETE", "/gateway/decision/inventory/items/7", vec![]),
    ];
    for (method, path, mut headers) in styles {
        headers.push(("authorization", &bearer));
        let r = ask(&s, method, path, &headers).await;
        assert_eq!(r.status, 200, "{method} {path}: {r:?}");
        assert_eq!(r.header("x-tollgate-client-id"), id, "{r:?}");
        assert_eq!(r.header("x-tollgate-scope"), "inventory:read", "{r:?}");
        assert!(r.headers.get("x-tollgate-username").is_none(), "{r:?}");
        assert!(r.body.is_empty(), "{r:?}");
    }
    // The route has no upstream: the gateway itself does not serve it.
    let r = s.api("/inventory/items", Some(&t)).await;
    assert_eq!((r.status, r.error()), (404, "not_found"), "{r:?}");
    s.stop().await;
}

#[tokio::test]
async fn refusals_are_the_gateways_own() {
    let s = server().await;
    let (_, read) = token(&s, "inventory:read", None).await;
    let (_, write) = token(&s, "inventory:write", None).await;
    let uri = [("x-original-uri", "/inventory/items")];
    ask(&s, "GET", "/gateway/decision", &uri)
        .await
        .assert_bearer(401, None);
    let bad = [uri[0], ("authorization", "Bearer not-a-token")];
    let r = ask(&s, "GET", "/gateway/decision", &bad).await;
    r.assert_bearer(401, Some("invalid_token"));
    let wrong = format!("Bearer {write}");
    let r = ask(
        &s,
        "GET",
        "/gateway/decision",
        &[uri[0], ("authorization", &wrong)],
    )
    .await;
    r.assert_bearer(403, Some("insufficient_scope"));
    assert!(
        r.header("www-authenticate")
            .contains("scope=\"inventory:read\""),
        "{r:?}"
    );
    let good = format!("Bearer {read}");
    for other in ["/inventoryx", "/admin/v1/clients", "/inventory/../admin"] {
        let r = ask(
            &s,
            "GET",
            "/gateway/decision",
            &[("x-original-uri", other), ("authorization", &good)],
        )
        .await;
        assert_eq!((r.status, r.error()), (404, "not_found"), "{other}: {r:?}");
    }
    let r = ask(&s, "GET", "/gateway/decision", &[("authorization", &good)]).await;
    assert_eq!((r.status, r.error()), (400, "invalid_request"), "{r:?}");
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("X-Original-URI"),
        "{r:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_quota_is_counted_and_reported_on_each_decision() {
    let s = server().await;
    let (_, t) = token(&s, "inventory:read", Some(2)).await;
    let h = [
        ("x-original-uri", "/inventory"),
        ("authorization", &format!("Bearer {t}")),
    ];
    for left in ["1", "0"] {
        let r = ask(&s, "GET", "/gateway/decision", &h).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.header("ratelimit").contains(&format!(";r={left};")),
            "{r:?}"
        );
    }
    let r = ask(&s, "GET", "/gateway/decision", &h).await;
    assert_eq!((r.status, r.error()), (429, "quota_exceeded"), "{r:?}");
    assert!(r.header("retry-after").parse::<u64>().is_ok(), "{r:?}");
    s.stop().await;
}

/// A deploy/ snippet with its example addresses replaced by this test's.
fn snippet(text: &str, listen: u16, s: &TestServer, up: &Upstream) -> String {
    let tollgate = s.base.trim_start_matches("http://");
    text.replace("127.0.0.1:8000", &format!("127.0.0.1:{listen}"))
        .replace("127.0.0.1:8080", tollgate)
        .replace("127.0.0.1:9000", &up.addr.to_string())
}

/// Through the proxy: admitted with tollgate's identity (a forged one is
/// replaced or dropped, Authorization never reaches the upstream), and
/// refused with tollgate's status and challenge before the upstream.
async fn through(proxy: &Proxy, s: &TestServer, up: &Upstream) {
    let (id, t) = token(s, "inventory:read", None).await;
    let forged = [
        ("x-tollgate-client-id", "root"),
        ("x-tollgate-username", "root"),
    ];
    let url = |p: &str| format!("{}{p}", proxy.url());
    let mut req = s.http.get(url("/inventory/items?x=1")).bearer_auth(&t);
    for (k, v) in forged {
        req = req.header(k, v);
    }
    let r = Reply::from(req.send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{r:?}\n{}", proxy.log());
    let seen = &r.json["headers"];
    assert_eq!(r.json["path"], "/inventory/items", "{r:?}");
    assert_eq!(seen["x-tollgate-client-id"], id.as_str(), "{r:?}");
    assert_eq!(seen["x-tollgate-scope"], "inventory:read", "{r:?}");
    assert!(
        seen.get("x-tollgate-username").is_none(),
        "forged identity passed: {r:?}"
    );
    assert!(seen.get("authorization").is_none(), "{r:?}");
    // A person's token: their username, not the forged one.
    s.user("alice", "pw").await;
    let (pid, secret) = s.client(&[GrantType::Password], "inventory:read").await;
    let body = "grant_type=password&username=alice&password=pw&scope=inventory%3Aread";
    let person = s.access_token(&pid, &secret, body).await;
    let req = s.http.get(url("/inventory")).bearer_auth(person);
    let r = Reply::from(req.header(forged[1].0, "root").send().await.unwrap()).await;
    assert_eq!(r.json["headers"]["x-tollgate-username"], "alice", "{r:?}");
    let hits = up.hits();
    let r = Reply::from(s.http.get(url("/inventory/items")).send().await.unwrap()).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.header("www-authenticate").starts_with("Bearer realm="),
        "{r:?}"
    );
    let r = Reply::from(
        s.http
            .get(url("/inventory"))
            .bearer_auth("forged")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.header("www-authenticate").contains("invalid_token"),
        "{r:?}"
    );
    assert_eq!(up.hits(), hits, "a refused request reached the upstream");
}

#[tokio::test]
async fn nginx_auth_request_runs_the_deploy_snippet() {
    let up = Upstream::start().await;
    let s = server().await;
    let Some(nginx) = Proxy::nginx(|port| snippet(NGINX, port, &s, &up)) else {
        return;
    };
    through(&nginx, &s, &up).await;
    // nginx's rule: a status other than 2xx/401/403 from the decision is 500.
    let (_, t) = token(&s, "inventory:read", None).await;
    let r = s
        .http
        .get(format!("{}/elsewhere", nginx.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    s.stop().await;
}

#[tokio::test]
async fn caddy_forward_auth_runs_the_deploy_snippet() {
    let up = Upstream::start().await;
    let s = server().await;
    let Some(caddy) = Proxy::caddy(|port| snippet(CADDY, port, &s, &up)) else {
        return;
    };
    through(&caddy, &s, &up).await;
    // Caddy passes tollgate's own refusal on: no route is 404 JSON.
    let (_, t) = token(&s, "inventory:read", None).await;
    let r = s
        .http
        .get(format!("{}/elsewhere", caddy.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let r = Reply::from(r).await;
    assert_eq!((r.status, r.error()), (404, "not_found"), "{r:?}");
    s.stop().await;
}
