//! The admin API's error bodies: the same error response as RFC 9457
//! problem details (`application/problem+json`), built from what the
//! error said ([`Said`]), never by reading the body back.

use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Serialize;

use super::render::{reason_of, Said};

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
/// other response (a success, an upstream's answer) passes unchanged.
pub fn as_problem(resp: Response) -> Response {
    let Some(said) = resp.extensions().get::<Said>().cloned() else {
        return resp;
    };
    let status = resp.status();
    let problem = Problem {
        kind: "about:blank",
        title: reason_of(status),
        status: status.as_u16(),
        detail: &said.description,
        error: &said.error,
        limit: said.limit,
    };
    let json = serde_json::to_vec(&problem).unwrap_or_default();
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    Response::from_parts(parts, axum::body::Body::from(json))
}
