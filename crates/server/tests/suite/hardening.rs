//! Issues 10 and 30: no way around the guard. Paths that try to reach a route other
//! than the one they were checked against, bodies and heads over the limits,
//! malformed bodies, and slow or idle connections — each over real sockets,
//! with raw bytes where an HTTP client would tidy the request up first;
//! no header an upstream could take for tollgate's, no client address
//! believed from anyone but a trusted proxy, and no address that can hold
//! every connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::upstream::Upstream;
use crate::common::TestServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;
use tollgate_server::config::{RouteConfig, ServerLimits};

mod callers;

fn route(prefix: &str, upstream: &str, scope: &str, strip: bool) -> RouteConfig {
    RouteConfig {
        path_prefix: prefix.into(),
        upstream: Some(upstream.into()),
        required_scopes: vec![scope.into()],
        strip_prefix: strip,
        ..RouteConfig::default()
    }
}

/// Sends `request` as raw bytes and reads the answer until the server
/// closes or 2 s pass: (status, JSON body or Null, raw text).
async fn raw(s: &TestServer, request: &str) -> (u16, Value, String) {
    raw_from(s, [127, 0, 0, 1], request).await
}

fn get(target: &str, token: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
}

/// What an upstream that normalises paths (RFC 3986 §5.2.4 after decoding,
/// merging slashes) would serve for `path`.
fn as_an_upstream_reads(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[tokio::test]
async fn no_spelling_of_a_path_reaches_a_route_it_was_not_checked_for() {
    let up = Upstream::start().await;
    let s = TestServer::start_with(|f| {
        f.routes = Some(vec![
            route("/public", &up.url(), "public:read", false),
            route("/admin", &up.url(), "admin:write", false),
            route("/pub", &format!("{}/base", up.url()), "public:read", true),
        ]);
    })
    .await;
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "public:read")
        .await;
    let token = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=public:read",
        )
        .await;

    // The plain cases: the public route works, the admin one is refused.
    let (status, body, _) = raw(&s, &get("/public/x", &token)).await;
    assert_eq!((status, body["path"].as_str()), (200, Some("/public/x")));
    assert_eq!(raw(&s, &get("/admin/x", &token)).await.0, 403);
    // Dot segments inside a route are normalised, and forwarded so.
    let (status, body, _) = raw(&s, &get("/public/a/./b/../c", &token)).await;
    assert_eq!((status, body["path"].as_str()), (200, Some("/public/a/c")));

    let addr = s.base.trim_start_matches("http://").to_owned();
    let absolute = format!("http://{addr}/public/../admin/x");
    let hits_before = up.hits();
    for target in [
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/public/%2E%2E%2Fadmin/x",
        "/public/..%2fadmin",
        "/public//../admin",
        "/public/./../admin",
        "/public/..;/admin/x",
        "/public/%2e%2e;/admin/x",
        "/public/..%5cadmin",
        "/%61dmin/x",
        "/pub/../../admin/x",
        "/pub/%2e%2e/%2e%2e/admin/x",
        absolute.as_str(),
    ] {
        let (status, body, text) = raw(&s, &get(target, &token)).await;
        assert!(
            status == 400 || status == 403,
            "{target}: expected 400 or 403, got {text}"
        );
        assert!(
            body["error"].is_string(),
            "{target}: JSON error body: {text}"
        );
    }
    assert_eq!(
        up.hits(),
        hits_before,
        "no refused path reached the upstream"
    );

    // strip_prefix stays inside the upstream's base path.
    let (status, body, _) = raw(&s, &get("/pub/a/../b", &token)).await;
    let seen = body["path"].as_str().unwrap_or("").to_owned();
    assert_eq!((status, seen.as_str()), (200, "/base/b"));
    assert!(as_an_upstream_reads(&seen).starts_with("/base/"));
    s.stop().await;
}

#[tokio::test]
async fn framework_errors_are_json_and_echo_little() {
    let s = TestServer::start().await;
    // 405 keeps Allow.
    let (status, body, text) = raw(
        &s,
        "GET /oauth2/token.oauth2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "{text}");
    assert!(text.to_ascii_lowercase().contains("allow: post"), "{text}");
    assert_eq!(body["error"], "method_not_allowed", "{text}");
    // 404 echoes a short excerpt of the path only.
    let long = format!("/{}", "a".repeat(6000));
    let r = s.api(&long, None).await;
    assert_eq!(r.status, 404);
    let d = r.json["error_description"].as_str().unwrap();
    assert!(d.len() < 120, "{d}");
    // 414, 431, 413.
    let (status, body, _) = raw(&s, &get(&format!("/{}", "b".repeat(9000)), "t")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (414, Some("uri_too_long"))
    );
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "c".repeat(20_000)
    );
    let (status, body, _) = raw(&s, &big).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (431, Some("request_header_fields_too_large"))
    );
    // Heads too large or malformed for the HTTP layer itself get JSON too.
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "d".repeat(100_000)
    );
    let (status, body, text) = raw(&s, &huge).await;
    assert_eq!(status, 431, "{}", &text[..text.len().min(300)]);
    assert_eq!(body["error"], "request_header_fields_too_large", "{text}");
    for garbage in ["GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n"] {
        let (status, body, text) = raw(&s, garbage).await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(body["error"], "bad_request", "{text}");
    }
    let body_2mb = "a=1&".repeat(500_000);
    let r = s.post("/oauth2/token.oauth2", "c", "s", &body_2mb).await;
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.json["error"].is_string(), "{r:?}");
    // Too many parameters within the size limit.
    let many = "a=1&".repeat(200);
    let r = s.post("/oauth2/token.oauth2", "c", "s", &many).await;
    r.assert_error(400, "invalid_request");
    // A path that cannot be normalised, before any token check.
    let (status, body, _) = raw(&s, &get("/a/%2f/b", "t")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    s.stop().await;
}

#[tokio::test]
async fn a_malformed_body_through_the_gateway_is_the_callers_fault() {
    let up = Upstream::start().await;
    let s = TestServer::start_with(|f| {
        f.routes = Some(vec![route("/up", &up.url(), "up:write", false)]);
    })
    .await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "up:write").await;
    let token = s
        .access_token(&id, &secret, "grant_type=client_credentials&scope=up:write")
        .await;
    let addr = s.base.trim_start_matches("http://").to_owned();

    // A body shorter than its Content-Length, then the caller stops sending.
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /up/count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 100\r\n\r\nshort"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.shutdown().await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");

    // A bad chunk size.
    let bad_chunk = format!(
        "POST /up/count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nzz\r\n"
    );
    let (status, body, text) = raw(&s, &bad_chunk).await;
    assert!(status == 400, "{text}");
    assert!(body["error"].is_string(), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed() {
    let s = TestServer::start_with(|f| {
        f.limits = Some(ServerLimits {
            header_read_timeout: 1,
            idle_timeout: 2,
            ..ServerLimits::default()
        });
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // A head that never completes is cut at about header_read_timeout.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("closed within 5 s")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // An idle keep-alive connection is closed at about idle_timeout.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = idle.read(&mut buf).await.unwrap();
    assert!(n > 0, "answered");
    let mut rest = Vec::new();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(6), idle.read_to_end(&mut rest))
        .await
        .expect("idle connection closed within 6 s")
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_fresh_client_gets_a_token_while_a_thousand_slow_connections_are_open() {
    let s = TestServer::start().await;
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "public:read")
        .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for i in 0..1000 {
        let Ok(mut c) = TcpStream::connect(&addr).await else {
            panic!("connection {i} refused: raise the open-file limit for this test");
        };
        let _ = c
            .write_all(b"POST /oauth2/token.oauth2 HTTP/1.1\r\nHo")
            .await;
        slow.push(c);
    }
    let started = Instant::now();
    let t = s
        .token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=public:read",
        )
        .await;
    assert_eq!(t.status, 200, "{t:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let open = s.state.metrics().connections_open();
    assert!(
        open >= 1000,
        "the slow connections are held, not dropped: {open}"
    );
    drop(slow);
    s.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once_and_counted() {
    let s = TestServer::start_with(|f| {
        f.limits = Some(ServerLimits {
            max_connections: 4,
            ..ServerLimits::default()
        });
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Heads in progress: busy, so none of them is reclaimed as idle.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
        held.push(c);
    }
    wait_for_open(&s, 4).await;
    // Time for the server to read the heads' starts (until then they are idle).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        s.leaves_a_new_connection_unanswered().await,
        "the fifth connection got no answer"
    );
    let refused = s.state.metrics().connections_refused();
    assert!(refused >= 1);
    drop(held);
    // Slots come back when connections close.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.api("/healthz", None).await.status, 200);
    s.stop().await;
}

/// Waits (up to 5 s) until the server counts `n` open connections.
async fn wait_for_open(s: &TestServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.state.metrics().connections_open() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        s.state.metrics().connections_open() >= n,
        "{} open, {n} wanted",
        s.state.metrics().connections_open()
    );
}

/// A TCP connection to the server from `source` (any 127/8 address is
/// this host's on Linux, so each is a different caller).
async fn connect_from(s: &TestServer, source: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let addr = s.base.trim_start_matches("http://").parse().unwrap();
    socket.connect(addr).await.unwrap()
}

/// How many of `conns` the server has closed (a read gives end of file).
async fn closed_by_server(conns: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for c in conns {
        let mut b = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(5), c.read(&mut b)).await {
            closed += 1;
        }
    }
    closed
}

/// [`raw`], from `source`.
async fn raw_from(s: &TestServer, source: [u8; 4], request: &str) -> (u16, Value, String) {
    let mut conn = connect_from(s, source).await;
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::Null),
        text,
    )
}
