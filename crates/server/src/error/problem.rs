//! The admin API's error bodies: the same error response as RFC 9457
//! problem details (`application/problem+json`).

use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Serialize;

use super::reason_of;

/// The error body as it is read back to become a problem.
#[derive(Debug, serde::Deserialize)]
struct ReadBody {
    error: String,
    error_description: String,
    limit: Option<String>,
}

/// RFC 9457 problem details: the admin API's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// Always `about:blank`: the status says it all.
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    /// The same code the JSON error body has (`invalid_request`, ...).
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'a str>,
}

/// The same error response with its body as RFC 9457 problem details
/// (`application/problem+json`): status and headers (`WWW-Authenticate`,
/// `Retry-After`, ...) are kept, and the body says the same thing. Any
/// other response passes unchanged.
pub async fn as_problem(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let Ok(read) = serde_json::from_slice::<ReadBody>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let problem = Problem {
        kind: "about:blank",
        title: reason_of(status),
        status: status.as_u16(),
        detail: &read.error_description,
        error: &read.error,
        limit: read.limit.as_deref(),
    };
    let json = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    Response::from_parts(parts, axum::body::Body::from(json))
}
