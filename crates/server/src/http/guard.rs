//! What every request passes before routing, in this order: a slot among
//! `max_requests_in_flight` (else 503), a head within `max_uri_bytes` and
//! `max_header_bytes` (else 414/431), and a path in canonical form
//! ([`super::path`], else 400). The request then goes on with that
//! canonical path, so routing, scope checks and the upstream all see the
//! same one; the [`Normalized`] value rides along in its extensions.
//!
//! On the way back, an error the framework made itself (a 405 from the
//! router, a 413 from the body limit) gets the JSON error body.

use axum::extract::{Request, State};
use axum::http::uri::{PathAndQuery, Uri};
use axum::middleware::Next;
use axum::response::Response;

use super::path::{self, Normalized};
use crate::config::ServerLimits;
use crate::error::{self, Error, TooLarge};
use crate::state::AppState;

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Ok(_slot) = state.in_flight.try_acquire() else {
        state
            .metrics
            .requests_shed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Error::Overloaded.into_response_for(&state);
    };
    if let Err(e) = check_head(&req, &state.config.limits) {
        return e.into_response_for(&state);
    }
    let normalized = match path::normalize(req.uri().path()) {
        Ok(n) => n,
        Err(e) => return Error::invalid_request(e.to_string()).into_response_for(&state),
    };
    if normalized.path != req.uri().path() {
        match with_path(req.uri(), &normalized) {
            Some(uri) => *req.uri_mut() = uri,
            None => {
                return Error::invalid_request("the path cannot be normalised")
                    .into_response_for(&state)
            }
        }
    }
    req.extensions_mut().insert(normalized);
    error::json_for_bare(next.run(req).await)
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

/// `uri` with its path replaced by the canonical one (query kept).
fn with_path(uri: &Uri, normalized: &Normalized) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{}?{q}", normalized.path),
        None => normalized.path.clone(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}
