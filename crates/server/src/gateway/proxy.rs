//! Forwarding a request to its upstream and streaming the answer back.
//!
//! Bodies stream both ways (never buffered whole), connections to upstreams
//! are pooled and kept alive ([`super::upstream`]). The upstream sees the
//! caller's method, path (less the prefix with `strip_prefix`), query,
//! headers and body, minus `Authorization`, hop-by-hop headers and any
//! `X-Tollgate-*` the caller sent, plus who the caller is
//! (`X-Tollgate-Client-Id`, `-Username`, `-Scope`) and
//! `X-Forwarded-For`/`-Proto`/`-Host`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::Response;
use http_body_util::BodyExt;

use super::Gateway;
use crate::config::Route;
use crate::error::Proxied;
use crate::resource::Principal;
use crate::Error;

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

// The headers tollgate sets, named once (a name given as text is parsed
// at every use).
const X_TOLLGATE_CLIENT_ID: HeaderName = HeaderName::from_static("x-tollgate-client-id");
const X_TOLLGATE_USERNAME: HeaderName = HeaderName::from_static("x-tollgate-username");
const X_TOLLGATE_SCOPE: HeaderName = HeaderName::from_static("x-tollgate-scope");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Sends `req` to `route`'s upstream at `path` (the canonical form of the
/// request's path) on behalf of `principal`, and streams the answer back.
pub async fn forward(
    gateway: &Gateway,
    route: &Route,
    path: &str,
    principal: &Principal,
    req: Request,
) -> Result<Response, Error> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (mut parts, body) = req.into_parts();
    let client_version = parts.version;
    let body_failed = Arc::new(AtomicBool::new(false));
    let body = watch_body(body, body_failed.clone());
    // Origin form on the wire, the upstream named in `Host` (RFC 9112 §3.2).
    let target = route
        .upstream_target(path, parts.uri.query())
        .map_err(|e| Error::Internal(format!("building the upstream URI: {e}")))?;
    let original_host = parts.headers.get(header::HOST).cloned();
    let secure = parts.extensions.get::<crate::net::Secure>().is_some();
    strip_headers(&mut parts.headers);
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.remove(header::HOST);
    add_caller_headers(&mut parts.headers, principal, peer, original_host, secure);
    parts.headers.insert(header::HOST, route.host.clone());
    parts.uri = Uri::from(target);
    parts.version = axum::http::Version::HTTP_11;
    let upstream_req = axum::http::Request::from_parts(parts, body);

    let started = Instant::now();
    let outcome = tokio::time::timeout(
        gateway.timeout,
        gateway.upstream.send(&route.authority, upstream_req),
    )
    .await;
    gateway.metrics.upstream_latency(started.elapsed());
    let resp = match outcome {
        Err(_) => {
            let secs = gateway.timeout.as_secs();
            tracing::warn!(route = %route.prefix, upstream = %route.authority, secs, "upstream timed out");
            return Err(Error::Upstream {
                timeout: true,
                detail: format!("the upstream did not answer within {secs} s"),
            });
        }
        Ok(Err(_)) if body_failed.load(Ordering::Relaxed) => {
            tracing::info!(route = %route.prefix, "the caller's request body was malformed or cut short");
            return Err(Error::invalid_request(
                "the request body was malformed or ended early",
            ));
        }
        Ok(Err(e)) => {
            tracing::warn!(route = %route.prefix, upstream = %route.authority, error = %e, "upstream unreachable");
            return Err(Error::Upstream {
                timeout: false,
                detail: "the upstream refused the connection or failed".into(),
            });
        }
        Ok(Ok(resp)) => resp,
    };
    let (mut parts, body) = resp.into_parts();
    strip_headers(&mut parts.headers);
    // Answer in the protocol the caller spoke, whatever the upstream spoke
    // (an HTTP/1.0 upstream must not turn the caller's connection into 1.0).
    parts.version = client_version;
    parts.extensions.insert(Proxied);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// The caller's body, noting in `failed` when reading it fails (a bad
/// chunk, a body shorter than its `Content-Length`), so that the failure
/// is blamed on the caller (400), not on the upstream (502).
fn watch_body(body: Body, failed: Arc<AtomicBool>) -> Body {
    Body::new(body.map_err(move |e| {
        failed.store(true, Ordering::Relaxed);
        e
    }))
}

/// Removes hop-by-hop headers, those the `Connection` header names, and any
/// `X-Tollgate-*` (only tollgate may say who the caller is). One pass over
/// the names; nothing is allocated unless something goes.
fn strip_headers(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let doomed: Vec<HeaderName> = h
        .keys()
        .filter(|k| {
            let k = k.as_str();
            HOP_BY_HOP.contains(&k) || k.starts_with("x-tollgate-")
        })
        .chain(named.iter())
        .cloned()
        .collect();
    for n in doomed {
        h.remove(n);
    }
}

fn add_caller_headers(
    h: &mut HeaderMap,
    p: &Principal,
    peer: Option<SocketAddr>,
    host: Option<HeaderValue>,
    secure: bool,
) {
    let v = &p.0;
    let prior = h
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut set = |name: &HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            h.insert(name.clone(), value);
        }
    };
    set(&X_TOLLGATE_CLIENT_ID, &v.client_id);
    if let Some(u) = &v.username {
        set(&X_TOLLGATE_USERNAME, u);
    }
    set(&X_TOLLGATE_SCOPE, &v.scope.to_string());
    set(&X_FORWARDED_PROTO, if secure { "https" } else { "http" });
    if let Some(peer) = peer {
        let chain = match prior {
            Some(p) => format!("{p}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        set(&X_FORWARDED_FOR, &chain);
    }
    if let Some(host) = host {
        if let Ok(host) = host.to_str() {
            set(&X_FORWARDED_HOST, host);
        }
    }
}
