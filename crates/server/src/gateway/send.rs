//! Choosing a target and sending a request to it: the balancer picks,
//! the attempt is timed and its outcome reported back (passive health),
//! and a request that could not be sent, or a bodiless idempotent one
//! that got no answer, goes once more to another target. A request whose
//! body was sent, or a non-idempotent one that reached its target, never
//! goes twice. Every way an attempt fails becomes one [`Error`] here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Uri};

use super::balance::Balancer;
use super::upstream::{Failed, UpstreamError};
use super::Gateway;
use crate::config::Route;
use crate::error::Error;

/// What it takes to send a bodiless request again.
pub type Replay = (axum::http::Method, HeaderMap);

/// Sends `req` to a target the balancer picks; when it was never sent, or
/// is `replay`able and got no answer, once more to another target.
pub async fn send(
    gateway: &Gateway,
    balancer: &Balancer,
    to: Aim<'_>,
    req: axum::http::Request<Body>,
    replay: Option<Replay>,
    body_failed: &AtomicBool,
) -> Result<axum::http::Response<Body>, Error> {
    let route = to.route;
    let first = balancer.pick(None).map_err(|wait| all_down(route, wait))?;
    let failed = match attempt(gateway, balancer, first, to, req).await {
        Ok(resp) => return Ok(resp),
        Err(Miss::Failed(f)) if !body_failed.load(Ordering::Relaxed) => *f,
        Err(miss) => return Err(miss.into_error(route, balancer, first, body_failed)),
    };
    let again = failed.unsent.or_else(|| replay.map(rebuild));
    let (Some(req), Ok(second)) = (again, balancer.pick(Some(first))) else {
        let unanswered = Box::new(Failed {
            error: failed.error,
            unsent: None,
        });
        return Err(Miss::Failed(unanswered).into_error(route, balancer, first, body_failed));
    };
    tracing::info!(route = %route.prefix, error = %failed.error, "sending the request to another target");
    attempt(gateway, balancer, second, to, req)
        .await
        .map_err(|miss| miss.into_error(route, balancer, second, body_failed))
}

/// Where a request goes, less the target: its route, URI and canonical
/// path.
#[derive(Clone, Copy)]
pub struct Aim<'a> {
    pub route: &'a Route,
    pub uri: &'a Uri,
    pub path: &'a str,
    /// An upgrade handshake: a connection of its own.
    pub upgrade: bool,
}

/// Why an attempt got no answer.
enum Miss {
    TimedOut(Duration),
    Failed(Box<Failed>),
    Unbuildable(String),
}

/// Sends `req` to member `i`, aimed at its target (origin form on the
/// wire, the target named in `Host`: RFC 9112 §3.2), and reports the
/// outcome to the balancer.
async fn attempt(
    gateway: &Gateway,
    balancer: &Balancer,
    i: usize,
    to: Aim<'_>,
    mut req: axum::http::Request<Body>,
) -> Result<axum::http::Response<Body>, Miss> {
    let Some(m) = balancer.member(i) else {
        return Err(Miss::Unbuildable("no such target".into()));
    };
    let target = to
        .route
        .upstream_target(&m.target, to.path, to.uri.query())
        .map_err(|e| Miss::Unbuildable(format!("building the upstream URI: {e}")))?;
    *req.uri_mut() = Uri::from(target);
    *req.version_mut() = axum::http::Version::HTTP_11;
    req.headers_mut()
        .insert(header::HOST, m.target.host.clone());
    let _counted = m.start();
    let started = Instant::now();
    let sending = async {
        if to.upgrade {
            let resp = m.pool.send_upgrade(req).await?;
            Ok(resp.map(Body::new))
        } else {
            m.pool.send(req).await
        }
    };
    let first_byte = to.route.timeouts.first_byte.unwrap_or(gateway.timeout);
    let outcome = tokio::time::timeout(first_byte, sending).await;
    let took = started.elapsed();
    gateway.metrics.upstream_latency(took);
    match outcome {
        Err(_) => {
            balancer.report(i, false, took);
            Err(Miss::TimedOut(first_byte))
        }
        Ok(Err(f)) => {
            balancer.report(i, false, took);
            Err(Miss::Failed(Box::new(f)))
        }
        Ok(Ok(resp)) => {
            balancer.report(i, !resp.status().is_server_error(), took);
            Ok(resp)
        }
    }
}

/// The request again, without its (empty) body, for another target.
fn rebuild((method, headers): (axum::http::Method, HeaderMap)) -> axum::http::Request<Body> {
    let mut req = axum::http::Request::new(Body::empty());
    *req.method_mut() = method;
    *req.headers_mut() = headers;
    req
}

/// 503 with `Retry-After` when every target of `route` is out.
fn all_down(route: &Route, wait: Duration) -> Error {
    let retry_after_secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    tracing::warn!(route = %route.prefix, retry_after_secs, "every target of the route is out");
    Error::NoUpstream { retry_after_secs }
}

impl Miss {
    fn into_error(self, route: &Route, b: &Balancer, i: usize, body_failed: &AtomicBool) -> Error {
        let authority = b
            .member(i)
            .map(|m| m.target.authority.as_str())
            .unwrap_or("?");
        match self {
            Self::TimedOut(after) => {
                let secs = after.as_secs();
                tracing::warn!(route = %route.prefix, upstream = %authority, secs, "upstream timed out");
                Error::Upstream {
                    timeout: true,
                    detail: format!("the upstream did not answer within {secs} s"),
                }
            }
            Self::Failed(f) => failure(
                route,
                authority,
                &f.error,
                body_failed.load(Ordering::Relaxed),
            ),
            Self::Unbuildable(e) => Error::Internal(e),
        }
    }
}

/// The error for a request the upstream did not answer: the caller's
/// fault when its own body failed (400), else the upstream's (502).
fn failure(route: &Route, authority: &str, e: &UpstreamError, body_failed: bool) -> Error {
    if body_failed {
        tracing::info!(route = %route.prefix, "the caller's request body was malformed or cut short");
        return Error::invalid_request("the request body was malformed or ended early");
    }
    let detail = if matches!(e, UpstreamError::Tls(_)) {
        tracing::warn!(route = %route.prefix, upstream = %authority, error = %e, "upstream TLS failed");
        "the upstream's TLS handshake failed"
    } else {
        tracing::warn!(route = %route.prefix, upstream = %authority, error = %e, "upstream unreachable");
        "the upstream refused the connection or failed"
    };
    Error::Upstream {
        timeout: false,
        detail: detail.into(),
    }
}
