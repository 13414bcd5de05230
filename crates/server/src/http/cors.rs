//! CORS for the endpoints a browser app calls (issue 32, point 6): the
//! token, revocation and userinfo endpoints answer a page of an origin the
//! client registered (`ClientSettings::cors_origins`); discovery and the
//! JWKS, public documents, answer any origin with `*`. No answer allows
//! credentials (cookies): these endpoints take tokens and client
//! credentials in headers and bodies, never cookies.
//!
//! A preflight is answered for any origin, as oidc-provider does: the
//! client is not known until the request itself, whose answer carries
//! `Access-Control-Allow-Origin` only when its client allows the origin,
//! so a page of another origin cannot read it. Handlers say whose answer
//! it is with an [`Allowed`] extension.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{
    JWKS_PATH, METADATA_PATH, OPENID_CONFIGURATION_PATH, REVOKE_PATH, TOKEN_PATHS, USERINFO_PATH,
};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins allowed to read a response: its client's.
#[derive(Debug, Clone)]
pub struct Allowed(pub Vec<String>);

/// Whom a path's answers are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// Any page: a public document.
    Anyone,
    /// A page of the client's origins.
    Client,
}

fn audience(path: &str) -> Option<Audience> {
    if [JWKS_PATH, METADATA_PATH, OPENID_CONFIGURATION_PATH].contains(&path) {
        return Some(Audience::Anyone);
    }
    let client = TOKEN_PATHS.contains(&path) || [REVOKE_PATH, USERINFO_PATH].contains(&path);
    client.then_some(Audience::Client)
}

/// The middleware: answers preflights of the CORS paths, and adds the
/// allowing headers to their answers.
pub async fn cors(req: Request, next: Next) -> Response {
    let Some(who) = audience(req.uri().path()) else {
        return next.run(req).await;
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&origin, who);
    }
    let mut resp = next.run(req).await;
    let allowed = match who {
        Audience::Anyone => Some(HeaderValue::from_static("*")),
        Audience::Client => resp
            .extensions()
            .get::<Allowed>()
            .filter(|a| a.0.iter().any(|o| o.as_bytes() == origin.as_bytes()))
            .map(|_| origin),
    };
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After"),
        );
    }
    resp
}

fn preflight(origin: &HeaderValue, who: Audience) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h: &mut HeaderMap = resp.headers_mut();
    let (allow_origin, methods) = match who {
        Audience::Anyone => (HeaderValue::from_static("*"), "GET, HEAD"),
        Audience::Client => (origin.clone(), "GET, POST"),
    };
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
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}
