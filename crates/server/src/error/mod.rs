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

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_proto::{BearerChallenge, ErrorCode};

use crate::config::{Config, QuotaResponse};
use crate::oauth::error::GrantError;
use crate::quota::{Exceeded, Refusal, Rejection};
use crate::store::StoreError;

mod bare;
mod problem;

pub use bare::{bare_status_body, json_for_bare};
pub use problem::{as_problem, Problem};

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: &str = "1";

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

/// The JSON body of every error (RFC 6749 §5.2): `error` is an OAuth code
/// where one applies, else a name for the status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OAuthError)]
pub struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
    /// With `quota_exceeded`: `per_second` or `per_day`.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'static str>,
}

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

    /// The one message for every client-authentication failure, so unknown
    /// client, wrong secret and disabled client look alike.
    pub fn invalid_client() -> Self {
        Self::oauth(ErrorCode::InvalidClient, "client authentication failed")
    }

    /// The response for this error under `config` (its realm and quota
    /// mode). Handlers return the error itself ([`IntoResponse`]); the
    /// guard middleware renders it with [`render_pending`].
    pub fn render(&self, config: &Config) -> Response {
        let realm = config.realm.as_str();
        match self {
            Self::OAuth { code, description } => {
                let code = *code;
                let mut r = json_response(status_of(code), &body(code.as_str(), description));
                if code == ErrorCode::InvalidClient {
                    set(
                        r.headers_mut(),
                        header::WWW_AUTHENTICATE,
                        &format!("Basic realm=\"{realm}\""),
                    );
                }
                r
            }
            Self::BearerMissing => {
                let d = "this API needs an access token: Authorization: Bearer <token>";
                let mut r = json_response(StatusCode::UNAUTHORIZED, &body("unauthorized", d));
                let challenge = BearerChallenge {
                    realm: Some(realm.to_owned()),
                    ..Default::default()
                };
                set(
                    r.headers_mut(),
                    header::WWW_AUTHENTICATE,
                    &challenge.to_string(),
                );
                r
            }
            Self::Bearer {
                code,
                description,
                scope,
            } => {
                let mut r = json_response(status_of(*code), &body(code.as_str(), description));
                let challenge = BearerChallenge {
                    realm: Some(realm.to_owned()),
                    error: Some(*code),
                    error_description: Some(description.clone()),
                    scope: scope.clone(),
                };
                set(
                    r.headers_mut(),
                    header::WWW_AUTHENTICATE,
                    &challenge.to_string(),
                );
                r
            }
            Self::Quota(rejection) => quota_response(rejection, config.quota_response),
            Self::NotFound(d) => json_response(StatusCode::NOT_FOUND, &body("not_found", d)),
            Self::Conflict(d) => json_response(StatusCode::CONFLICT, &body("conflict", d)),
            Self::Upstream {
                timeout: true,
                detail,
            } => json_response(
                StatusCode::GATEWAY_TIMEOUT,
                &body("gateway_timeout", detail),
            ),
            Self::Upstream {
                timeout: false,
                detail,
            } => json_response(StatusCode::BAD_GATEWAY, &body("bad_gateway", detail)),
            Self::TooLarge(TooLarge::Uri(max)) => json_response(
                StatusCode::URI_TOO_LONG,
                &body(
                    "uri_too_long",
                    &format!("the request target is over {max} bytes"),
                ),
            ),
            Self::TooLarge(TooLarge::Headers(max)) => json_response(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &body(
                    "request_header_fields_too_large",
                    &format!("the request headers are over {max} bytes"),
                ),
            ),
            Self::Throttled { retry_after_secs } => retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "too many failed client authentications from this address; retry in {retry_after_secs} s"
                ),
                &retry_after_secs.to_string(),
            ),
            Self::Overloaded => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests in progress; retry shortly",
                RETRY_AFTER_SECS,
            ),
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "answering 503: storage unavailable");
                retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the service is temporarily unavailable; retry shortly",
                    RETRY_AFTER_SECS,
                )
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "answering 500");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &body(ErrorCode::ServerError.as_str(), "internal server error"),
                )
            }
        }
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

/// `temporarily_unavailable` with `Retry-After`: come back later.
fn retry_later(status: StatusCode, description: &str, retry_after: &str) -> Response {
    let mut r = json_response(
        status,
        &body(ErrorCode::TemporarilyUnavailable.as_str(), description),
    );
    set(r.headers_mut(), header::RETRY_AFTER, retry_after);
    r
}

fn body<'a>(error: &'a str, description: &'a str) -> Body<'a> {
    Body {
        error,
        error_description: description,
        limit: None,
    }
}

/// 429 with `RateLimit` headers, or Mashery's 403 with its error codes.
fn quota_response(r: &Rejection, mode: QuotaResponse) -> Response {
    let (limit, mashery_code, detail) = match r.exceeded {
        Exceeded::PerSecond => (
            "per_second",
            "ERR_403_DEVELOPER_OVER_QPS",
            "Account Over Queries Per Second Limit",
        ),
        Exceeded::PerDay => (
            "per_day",
            "ERR_403_DEVELOPER_OVER_RATE",
            "Account Over Rate Limit",
        ),
    };
    let description = format!("{detail}: retry in {} s", r.retry_after_secs());
    let b = Body {
        error: "quota_exceeded",
        error_description: &description,
        limit: Some(limit),
    };
    let mut resp = match mode {
        QuotaResponse::Standard => {
            let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, &b);
            r.standing.write_headers(resp.headers_mut());
            resp
        }
        QuotaResponse::Mashery => {
            let mut resp = json_response(StatusCode::FORBIDDEN, &b);
            let h = resp.headers_mut();
            h.insert(
                "x-mashery-error-code",
                HeaderValue::from_static(mashery_code),
            );
            h.insert("x-error-detail-header", HeaderValue::from_static(detail));
            resp
        }
    };
    set(
        resp.headers_mut(),
        header::RETRY_AFTER,
        &r.retry_after_secs().to_string(),
    );
    resp
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// RFC status of each OAuth error code.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::UnsupportedTokenType
        | ErrorCode::UnsupportedResponseType => StatusCode::BAD_REQUEST,
    }
}

/// A JSON body with the content type the seed shows and no caching: the
/// shape of every token-endpoint answer and every error.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    // Room for a token or introspection answer, so it is written without
    // the growing and copying an empty buffer would go through.
    let mut bytes = Vec::with_capacity(384);
    if let Err(e) = serde_json::to_writer(&mut bytes, body) {
        tracing::error!(error = %e, "serialising a response failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut resp = (status, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    no_store(h);
    resp
}

/// The status's reason phrase: the title of an error with no better one.
fn reason_of(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("error")
}

/// At most `max` characters of `s`, marked when cut: what an error may
/// echo of a caller's input.
pub fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;
    use crate::quota::Standing;

    fn config(mashery: bool) -> Config {
        let f = FileConfig {
            realm: Some("api.example.com".into()),
            quota_response: Some(if mashery {
                QuotaResponse::Mashery
            } else {
                QuotaResponse::Standard
            }),
            ..FileConfig::default()
        };
        Config::try_from(f).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn header(r: &Response, name: &str) -> String {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    }

    fn check(code: ErrorCode, status: u16) {
        let resp = Error::oauth(code, "x").render(&config(false));
        assert_eq!(resp.status().as_u16(), status, "{code}");
        assert_eq!(header(&resp, "cache-control"), "no-store");
        let challenge = header(&resp, "www-authenticate");
        assert_eq!(
            !challenge.is_empty(),
            code == ErrorCode::InvalidClient,
            "{code}"
        );
    }

    #[test]
    fn oauth_status_table() {
        check(ErrorCode::InvalidRequest, 400);
        check(ErrorCode::InvalidClient, 401);
        check(ErrorCode::InvalidGrant, 400);
        check(ErrorCode::UnauthorizedClient, 400);
        check(ErrorCode::UnsupportedGrantType, 400);
        check(ErrorCode::InvalidScope, 400);
    }

    #[test]
    fn bearer_errors_carry_the_challenge() {
        let c = config(false);
        let r = Error::BearerMissing.render(&c);
        assert_eq!(
            (r.status().as_u16(), header(&r, "www-authenticate")),
            (401, r#"Bearer realm="api.example.com""#.into())
        );
        let expired = Error::Bearer {
            code: ErrorCode::InvalidToken,
            description: "expired".into(),
            scope: None,
        };
        let r = expired.render(&c);
        assert_eq!(r.status(), 401);
        assert_eq!(
            header(&r, "www-authenticate"),
            r#"Bearer realm="api.example.com", error="invalid_token", error_description="expired""#
        );
        let scope = Error::Bearer {
            code: ErrorCode::InsufficientScope,
            description: "d".into(),
            scope: Some("a b".into()),
        };
        let r = scope.render(&c);
        assert_eq!(r.status(), 403);
        assert!(header(&r, "www-authenticate").ends_with(r#"scope="a b""#));
    }

    fn rejection(exceeded: Exceeded) -> Rejection {
        Rejection {
            exceeded,
            retry_after_ms: 1500,
            standing: Standing {
                per_second: Some((5, 0, 1)),
                per_day: None,
            },
        }
    }

    #[test]
    fn quota_modes() {
        let r = Error::Quota(rejection(Exceeded::PerSecond)).render(&config(false));
        assert_eq!(r.status(), 429);
        assert_eq!(header(&r, "retry-after"), "2");
        assert_eq!(header(&r, "ratelimit-policy"), "\"per-second\";q=5;w=1");
        assert_eq!(header(&r, "ratelimit"), "\"per-second\";r=0;t=1");
        let r = Error::Quota(rejection(Exceeded::PerSecond)).render(&config(true));
        assert_eq!(r.status(), 403);
        assert_eq!(
            header(&r, "x-mashery-error-code"),
            "ERR_403_DEVELOPER_OVER_QPS"
        );
        assert_eq!(
            header(&r, "x-error-detail-header"),
            "Account Over Queries Per Second Limit"
        );
        let r = Error::Quota(rejection(Exceeded::PerDay)).render(&config(true));
        assert_eq!(
            header(&r, "x-mashery-error-code"),
            "ERR_403_DEVELOPER_OVER_RATE"
        );
        assert_eq!(
            header(&r, "x-error-detail-header"),
            "Account Over Rate Limit"
        );
        assert_eq!(header(&r, "retry-after"), "2");
    }

    #[test]
    fn unavailable_and_upstream() {
        let c = config(false);
        let r = Error::from(StoreError::Unavailable("down".into())).render(&c);
        assert_eq!(
            (r.status().as_u16(), header(&r, "retry-after")),
            (503, "1".into())
        );
        assert_eq!(
            Error::Upstream {
                timeout: true,
                detail: "x".into()
            }
            .render(&c)
            .status(),
            504
        );
        assert_eq!(
            Error::Upstream {
                timeout: false,
                detail: "x".into()
            }
            .render(&c)
            .status(),
            502
        );
        assert_eq!(Error::NotFound("x".into()).render(&c).status(), 404);
    }

    #[test]
    fn limits_and_overload() {
        let c = config(false);
        for (e, status) in [
            (Error::TooLarge(TooLarge::Uri(8)), 414),
            (Error::TooLarge(TooLarge::Headers(8)), 431),
            (Error::Overloaded, 503),
            (
                Error::Throttled {
                    retry_after_secs: 3,
                },
                429,
            ),
        ] {
            let r = e.render(&c);
            assert_eq!(r.status().as_u16(), status);
            assert!(header(&r, "content-type").starts_with("application/json"));
        }
    }

    #[test]
    fn excerpts_are_cut_and_marked() {
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
    }
}
