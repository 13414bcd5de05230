//! A 1 GiB body passes through the gateway both ways with bounded memory.
//! Its own test binary, so the peak resident size it checks belongs to this
//! test alone (client, gateway and upstream all run in this process).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::upstream::Upstream;
use crate::common::TestServer;
use axum::body::Bytes;
use tollgate_proto::GrantType;
use tollgate_server::config::RouteConfig;

const MIB: usize = 1 << 20;
const TOTAL_MIB: usize = 1024;

/// Peak resident set size of this process, in MiB (Linux).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streams_both_ways_with_bounded_memory() {
    let up = Upstream::start().await;
    let s = TestServer::start_with(|f| {
        f.routes = Some(vec![RouteConfig {
            path_prefix: "/files".into(),
            upstream: Some(up.url()),
            required_scopes: vec![],
            strip_prefix: true,
            ..RouteConfig::default()
        }]);
    })
    .await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let t = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let before = peak_rss_mib();

    // Upload: the upstream counts what arrives.
    let chunk = Bytes::from(vec![7u8; MIB]);
    let stream = futures_util::stream::iter(
        (0..TOTAL_MIB).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let started = std::time::Instant::now();
    let resp = s
        .http
        .post(s.url("/files/count"))
        .header("authorization", format!("Bearer {t}"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), (TOTAL_MIB * MIB).to_string());
    let up_secs = started.elapsed().as_secs_f64();

    // Download: read it as it comes.
    let started = std::time::Instant::now();
    let mut resp = s
        .http
        .get(s.url(&format!("/files/download/{TOTAL_MIB}")))
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut received = 0usize;
    while let Some(c) = resp.chunk().await.unwrap() {
        received += c.len();
    }
    assert_eq!(received, TOTAL_MIB * MIB);
    let down_secs = started.elapsed().as_secs_f64();

    let after = peak_rss_mib();
    eprintln!("1 GiB up in {up_secs:.1} s, down in {down_secs:.1} s; peak RSS {before:?} -> {after:?} MiB");
    if let (Some(b), Some(a)) = (before, after) {
        assert!(
            a.saturating_sub(b) < 128,
            "peak RSS grew by {} MiB: a body was buffered",
            a - b
        );
    }
    s.stop().await;
}
