//! The one place where failures become HTTP responses.
//!
//! Grant logic returns [`Error`]; [`Error::into_response`] picks the status,
//! the RFC 6749 §5.2 JSON body and the headers. Internal details are logged
//! here and never shown to the caller.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_proto::{ErrorCode, ErrorResponse};

use crate::store::StoreError;

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: &str = "1";

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An OAuth error the client caused and can act on.
    #[error("{code}: {description}")]
    OAuth {
        code: ErrorCode,
        description: Cow<'static, str>,
    },
    /// Storage is down or overloaded: try again later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt state; the caller sees only `server_error`.
    #[error("internal error: {0}")]
    Internal(String),
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

    pub fn status(&self) -> StatusCode {
        match self {
            Self::OAuth { code, .. } => status_of(*code),
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response for this error. `realm` goes into the `WWW-Authenticate`
    /// challenge that RFC 6749 §5.2 requires with `invalid_client`.
    pub fn into_response(self, realm: &str) -> Response {
        let status = self.status();
        let (code, description) = match self {
            Self::OAuth { code, description } => (code, description.into_owned()),
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "answering 503: storage unavailable");
                (
                    ErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable; retry shortly".to_owned(),
                )
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "answering 500");
                (ErrorCode::ServerError, "internal server error".to_owned())
            }
        };
        let body = ErrorResponse {
            error: code,
            error_description: Some(description),
        };
        let mut resp = json_response(status, &body);
        let headers = resp.headers_mut();
        if code == ErrorCode::InvalidClient {
            if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        resp
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
        | ErrorCode::UnsupportedTokenType => StatusCode::BAD_REQUEST,
    }
}

/// A JSON body with the content type the seed shows and no caching: the
/// shape of every token-endpoint answer, success or error.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "serialising a response failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut resp = (status, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    no_store(h);
    resp
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
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

    fn check(code: ErrorCode, status: u16) {
        let resp = Error::oauth(code, "x").into_response("r");
        assert_eq!(resp.status().as_u16(), status, "{code}");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let challenge = resp.headers().get(header::WWW_AUTHENTICATE);
        assert_eq!(
            challenge.is_some(),
            code == ErrorCode::InvalidClient,
            "{code}"
        );
    }

    #[test]
    fn status_table() {
        check(ErrorCode::InvalidRequest, 400);
        check(ErrorCode::InvalidClient, 401);
        check(ErrorCode::InvalidGrant, 400);
        check(ErrorCode::UnauthorizedClient, 400);
        check(ErrorCode::UnsupportedGrantType, 400);
        check(ErrorCode::InvalidScope, 400);
        check(ErrorCode::InvalidToken, 401);
        check(ErrorCode::InsufficientScope, 403);
    }

    #[test]
    fn unavailable_is_503_with_retry_after() {
        let resp = Error::from(StoreError::Unavailable("down".into())).into_response("r");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn invalid_client_challenge_names_the_realm() {
        let resp = Error::invalid_client().into_response("api.example.com");
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"api.example.com\""
        );
    }
}
