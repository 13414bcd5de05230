//! CORS for the endpoints a browser app calls (issue 32, point 6): the
//! token, revocation, userinfo and device authorization endpoints answer a page of an origin the
//! client registered (`ClientSettings::allows_origin`); discovery and the
//! JWKS, public documents, answer any origin with `*`. No answer allows
//! credentials (cookies): these endpoints take tokens and client
//! credentials in headers and bodies, never cookies.
//!
//! A preflight is answered for any origin, as oidc-provider does: the
//! client is not known until the request itself, whose answer carries
//! `Access-Control-Allow-Origin` only when its client allows the origin,
//! so a page of another origin cannot read it. Handlers say whose answer
//! it is with an [`Allowed`] extension.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::store::Client;

use super::{
    DEVICE_AUTHORIZATION_PATH, JWKS_PATH, METADATA_PATH, OPENID_CONFIGURATION_PATH, REVOKE_PATH,
    TOKEN_PATHS, USERINFO_PATH,
};

/// Whose answer a response is: the origins its client allows may read it
/// (`ClientSettings::allows_origin`, asked only when a page sent `Origin`).
#[derive(Debug, Clone)]
pub struct Allowed(pub Arc<Client>);

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
    let client = TOKEN_PATHS.contains(&path)
        || [REVOKE_PATH, USERINFO_PATH, DEVICE_AUTHORIZATION_PATH].contains(&path);
    client.then_some(Audience::Client)
}

/// The middleware: answers preflights of the CORS paths, and adds the
/// allowing headers to their answers.
pub async fn cors(req: Request, next: Next) -> Response {
    let Some(who) = audience(req.uri().path()) else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS {
        if let Some(origin) = crate::cors::origin_of_preflight(req.headers()) {
            return match who {
                Audience::Anyone => {
                    crate::cors::preflight(HeaderValue::from_static("*"), "GET, HEAD")
                }
                Audience::Client => crate::cors::preflight(origin.clone(), "GET, POST"),
            };
        }
    }
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let mut resp = next.run(req).await;
    let allowed = match who {
        Audience::Anyone => Some(HeaderValue::from_static("*")),
        Audience::Client => resp
            .extensions()
            .get::<Allowed>()
            .filter(|a| {
                let origin = origin.to_str().unwrap_or("");
                a.0.settings.allows_origin(origin)
            })
            .map(|_| origin),
    };
    crate::cors::allow(resp.headers_mut(), allowed);
    resp
}
