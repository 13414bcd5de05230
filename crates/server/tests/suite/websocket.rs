//! WebSockets through the gateway (issue 33 point 3), with a real client
//! and server (tokio-tungstenite): the handshake passes the bearer check,
//! frames go both ways, the upgraded connection holds its slot among
//! `max_connections`, ends at shutdown, and, where the route says so, when
//! its token expires.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::common::TestServer;
use tollgate_proto::GrantType;
use tollgate_server::config::{FileConfig, RouteConfig, ServerLimits};

/// A WebSocket echo server: its first message says which client the
/// gateway named (`X-Tollgate-Client-Id`) and whether `Authorization`
/// reached it; then every message comes back.
async fn echo_server() -> SocketAddr {
    serve_echo(None).await
}

/// The same behind TLS.
async fn serve_echo(tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => echo(tcp).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            echo(stream).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

// tungstenite's handshake callback returns its own (large) error type.
#[allow(clippy::result_large_err)]
async fn echo<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut seen = String::new();
    let note = |req: &Request, resp: Response| {
        let h = req.headers();
        let id = h
            .get("x-tollgate-client-id")
            .map(|v| v.to_str().unwrap().to_owned());
        seen = format!(
            "{} {}",
            id.unwrap_or_default(),
            h.contains_key("authorization")
        );
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, note).await else {
        return;
    };
    let _ = ws.send(Message::text(seen)).await;
    while let Some(Ok(m)) = ws.next().await {
        if m.is_text() || m.is_binary() {
            let _ = ws.send(m).await;
        }
    }
}

async fn gateway(
    upstream: SocketAddr,
    tweak: impl FnOnce(&mut FileConfig, &mut RouteConfig),
) -> (TestServer, String, String) {
    let mut route = RouteConfig {
        path_prefix: "/live".into(),
        upstream: Some(format!("http://{upstream}")),
        ..RouteConfig::default()
    };
    let s = TestServer::start_with(move |f| {
        tweak(f, &mut route);
        f.routes = Some(vec![route]);
    })
    .await;
    let (id, secret) = s.client(&[GrantType::ClientCredentials], "").await;
    let t = s
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    (s, id, t)
}

fn ws_request(
    s: &TestServer,
    token: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = s.url("/live/feed").replacen("http://", "ws://", 1);
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

#[tokio::test]
async fn a_websocket_passes_after_the_bearer_check_and_echoes_both_ways() {
    let (s, id, t) = gateway(echo_server().await, |_, _| {}).await;
    match tokio_tungstenite::connect_async(ws_request(&s, None)).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("a handshake without a token: {other:?}"),
    }
    let (mut ws, resp) = tokio_tungstenite::connect_async(ws_request(&s, Some(&t)))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    let first = ws.next().await.unwrap().unwrap();
    assert_eq!(first.into_text().unwrap().as_str(), format!("{id} false"));
    ws.send(Message::text("hello through the gateway"))
        .await
        .unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(
        back.into_text().unwrap().as_str(),
        "hello through the gateway"
    );
    let blob: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(back.into_data().as_ref(), blob.as_slice());
    ws.close(None).await.unwrap();
    s.stop().await;
}

/// Sends `text` and reads it back.
async fn round_trip<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(text)).await.unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(back.into_text().unwrap().as_str(), text);
}

/// A server with one connection slot, and a WebSocket open through it
/// (its first message read).
async fn one_slot_and_a_websocket() -> (
    TestServer,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
) {
    let (s, _, t) = gateway(echo_server().await, |f, _| {
        f.limits = Some(ServerLimits {
            max_connections: 1,
            ..ServerLimits::default()
        });
    })
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&s, Some(&t)))
        .await
        .unwrap();
    ws.next().await.unwrap().unwrap();
    (s, ws)
}

#[tokio::test]
async fn an_upgraded_connection_holds_its_slot_and_ends_at_shutdown() {
    let (s, mut ws) = one_slot_and_a_websocket().await;
    // The only slot is the WebSocket's: another connection is not served.
    assert!(
        s.leaves_a_new_connection_unanswered().await,
        "a second connection was served beside the WebSocket"
    );
    round_trip(&mut ws, "still here").await;

    let started = Instant::now();
    s.stop().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the WebSocket outlived the server");
    eprintln!(
        "the WebSocket ended {:?} after shutdown began",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_slot_comes_back_when_the_websocket_closes() {
    let (s, mut ws) = one_slot_and_a_websocket().await;
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    drop(ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.api("/healthz", None).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_route_may_end_websockets_when_their_token_expires() {
    let (s, _, t) = gateway(echo_server().await, |f, r| {
        f.token_ttl = Some(3);
        r.upgrades_end_at_token_expiry = true;
    })
    .await;
    let started = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&s, Some(&t)))
        .await
        .unwrap();
    ws.next().await.unwrap().unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(6), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let lived = started.elapsed();
    assert!(ended.is_ok(), "the WebSocket outlived its token");
    assert!(
        lived >= Duration::from_millis(1500),
        "ended after {lived:?}, before the token expired"
    );
    s.stop().await;
}

/// An https upstream that offers HTTP/2: the handshake goes over HTTP/1.1
/// all the same (ALPN `http/1.1` only on that connection).
#[tokio::test]
async fn a_websocket_to_an_https_upstream_that_prefers_http2() {
    let ca = tollgate_server::testing::Ca::default();
    let config = ca
        .issue(&["localhost"], "ws")
        .server_config(&[b"h2", b"http/1.1"], None);
    let up = serve_echo(Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(
        config,
    ))))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ca_cert = ca.write(&dir.path().join("ca.pem"));
    let (s, id, t) = gateway(up, |_, r| {
        r.upstream = Some(format!("https://localhost:{}", up.port()));
        r.ca_cert = Some(ca_cert);
    })
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&s, Some(&t)))
        .await
        .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert_eq!(first.into_text().unwrap().as_str(), format!("{id} false"));
    round_trip(&mut ws, "over TLS").await;
    s.stop().await;
}
