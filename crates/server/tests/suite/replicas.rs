//! Several targets per route (issue 33 point 2): weights, least in flight,
//! passive ejection, active health checks, one retry elsewhere, 503 with
//! `Retry-After` when every target is out, per-target metrics; and a
//! target killed under steady GET load and started again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::upstream::{Killable, Upstream};
use crate::common::TestServer;
use tollgate_server::config::{
    Balance, HealthCheckConfig, PassiveHealthConfig, RouteConfig, TargetConfig,
};

fn targets(urls: &[(String, u32)]) -> Vec<TargetConfig> {
    urls.iter()
        .map(|(url, weight)| TargetConfig {
            url: url.clone(),
            weight: *weight,
        })
        .collect()
}

fn route(urls: &[(String, u32)]) -> RouteConfig {
    RouteConfig {
        path_prefix: "/svc".into(),
        targets: targets(urls),
        strip_prefix: true,
        ..RouteConfig::default()
    }
}

async fn gateway(route: RouteConfig) -> (TestServer, String) {
    crate::common::gateway_with(vec![route], 2).await
}

fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// `tollgate_upstream_target_<name>` of `target` (`host:port`) in /metrics.
async fn target_metric(s: &TestServer, name: &str, target: &str) -> Option<f64> {
    let text = s.api("/metrics", None).await.body;
    let prefix = format!("tollgate_upstream_target_{name}");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&format!("target=\"{target}\"")))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn round_robin_follows_the_weights() {
    let ups = [
        Upstream::start().await,
        Upstream::start().await,
        Upstream::start().await,
    ];
    let urls: Vec<_> = ups
        .iter()
        .zip([2, 1, 1])
        .map(|(u, w)| (u.url(), w))
        .collect();
    let (s, t) = gateway(route(&urls)).await;
    for _ in 0..40 {
        assert_eq!(s.api("/svc/x", Some(&t)).await.status, 200);
    }
    let hits: Vec<_> = ups.iter().map(Upstream::hits).collect();
    assert_eq!(hits, vec![20, 10, 10]);
    let target = ups[0].addr.to_string();
    assert_eq!(
        target_metric(&s, "requests_total", &target).await,
        Some(20.0)
    );
    assert_eq!(target_metric(&s, "up", &target).await, Some(1.0));
    s.stop().await;
}

#[tokio::test]
async fn least_in_flight_avoids_the_busy_target() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let busy_route = RouteConfig {
        balance: Balance::LeastInFlight,
        ..route(&[(a.url(), 1), (b.url(), 1)])
    };
    let (s, t) = gateway(busy_route).await;
    // One slow request holds a target (until the 2 s timeout).
    let slow = {
        let (http, url, t) = (s.http.clone(), s.url("/svc/slow"), t.clone());
        tokio::spawn(async move { http.get(url).bearer_auth(t).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy_hits = a.hits() + b.hits();
    assert_eq!(busy_hits, 1, "the slow request arrived");
    for _ in 0..6 {
        assert_eq!(s.api("/svc/quick", Some(&t)).await.status, 200);
    }
    let (ha, hb) = (a.hits(), b.hits());
    assert!(
        (ha, hb) == (1, 6) || (ha, hb) == (6, 1),
        "hits {ha} and {hb}"
    );
    let _ = slow.await;
    s.stop().await;
}

#[tokio::test]
async fn a_target_that_cannot_be_reached_is_retried_elsewhere_then_ejected() {
    let up = Upstream::start().await;
    let dead = closed_port();
    let retried = RouteConfig {
        passive_health: PassiveHealthConfig {
            failures: Some(1),
            ejection_ms: Some(60_000),
            ..PassiveHealthConfig::default()
        },
        ..route(&[(dead.clone(), 1), (up.url(), 1)])
    };
    let (s, t) = gateway(retried).await;
    // The first request goes to the dead target: refused, sent elsewhere.
    let r = s.api("/svc/a", Some(&t)).await;
    assert_eq!(r.status, 200, "{r:?}");
    // A POST with a body: it was never sent, so it may go elsewhere too.
    for _ in 0..4 {
        let resp = s
            .http
            .post(s.url("/svc/p"))
            .bearer_auth(&t)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(up.hits(), 5);
    let dead_target = dead.trim_start_matches("http://");
    assert_eq!(target_metric(&s, "up", dead_target).await, Some(0.0));
    assert_eq!(
        target_metric(&s, "failures_total", dead_target).await,
        Some(1.0)
    );
    s.stop().await;
}

#[tokio::test]
async fn a_post_that_reached_a_target_is_never_sent_again() {
    let mut a = Killable::start().await;
    let b = Upstream::start().await;
    let (s, t) = gateway(route(&[(a.url(), 1), (b.url(), 1)])).await;
    let post = {
        let (http, url, t) = (s.http.clone(), s.url("/svc/slow"), t.clone());
        tokio::spawn(async move { http.post(url).bearer_auth(t).body("once").send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.hits(), 1, "the POST reached the first target");
    a.kill();
    let resp = post.await.unwrap().unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(b.hits(), 0, "the POST was not sent again");
    s.stop().await;
}

#[tokio::test]
async fn all_targets_out_is_503_with_retry_after_at_once() {
    let up = Upstream::start().await;
    let flaky = RouteConfig {
        passive_health: PassiveHealthConfig {
            failures: Some(2),
            ejection_ms: Some(20_000),
            ..PassiveHealthConfig::default()
        },
        ..route(&[(up.url(), 1)])
    };
    let (s, t) = gateway(flaky).await;
    // 5xx answers are passed on (they were answered: no retry) and count.
    for _ in 0..2 {
        assert_eq!(s.api("/svc/status/500", Some(&t)).await.status, 500);
    }
    let started = Instant::now();
    let r = s.api("/svc/status/200", Some(&t)).await;
    assert_eq!(
        (r.status, r.error()),
        (503, "temporarily_unavailable"),
        "{r:?}"
    );
    let retry_after: u64 = r.header("retry-after").parse().unwrap();
    assert!(
        (19..=20).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(up.hits(), 2, "an ejected target is not asked");
    s.stop().await;
}

#[tokio::test]
async fn active_checks_take_a_target_out_and_bring_it_back() {
    let mut a = Killable::start().await;
    let b = Upstream::start().await;
    let checked = RouteConfig {
        health_check: Some(HealthCheckConfig {
            path: "/healthz".into(),
            interval_ms: Some(50),
            timeout_ms: Some(200),
            healthy: Some(2),
            unhealthy: Some(2),
        }),
        passive_health: PassiveHealthConfig {
            failures: Some(0),
            ..PassiveHealthConfig::default()
        },
        ..route(&[(a.url(), 1), (b.url(), 1)])
    };
    let (s, _t) = gateway(checked).await;
    let target = a.addr.to_string();
    a.kill();
    let out = wait_for(&s, &target, 0.0, Duration::from_secs(3)).await;
    a.restart().await;
    let back = wait_for(&s, &target, 1.0, Duration::from_secs(3)).await;
    eprintln!("checks every 50 ms: out after {out:?}, back after {back:?}");
    assert!(a.hits() >= 2, "health checks asked the restarted target");
    s.stop().await;
}

/// How long until `target`'s `up` metric reads `value`.
async fn wait_for(s: &TestServer, target: &str, value: f64, at_most: Duration) -> Duration {
    let started = Instant::now();
    while target_metric(s, "up", target).await != Some(value) {
        assert!(started.elapsed() < at_most, "{target} never became {value}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// Three targets under steady GET load; one is killed, then started
/// again: no GET fails, the dead one is out within the configured time,
/// and takes traffic again once back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_killed_under_load_loses_no_get() {
    let mut ups = [
        Killable::start().await,
        Killable::start().await,
        Killable::start().await,
    ];
    let urls: Vec<_> = ups.iter().map(|u| (u.url(), 1)).collect();
    let loaded = RouteConfig {
        health_check: Some(HealthCheckConfig {
            path: "/healthz".into(),
            interval_ms: Some(100),
            timeout_ms: Some(200),
            healthy: Some(2),
            unhealthy: Some(2),
        }),
        passive_health: PassiveHealthConfig {
            failures: Some(3),
            ejection_ms: Some(500),
            ..PassiveHealthConfig::default()
        },
        ..route(&urls)
    };
    let (s, t) = gateway(loaded).await;
    let s = Arc::new(s);
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let until = Instant::now() + Duration::from_secs(4);
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (s, t, sent, failed) = (s.clone(), t.clone(), sent.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let r = s.api("/svc/item", Some(&t)).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if r.status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("failed GET: {r:?}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let victim = ups[2].addr.to_string();
    ups[2].kill();
    let out = wait_for(&s, &victim, 0.0, Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits_while_dead = ups[2].hits();
    ups[2].restart().await;
    let back = wait_for(&s, &victim, 1.0, Duration::from_secs(2)).await;
    for l in load {
        l.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let after = ups[2].hits() - hits_while_dead;
    eprintln!(
        "{sent} GETs, {failed} failed; the killed target out after {out:?}, back after {back:?}, then {after} requests (health checks included)"
    );
    assert_eq!(failed, 0, "no GET may fail while a target dies");
    assert!(sent > 100, "the load ran: {sent} GETs");
    assert!(out < Duration::from_millis(1000), "ejected after {out:?}");
    let served: usize = ups[..2].iter().map(Killable::hits).sum();
    assert!(
        after > 10,
        "traffic back on the restarted target: {after} (others {served})"
    );
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}
