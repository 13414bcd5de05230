//! The benchmarks' baseline: the same request shapes as tollgate (token,
//! introspection, an API GET), answered with fixed bodies and no work, on
//! the same runtime and HTTP stack. Every figure in bench/RESULTS.md is a
//! ratio against this, measured in the same run. It also serves as the
//! upstream behind the gateway benchmark (any other path).
//!
//! With `--proxy UPSTREAM` it is instead the floor of a proxy on that
//! stack: every request is forwarded to UPSTREAM through hyper's
//! `client::conn::http1` and a pool of kept-alive connections, as the
//! gateway does, with no checks and no header rewriting. What it reaches
//! against nginx bounds what the gateway can reach on axum and hyper.
//!
//! Usage: tollgate-baseline 127.0.0.1:9100
//!        tollgate-baseline 127.0.0.1:9101 --proxy 127.0.0.1:9100

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

const TOKEN: &str = r#"{"access_token":"tga_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG","token_type":"bearer","expires_in":3600}"#;
const INTROSPECTION: &str = r#"{"active":true,"scope":"locations:read","client_id":"demo-client","sub":"demo-client","token_type":"bearer","grant_type":"client_credentials","exp":1795350447,"iat":1795346847,"iss":"http://127.0.0.1:8080"}"#;
const LOCATIONS: &str =
    r#"{"totalItems":1,"items":[{"locationCode":"PXAA","name":"Manheim Pennsylvania"}]}"#;
const UPSTREAM: &str = r#"{"ok":true}"#;

fn json(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

fn fixed_answers() -> Router {
    Router::new()
        .route(
            "/oauth2/token.oauth2",
            post(|_: Bytes| async { json(TOKEN) }),
        )
        .route(
            "/oauth2/introspect.oauth2",
            post(|_: Bytes| async { json(INTROSPECTION) }),
        )
        .route("/locations", get(|| async { json(LOCATIONS) }))
        .fallback(any(|_: Bytes| async { json(UPSTREAM) }))
}

/// The proxy floor: the upstream's address and its idle connections.
struct Floor {
    upstream: String,
    idle: Mutex<Vec<SendRequest<Body>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Floor {
    async fn forward(&self, req: Request) -> Result<Response, BoxError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut sender = match pooled {
            Some(s) => s,
            None => self.connect().await?,
        };
        sender.ready().await?;
        let (parts, body) = sender.send_request(req).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        Ok(Response::from_parts(parts, Body::from(body)))
    }

    async fn connect(&self) -> Result<SendRequest<Body>, BoxError> {
        let stream = tokio::net::TcpStream::connect(&self.upstream).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }
}

fn proxy_floor(upstream: String) -> Router {
    let floor = Arc::new(Floor {
        upstream,
        idle: Mutex::new(Vec::new()),
    });
    Router::new()
        .fallback(|State(floor): State<Arc<Floor>>, req: Request| async move {
            match floor.forward(req).await {
                Ok(resp) => resp,
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        })
        .with_state(floor)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let app = match args.get(1).map(String::as_str) {
        None => fixed_answers(),
        Some("--proxy") if args.len() == 3 => proxy_floor(args[2].clone()),
        Some(_) => {
            eprintln!("usage: tollgate-baseline ADDR [--proxy UPSTREAM_ADDR]");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tollgate-baseline: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}
