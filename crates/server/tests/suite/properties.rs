//! Property tests for what the server reads from callers: request paths
//! (normalisation is idempotent and leaves nothing an upstream would read
//! differently), `X-Forwarded-For` (the client is the peer unless the peer
//! is trusted, and never a trusted address a caller wrote), JWTs (no
//! header trick, claim or byte change verifies), redirect URIs (only safe
//! kinds register, and a code goes only where registered), and whole
//! requests — arbitrary paths, `Authorization` headers and form bodies sent
//! to a running server are never answered with a 5xx. The form, Basic and
//! scope parsers have theirs in `tollgate-proto`'s tests, the bearer header
//! and cookies in their modules. Anything these ever find becomes a
//! regular test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use crate::common::TestServer;
use proptest::prelude::*;
use tollgate_server::admin::check_redirect_uri;
use tollgate_server::forwarded::TrustedProxies;
use tollgate_server::oauth::authorize::redirect_matches;
use tollgate_server::oauth::jwt::{self, AccessClaims};
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

/// A signed access token of the shared server, and its claims.
fn genuine_jwt() -> &'static (String, AccessClaims) {
    static T: OnceLock<(String, AccessClaims)> = OnceLock::new();
    T.get_or_init(|| {
        let (rt, s) = server();
        let now = s.state.clock().now_secs();
        let claims = AccessClaims {
            iss: crate::common::ISSUER.into(),
            sub: "app".into(),
            aud: crate::common::ISSUER.to_owned().into(),
            exp: now + 3600,
            iat: now,
            nbf: now,
            jti: "j".into(),
            client_id: "app".into(),
            scope: "locations:read".into(),
            sid: "f".into(),
            username: None,
            gty: Some(tollgate_proto::GrantType::ClientCredentials),
        };
        let signer = rt.block_on(s.state.tokens().keys().signer()).unwrap();
        (jwt::sign(&claims, &signer).unwrap(), claims)
    })
}

/// What `jwt::verify` makes of `token` at the shared server.
fn verified(token: &str) -> Result<AccessClaims, jwt::Rejected> {
    let (rt, s) = server();
    let now = s.state.clock().now_secs();
    rt.block_on(jwt::verify(
        token,
        s.state.tokens().keys(),
        crate::common::ISSUER,
        60,
        now,
    ))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// JOSE headers an attacker would try: `none`, HMAC, a known or unknown
/// `kid`, keys or key URLs carried in the header, wrong `typ`s.
fn jose_header() -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        Just("none"),
        Just("None"),
        Just("HS256"),
        Just("ES256"),
        Just("EdDSA"),
        Just("RS256"),
        Just("PS256"),
        Just(""),
    ];
    let typ = prop_oneof![
        Just("at+jwt"),
        Just("JWT"),
        Just("application/at+jwt"),
        Just("")
    ];
    let extra = prop_oneof![
        Just(String::new()),
        Just(r#","jwk":{"kty":"oct","k":"AAAA"}"#.to_owned()),
        Just(r#","jku":"https://evil.example/jwks""#.to_owned()),
        Just(r#","crit":["exp"]"#.to_owned()),
        "[ -~]{0,16}",
    ];
    let real_kid = prop::bool::ANY;
    (alg, typ, extra, real_kid, "[A-Za-z0-9_-]{0,12}").prop_map(|(alg, typ, extra, real, kid)| {
        let kid = if real {
            let (t, _) = genuine_jwt();
            jsonwebtoken::decode_header(t).unwrap().kid.unwrap()
        } else {
            kid
        };
        format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid}"{extra}}}"#)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Nothing but the server's own signature verifies: headers of every
    /// kind over the genuine claims (and the genuine signature), arbitrary
    /// claims, and arbitrary bytes.
    #[test]
    fn forged_jwts_never_verify(
        header in jose_header(),
        claims in prop_oneof![Just(None), ".{0,80}".prop_map(Some)],
        signature in prop_oneof![Just(None), proptest::collection::vec(any::<u8>(), 0..80).prop_map(Some)],
        junk in "[ -~]{0,120}",
    ) {
        let (genuine, _) = genuine_jwt();
        let parts: Vec<&str> = genuine.split('.').collect();
        let claims = claims.map_or(parts[1].to_owned(), |c| b64(c.as_bytes()));
        let signature = signature.map_or(parts[2].to_owned(), |s| b64(&s));
        let forged = format!("{}.{claims}.{signature}", b64(header.as_bytes()));
        prop_assert!(verified(&forged).is_err(), "{}", header);
        prop_assert!(verified(&junk).is_err());
    }

    /// Changing any one character of a genuine token breaks it, unless the
    /// change reads back as the very same token.
    #[test]
    fn altered_jwts_never_verify_as_anything_else(at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_.=+/-]") {
        let (genuine, claims) = genuine_jwt();
        let i = at.index(genuine.len());
        let mut altered = genuine.clone();
        altered.replace_range(i..=i, &with);
        if let Ok(c) = verified(&altered) {
            prop_assert_eq!(&c, claims, "only an equivalent spelling verifies");
        }
    }
}

/// Redirect-URI-ish strings: schemes, hosts that look like loopback but are
/// not, user info, ports, paths, queries and fragments.
fn redirect_uri() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("https"),
        Just("http"),
        Just("com.example.app"),
        Just("javascript"),
        Just("data"),
        Just("HTTP"),
        Just(""),
    ];
    let host = prop_oneof![
        Just("127.0.0.1".to_owned()),
        Just("localhost".to_owned()),
        Just("[::1]".to_owned()),
        Just("example.com".to_owned()),
        Just("127.0.0.1.evil.example".to_owned()),
        Just("localhost@evil.example".to_owned()),
        Just("evil.example#@127.0.0.1".to_owned()),
        Just("".to_owned()),
        "[a-z0-9.%@:]{0,12}",
    ];
    let port = prop_oneof![
        Just(String::new()),
        (0u32..70000).prop_map(|p| format!(":{p}"))
    ];
    (
        scheme,
        host,
        port,
        "(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,8}){0,3}",
        "(\\?[ -~]{0,12})?",
        "(#[ -~]{0,6})?",
    )
        .prop_map(|(s, h, p, path, q, f)| format!("{s}://{h}{p}{path}{q}{f}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// A registered redirect URI is https, loopback http, or an app's own
    /// scheme; never with a fragment or whitespace; any string is judged
    /// without a panic.
    #[test]
    fn registered_redirect_uris_are_safe_kinds(uri in prop_oneof![redirect_uri(), ".{0,60}"]) {
        if check_redirect_uri(&uri).is_ok() {
            prop_assert!(!uri.contains('#') && !uri.contains(char::is_whitespace), "{}", uri);
            // Schemes are case-insensitive (RFC 3986 §3.1).
            let scheme = uri.split_once(':').map_or("", |(s, _)| s).to_ascii_lowercase();
            let parsed = uri.parse::<axum::http::Uri>().ok();
            let host = parsed.as_ref().and_then(|u| u.host().map(str::to_owned));
            let ok = scheme.contains('.')
                || (scheme == "https" && host.is_some())
                || (scheme == "http" && matches!(host.as_deref(), Some("127.0.0.1" | "[::1]" | "::1" | "localhost")));
            prop_assert!(ok, "{} accepted", uri);
        }
    }

    /// A code goes only to the URI registered: the same string, or for a
    /// loopback registration the same but for the port (RFC 8252 §7.3);
    /// never to one with a fragment (which registration refuses).
    #[test]
    fn redirect_uris_match_only_themselves(registered in redirect_uri(), given in redirect_uri()) {
        prop_assert_eq!(redirect_matches(&registered, &registered), !registered.contains('#'));
        prop_assert!(!given.contains('#') || !redirect_matches(&registered, &given), "{} ~ {}", registered, given);
        if redirect_matches(&registered, &given) && registered != given {
            let (r, g): (axum::http::Uri, axum::http::Uri) = (registered.parse().unwrap(), given.parse().unwrap());
            prop_assert_eq!(r.scheme_str(), Some("http"));
            prop_assert_eq!(r.host(), g.host());
            prop_assert!(matches!(g.host(), Some("127.0.0.1" | "[::1]" | "::1" | "localhost")), "{} ~ {}", registered, given);
            prop_assert_eq!(r.path_and_query(), g.path_and_query());
        }
    }
}
