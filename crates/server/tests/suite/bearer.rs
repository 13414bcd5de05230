//! The bearer check (issue 3 section 1), the demo APIs (section 4) and the
//! operations endpoints (section 5), over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{TestServer, REALM};
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;

const ALL: &[GrantType] = &[
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
];

async fn demo_server() -> TestServer {
    TestServer::start_with(|f| f.demo_apis = Some(true)).await
}

async fn cc_token(s: &TestServer, scope: &str) -> (String, String, String) {
    let (id, secret) = s.client(ALL, "locations:read users:read:any").await;
    let t = s
        .access_token(
            &id,
            &secret,
            &format!("grant_type=client_credentials&scope={scope}"),
        )
        .await;
    (id, secret, t)
}

#[tokio::test]
async fn no_credentials_is_401_without_error_code() {
    let s = demo_server().await;
    let r = s.api("/locations", None).await;
    r.assert_bearer(401, None);
    assert_eq!(
        r.header("www-authenticate"),
        format!("Bearer realm=\"{REALM}\"")
    );
    // A token in the query string is never accepted.
    let (_, _, t) = cc_token(&s, "locations:read").await;
    s.api(&format!("/locations?access_token={t}"), None)
        .await
        .assert_bearer(401, None);
    // Another scheme is no bearer credential at all.
    s.get_with("/locations", &[("authorization", "Basic YTpi")])
        .await
        .assert_bearer(401, None);
    s.stop().await;
}

#[tokio::test]
async fn malformed_credentials_are_400_invalid_request() {
    let s = demo_server().await;
    let (_, _, t) = cc_token(&s, "locations:read").await;
    let lower = format!("bearer {t}");
    let two_spaces = format!("Bearer  {t}");
    for value in [
        lower.as_str(),
        "Bearer",
        "Bearer a b",
        "Bearer a\"b",
        "BEARER x",
    ] {
        s.get_with("/locations", &[("authorization", value)])
            .await
            .assert_bearer(400, Some("invalid_request"));
    }
    assert_eq!(
        s.get_with("/locations", &[("authorization", &two_spaces)])
            .await
            .status,
        200
    );
    let good = format!("Bearer {t}");
    let r = s
        .http
        .get(s.url("/locations"))
        .header("authorization", &good)
        .header("authorization", &good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn bearer_keyword_case_is_configurable() {
    let s = TestServer::start_with(|f| {
        f.demo_apis = Some(true);
        f.bearer_case_insensitive = Some(true);
    })
    .await;
    let (_, _, t) = cc_token(&s, "locations:read").await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = s
            .get_with("/locations", &[("authorization", &format!("{scheme} {t}"))])
            .await;
        assert_eq!(r.status, 200, "{scheme}");
    }
    s.stop().await;
}

#[tokio::test]
async fn invalid_tokens_get_the_seeds_401() {
    let s = demo_server().await;
    let (id, secret, _) = cc_token(&s, "").await;
    s.user("alice", "pw").await;
    let expected_prefix = format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"");
    let check = |r: crate::common::Reply| {
        r.assert_bearer(401, Some("invalid_token"));
        assert!(
            r.header("www-authenticate").starts_with(&expected_prefix),
            "{r:?}"
        );
    };
    check(s.api("/locations", Some("tga_not_a_real_token")).await);
    // A refresh token is not an access token.
    let pw = s
        .token(
            &id,
            &secret,
            "grant_type=password&username=alice&password=pw&scope=locations%3Aread",
        )
        .await;
    check(s.api("/locations", pw.json["refresh_token"].as_str()).await);
    // Revoked through this server: at once, even though it was cached.
    let t = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations%3Aread",
        )
        .await;
    assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    s.post("/oauth2/revoke.oauth2", &id, &secret, &format!("token={t}"))
        .await;
    check(s.api("/locations", Some(&t)).await);
    // Revoking the refresh token kills the cached access token of its family.
    let access = pw.json["access_token"].as_str().unwrap();
    assert_eq!(s.api("/locations", Some(access)).await.status, 200);
    let refresh = pw.json["refresh_token"].as_str().unwrap();
    s.post(
        "/oauth2/revoke.oauth2",
        &id,
        &secret,
        &format!("token={refresh}"),
    )
    .await;
    check(s.api("/locations", Some(access)).await);
    s.stop().await;
}

#[tokio::test]
async fn a_token_dies_at_exp_even_when_cached() {
    let s = demo_server().await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "short".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            token_ttl: Some(60),
            ..ClientSettings::default()
        })
        .await;
    let t = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=locations%3Aread",
        )
        .await;
    let exp_ms = (s.state.clock().now_secs() + 60) * 1000;
    assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    let to = |target: i64| {
        Duration::from_millis(u64::try_from(target - s.state.clock().now_ms()).unwrap())
    };
    s.state.clock().advance(to(exp_ms - 1));
    assert_eq!(
        s.api("/locations", Some(&t)).await.status,
        200,
        "valid 1 ms before exp"
    );
    s.state.clock().advance(Duration::from_millis(1));
    s.api("/locations", Some(&t))
        .await
        .assert_bearer(401, Some("invalid_token"));
    s.stop().await;
}

/// Disabling through another connection (as `tollgate admin` does) stops
/// cached tokens within a second.
#[tokio::test]
async fn disabling_elsewhere_applies_within_a_second() {
    let s = demo_server().await;
    let admin = tollgate_server::store::open(&format!("sqlite://{}", s.db_path.display()))
        .await
        .unwrap();
    let (id, secret, t) = cc_token(&s, "locations:read").await;
    s.user("alice", "pw").await;
    let pw = s
        .token(
            &id,
            &secret,
            "grant_type=password&username=alice&password=pw&scope=locations%3Aread",
        )
        .await;
    let user_token = pw.json["access_token"].as_str().unwrap().to_owned();
    for tok in [&t, &user_token] {
        assert_eq!(s.api("/locations", Some(tok)).await.status, 200);
    }
    async fn dies_within_a_second(s: &TestServer, tok: &str) {
        let started = Instant::now();
        while s.api("/locations", Some(tok)).await.status == 200 {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "still valid after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        s.api("/locations", Some(tok))
            .await
            .assert_bearer(401, Some("invalid_token"));
    }
    admin
        .update_user("alice", &crate::common::enabled(false), 0)
        .await
        .unwrap();
    dies_within_a_second(&s, &user_token).await;
    assert_eq!(
        s.api("/locations", Some(&t)).await.status,
        200,
        "the client's own token lives"
    );
    admin
        .update_client(&id, 0, &mut |c| {
            c.enabled = false;
            true
        })
        .await
        .unwrap();
    dies_within_a_second(&s, &t).await;
    admin.close().await;
    s.stop().await;
}

#[tokio::test]
async fn insufficient_scope_is_403_naming_the_scope() {
    let s = demo_server().await;
    let (_, _, t) = cc_token(&s, "").await;
    let r = s.api("/locations", Some(&t)).await;
    r.assert_bearer(403, Some("insufficient_scope"));
    assert!(
        r.header("www-authenticate")
            .ends_with("scope=\"locations:read\""),
        "{r:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn steady_state_is_served_from_the_cache() {
    let s = demo_server().await;
    let (_, _, t) = cc_token(&s, "locations:read").await;
    let (h0, m0) = cache_counts(&s);
    for _ in 0..20 {
        assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    }
    let (h1, m1) = cache_counts(&s);
    assert_eq!(
        (h1 - h0, m1 - m0),
        (19, 1),
        "one store lookup, then the cache"
    );
    // The cached grant is still scope-checked on every request.
    let (_, _, narrow) = cc_token(&s, "").await;
    assert_eq!(s.api("/locations", Some(&narrow)).await.status, 403);
    assert_eq!(s.api("/locations", Some(&narrow)).await.status, 403);
    s.stop().await;
}

fn cache_counts(s: &TestServer) -> (u64, u64) {
    s.state.metrics().cache_counts()
}

#[tokio::test]
async fn locations_demo_api() {
    let s = demo_server().await;
    let (_, _, t) = cc_token(&s, "locations:read").await;
    let r = s.api("/locations", Some(&t)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let items = r.json["items"].as_array().unwrap();
    assert!(items.len() >= 3);
    assert!(items[0]["locationCode"].is_string() && items[0]["name"].is_string());
    assert!(
        r.header("ratelimit").is_empty(),
        "no RateLimit headers without limits"
    );
    s.stop().await;
}

#[tokio::test]
async fn user_details_demo_api() {
    let s = demo_server().await;
    let (id, secret) = s.client(ALL, "users:read:any").await;
    s.user("alice", "pw").await;
    s.user("bob", "pw").await;
    let path = |u: &str| format!("/organization/api/organization/user/allDetails/userId/{u}");
    // The seed's call: a password token for the user, no scope asked for.
    let pw = s
        .token(
            &id,
            &secret,
            "grant_type=password&username=alice&password=pw",
        )
        .await;
    let alice = pw.json["access_token"].as_str().unwrap().to_owned();
    let r = s.api(&path("alice"), Some(&alice)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["data"]["UserId"], "alice");
    assert_eq!(r.json["data"]["FullName"], "Test User");
    assert!(
        !r.body.contains("argon2"),
        "never the password hash: {}",
        r.body
    );
    // Another user's details: 403, unless the token may read any user.
    s.api(&path("bob"), Some(&alice))
        .await
        .assert_bearer(403, Some("insufficient_scope"));
    let any = s
        .access_token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=users%3Aread%3Aany",
        )
        .await;
    assert_eq!(
        s.api(&path("bob"), Some(&any)).await.json["data"]["UserId"],
        "bob"
    );
    let cc = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_eq!(s.api(&path("bob"), Some(&cc)).await.status, 403);
    let missing = s.api(&path("nobody"), Some(&any)).await;
    assert_eq!((missing.status, missing.error()), (404, "not_found"));
    s.stop().await;
}

#[tokio::test]
async fn demo_apis_are_off_unless_configured() {
    let s = TestServer::start().await;
    let (_, _, t) = cc_token(&s, "locations:read").await;
    assert_eq!(s.api("/locations", Some(&t)).await.status, 404);
    s.stop().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let s = demo_server().await;
    assert_eq!(s.api("/healthz", None).await.status, 200);
    let ready = s.api("/readyz", None).await;
    assert_eq!(
        (ready.status, ready.json["status"].as_str()),
        (200, Some("ready"))
    );
    let (id, secret, t) = cc_token(&s, "locations:read").await;
    s.api("/locations", Some(&t)).await;
    s.api("/locations", Some(&t)).await;
    s.token(&id, &secret, "grant_type=client_credentials&scope=nope")
        .await;
    let m = s.api("/metrics", None).await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .starts_with("application/openmetrics-text"));
    for needle in [
        "tollgate_http_requests_total{route=\"/locations\",status=\"200\"} 2",
        "tollgate_token_requests_total{grant=\"client_credentials\",outcome=\"issued\"} 1",
        "tollgate_token_requests_total{grant=\"client_credentials\",outcome=\"invalid_scope\"} 1",
        "tollgate_validation_cache_hits_total 1",
        "tollgate_validation_cache_misses_total 1",
        "# TYPE tollgate_upstream_latency_seconds histogram",
        "# TYPE tollgate_quota_store_errors counter",
        "# EOF",
    ] {
        assert!(m.body.contains(needle), "missing {needle:?} in\n{}", m.body);
    }
    s.stop().await;
}

/// With the store gone: not ready, and the token endpoint answers 503 with
/// Retry-After and a JSON error, never 500.
#[tokio::test]
async fn store_down_is_503_not_500() {
    let s = demo_server().await;
    let (id, secret) = s.client(ALL, "").await;
    s.state.store().close().await;
    let ready = s.api("/readyz", None).await;
    assert_eq!(
        (ready.status, ready.header("retry-after")),
        (503, "1"),
        "{ready:?}"
    );
    let r = s.token(&id, &secret, "grant_type=client_credentials").await;
    assert_eq!(
        (r.status, r.error()),
        (503, "temporarily_unavailable"),
        "{r:?}"
    );
    assert_eq!(r.header("retry-after"), "1");
    assert_eq!(
        s.api("/healthz", None).await.status,
        200,
        "the process is still up"
    );
}
