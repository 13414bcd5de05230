//! Per-client quotas (issue 3 section 2), over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::TestServer;
use tollgate_proto::client::ClientSettings;
use tollgate_proto::GrantType;
use tollgate_server::config::{QuotaConfig, QuotaResponse};
use tollgate_server::Clock;

const DAY_MS: i64 = 86_400_000;

async fn limited_client(s: &TestServer, qps: Option<u64>, per_day: Option<u64>) -> String {
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "limited".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            qps,
            per_day,
            ..ClientSettings::default()
        })
        .await;
    s.access_token(
        &id,
        &secret,
        "grant_type=client_credentials&scope=locations%3Aread",
    )
    .await
}

fn with_quota(quota: QuotaConfig) -> impl FnOnce(&mut tollgate_server::FileConfig) {
    move |f| {
        f.demo_apis = Some(true);
        f.quota = Some(quota);
    }
}

/// The acceptance case: --qps 5, 50 requests spread over one second.
#[tokio::test]
async fn qps_5_admits_5_of_50_in_one_second() {
    let s = TestServer::start_with(with_quota(QuotaConfig::default())).await;
    let t = limited_client(&s, Some(5), None).await;
    let mut admitted = 0;
    for _ in 0..50 {
        let r = s.api("/locations", Some(&t)).await;
        if r.status == 200 {
            admitted += 1;
            assert_eq!(
                r.header("ratelimit-policy"),
                "\"per-second\";q=5;w=1",
                "{r:?}"
            );
            assert!(
                r.header("ratelimit").starts_with("\"per-second\";r="),
                "{r:?}"
            );
        } else {
            assert_eq!(r.status, 429, "{r:?}");
            assert_eq!(
                (r.error(), r.json["limit"].as_str()),
                ("quota_exceeded", Some("per_second"))
            );
            let retry: u64 = r.header("retry-after").parse().unwrap();
            assert!((1..=1).contains(&retry), "{r:?}");
            assert_eq!(r.header("ratelimit-policy"), "\"per-second\";q=5;w=1");
        }
        s.state.clock().advance(Duration::from_millis(20));
    }
    assert_eq!(admitted, 5);
    let m = s.api("/metrics", None).await;
    let line = "tollgate_quota_rejections_total{endpoint=\"api\",limit=\"per_second\"} 45";
    assert!(m.body.contains(line), "{}", m.body);
    s.stop().await;
}

/// Real concurrency at one instant: exactly 1 + burst pass.
#[tokio::test]
async fn concurrent_requests_at_the_limit_are_decided_atomically() {
    let quota = QuotaConfig {
        burst: 2,
        ..QuotaConfig::default()
    };
    let s = TestServer::start_with(with_quota(quota)).await;
    let t = limited_client(&s, Some(5), None).await;
    let statuses = concurrent_gets(&s, "/locations", &t, 50).await;
    let ok = statuses.iter().filter(|&&c| c == 200).count();
    assert_eq!(ok, 3, "{statuses:?}");
    assert!(statuses.iter().all(|&c| c == 200 || c == 429));
    s.stop().await;
}

/// With the real clock: N concurrent requests never get more than qps + burst.
#[tokio::test]
async fn real_clock_concurrency_stays_within_the_limit() {
    let s = TestServer::start_with_clock(Clock::system(), with_quota(QuotaConfig::default())).await;
    let t = limited_client(&s, Some(10), None).await;
    let started = std::time::Instant::now();
    let statuses = concurrent_gets(&s, "/locations", &t, 200).await;
    let elapsed = started.elapsed();
    let ok = statuses.iter().filter(|&&c| c == 200).count();
    // At most 10 per second: over `elapsed`, at most 10 * ceil(elapsed) (+1 at a window edge).
    let bound = 10 * (elapsed.as_secs() as usize + 1) + 1;
    assert!((1..=bound).contains(&ok), "{ok} admitted in {elapsed:?}");
    s.stop().await;
}

async fn concurrent_gets(s: &TestServer, path: &str, token: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let req = s
            .http
            .get(s.url(path))
            .header("authorization", format!("Bearer {token}"));
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    set.join_all().await
}

#[tokio::test]
async fn per_day_resets_at_midnight_utc() {
    let s = TestServer::start_with(with_quota(QuotaConfig::default())).await;
    // Move to the next 23:59:00 UTC (tomorrow's, when the test itself runs
    // in the last minute of a day).
    let now = s.state.clock().now_ms();
    let mut target = (now.div_euclid(DAY_MS) + 1) * DAY_MS - 60_000;
    if target < now {
        target += DAY_MS;
    }
    s.state
        .clock()
        .advance(Duration::from_millis(u64::try_from(target - now).unwrap()));
    let t = limited_client(&s, None, Some(3)).await;
    for _ in 0..3 {
        let r = s.api("/locations", Some(&t)).await;
        assert_eq!(r.status, 200);
        assert!(
            r.header("ratelimit-policy")
                .contains("\"per-day\";q=3;w=86400"),
            "{r:?}"
        );
    }
    let r = s.api("/locations", Some(&t)).await;
    assert_eq!(
        (r.status, r.json["limit"].as_str()),
        (429, Some("per_day")),
        "{r:?}"
    );
    assert_eq!(r.header("retry-after"), "60");
    s.state.clock().advance(Duration::from_secs(60));
    assert_eq!(
        s.api("/locations", Some(&t)).await.status,
        200,
        "a new UTC day"
    );
    s.stop().await;
}

#[tokio::test]
async fn mashery_mode_answers_403_with_its_codes() {
    let s = TestServer::start_with(|f| {
        f.demo_apis = Some(true);
        f.quota_response = Some(QuotaResponse::Mashery);
    })
    .await;
    let t = limited_client(&s, Some(1), None).await;
    assert_eq!(s.api("/locations", Some(&t)).await.status, 200);
    let r = s.api("/locations", Some(&t)).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        r.header("x-mashery-error-code"),
        "ERR_403_DEVELOPER_OVER_QPS"
    );
    assert_eq!(
        r.header("x-error-detail-header"),
        "Account Over Queries Per Second Limit"
    );
    assert_eq!(r.header("retry-after"), "1");
    let daily = limited_client(&s, None, Some(1)).await;
    assert_eq!(s.api("/locations", Some(&daily)).await.status, 200);
    let r = s.api("/locations", Some(&daily)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-mashery-error-code"),
        "ERR_403_DEVELOPER_OVER_RATE"
    );
    assert_eq!(r.header("x-error-detail-header"), "Account Over Rate Limit");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    s.stop().await;
}

#[tokio::test]
async fn config_defaults_apply_and_zero_means_unlimited() {
    let quota = QuotaConfig {
        default_qps: 2,
        ..QuotaConfig::default()
    };
    let s = TestServer::start_with(with_quota(quota)).await;
    let defaulted = limited_client(&s, None, None).await;
    let unlimited = limited_client(&s, Some(0), None).await;
    let ok = |v: Vec<u16>| v.iter().filter(|&&c| c == 200).count();
    assert_eq!(
        ok(concurrent_gets(&s, "/locations", &defaulted, 10).await),
        1
    );
    assert_eq!(
        ok(concurrent_gets(&s, "/locations", &unlimited, 10).await),
        10
    );
    s.stop().await;
}

/// The quota is per client, across all of that client's tokens.
#[tokio::test]
async fn quota_is_shared_by_all_tokens_of_a_client() {
    let s = TestServer::start_with(with_quota(QuotaConfig::default())).await;
    let (id, secret) = s
        .register(ClientSettings {
            client_name: "two tokens".into(),
            scope: "locations:read".parse().unwrap(),
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            qps: Some(1),
            ..ClientSettings::default()
        })
        .await;
    let body = "grant_type=client_credentials&scope=locations%3Aread";
    let a = s.access_token(&id, &secret, body).await;
    let b = s.access_token(&id, &secret, body).await;
    assert_eq!(s.api("/locations", Some(&a)).await.status, 200);
    assert_eq!(s.api("/locations", Some(&b)).await.status, 429);
    let other = limited_client(&s, Some(1), None).await;
    assert_eq!(
        s.api("/locations", Some(&other)).await.status,
        200,
        "other clients unaffected"
    );
    s.stop().await;
}

#[tokio::test]
async fn token_endpoint_has_its_own_limit() {
    let quota = QuotaConfig {
        token_qps: 2,
        burst: 1,
        ..QuotaConfig::default()
    };
    let s = TestServer::start_with(with_quota(quota)).await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(s.token(&id, &secret, "grant_type=client_credentials").await);
    }
    let ok = statuses.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 2, "token_qps 2 with burst 1, all at one instant");
    let refused = statuses.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(refused.error(), "quota_exceeded");
    assert!(refused.header("retry-after").parse::<u64>().is_ok());
    let (other, other_secret) = s.client(&[GrantType::ClientCredentials], "").await;
    assert_eq!(
        s.token(&other, &other_secret, "grant_type=client_credentials")
            .await
            .status,
        200
    );
    s.state.clock().advance(Duration::from_millis(500));
    assert_eq!(
        s.token(&id, &secret, "grant_type=client_credentials")
            .await
            .status,
        200
    );
    s.stop().await;
}
