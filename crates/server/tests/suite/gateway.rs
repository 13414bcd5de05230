//! The proxying gateway (issue 3 section 3) against real upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::upstream::Upstream;
use crate::common::TestServer;
use tollgate_proto::GrantType;
use tollgate_server::config::RouteConfig;

const ALL: &[GrantType] = &[
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
];

fn route(prefix: &str, upstream: &str, scopes: &[&str], strip: bool) -> RouteConfig {
    RouteConfig {
        path_prefix: prefix.into(),
        upstream: Some(upstream.into()),
        required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
        strip_prefix: strip,
        ..RouteConfig::default()
    }
}

async fn gateway(routes: Vec<RouteConfig>) -> TestServer {
    TestServer::start_with(move |f| {
        f.routes = Some(routes);
        f.upstream_timeout = Some(1);
    })
    .await
}

async fn token(s: &TestServer, scope: &str) -> String {
    let (id, secret) = s.client(ALL, "inventory:read inventory:write").await;
    s.access_token(
        &id,
        &secret,
        &format!("grant_type=client_credentials&scope={scope}"),
    )
    .await
}

#[tokio::test]
async fn forwards_the_request_and_says_who_called() {
    let up = Upstream::start().await;
    let s = gateway(vec![route(
        "/inventory",
        &up.url(),
        &["inventory:read"],
        false,
    )])
    .await;
    let (id, secret) = s.client(ALL, "inventory:read").await;
    s.user("alice", "pw").await;
    let pw = s
        .token(
            &id,
            &secret,
            "grant_type=password&username=alice&password=pw&scope=inventory%3Aread",
        )
        .await;
    let t = pw.json["access_token"].as_str().unwrap();
    let resp = s
        .http
        .post(s.url("/inventory/items/7?color=red&size=2"))
        .header("authorization", format!("Bearer {t}"))
        .header("x-custom", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .header("x-tollgate-client-id", "spoofed")
        .header("x-forwarded-for", "10.9.8.7")
        .body("hello upstream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: serde_json::Value = resp.json().await.unwrap();
    let h = &seen["headers"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/inventory/items/7");
    assert_eq!(seen["query"], "color=red&size=2");
    assert_eq!(seen["body"], "hello upstream");
    assert_eq!(h["x-custom"], "kept");
    assert!(
        h.get("authorization").is_none(),
        "Authorization must not reach the upstream"
    );
    assert!(
        h.get("x-hop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(
        h["x-tollgate-client-id"],
        id.as_str(),
        "the caller cannot spoof it"
    );
    assert_eq!(h["x-tollgate-username"], "alice");
    assert_eq!(h["x-tollgate-scope"], "inventory:read");
    // The caller's own chain is not believed (no trusted proxies).
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    // A client token has no username header.
    let cc = token(&s, "inventory%3Aread").await;
    let r = s.api("/inventory", Some(&cc)).await;
    assert!(
        r.json["headers"].get("x-tollgate-username").is_none(),
        "{r:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn strip_prefix_and_longest_prefix() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let s = gateway(vec![
        route("/api", &a.url(), &[], false),
        route("/api/v2", &format!("{}/base", b.url()), &[], true),
    ])
    .await;
    let t = token(&s, "").await;
    let r = s.api("/api/v2/things?q=1", Some(&t)).await;
    assert_eq!(
        (r.json["path"].as_str(), r.json["query"].as_str()),
        (Some("/base/things"), Some("q=1"))
    );
    assert_eq!((a.hits(), b.hits()), (0, 1));
    let r = s.api("/api/v2x", Some(&t)).await;
    assert_eq!(r.json["path"], "/api/v2x", "segment boundary: /api wins");
    assert_eq!((a.hits(), b.hits()), (1, 1));
    s.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_without_touching_an_upstream() {
    let up = Upstream::start().await;
    let s = gateway(vec![route("/inventory", &up.url(), &[], false)]).await;
    let t = token(&s, "").await;
    for path in ["/nope", "/inventoryx", "/"] {
        let r = s.api(path, Some(&t)).await;
        assert_eq!((r.status, r.error()), (404, "not_found"), "{path}");
        assert_eq!(
            s.api(path, None).await.status,
            404,
            "404 before any token check"
        );
    }
    assert_eq!(up.hits(), 0);
    s.stop().await;
}

#[tokio::test]
async fn route_scopes_and_tokens_are_checked_before_forwarding() {
    let up = Upstream::start().await;
    let s = gateway(vec![route(
        "/inventory",
        &up.url(),
        &["inventory:write"],
        false,
    )])
    .await;
    s.api("/inventory", None).await.assert_bearer(401, None);
    s.api("/inventory", Some("tga_bogus"))
        .await
        .assert_bearer(401, Some("invalid_token"));
    let read_only = token(&s, "inventory%3Aread").await;
    let r = s.api("/inventory", Some(&read_only)).await;
    r.assert_bearer(403, Some("insufficient_scope"));
    assert!(r
        .header("www-authenticate")
        .contains("scope=\"inventory:write\""));
    assert_eq!(up.hits(), 0);
    let writer = token(&s, "inventory%3Awrite").await;
    assert_eq!(s.api("/inventory", Some(&writer)).await.status, 200);
    assert_eq!(up.hits(), 1);
    s.stop().await;
}

#[tokio::test]
async fn upstream_connections_are_pooled_and_kept_alive() {
    let up = Upstream::start().await;
    let s = gateway(vec![route("/inventory", &up.url(), &[], false)]).await;
    let t = token(&s, "").await;
    let mut ports = BTreeSet::new();
    for _ in 0..20 {
        let r = s.api("/inventory", Some(&t)).await;
        ports.insert(r.json["peer_port"].as_u64().unwrap());
    }
    assert_eq!(
        ports.len(),
        1,
        "20 sequential requests should reuse one connection: {ports:?}"
    );
    s.stop().await;
}

/// An upstream that answers once per connection and then closes it, without
/// saying so (as one whose idle timeout just ran out): the gateway notices
/// the closed pooled connection, or fails to send on it and sends again on
/// a new one; every request is answered.
#[tokio::test]
async fn upstreams_that_close_idle_connections_are_retried_on_new_ones() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                // Closed with the response: the connection is not reusable.
            });
        }
    });
    let s = gateway(vec![route("/once", &format!("http://{addr}"), &[], false)]).await;
    let t = token(&s, "").await;
    for i in 0..10 {
        let r = s.api("/once", Some(&t)).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "ok"),
            "request {i}: {r:?}"
        );
        if i % 3 == 0 {
            // Time for the close to be seen, or not: both paths are taken.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 10);
    s.stop().await;
}

#[tokio::test]
async fn refused_upstream_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = gateway(vec![route(
        "/gone",
        &format!("http://{closed}"),
        &[],
        false,
    )])
    .await;
    let t = token(&s, "").await;
    let r = s.api("/gone", Some(&t)).await;
    assert_eq!((r.status, r.error()), (502, "bad_gateway"), "{r:?}");
    assert_eq!(r.header("content-type"), "application/json;charset=UTF-8");
    s.stop().await;
}

#[tokio::test]
async fn slow_upstream_is_504_after_the_timeout() {
    let up = Upstream::start().await;
    let s = gateway(vec![route("/slow", &up.url(), &[], false)]).await;
    let t = token(&s, "").await;
    let started = Instant::now();
    let r = s.api("/slow", Some(&t)).await;
    let waited = started.elapsed();
    assert_eq!((r.status, r.error()), (504, "gateway_timeout"), "{r:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    let m = s.api("/metrics", None).await;
    assert!(
        m.body.contains("tollgate_upstream_latency_seconds_count 1"),
        "{}",
        m.body
    );
    s.stop().await;
}

/// Issue 11: an HTTP/1.0 upstream does not make tollgate answer its caller
/// in HTTP/1.0 or close the caller's connection.
#[tokio::test]
async fn callers_are_answered_in_their_own_protocol_version() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An upstream that speaks HTTP/1.0 and closes after each answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let s = gateway(vec![route("/old", &upstream, &["inventory:read"], false)]).await;
    let token = token(&s, "inventory:read").await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        let req =
            format!("GET /old/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        assert!(text.ends_with("ok"), "{text}");
    }
    // Over HTTP/2 (prior knowledge) too.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(s.url("/old/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    s.stop().await;
}
