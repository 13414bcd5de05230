//! The error→HTTP map: each [`Error`] as a status, a JSON body
//! (`{"error", "error_description"}`, RFC 6749 §5.2 and RFC 6750 §3) and
//! its headers. Every error body is built by [`error_response`], which
//! also keeps what it said on the response ([`Said`]) so the admin API
//! can say it again as problem details without reading the body back.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_proto::{BearerChallenge, ErrorCode};

use super::{Error, TooLarge};
use crate::config::{Config, QuotaResponse};
use crate::quota::{Exceeded, Rejection};

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: &str = "1";

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

/// What an error response's body said, kept on the response as an
/// extension.
#[derive(Debug, Clone)]
pub struct Said {
    pub error: String,
    pub description: String,
    pub limit: Option<&'static str>,
}

impl Error {
    /// The response for this error under `config` (its realm and quota
    /// mode). Handlers return the error itself ([`IntoResponse`]); the
    /// guard middleware renders it with [`super::render_pending`].
    pub fn render(&self, config: &Config) -> Response {
        let realm = config.realm.as_str();
        match self {
            Self::OAuth { code, description } => oauth_error(*code, description, realm),
            Self::BearerMissing => bearer_missing(realm),
            Self::Bearer {
                code,
                description,
                scope,
            } => bearer_error(*code, description, scope.clone(), realm),
            Self::Quota(rejection) => quota_response(rejection, config.quota_response),
            Self::NotFound(d) => error_response(StatusCode::NOT_FOUND, &body("not_found", d)),
            Self::Conflict(d) => error_response(StatusCode::CONFLICT, &body("conflict", d)),
            Self::Upstream { timeout, detail } => {
                let (status, code) = if *timeout {
                    (StatusCode::GATEWAY_TIMEOUT, "gateway_timeout")
                } else {
                    (StatusCode::BAD_GATEWAY, "bad_gateway")
                };
                error_response(status, &body(code, detail))
            }
            Self::NoUpstream { retry_after_secs } => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("every upstream of this route is down; retry in {retry_after_secs} s"),
                &retry_after_secs.to_string(),
            ),
            Self::TooLarge(limit) => too_large(*limit),
            Self::Throttled { retry_after_secs } => retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "too many failed client authentications from this address; \
                     retry in {retry_after_secs} s"
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
                let b = body(ErrorCode::ServerError.as_str(), "internal server error");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, &b)
            }
        }
    }
}

/// An OAuth error; `invalid_client` with a Basic challenge (RFC 6749 §5.2).
fn oauth_error(code: ErrorCode, description: &str, realm: &str) -> Response {
    let mut r = error_response(status_of(code), &body(code.as_str(), description));
    if code == ErrorCode::InvalidClient {
        let challenge = format!("Basic realm=\"{realm}\"");
        set(r.headers_mut(), header::WWW_AUTHENTICATE, &challenge);
    }
    r
}

/// No bearer credentials: a challenge with no error code (RFC 6750 §3.1).
fn bearer_missing(realm: &str) -> Response {
    let d = "this API needs an access token: Authorization: Bearer <token>";
    let mut r = error_response(StatusCode::UNAUTHORIZED, &body("unauthorized", d));
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

/// A refused bearer token, with the challenge that says why (RFC 6750 §3).
fn bearer_error(
    code: ErrorCode,
    description: &str,
    scope: Option<String>,
    realm: &str,
) -> Response {
    let mut r = error_response(status_of(code), &body(code.as_str(), description));
    let challenge = BearerChallenge {
        realm: Some(realm.to_owned()),
        error: Some(code),
        error_description: Some(description.to_owned()),
        scope,
    };
    set(
        r.headers_mut(),
        header::WWW_AUTHENTICATE,
        &challenge.to_string(),
    );
    r
}

/// 414 for a long request target, 431 for large headers.
fn too_large(limit: TooLarge) -> Response {
    let (status, code, description) = match limit {
        TooLarge::Uri(max) => (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is over {max} bytes"),
        ),
        TooLarge::Headers(max) => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            format!("the request headers are over {max} bytes"),
        ),
    };
    error_response(status, &body(code, &description))
}

/// `temporarily_unavailable` with `Retry-After`: come back later.
fn retry_later(status: StatusCode, description: &str, retry_after: &str) -> Response {
    let b = body(ErrorCode::TemporarilyUnavailable.as_str(), description);
    let mut r = error_response(status, &b);
    set(r.headers_mut(), header::RETRY_AFTER, retry_after);
    r
}

pub(super) fn body<'a>(error: &'a str, description: &'a str) -> Body<'a> {
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
            let mut resp = error_response(StatusCode::TOO_MANY_REQUESTS, &b);
            r.standing.write_headers(resp.headers_mut());
            resp
        }
        QuotaResponse::Mashery => {
            let mut resp = error_response(StatusCode::FORBIDDEN, &b);
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
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::UnsupportedTokenType
        | ErrorCode::UnsupportedResponseType
        | ErrorCode::LoginRequired
        | ErrorCode::ConsentRequired
        | ErrorCode::InteractionRequired
        | ErrorCode::AccountSelectionRequired
        | ErrorCode::RequestNotSupported
        | ErrorCode::RequestUriNotSupported
        // RFC 8628 §3.5: token endpoint errors, so 400 (RFC 6749 §5.2).
        | ErrorCode::AccessDenied
        | ErrorCode::AuthorizationPending
        | ErrorCode::SlowDown
        | ErrorCode::ExpiredToken
        | ErrorCode::InvalidRedirectUri
        | ErrorCode::InvalidClientMetadata => StatusCode::BAD_REQUEST,
    }
}

/// An error response: `body` as JSON ([`json_response`]), and what it
/// said kept on the response ([`Said`]).
pub(super) fn error_response(status: StatusCode, body: &Body<'_>) -> Response {
    let mut r = json_response(status, body);
    r.extensions_mut().insert(Said {
        error: body.error.to_owned(),
        description: body.error_description.to_owned(),
        limit: body.limit,
    });
    r
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
pub(super) fn reason_of(status: StatusCode) -> &'static str {
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
