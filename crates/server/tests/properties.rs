//! Property tests for what the server reads from callers: request paths
//! (normalisation is idempotent and leaves nothing an upstream would read
//! differently), `X-Forwarded-For` (the client is the peer unless the peer
//! is trusted, and never a trusted address a caller wrote), and whole requests — arbitrary paths, `Authorization`
//! headers and form bodies sent to a running server are never answered
//! with a 5xx. Anything these ever find becomes a regular test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::OnceLock;

use common::TestServer;
use proptest::prelude::*;
use tollgate_server::forwarded::TrustedProxies;
use tollgate_server::path::normalize;

/// Path-ish strings: segments of dots, escapes, letters and odd bytes.
fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just("%2f".to_owned()),
        Just("%5C".to_owned()),
        Just("%00".to_owned()),
        Just(";x".to_owned()),
        Just("..;".to_owned()),
        Just("".to_owned()),
        "[a-zA-Z0-9_~-]{1,6}",
        "%[0-9a-fA-F]{2}",
        "%[0-9a-zA-Z]{0,2}",
        "[!$&'()*+,;=:@]{1,3}",
    ];
    proptest::collection::vec(segment, 0..8).prop_map(|s| format!("/{}", s.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn normalising_never_panics(raw in ".{0,80}") {
        let _ = normalize(&raw);
    }

    #[test]
    fn normal_paths_are_fixed_points_with_nothing_left_to_read_differently(raw in path()) {
        if let Ok(n) = normalize(&raw) {
            let again = normalize(&n.path).unwrap();
            prop_assert_eq!(&again.path, &n.path, "idempotent");
            prop_assert_eq!(again.floor, usize::MAX, "no dot segments left");
            prop_assert!(n.path.starts_with('/'));
            prop_assert!(!n.path.contains("//"));
            let lower = n.path.to_ascii_lowercase();
            for bad in ["%2e", "%2f", "%5c", "%00", "\\", "/./", "/../"] {
                prop_assert!(!lower.contains(bad), "{} in {}", bad, n.path);
            }
            prop_assert!(!lower.ends_with("/.") && !lower.ends_with("/.."));
        }
    }
}

/// `X-Forwarded-For`-ish values: addresses trusted and not, ports, junk.
fn forwarded_for() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        "10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "203\\.0\\.113\\.[0-9]{1,3}",
        "203\\.0\\.113\\.[0-9]{1,3}:[0-9]{1,5}",
        "\\[2001:db8::[0-9a-f]{1,4}\\]:[0-9]{1,5}",
        "2001:db8::[0-9a-f]{1,4}",
        Just("unknown".to_owned()),
        Just("".to_owned()),
        "[ -~]{0,12}",
    ];
    proptest::collection::vec(entry, 0..6).prop_map(|e| e.join(", "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn the_client_address_is_the_peer_or_an_untrusted_entry(
        xff in forwarded_for(),
        peer_trusted in any::<bool>(),
    ) {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let peer: std::net::IpAddr = if peer_trusted { "10.0.0.1" } else { "198.51.100.1" }.parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(v) = axum::http::HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
        let got = trusted.client(peer, &headers);
        if !peer_trusted {
            prop_assert_eq!(got.ip, peer);
            prop_assert!(got.via.is_none());
        } else {
            let chain = got.via.clone().unwrap();
            // The client heads the chain, every hop after it is trusted.
            prop_assert_eq!(chain.first().copied().unwrap_or(peer), got.ip);
            prop_assert!(chain.iter().skip(1).all(|ip| trusted.contains(*ip)));
        }
    }
}

/// One server (and runtime) for all the HTTP cases.
fn server() -> &'static (tokio::runtime::Runtime, TestServer) {
    static S: OnceLock<(tokio::runtime::Runtime, TestServer)> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(TestServer::start_with(|f| f.demo_apis = Some(true)));
        (rt, s)
    })
}

/// Sends raw bytes, returns the status code (0 when the server closed
/// without answering, as it may for a malformed head).
fn status_of(request: Vec<u8>) -> u16 {
    let (rt, s) = server();
    let addr = s.base.trim_start_matches("http://").to_owned();
    rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = c.write_all(&request).await;
        let mut buf = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn no_request_gets_a_5xx(
        target in prop_oneof![path(), "/[ -~]{0,40}", Just("/locations".to_owned()), Just("/oauth2/token.oauth2".to_owned())],
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        auth in proptest::option::of(prop_oneof!["Bearer [ -~]{0,40}", "Basic [A-Za-z0-9+/=]{0,40}", "[ -~]{0,40}"]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let target = target.replace([' ', '#', '?'], "_");
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len());
        if let Some(a) = auth {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        let status = status_of(bytes);
        prop_assert!(status < 500, "{} {} answered {}", method, target, status);
    }
}
