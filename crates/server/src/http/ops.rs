//! Operations endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::json_response;
use crate::metrics;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process is up", content_type = "text/plain", body = String)))]
pub async fn healthz_get() -> &'static str {
    "ok"
}

/// The store answers: the instance can serve tokens.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "ready: the store answers: {\"status\": \"ready\"}", body = Object),
        (status = 503, description = "not ready: {\"status\": \"not ready\", \"reason\": ...}", body = Object),
    )
)]
pub async fn readyz_get(State(state): State<AppState>) -> Response {
    match state.store().revision().await {
        Ok(_) => json_response(StatusCode::OK, &serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store unreachable");
            let mut r = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "not ready", "reason": "the store is unreachable"}),
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            r
        }
    }
}

/// The metrics, for Prometheus (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics_get(State(state): State<AppState>) -> Response {
    let body = state.metrics().render();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}
