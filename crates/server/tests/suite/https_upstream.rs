//! HTTPS upstreams (issue 33 point 1): the route's `ca_cert` trusted, the
//! upstream's name verified, HTTP/2 taken when the upstream offers it by
//! ALPN, a client certificate for upstreams that require one, and a 502
//! with a JSON body for every certificate problem. Certificates are made
//! by a throwaway CA in the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use crate::common::upstream::Upstream;
use crate::common::{Reply, TestServer};
use tollgate_server::config::RouteConfig;
use tollgate_server::testing::Ca;

const H2_AND_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1_ONLY: &[&[u8]] = &[b"http/1.1"];

/// A route to `upstream` under `/svc`, trusting the CA at `ca_cert`.
fn route(upstream: String, ca_cert: &Path) -> RouteConfig {
    RouteConfig {
        path_prefix: "/svc".into(),
        upstream: Some(upstream),
        ca_cert: Some(ca_cert.to_owned()),
        strip_prefix: true,
        ..RouteConfig::default()
    }
}

async fn gateway(route: RouteConfig) -> (TestServer, String) {
    crate::common::gateway_with(vec![route], 2).await
}

/// A temp dir holding the CA's certificate as `ca.pem`.
fn ca_file(ca: &Ca) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = ca.write(&dir.path().join("ca.pem"));
    (dir, path)
}

async fn get(s: &TestServer, t: &str, path: &str) -> Reply {
    s.api(path, Some(t)).await
}

fn assert_tls_refused(r: &Reply) {
    assert_eq!((r.status, r.error()), (502, "bad_gateway"), "{r:?}");
    assert_eq!(
        r.json["error_description"], "the upstream's TLS handshake failed",
        "{r:?}"
    );
    assert_eq!(r.header("content-type"), "application/json;charset=UTF-8");
}

#[tokio::test]
async fn http2_when_the_upstream_offers_it_by_alpn() {
    let ca = Ca::default();
    let up = Upstream::start_tls(
        ca.issue(&["localhost"], "upstream")
            .server_config(H2_AND_H1, None),
    )
    .await;
    let (_dir, ca_cert) = ca_file(&ca);
    let (s, t) = gateway(route(up.https_url("localhost"), &ca_cert)).await;

    let r = get(&s, &t, "/svc/items?x=1").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["version"], "HTTP/2.0", "{r:?}");
    assert_eq!(
        (r.json["path"].as_str(), r.json["query"].as_str()),
        (Some("/items"), Some("x=1"))
    );
    assert!(
        r.json["headers"]["x-tollgate-client-id"].is_string(),
        "{r:?}"
    );
    assert!(r.json["headers"].get("authorization").is_none(), "{r:?}");

    // A body goes up over the same HTTP/2 connection.
    let resp = s
        .http
        .post(s.url("/svc/echo"))
        .bearer_auth(&t)
        .body("a body for an h2 upstream")
        .send()
        .await
        .unwrap();
    let r = Reply::from(resp).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["body"], "a body for an h2 upstream");
    assert_eq!(r.json["version"], "HTTP/2.0");
    assert_eq!(up.hits(), 2);
    s.stop().await;
}

#[tokio::test]
async fn http1_when_the_upstream_offers_only_that() {
    let ca = Ca::default();
    let up = Upstream::start_tls(
        ca.issue(&["localhost"], "upstream")
            .server_config(H1_ONLY, None),
    )
    .await;
    let (_dir, ca_cert) = ca_file(&ca);
    let url = up.https_url("localhost");
    let (s, t) = gateway(route(url.clone(), &ca_cert)).await;
    for _ in 0..3 {
        let r = get(&s, &t, "/svc/one").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json["version"], "HTTP/1.1", "{r:?}");
        assert_eq!(
            r.json["headers"]["host"],
            url.trim_start_matches("https://")
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn an_ip_upstream_needs_a_certificate_for_that_ip() {
    let ca = Ca::default();
    let (_dir, ca_cert) = ca_file(&ca);

    let for_ip = Upstream::start_tls(
        ca.issue(&["127.0.0.1"], "by ip")
            .server_config(H2_AND_H1, None),
    )
    .await;
    let (s, t) = gateway(route(for_ip.https_url("127.0.0.1"), &ca_cert)).await;
    assert_eq!(get(&s, &t, "/svc/ok").await.status, 200);
    s.stop().await;

    // The same address, but a certificate for another name only.
    let for_name = Upstream::start_tls(
        ca.issue(&["localhost"], "by name")
            .server_config(H2_AND_H1, None),
    )
    .await;
    let (s, t) = gateway(route(for_name.https_url("127.0.0.1"), &ca_cert)).await;
    assert_tls_refused(&get(&s, &t, "/svc/mismatch").await);
    assert_eq!(for_name.hits(), 0);
    s.stop().await;
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused() {
    let (theirs, ours) = (Ca::new("the upstream's CA"), Ca::new("another CA"));
    let up = Upstream::start_tls(
        theirs
            .issue(&["localhost"], "upstream")
            .server_config(H2_AND_H1, None),
    )
    .await;
    let (_dir, ca_cert) = ca_file(&ours);
    let (s, t) = gateway(route(up.https_url("localhost"), &ca_cert)).await;
    assert_tls_refused(&get(&s, &t, "/svc/x").await);
    // And again: nothing half-made was kept for the next request.
    assert_tls_refused(&get(&s, &t, "/svc/x").await);
    assert_eq!(up.hits(), 0);
    s.stop().await;
}

#[tokio::test]
async fn mutual_tls_with_the_routes_client_certificate() {
    let (servers, clients) = (Ca::new("server CA"), Ca::new("client CA"));
    let config = servers
        .issue(&["localhost"], "upstream")
        .server_config(H2_AND_H1, Some(&clients));
    let up = Upstream::start_tls(config).await;
    let (dir, ca_cert) = ca_file(&servers);
    let url = up.https_url("localhost");

    // Without a client certificate the upstream ends the handshake.
    let (s, t) = gateway(route(url.clone(), &ca_cert)).await;
    assert_tls_refused(&get(&s, &t, "/svc/x").await);
    s.stop().await;

    let (cert, key) = clients
        .issue(&["gateway"], "the gateway")
        .write_to(dir.path());
    let with_cert = RouteConfig {
        client_cert: Some(cert),
        client_key: Some(key),
        ..route(url, &ca_cert)
    };
    let (s, t) = gateway(with_cert).await;
    let r = get(&s, &t, "/svc/x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["version"], "HTTP/2.0");
    assert_eq!(up.hits(), 1);
    s.stop().await;
}

/// gRPC through the gateway: a real gRPC client (tonic, HTTP/2 to the
/// gateway with prior knowledge) calls the standard health service on an
/// HTTPS upstream; the answer and its `grpc-status` trailer come back, and
/// a call without a token is refused as gRPC's `UNAUTHENTICATED`.
#[tokio::test]
async fn grpc_through_the_gateway_to_an_https_upstream() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    let app = tonic::service::Routes::new(health).into_axum_router();
    let ca = Ca::default();
    let config = ca
        .issue(&["localhost"], "grpc")
        .server_config(&[b"h2"], None);
    let up = Upstream::serve_tls(config, app).await;
    let (_dir, ca_cert) = ca_file(&ca);
    let grpc_route = RouteConfig {
        path_prefix: "/grpc.health.v1.Health".into(),
        strip_prefix: false,
        ..route(up.https_url("localhost"), &ca_cert)
    };
    let (s, t) = gateway(grpc_route).await;

    let channel = tonic::transport::Channel::from_shared(s.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let check = |bearer: Option<&str>| {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: "inventory".into(),
        });
        if let Some(t) = bearer {
            let value = format!("Bearer {t}").parse().unwrap();
            req.metadata_mut().insert("authorization", value);
        }
        req
    };
    let answer = client.check(check(Some(&t))).await.unwrap().into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);

    let unknown = HealthCheckRequest {
        service: "no-such-service".into(),
    };
    let mut req = tonic::Request::new(unknown);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {t}").parse().unwrap());
    let refused = client.check(req).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");

    // The gateway's own refusal, as gRPC says it: UNAUTHENTICATED, with
    // the bearer challenge kept.
    let refused = client.check(check(None)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let challenge = refused.metadata().get("www-authenticate").unwrap();
    assert!(
        challenge.to_str().unwrap().starts_with("Bearer realm="),
        "{refused:?}"
    );
    assert!(!refused.message().is_empty(), "{refused:?}");
    s.stop().await;
}
