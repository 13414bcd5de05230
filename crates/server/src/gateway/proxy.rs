//! Forwarding a request to its upstream and streaming the answer back.
//!
//! Bodies stream both ways (never buffered whole), connections to upstreams
//! are pooled and kept alive ([`super::upstream`]), the target is chosen
//! and the request sent by [`super::send`], and an upgrade handshake's
//! connections joined by [`super::upgrade`]. The upstream sees the
//! caller's method, path (less the prefix with `strip_prefix`), query,
//! headers and body, minus `Authorization`, hop-by-hop headers and every
//! header it could take for one tollgate sets ([`is_spoofable`]: any
//! `X-Tollgate-*` or `X-Forwarded-*`, `Forwarded`, `X-Real-IP`, the other
//! client-address headers, `X-Original-URL`, `X-Rewrite-URL`, method
//! overrides, and names with `_`, which CGI-style upstreams read as `-`),
//! plus who the caller is (`X-Tollgate-Client-Id`, `-Username`, `-Scope`)
//! and where it came from (`X-Forwarded-For`, `X-Real-IP`: the
//! [`ClientAddr`]; `X-Forwarded-Proto`/`-Host`: tollgate's own view, or a
//! trusted proxy's). Only tollgate writes these.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame};

use super::balance::Balancer;
use super::send::{send, Aim, Replay};
use super::upgrade::{connection_tokens, Upgrade};
use super::Gateway;
use crate::config::{Route, Underscores};
use crate::error::Error;
use crate::error::Proxied;
use crate::forwarded::{ClientAddr, X_FORWARDED_FOR};
use crate::resource::Principal;

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

/// Request headers an upstream may believe about the client or the request
/// target, besides the `X-Tollgate-*` and `X-Forwarded-*` families.
const SPOOFABLE: [&str; 12] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

// The headers tollgate sets, named once (a name given as text is parsed
// at every use).
const X_TOLLGATE_CLIENT_ID: HeaderName = HeaderName::from_static("x-tollgate-client-id");
const X_TOLLGATE_USERNAME: HeaderName = HeaderName::from_static("x-tollgate-username");
const X_TOLLGATE_SCOPE: HeaderName = HeaderName::from_static("x-tollgate-scope");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Sends `req` to one of `route`'s targets (chosen by its `balancer`) at
/// `path` (the canonical form of the request's path) on behalf of
/// `principal`, and streams the answer back. A request that could not be
/// sent, or a bodiless idempotent one that got no answer, is sent once
/// more to another target; a request whose body was sent, never.
pub async fn forward(
    gateway: &Gateway,
    (route, balancer): (&Route, &Balancer),
    path: &str,
    principal: &Principal,
    mut req: Request,
) -> Result<Response, Error> {
    let upgrade = Upgrade::take(&mut req);
    let client_version = req.version();
    let body_failed = Arc::new(AtomicBool::new(false));
    let replayable = balancer.len() > 1;
    let (req, replay) = upstream_request(route, principal, req, replayable, &body_failed)?;
    let (mut parts, body) = req.into_parts();
    if let Some(u) = &upgrade {
        u.restore(&mut parts.headers);
    }
    let uri = parts.uri.clone();
    let to = Aim {
        route,
        uri: &uri,
        path,
        upgrade: upgrade.is_some(),
    };
    let req = axum::http::Request::from_parts(parts, body);
    let resp = send(gateway, balancer, to, req, replay, &body_failed).await?;
    match upgrade {
        Some(u) if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
            let until = route
                .upgrades_end_at_token_expiry
                .then(|| gateway.until_expiry(principal));
            Ok(answer(u.splice(resp, until), client_version))
        }
        _ => {
            let resp = match route.timeouts.idle {
                Some(idle) => resp.map(|body| Body::new(IdleTimeout::new(body, idle))),
                None => resp,
            };
            Ok(answer(resp, client_version))
        }
    }
}

/// The caller's request as it goes upstream: hop-by-hop, spoofable and
/// `Authorization` headers out, who the caller is and where from in; and,
/// when `replayable` and it has no body and an idempotent method, what it
/// takes to send it again.
fn upstream_request(
    route: &Route,
    principal: &Principal,
    req: Request,
    replayable: bool,
    body_failed: &Arc<AtomicBool>,
) -> Result<(axum::http::Request<Body>, Option<Replay>), Error> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (mut parts, body) = req.into_parts();
    if route.underscores_in_headers == Underscores::Refuse
        && parts.headers.keys().any(|k| k.as_str().contains('_'))
    {
        return Err(Error::invalid_request(
            "header names with '_' are refused on this route",
        ));
    }
    let bodiless = body.is_end_stream();
    let body = watch_body(body, body_failed.clone());
    let secure = parts.extensions.get::<crate::net::Secure>().is_some();
    let origin = Origin::of(
        &mut parts.headers,
        parts.extensions.get::<ClientAddr>(),
        peer,
        secure,
    );
    strip_request_headers(&mut parts.headers);
    parts.headers.remove(header::AUTHORIZATION);
    add_caller_headers(&mut parts.headers, principal, origin);
    let replay = (replayable && bodiless && parts.method.is_idempotent())
        .then(|| (parts.method.clone(), parts.headers.clone()));
    Ok((axum::http::Request::from_parts(parts, body), replay))
}

/// The upstream's answer, as the caller's protocol, without hop-by-hop
/// headers (but `Connection` and `Upgrade` on a `101`).
fn answer(resp: axum::http::Response<Body>, client_version: axum::http::Version) -> Response {
    let (mut parts, body) = resp.into_parts();
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    strip_headers(&mut parts.headers, |_| false);
    if let (true, Some(p)) = (switching, protocol) {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, p);
    }
    // Answer in the protocol the caller spoke, whatever the upstream spoke
    // (an HTTP/1.0 upstream must not turn the caller's connection into 1.0).
    parts.version = client_version;
    parts.extensions.insert(Proxied);
    Response::from_parts(parts, Body::new(body))
}

/// A response body that fails when the upstream pauses longer than
/// `idle` between two pieces of it (the route's `idle_timeout_ms`): the
/// caller's response then ends early instead of hanging.
struct IdleTimeout {
    body: Body,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimeout {
    fn new(body: Body, idle: Duration) -> Self {
        Self {
            body,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl hyper::body::Body for IdleTimeout {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            let next = tokio::time::Instant::now() + this.idle;
            this.deadline.as_mut().reset(next);
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                tracing::warn!(
                    secs = this.idle.as_secs_f64(),
                    "upstream response idle too long; ending it"
                );
                Poll::Ready(Some(Err(axum::Error::new(
                    "the upstream's response stalled",
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Removes hop-by-hop and spoofable headers from a request going
/// upstream. `TE: trailers` is hop-by-hop, but says the caller takes
/// trailers (gRPC needs it sent on), so it is kept; any other TE goes.
fn strip_request_headers(h: &mut HeaderMap) {
    let trailers = h
        .get_all(header::TE)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    strip_headers(h, is_spoofable);
    if trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
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

/// Removes hop-by-hop headers, those the `Connection` header names, and
/// those `also` picks. One pass over the names; nothing is allocated unless
/// something goes.
fn strip_headers(h: &mut HeaderMap, also: impl Fn(&str) -> bool) {
    let named: Vec<HeaderName> = connection_tokens(h)
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    let doomed: Vec<HeaderName> = h
        .keys()
        .filter(|k| HOP_BY_HOP.contains(&k.as_str()) || also(k.as_str()))
        .chain(named.iter())
        .cloned()
        .collect();
    for n in doomed {
        h.remove(n);
    }
}

/// Whether an upstream could take request header `name` for one tollgate
/// sets, or for what the client or the request target is: only tollgate
/// says who the caller is and where it came from.
fn is_spoofable(name: &str) -> bool {
    name.contains('_')
        || name.starts_with("x-tollgate-")
        || name.starts_with("x-forwarded-")
        || SPOOFABLE.contains(&name)
}

/// Where a request came from, as the upstream is told: the client address,
/// the trusted proxies it passed before the peer, the peer, the scheme and
/// the host.
struct Origin<'a> {
    client: Option<IpAddr>,
    via: &'a [IpAddr],
    peer: Option<IpAddr>,
    proto: HeaderValue,
    host: Option<HeaderValue>,
}

impl<'a> Origin<'a> {
    /// Taken before the headers are stripped: a trusted proxy's
    /// `X-Forwarded-Proto` and `-Host` are passed on, anyone else's are not.
    fn of(
        h: &mut HeaderMap,
        client: Option<&'a ClientAddr>,
        peer: Option<IpAddr>,
        secure: bool,
    ) -> Self {
        let own_host = h.remove(header::HOST).filter(|v| v.to_str().is_ok());
        let trusted = client.is_some_and(ClientAddr::via_trusted_proxy);
        let relayed = |name: &HeaderName| {
            h.get(name)
                .filter(|v| trusted && v.to_str().is_ok() && !v.is_empty())
                .cloned()
        };
        let proto = relayed(&X_FORWARDED_PROTO).unwrap_or(HeaderValue::from_static(if secure {
            "https"
        } else {
            "http"
        }));
        let host = relayed(&X_FORWARDED_HOST).or(own_host);
        Self {
            client: client.map(|c| c.ip).or(peer),
            via: client.and_then(|c| c.via.as_deref()).unwrap_or_default(),
            peer,
            proto,
            host,
        }
    }
}

/// Says who the caller is (`X-Tollgate-*`) and where the request came from
/// (`X-Forwarded-*`, `X-Real-IP`). Values are handed over without a second
/// copy, and addresses are written without `fmt`: this runs on every
/// proxied request.
fn add_caller_headers(h: &mut HeaderMap, p: &Principal, origin: Origin<'_>) {
    add_identity(h, p);
    h.insert(X_FORWARDED_PROTO, origin.proto);
    let chain = origin.via.iter().chain(origin.peer.as_ref());
    let mut list = Vec::with_capacity(16 * (origin.via.len() + 1));
    for (i, ip) in chain.enumerate() {
        if i > 0 {
            list.extend_from_slice(b", ");
        }
        push_ip(&mut list, *ip);
    }
    if !list.is_empty() {
        insert_bytes(h, X_FORWARDED_FOR, list);
    }
    if let Some(ip) = origin.client {
        let mut one = Vec::with_capacity(16);
        push_ip(&mut one, ip);
        insert_bytes(h, X_REAL_IP, one);
    }
    if let Some(host) = origin.host {
        h.insert(X_FORWARDED_HOST, host);
    }
}

/// Who the caller is: `X-Tollgate-Client-Id`, `-Username` (for a person's
/// token) and `-Scope`; for the upstream, and for a proxy's decision.
pub(super) fn add_identity(h: &mut HeaderMap, p: &Principal) {
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
    use crate::oauth::validated::Validated;
    use tollgate_proto::{Audience, GrantType};

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
            audience: Audience::One("https://issuer".into()),
        })))
    }

    fn origin<'a>(
        h: &mut HeaderMap,
        client: Option<&'a ClientAddr>,
        peer: &str,
        secure: bool,
    ) -> Origin<'a> {
        Origin::of(h, client, peer.parse().ok(), secure)
    }

    #[test]
    fn caller_headers_name_the_caller_and_its_address() -> Outcome {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("api.example"));
        let o = origin(&mut h, None, "2001:db8::7", true);
        add_caller_headers(&mut h, &principal(Some("ann"), "b:read a:write")?, o);
        assert_eq!(h["x-tollgate-client-id"], "app-1");
        assert_eq!(h["x-tollgate-username"], "ann");
        assert_eq!(h["x-tollgate-scope"], "a:write b:read");
        assert_eq!(h["x-forwarded-for"], "2001:db8::7");
        assert_eq!(h["x-real-ip"], "2001:db8::7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "api.example");
        Ok(())
    }

    #[test]
    fn a_caller_chain_is_replaced_unless_a_trusted_proxy_sent_it() -> Outcome {
        let sent = |h: &mut HeaderMap| {
            h.insert(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
            h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
            h.insert(X_FORWARDED_HOST, HeaderValue::from_static("evil.example"));
        };
        let mut h = HeaderMap::new();
        sent(&mut h);
        let direct = ClientAddr {
            ip: "192.168.100.255".parse()?,
            via: None,
        };
        let o = origin(&mut h, Some(&direct), "192.168.100.255", false);
        strip_headers(&mut h, is_spoofable);
        add_caller_headers(&mut h, &principal(None, "")?, o);
        assert_eq!(h["x-forwarded-for"], "192.168.100.255");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert!(!h.contains_key("x-forwarded-host"));
        assert!(!h.contains_key("x-tollgate-username"));

        let mut h = HeaderMap::new();
        sent(&mut h);
        let behind = ClientAddr {
            ip: "7.7.7.7".parse()?,
            via: Some(vec!["7.7.7.7".parse()?, "10.0.0.2".parse()?]),
        };
        let o = origin(&mut h, Some(&behind), "10.0.0.3", false);
        strip_headers(&mut h, is_spoofable);
        add_caller_headers(&mut h, &principal(None, "")?, o);
        assert_eq!(h["x-forwarded-for"], "7.7.7.7, 10.0.0.2, 10.0.0.3");
        assert_eq!(h["x-real-ip"], "7.7.7.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "evil.example");
        Ok(())
    }

    #[test]
    fn spoofable_names() {
        for name in [
            "x_tollgate_username",
            "x-tollgate-scope",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "forwarded",
            "x-real-ip",
            "x-original-url",
            "x-rewrite-url",
            "x-http-method-override",
            "accept_language",
        ] {
            assert!(is_spoofable(name), "{name}");
        }
        for name in ["accept", "content-type", "x-request-id", "cookie"] {
            assert!(!is_spoofable(name), "{name}");
        }
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
