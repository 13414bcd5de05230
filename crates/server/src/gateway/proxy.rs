//! Forwarding a request to its upstream and streaming the answer back.
//!
//! Bodies stream both ways (never buffered whole), connections to upstreams
//! are pooled and kept alive ([`super::upstream`]). The upstream sees the
//! caller's method, path (less the prefix with `strip_prefix`), query,
//! headers and body, minus `Authorization`, hop-by-hop headers and any
//! `X-Tollgate-*` the caller sent, plus who the caller is
//! (`X-Tollgate-Client-Id`, `-Username`, `-Scope`) and
//! `X-Forwarded-For`/`-Proto`/`-Host`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::Response;
use http_body_util::BodyExt;

use super::upstream::Pool;
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

/// Sends `req` to `route`'s upstream (through its `pool`) at `path` (the
/// canonical form of the request's path) on behalf of `principal`, and
/// streams the answer back.
pub async fn forward(
    gateway: &Gateway,
    route: &Route,
    pool: &Arc<Pool>,
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
    let original_host = parts.headers.remove(header::HOST);
    let secure = parts.extensions.get::<crate::net::Secure>().is_some();
    strip_headers(&mut parts.headers);
    parts.headers.remove(header::AUTHORIZATION);
    add_caller_headers(&mut parts.headers, principal, peer, original_host, secure);
    parts.headers.insert(header::HOST, route.host.clone());
    parts.uri = Uri::from(target);
    parts.version = axum::http::Version::HTTP_11;
    let upstream_req = axum::http::Request::from_parts(parts, body);

    let started = Instant::now();
    let outcome = tokio::time::timeout(gateway.timeout, pool.send(upstream_req)).await;
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

/// Says who the caller is (`X-Tollgate-*`) and where the request came from
/// (`X-Forwarded-*`). Values are handed over without a second copy, and
/// the address is written without `fmt`: this runs on every proxied request.
fn add_caller_headers(
    h: &mut HeaderMap,
    p: &Principal,
    peer: Option<SocketAddr>,
    host: Option<HeaderValue>,
    secure: bool,
) {
    let v = &p.0;
    if let Ok(id) = HeaderValue::from_str(&v.client_id) {
        h.insert(X_TOLLGATE_CLIENT_ID, id);
    }
    if let Some(u) = v
        .username
        .as_deref()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        h.insert(X_TOLLGATE_USERNAME, u);
    }
    insert_bytes(h, X_TOLLGATE_SCOPE, v.scope.to_string().into_bytes());
    let proto = if secure { "https" } else { "http" };
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(peer) = peer {
        let mut chain = Vec::with_capacity(64);
        let prior = h.get(&X_FORWARDED_FOR).filter(|p| p.to_str().is_ok());
        if let Some(prior) = prior {
            chain.extend_from_slice(prior.as_bytes());
            chain.extend_from_slice(b", ");
        }
        push_ip(&mut chain, peer.ip());
        insert_bytes(h, X_FORWARDED_FOR, chain);
    }
    // The caller's own `Host`, as it came (a header value already).
    if let Some(host) = host.filter(|v| v.to_str().is_ok()) {
        h.insert(X_FORWARDED_HOST, host);
    }
}

fn insert_bytes(h: &mut HeaderMap, name: HeaderName, value: Vec<u8>) {
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
        h.insert(name, value);
    }
}

/// Appends `ip` as `X-Forwarded-For` lists it (dotted decimal, or RFC 5952).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => out.extend_from_slice(v6.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::cache::Validated;
    use tollgate_proto::GrantType;

    type Outcome = Result<(), Box<dyn std::error::Error>>;

    fn principal(
        username: Option<&str>,
        scope: &str,
    ) -> Result<Principal, tollgate_proto::ProtoError> {
        Ok(Principal(Arc::new(Validated {
            client_id: "app-1".into(),
            username: username.map(str::to_owned),
            scope: scope.parse()?,
            grant_type: GrantType::Password,
            issued_at: 0,
            expires_at_ms: 0,
            family_id: "f".into(),
            qps: None,
            per_day: None,
        })))
    }

    #[test]
    fn caller_headers_name_the_caller_and_its_address() -> Outcome {
        let mut h = HeaderMap::new();
        let peer = "[2001:db8::7]:4000".parse()?;
        let host = HeaderValue::from_static("api.example");
        add_caller_headers(
            &mut h,
            &principal(Some("ann"), "b:read a:write")?,
            Some(peer),
            Some(host),
            true,
        );
        assert_eq!(h["x-tollgate-client-id"], "app-1");
        assert_eq!(h["x-tollgate-username"], "ann");
        assert_eq!(h["x-tollgate-scope"], "a:write b:read");
        assert_eq!(h["x-forwarded-for"], "2001:db8::7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "api.example");
        Ok(())
    }

    #[test]
    fn an_address_is_appended_to_the_chain_the_caller_sent() -> Outcome {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        let peer = "192.168.100.255:1".parse()?;
        add_caller_headers(&mut h, &principal(None, "")?, Some(peer), None, false);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.168.100.255");
        assert_eq!(h["x-tollgate-scope"], "");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert!(!h.contains_key("x-tollgate-username"));
        assert!(!h.contains_key("x-forwarded-host"));
        Ok(())
    }

    #[test]
    fn ipv4_addresses_are_written_in_dotted_decimal() -> Outcome {
        for ip in ["0.0.0.0", "1.20.255.9", "127.0.0.1", "255.255.255.255"] {
            let mut out = Vec::new();
            push_ip(&mut out, ip.parse()?);
            assert_eq!(out, ip.as_bytes());
        }
        Ok(())
    }
}
