//! A real upstream for gateway tests: an axum app on its own ephemeral
//! loopback port that reports what it received.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, Version};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;

pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app(hits.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self { addr, hits }
    }

    /// The same upstream behind TLS (`config`: its certificate, ALPN and
    /// client-certificate rule), speaking HTTP/2 or HTTP/1.1 as ALPN
    /// chose. A failed handshake just ends that connection.
    pub async fn start_tls(config: rustls::ServerConfig) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let mut up = Self::serve_tls(config, app(hits.clone())).await;
        up.hits = hits;
        up
    }

    /// `app` behind TLS, as [`Upstream::start_tls`] serves the echo app
    /// (`hits` then counts nothing).
    pub async fn serve_tls(config: rustls::ServerConfig, app: Router) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    return;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        tower::ServiceExt::map_request(app, move |mut req: Request<_>| {
                            req.extensions_mut().insert(ConnectInfo(peer));
                            req
                        });
                    let service = hyper_util::service::TowerToHyperService::new(service);
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { addr, hits }
    }

    /// The TLS upstream's URL, naming it by `host` (its port is the
    /// upstream's).
    pub fn https_url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An echo upstream that can be killed (its listener and every
/// connection closed at once, as a crashed process's are) and started
/// again on the same port.
pub struct Killable {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Killable {
    pub async fn start() -> Self {
        let mut k = Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            hits: Arc::new(AtomicUsize::new(0)),
            task: None,
        };
        k.restart().await;
        k
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again (on the same port once it has one).
    pub async fn restart(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(1024).unwrap();
        self.addr = listener.local_addr().unwrap();
        let app = app(self.hits.clone());
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every connection ends with it.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    return;
                };
                while connections.try_join_next().is_some() {}
                let service =
                    tower::ServiceExt::map_request(app.clone(), move |mut req: Request<_>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        req
                    });
                let service = hyper_util::service::TowerToHyperService::new(service);
                connections.spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        }));
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.kill();
    }
}

fn app(hits: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route("/slow", get(slow).post(slow))
        .route("/status/{code}", get(status))
        .route("/stall", get(stall))
        .route("/count", post(count))
        .route("/download/{mib}", get(download))
        .fallback(any(echo))
        .with_state(hits)
}

/// Everything it received, and from which client port (one per connection).
async fn echo(
    State(hits): State<Arc<AtomicUsize>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Json<serde_json::Value> {
    hits.fetch_add(1, Ordering::SeqCst);
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    Json(json!({
        "method": method.as_str(),
        "version": format!("{version:?}"),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "peer_port": peer.port(),
    }))
}

/// Sends a first piece of its body at once, then nothing for 5 s.
async fn stall() -> Body {
    let pieces = futures_util::stream::iter([0u64, 5]).then(|wait| async move {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        Ok::<_, std::io::Error>(Bytes::from_static(b"piece;"))
    });
    Body::from_stream(pieces)
}

/// Answers with `code` (and counts as a hit).
async fn status(State(hits): State<Arc<AtomicUsize>>, Path(code): Path<u16>) -> StatusCode {
    hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn slow(State(hits): State<Arc<AtomicUsize>>) -> &'static str {
    hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

/// Reads the body as a stream and answers how many bytes arrived.
async fn count(body: Body) -> Result<String, StatusCode> {
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(chunk) = stream.next().await {
        n += chunk.map_err(|_| StatusCode::BAD_REQUEST)?.len() as u64;
    }
    Ok(n.to_string())
}

/// Streams `mib` MiB of zeros.
async fn download(Path(mib): Path<usize>) -> Body {
    let chunk = Bytes::from(vec![0u8; 1 << 20]);
    Body::from_stream(futures_util::stream::iter(
        (0..mib).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    ))
}
