//! Issue 30, point 6, measured in this process's memory, so in a binary of
//! its own (other tests beside it would move the figure): usernames longer
//! than any there can be cost nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "suite/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{sign_in, TestServer};
use futures_util::StreamExt as _;
use tollgate_proto::GrantType;

const ALL: &[GrantType] = &[GrantType::ClientCredentials, GrantType::Password];

/// Resident memory of this process (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    tollgate_server::testing::proc_status_kib("self", "VmRSS:").expect("VmRSS in /proc/self/status")
}

/// Issue 30, point 6: a username longer than any there can be is refused
/// before it is counted: 3,000 of 60 kB cost no memory and no throttle entry.
#[tokio::test]
async fn huge_usernames_are_refused_before_they_are_counted() {
    let s = TestServer::start().await;
    s.user("alice", "wonderland").await;
    let c = s.client(ALL, "").await;
    let http = reqwest::Client::new();
    let huge = "u".repeat(60_000);
    let (status, why) = sign_in(&s, &http, &c, &huge, "x").await;
    assert_eq!(status, 400, "{why}");
    assert!(why.contains("255 bytes"), "{why}");
    let before = rss_kib();
    let started = Instant::now();
    futures_util::stream::iter(0..3000)
        .for_each_concurrent(16, |i| {
            let (s, http, c) = (&s, &http, &c);
            let name = format!("{i:05}{}", &huge[5..]);
            async move {
                let (status, _) = sign_in(s, http, c, &name, "x").await;
                assert_eq!(status, 400);
            }
        })
        .await;
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 20, "RSS grew {grown_mib} MiB");
    // Nothing was counted: alice signs in at once.
    let (status, why) = sign_in(&s, &http, &c, "alice", "wonderland").await;
    assert_eq!(status, 200, "{why} after {:?}", started.elapsed());
    s.stop().await;
}
