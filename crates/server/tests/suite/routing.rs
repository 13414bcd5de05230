//! Routes chosen by host and method as well as path (issue 33 point 4),
//! most specific first, in the gateway and in `/gateway/decision`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::upstream::Upstream;
use crate::common::{Reply, TestServer};
use tollgate_proto::GrantType;
use tollgate_server::config::RouteConfig;

fn route(prefix: &str, upstream: Option<String>, hosts: &[&str], methods: &[&str]) -> RouteConfig {
    RouteConfig {
        path_prefix: prefix.into(),
        upstream,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        ..RouteConfig::default()
    }
}

async fn call(s: &TestServer, method: &str, host: &str, path: &str, t: &str) -> Reply {
    let req = s
        .http
        .request(method.parse().unwrap(), s.url(path))
        .header("host", host)
        .bearer_auth(t);
    Reply::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn host_first_then_the_longest_prefix_then_methods() {
    let ups: Vec<Upstream> =
        futures_util::future::join_all((0..5).map(|_| Upstream::start())).await;
    let url = |i: usize| Some(ups[i].url());
    let routes = vec![
        route("/", url(0), &[], &[]),
        route("/api", url(1), &[], &[]),
        route("/api", url(2), &[], &["POST"]),
        route("/", url(3), &["*.example.com"], &[]),
        route("/", url(4), &["api.example.com"], &[]),
    ];
    let s = TestServer::start_with(move |f| f.routes = Some(routes)).await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let t = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let cases = [
        ("GET", "other.test", "/x", 0),
        ("GET", "other.test", "/api/items", 1),
        ("POST", "other.test", "/api/items", 2),
        ("GET", "eu.example.com", "/api/items", 3),
        ("GET", "API.Example.com:8080", "/api/items", 4),
        ("GET", "example.com", "/api/items", 1),
    ];
    for (method, host, path, expected) in cases {
        let before: Vec<usize> = ups.iter().map(Upstream::hits).collect();
        let r = call(&s, method, host, path, &t).await;
        assert_eq!(r.status, 200, "{method} {host}{path}: {r:?}");
        let after: Vec<usize> = ups.iter().map(Upstream::hits).collect();
        let went: Vec<usize> = (0..5).filter(|&i| after[i] > before[i]).collect();
        assert_eq!(went, vec![expected], "{method} {host}{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_path_whose_method_no_route_takes_is_404() {
    let up = Upstream::start().await;
    let routes = vec![route("/reports", Some(up.url()), &[], &["GET", "HEAD"])];
    let s = TestServer::start_with(move |f| f.routes = Some(routes)).await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let t = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_eq!(call(&s, "GET", "h", "/reports/1", &t).await.status, 200);
    let r = call(&s, "DELETE", "h", "/reports/1", &t).await;
    assert_eq!((r.status, r.error()), (404, "not_found"), "{r:?}");
    assert_eq!(up.hits(), 1);
    s.stop().await;
}

#[tokio::test]
async fn decisions_take_the_host_from_x_forwarded_host() {
    let routes = vec![
        route("/inv", None, &["shop.example.com"], &[]),
        RouteConfig {
            required_scopes: vec!["admin".into()],
            ..route("/inv", None, &[], &[])
        },
    ];
    let s = TestServer::start_with(move |f| f.routes = Some(routes)).await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let t = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let ask = |host: Option<&'static str>| {
        let mut req = s
            .http
            .get(s.url("/gateway/decision"))
            .header("x-forwarded-uri", "/inv/items")
            .bearer_auth(&t);
        if let Some(h) = host {
            req = req.header("x-forwarded-host", h);
        }
        req.send()
    };
    // shop.example.com's route needs no scope; every other host's needs
    // `admin`, which the token lacks.
    assert_eq!(ask(Some("shop.example.com")).await.unwrap().status(), 200);
    assert_eq!(ask(Some("other.example.com")).await.unwrap().status(), 403);
    assert_eq!(ask(None).await.unwrap().status(), 403);
    s.stop().await;
}

async fn with_routes(routes: Vec<RouteConfig>) -> (TestServer, String) {
    crate::common::gateway_with(routes, 10).await
}

#[tokio::test]
async fn a_routes_own_first_byte_and_idle_timeouts() {
    let up = Upstream::start().await;
    let (s, t) = with_routes(vec![RouteConfig {
        first_byte_timeout_ms: Some(300),
        idle_timeout_ms: Some(300),
        strip_prefix: true,
        ..route("/svc", Some(up.url()), &[], &[])
    }])
    .await;
    let started = Instant::now();
    let r = call(&s, "GET", "h", "/svc/slow", &t).await;
    assert_eq!((r.status, r.error()), (504, "gateway_timeout"), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The first piece comes; the 5 s pause after it ends the response.
    let started = Instant::now();
    let mut resp = s
        .http
        .get(s.url("/svc/stall"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.chunk().await.unwrap().as_deref(), Some(&b"piece;"[..]));
    assert!(
        resp.chunk().await.is_err(),
        "a stalled body must end in an error"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    s.stop().await;
}

#[tokio::test]
async fn a_target_that_does_not_accept_within_the_connect_timeout_is_passed_over() {
    // A listener whose queue is full: the kernel drops new SYNs, so a
    // connect hangs (as to a host that is down) instead of being refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let hanging = full.local_addr().unwrap();
    let _filler = std::net::TcpStream::connect(hanging).unwrap();
    let up = Upstream::start().await;
    let (s, t) = with_routes(vec![RouteConfig {
        connect_timeout_ms: Some(200),
        targets: vec![
            tollgate_server::config::TargetConfig {
                url: format!("http://{hanging}"),
                weight: 1,
            },
            tollgate_server::config::TargetConfig {
                url: up.url(),
                weight: 1,
            },
        ],
        ..route("/svc", None, &[], &[])
    }])
    .await;
    let started = Instant::now();
    let r = call(&s, "POST", "h", "/svc/x", &t).await;
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(up.hits(), 1);
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(2),
        "{took:?}"
    );
    drop(full);
    s.stop().await;
}

/// A route's `per_day` counts each client's requests on that route, on
/// top of the client's own quota; other routes and other clients are
/// untouched. The gateway and `/gateway/decision` apply it alike.
#[tokio::test]
async fn a_routes_own_quota_per_client() {
    let up = Upstream::start().await;
    let (s, t) = with_routes(vec![
        RouteConfig {
            per_day: Some(2),
            ..route("/costly", Some(up.url()), &[], &[])
        },
        route("/cheap", Some(up.url()), &[], &[]),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(call(&s, "GET", "h", "/costly/x", &t).await.status, 200);
    }
    let r = call(&s, "GET", "h", "/costly/x", &t).await;
    assert_eq!((r.status, r.error()), (429, "quota_exceeded"), "{r:?}");
    assert!(
        r.header("retry-after").parse::<u64>().unwrap() >= 1,
        "{r:?}"
    );
    let decided = s
        .http
        .get(s.url("/gateway/decision"))
        .header("x-forwarded-uri", "/costly/x")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 429);
    assert_eq!(call(&s, "GET", "h", "/cheap/x", &t).await.status, 200);
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let other = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_eq!(call(&s, "GET", "h", "/costly/x", &other).await.status, 200);
    assert_eq!(up.hits(), 4);
    s.stop().await;
}
