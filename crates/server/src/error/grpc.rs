//! Refusals a gRPC client can read. A gRPC client reads the status from
//! `grpc-status`, not from the HTTP status, and would try to decode a JSON
//! body as a message; so, as Envoy does for the local replies it makes to
//! gRPC requests, an error tollgate made itself (a 401 from the bearer
//! check, a 429 from a quota, a 502 for an unreachable upstream) goes to a
//! request whose `Content-Type` is `application/grpc...` as a
//! "Trailers-Only" response: HTTP 200, `grpc-status` and `grpc-message`,
//! no body. Its other headers (`WWW-Authenticate`, `Retry-After`,
//! `RateLimit`) are kept. Upstream answers pass unchanged.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::render::Said;

/// What gRPC's `grpc-message` percent-encodes: controls, `%`, and every
/// byte outside ASCII (gRPC over HTTP/2, "Responses").
const MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Whether the request is a gRPC call.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gRPC status code for an HTTP error status, after gRPC's own
/// HTTP-to-gRPC table (which Envoy follows), but 429 and 413 as
/// `RESOURCE_EXHAUSTED`, the code gRPC servers give for a quota.
fn code_for(status: StatusCode) -> u16 {
    match status.as_u16() {
        400 => 13,       // INTERNAL
        401 => 16,       // UNAUTHENTICATED
        403 => 7,        // PERMISSION_DENIED
        404 => 12,       // UNIMPLEMENTED
        413 | 429 => 8,  // RESOURCE_EXHAUSTED
        502..=504 => 14, // UNAVAILABLE
        _ => 2,          // UNKNOWN
    }
}

/// `resp` as a gRPC Trailers-Only response when tollgate made it (it
/// carries [`Said`]); anything else unchanged.
pub fn as_grpc(resp: Response) -> Response {
    let Some(said) = resp.extensions().get::<Said>().cloned() else {
        return resp;
    };
    let code = code_for(resp.status());
    let (mut parts, _) = resp.into_parts();
    parts.status = StatusCode::OK;
    let headers = &mut parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(code));
    let message = utf8_percent_encode(&said.description, MESSAGE).to_string();
    if let Ok(v) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", v);
    }
    Response::from_parts(parts, axum::body::Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FileConfig};
    use crate::error::Error;

    #[test]
    fn refusals_become_trailers_only_with_the_status_in_grpc_status() {
        let config =
            Config::try_from(FileConfig::default()).unwrap_or_else(|e| unreachable!("{e}"));
        let refused = as_grpc(Error::BearerMissing.render(&config));
        assert_eq!(refused.status(), 200);
        let h = refused.headers();
        assert_eq!(h["content-type"], "application/grpc");
        assert_eq!(h["grpc-status"], "16");
        assert!(h["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.starts_with("Bearer")));
        assert!(h.get("content-length").is_none());

        let upstream = Error::Upstream {
            timeout: true,
            detail: "100% late, ünd slow".into(),
        };
        let late = as_grpc(upstream.render(&config));
        assert_eq!(late.headers()["grpc-status"], "14");
        assert_eq!(late.headers()["grpc-message"], "100%25 late, %C3%BCnd slow");
    }

    #[test]
    fn answers_tollgate_did_not_make_pass_unchanged() {
        let passed = as_grpc(Response::new(axum::body::Body::empty()));
        assert!(passed.headers().get("grpc-status").is_none());
        let mut h = HeaderMap::new();
        assert!(!is_grpc(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert!(is_grpc(&h));
    }
}
