//! A real upstream for gateway tests: an axum app on its own ephemeral
//! loopback port that reports what it received.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::json;

pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/slow", get(slow))
            .route("/count", post(count))
            .route("/download/{mib}", get(download))
            .fallback(any(echo))
            .with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
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

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Everything it received, and from which client port (one per connection).
async fn echo(
    State(hits): State<Arc<AtomicUsize>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
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
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "peer_port": peer.port(),
    }))
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
