//! The one place where failures become HTTP responses.
//!
//! Grant logic, the bearer check, quotas and the gateway return [`Error`];
//! [`Error::into_response`] picks the status, the JSON body
//! (`{"error", "error_description"}`, RFC 6749 §5.2 and RFC 6750 §3) and the
//! headers: `no-store`, `WWW-Authenticate` (Basic for client authentication,
//! Bearer for APIs), `Retry-After`, the rate-limit and Mashery headers.
//! Internal details are logged here and never shown to the caller.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_proto::ErrorCode;

use crate::config::Config;
use crate::oauth::error::GrantError;
use crate::quota::{Refusal, Rejection};
use crate::store::StoreError;

mod bare;
mod grpc;
mod problem;
mod render;
#[cfg(test)]
mod tests;

pub use bare::{bare_status_body, json_for_bare};
pub use grpc::{as_grpc, is_grpc};
pub use problem::{as_problem, Problem};
pub use render::{excerpt, json_response, no_store, Body};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An OAuth error at the authorization server's endpoints.
    #[error("{code}: {description}")]
    OAuth {
        code: ErrorCode,
        description: Cow<'static, str>,
    },
    /// An API call without bearer credentials (RFC 6750 §3.1: no error code).
    #[error("no bearer token")]
    BearerMissing,
    /// An API call refused by the bearer check: `invalid_request`,
    /// `invalid_token` or `insufficient_scope` (with the scope needed).
    #[error("{code}: {description}")]
    Bearer {
        code: ErrorCode,
        description: String,
        scope: Option<String>,
    },
    /// Over a per-second or per-day quota.
    #[error("quota exceeded: {}", .0.exceeded.as_str())]
    Quota(Rejection),
    #[error("not found: {0}")]
    NotFound(String),
    /// What the request would create exists already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The upstream refused, failed, or was too slow.
    #[error("upstream: {detail}")]
    Upstream { timeout: bool, detail: String },
    /// Every target of the route is out (ejected or failing its health
    /// checks): retry after this long.
    #[error("no upstream for {retry_after_secs} s")]
    NoUpstream { retry_after_secs: u64 },
    /// A request over one of the server's size limits.
    #[error("too large: {0:?}")]
    TooLarge(TooLarge),
    /// Too many failed authentications from this address: wait.
    #[error("throttled for {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// `max_requests_in_flight` requests are being handled already.
    #[error("overloaded")]
    Overloaded,
    /// Storage is down or overloaded: try again later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt state; the caller sees only `server_error`.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Which size limit a request went over, with the limit in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooLarge {
    Uri(usize),
    Headers(usize),
}

/// Marks a response that came from an upstream: passed on as it is, even
/// an error without a JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Proxied;

impl Error {
    pub fn oauth(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::OAuth {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::oauth(ErrorCode::InvalidRequest, description)
    }
}

/// An error a handler returned, not yet rendered: the response carries it
/// until the guard middleware, which knows the server's realm and quota
/// mode, renders it ([`render_pending`]).
#[derive(Debug, Clone)]
pub struct Unrendered(pub Arc<Error>);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        r.extensions_mut().insert(Unrendered(Arc::new(self)));
        r
    }
}

/// `resp` itself, or the error it carries rendered under `config`, with
/// any header added to it on the way out (`RateLimit`, ...) kept.
pub fn render_pending(resp: Response, config: &Config) -> Response {
    let Some(Unrendered(error)) = resp.extensions().get::<Unrendered>().cloned() else {
        return resp;
    };
    let mut rendered = error.render(config);
    carry_headers(resp.headers(), &mut rendered);
    // What handlers said about the request (its route, its caller) stays.
    let (mut parts, _) = resp.into_parts();
    parts.extensions.remove::<Unrendered>();
    rendered.extensions_mut().extend(parts.extensions);
    rendered
}

/// Copies onto `to` the headers of `from` it lacks (`Allow`, `RateLimit`,
/// ...), but never a length: `to` has a body of its own.
fn carry_headers(from: &HeaderMap, to: &mut Response) {
    for (name, value) in from {
        if !to.headers().contains_key(name) && name != header::CONTENT_LENGTH {
            to.headers_mut().insert(name, value.clone());
        }
    }
}

impl From<tollgate_proto::RequestError> for Error {
    fn from(e: tollgate_proto::RequestError) -> Self {
        Self::oauth(e.code, e.description)
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Exceeded(rejection) => Self::Quota(rejection),
            Refusal::Unreachable => {
                Self::Unavailable("the quota store (redis) is unreachable".into())
            }
        }
    }
}

impl From<GrantError> for Error {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::Refused { code, description } => Self::OAuth { code, description },
            GrantError::Throttled { retry_after_secs } => Self::Throttled { retry_after_secs },
            GrantError::Busy(m) => Self::Unavailable(m),
            GrantError::Store(e) => Self::from(e),
            GrantError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}
