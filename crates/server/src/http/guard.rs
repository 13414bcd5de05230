//! The one middleware every request passes, around its route: a slot among
//! `max_requests_in_flight` (else 503) and a head within `max_uri_bytes`
//! and `max_header_bytes` (else 414/431) before; after, the JSON body for
//! any error the framework made itself (a 405 from the router, a 413 from
//! the body limit), as problem details under the admin API and as gRPC
//! statuses to gRPC calls, and one access-log line and metric.
//!
//! Paths are not rewritten here: built-in routes match only their own
//! canonical spelling, and every other path goes to the gateway, which
//! puts it in canonical form ([`super::path`]) before choosing a route.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::ClientId;
use crate::config::ServerLimits;
use crate::error::{self, Error, TooLarge};
use crate::gateway::Routed;
use crate::resource::Principal;
use crate::state::AppState;

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let remote = super::client_auth::client_ip(req.extensions());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let grpc = error::is_grpc(req.headers());
    let resp = match admit(&state, &req) {
        Err(e) => e.render(state.config()),
        Ok(_slot) => {
            let resp = error::render_pending(next.run(req).await, state.config());
            error::json_for_bare(resp)
        }
    };
    let resp = if uri.path().starts_with(super::admin::PREFIX) {
        error::as_problem(resp)
    } else {
        resp
    };
    access_log(&state, &method, uri.path(), matched, remote, started, &resp);
    // Logged with its HTTP status; told to a gRPC client as gRPC does.
    if grpc {
        error::as_grpc(resp)
    } else {
        resp
    }
}

/// A slot for the request, or why it is refused before it is routed.
fn admit<'a>(
    state: &'a AppState,
    req: &Request,
) -> Result<tokio::sync::SemaphorePermit<'a>, Error> {
    let Ok(slot) = state.in_flight().try_acquire() else {
        state.metrics().request_shed();
        return Err(Error::Overloaded);
    };
    check_head(req, &state.config().limits)?;
    Ok(slot)
}

/// 414 for a long request target, 431 for large headers.
fn check_head(req: &Request, limits: &ServerLimits) -> Result<(), Error> {
    let uri = req.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if uri_bytes > limits.max_uri_bytes {
        return Err(Error::TooLarge(TooLarge::Uri(limits.max_uri_bytes)));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(Error::TooLarge(TooLarge::Headers(limits.max_header_bytes)));
    }
    Ok(())
}

/// One log line and one metric per request: method, route, status, latency,
/// the address it is attributed to, and the client when known. Never
/// headers, bodies or the query string (a careless client may put a token
/// there).
fn access_log(
    state: &AppState,
    method: &axum::http::Method,
    path: &str,
    matched: Option<MatchedPath>,
    remote: std::net::IpAddr,
    started: Instant,
    resp: &Response,
) {
    // A bounded name: the gateway route's prefix, else the built-in route's
    // template (`/admin/v1/clients/{client_id}`), else "unmatched".
    let route = match (resp.extensions().get::<Routed>(), &matched) {
        (Some(Routed(r)), _) => r.prefix.as_str(),
        (None, Some(m)) => m.as_str(),
        (None, None) => "unmatched",
    };
    let status = resp.status().as_u16();
    state.metrics().request(route, status);
    let client_id = resp
        .extensions()
        .get::<Principal>()
        .map(|p| p.0.client_id.as_str())
        .or_else(|| resp.extensions().get::<ClientId>().map(|c| c.0.as_str()));
    tracing::info!(
        %method,
        path,
        status,
        %remote,
        client_id,
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
}
