//! Issue 10: memory and connections are bounded by configuration, not by
//! what callers send — measured on the real binary through /proc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::{Server, Workspace};
use tokio::io::AsyncWriteExt;

/// A field of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    tollgate_server::testing::proc_status_kib(&pid.to_string(), field)
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_form_bodies_cost_bounded_memory() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let url = server.url("/oauth2/token.oauth2");
    // Warm up: one real request, so the start figure includes the runtime.
    let r = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let start_kib = status_kib(pid, "VmRSS:");

    // ~2 MB of ~330k tiny parameters, as in the report.
    let body: bytes::Bytes = "a=1&".repeat(500_000).into();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let http = http.clone();
        let url = url.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let req = http
                .post(&url)
                .basic_auth("no-such-client", Some("wrong"))
                .header("content-type", "application/x-www-form-urlencoded");
            // Half declare their length; half stream it chunked, so the
            // server has to read until the limit.
            let req = if i % 2 == 0 {
                req.body(body)
            } else {
                let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
                    .chunks(64 * 1024)
                    .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                    .collect();
                req.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                )))
            };
            match req.send().await {
                Ok(r) => Some(r.status().as_u16()),
                // The server may answer 413 and close before the body is sent.
                Err(_) => None,
            }
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let answered: Vec<u16> = statuses.iter().flatten().copied().collect();
    assert!(
        answered.iter().all(|s| *s == 413),
        "only 413s: {answered:?}"
    );
    assert!(answered.len() >= 100, "most answered: {}", answered.len());

    let peak_kib = status_kib(pid, "VmHWM:");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_kib = status_kib(pid, "VmRSS:");
    println!("RSS start {start_kib} KiB, peak {peak_kib} KiB, after {after_kib} KiB");
    assert!(peak_kib < 300 * 1024, "peak RSS {peak_kib} KiB");
    assert!(
        after_kib < start_kib + 64 * 1024,
        "RSS returns near its start: {start_kib} -> {after_kib} KiB"
    );
    // And the server still serves.
    let r = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn hitting_the_connection_limit_is_logged() {
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        "[argon2]\nmemory_kib = 256\niterations = 1\nparallelism = 1\n[limits]\nmax_connections = 2\n",
    )
    .unwrap();
    let server: Server = ws.serve(&[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        held.push(c);
        // Let the server read the head's start: a connection it has read
        // nothing from yet is idle, and idle ones are reclaimed at the limit.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logged = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        server.log_text().contains("connection limit reached")
    });
    assert!(logged, "{}", server.log_text());
    let line = server
        .log_text()
        .lines()
        .find(|l| l.contains("connection limit reached"))
        .unwrap()
        .to_owned();
    assert!(line.contains("\"max_connections\":2"), "{line}");
    assert!(line.contains("WARN"), "{line}");
}
