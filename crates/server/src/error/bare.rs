//! JSON bodies for the errors the HTTP stack makes by itself (a 405 from
//! the router, a 413 from the body limit, a head too large to reach any
//! handler), in the shape every other error has.

use axum::http::{header, StatusCode};
use axum::response::Response;

use super::render::{body, error_response, reason_of};
use super::{carry_headers, Proxied};

/// An error response the framework made (a 405 from the router, a 413 from
/// the body limit, ...) with the JSON error body every other error has; its
/// headers (`Allow`, ...) are kept. Upstream answers ([`Proxied`]), JSON
/// bodies and the HTML pages people are shown pass unchanged.
pub fn json_for_bare(resp: Response) -> Response {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ours =
        content_type.starts_with("application/json") || content_type.starts_with("text/html");
    if !(status.is_client_error() || status.is_server_error())
        || ours
        || resp.extensions().get::<Proxied>().is_some()
    {
        return resp;
    }
    let mut fresh = error_response(status, &body(&code_of(status), reason_of(status)));
    carry_headers(resp.headers(), &mut fresh);
    fresh
}

/// The JSON body for an error status the HTTP layer answers by itself (a
/// head too large or malformed to reach any handler): the same shape as
/// [`json_for_bare`] gives.
pub fn bare_status_body(status: StatusCode) -> Vec<u8> {
    serde_json::to_vec(&body(&code_of(status), reason_of(status))).unwrap_or_default()
}

/// `method_not_allowed` for 405: the code of an error with no better one.
fn code_of(status: StatusCode) -> String {
    reason_of(status)
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;

    use super::*;

    fn header(r: &Response, name: &str) -> String {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn bare_framework_errors_become_json() {
        let mut bare = (StatusCode::METHOD_NOT_ALLOWED, "").into_response();
        bare.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        let r = json_for_bare(bare);
        assert_eq!(r.status(), 405);
        assert_eq!(header(&r, "allow"), "POST");
        assert!(header(&r, "content-type").starts_with("application/json"));
        let mut upstream = (StatusCode::NOT_FOUND, "plain").into_response();
        upstream.extensions_mut().insert(Proxied);
        let r = json_for_bare(upstream);
        assert!(header(&r, "content-type").starts_with("text/plain"));
    }
}
