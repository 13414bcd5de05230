//! The benchmarks' baseline: the same request shapes as tollgate (token,
//! introspection, an API GET), answered with fixed bodies and no work, on
//! the same runtime and HTTP stack. Every figure in bench/RESULTS.md is a
//! ratio against this, measured in the same run. It also serves as the
//! upstream behind the gateway benchmark (any other path).
//!
//! Usage: tollgate-baseline 127.0.0.1:9100

use std::process::ExitCode;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;

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

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let app = Router::new()
        .route(
            "/oauth2/token.oauth2",
            post(|_: Bytes| async { json(TOKEN) }),
        )
        .route(
            "/oauth2/introspect.oauth2",
            post(|_: Bytes| async { json(INTROSPECTION) }),
        )
        .route("/locations", get(|| async { json(LOCATIONS) }))
        .fallback(any(|_: Bytes| async { json(UPSTREAM) }));
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
