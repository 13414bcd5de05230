//! The CORS headers (Fetch standard §3.2), as plain functions on HTTP
//! types: the preflight answer and the headers that let a page of one
//! origin read an answer. Who may is decided by the callers: `http::cors`
//! for the endpoints browser apps call, the gateway for its routes'
//! `cors_origins`. Nothing here allows credentials.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Whether `headers` make a preflight request (`OPTIONS` is the caller's
/// check): an `Origin` and the method the page wants to use.
pub fn origin_of_preflight(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers
        .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        .then(|| headers.get(header::ORIGIN))
        .flatten()
}

/// The answer to a preflight: `allow_origin` (the page's origin, or `*`)
/// may use `methods` with the request headers tollgate reads.
pub fn preflight(allow_origin: HeaderValue, methods: &'static str) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, DPoP"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Lets `allow_origin` read the answer of `headers` (the refusal headers
/// too), and says the answer depends on `Origin`.
pub fn allow(headers: &mut HeaderMap, allow_origin: Option<HeaderValue>) {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = allow_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy"),
        );
    }
}
