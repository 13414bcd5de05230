//! Who the caller is, as tollgate alone says it: the headers an upstream
//! hears, the address a trusted proxy names, one address's share of the
//! connections, and a token meant for another resource.

use super::*;

#[tokio::test]
async fn the_upstream_hears_who_the_caller_is_from_tollgate_alone() {
    let up = Upstream::start().await;
    let s = TestServer::start_with(|f| {
        let mut strict = route("/strict", &up.url(), "public:read", false);
        strict.underscores_in_headers = tollgate_server::config::Underscores::Refuse;
        f.routes = Some(vec![
            route("/public", &up.url(), "public:read", false),
            strict,
        ]);
        f.trusted_proxies = Some(vec!["127.0.0.2".into()]);
    })
    .await;
    s.user("alice", "wonderland").await;
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
    let forged = [
        "x_tollgate_username: demo-admin",
        "X_Tollgate_Scope: admin:write",
        "x_tollgate_client_id: someone-else",
        "X-Tollgate-Username: demo-admin",
        "Forwarded: for=6.6.6.6;host=evil.example",
        "X-Real-IP: 6.6.6.6",
        "X-Forwarded-For: 6.6.6.6",
        "X-Forwarded-Port: 1",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Prefix: /admin",
        "X-Original-URL: /admin",
        "X-Rewrite-URL: /admin",
        "X-HTTP-Method-Override: DELETE",
        "True-Client-IP: 6.6.6.6",
    ];
    let request = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\n{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            forged.join("\r\n")
        )
    };
    // From an address that is not a trusted proxy: every forged header goes.
    let (status, echo, _) = raw_from(&s, [127, 0, 0, 1], &request("/public/x")).await;
    assert_eq!(status, 200, "{echo}");
    let h = echo["headers"].as_object().unwrap();
    let mut names: Vec<&str> = h.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "accept",
            "host",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-real-ip",
            "x-tollgate-client-id",
            "x-tollgate-scope",
        ],
        "{echo}"
    );
    assert_eq!(h["x-tollgate-client-id"], id.as_str());
    assert_eq!(h["x-tollgate-scope"], "public:read");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "api.example");
    assert_eq!(echo["method"], "GET");

    // From the trusted proxy: its chain names the client, and its scheme
    // and host are passed on; the rest is still tollgate's alone.
    let (status, echo, _) = raw_from(&s, [127, 0, 0, 2], &request("/public/x")).await;
    assert_eq!(status, 200, "{echo}");
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-for"], "6.6.6.6, 127.0.0.2");
    assert_eq!(h["x-real-ip"], "6.6.6.6");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "evil.example");
    assert!(h.get("forwarded").is_none() && h.get("x-tollgate-username").is_none());

    // A route that refuses underscores says so, and forwards nothing.
    let hits = up.hits();
    let (status, body, _) = raw_from(&s, [127, 0, 0, 1], &request("/strict/x")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains('_'),
        "{body}"
    );
    assert_eq!(up.hits(), hits);
    s.stop().await;
}

#[tokio::test]
async fn throttles_count_the_address_a_trusted_proxy_names() {
    let s = TestServer::start_with(|f| {
        f.trusted_proxies = Some(vec!["127.0.0.2/32".into()]);
        f.throttle = Some(tollgate_server::config::ThrottleConfig {
            client_free_failures: 3,
            failure_floor_ms: 0,
            ..Default::default()
        });
    })
    .await;
    let attempt = |xff: &str| {
        format!(
            "POST /oauth2/token.oauth2 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {xff}\r\nAuthorization: Basic bm86bm8=\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\nConnection: close\r\n\r\ngrant_type=client_credentials"
        )
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            raw_from(&s, [127, 0, 0, 2], &attempt("203.0.113.7"))
                .await
                .0,
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Another client behind the same proxy is not throttled ...
    let (status, _, _) = raw_from(&s, [127, 0, 0, 2], &attempt("203.0.113.8")).await;
    assert_eq!(status, 401);
    // ... and a caller that is not a trusted proxy cannot pose as one.
    for _ in 0..5 {
        raw_from(&s, [127, 0, 0, 3], &attempt("203.0.113.9")).await;
    }
    let (status, _, _) = raw_from(&s, [127, 0, 0, 3], &attempt("198.51.100.1")).await;
    assert_eq!(status, 429, "the spoofed header was not believed");
    s.stop().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let s = TestServer::start_with(|f| {
        f.limits = Some(ServerLimits {
            max_connections: 300,
            max_connections_per_address: 250,
            ..ServerLimits::default()
        });
    })
    .await;
    let (id, secret) = s
        .client(&[GrantType::ClientCredentials], "public:read")
        .await;
    // 300 idle sockets from one address: 250 are kept, 50 closed at once.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect_from(&s, [127, 0, 0, 1]).await);
    }
    wait_for_open(&s, 250).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.state.metrics().connections_open(), 250);
    assert_eq!(
        closed_by_server(&mut idle).await,
        50,
        "the address's connections over its share"
    );

    let other = |source: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(source))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let token = |http: reqwest::Client| {
        let url = s.url("/oauth2/token.oauth2");
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            http.post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(token(other([127, 0, 0, 2])).await.unwrap(), 200);
    }
    // The other 50 slots taken by a second address: the server is full,
    // and a third address still gets tokens, each by an idle connection
    // of the address holding the most closed to make room.
    let mut second = Vec::new();
    for _ in 0..50 {
        second.push(connect_from(&s, [127, 0, 0, 3]).await);
    }
    wait_for_open(&s, 300).await;
    for _ in 0..10 {
        assert_eq!(token(other([127, 0, 0, 4])).await.unwrap(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        closed_by_server(&mut second).await,
        0,
        "the address holding fewer kept all of its own"
    );
    drop((idle, second));
    s.stop().await;
}

/// Issue 30, point 3: a token is accepted only by the resource it was
/// minted for. A route names its audience (default: the issuer, which the
/// built-in APIs use too); JWTs and opaque tokens carry their client's.
#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    use tollgate_proto::client::TokenFormat;

    const PAYMENTS: &str = "https://payments.example";
    let up = Upstream::start().await;
    let mut payments = route("/payments", &up.url(), "locations:read", false);
    payments.audience = Some(PAYMENTS.into());
    let own = route("/inventory", &up.url(), "locations:read", false);
    let s = TestServer::start_with(|f| {
        f.routes = Some(vec![payments, own]);
        f.demo_apis = Some(true);
    })
    .await;
    let client = |format, audience: Option<&str>| ClientSettings {
        client_name: "c".into(),
        grant_types: [GrantType::ClientCredentials].into(),
        scope: "locations:read".parse().unwrap(),
        token_format: Some(format),
        audience: audience.map(str::to_owned),
        ..ClientSettings::default()
    };
    let body = "grant_type=client_credentials&scope=locations:read";
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let (id, secret) = s.register(client(format, Some(PAYMENTS))).await;
        let for_payments = s.access_token(&id, &secret, body).await;
        let (id, secret) = s.register(client(format, None)).await;
        let for_tollgate = s.access_token(&id, &secret, body).await;

        let r = s.api("/payments/charge", Some(&for_payments)).await;
        assert_eq!(r.status, 200, "{format:?}: {r:?}");
        for path in ["/inventory/items", "/locations"] {
            let r = s.api(path, Some(&for_payments)).await;
            r.assert_bearer(401, Some("invalid_token"));
            assert!(
                r.header("www-authenticate").contains("another resource"),
                "{format:?} {path}: {r:?}"
            );
        }
        let r = s.api("/payments/charge", Some(&for_tollgate)).await;
        r.assert_bearer(401, Some("invalid_token"));
        for path in ["/inventory/items", "/locations"] {
            assert_eq!(s.api(path, Some(&for_tollgate)).await.status, 200, "{path}");
        }
        // Introspection says whom each is for.
        let i = s.introspect(&id, &secret, &for_tollgate).await;
        assert_eq!(i.json["aud"], crate::common::ISSUER, "{format:?}: {i:?}");
    }
    assert_eq!(
        up.hits(),
        4,
        "only the admitted calls reached it (2 per format)"
    );
    s.stop().await;
}
