//! What the grant logic fails with, in the terms of the RFCs and nothing
//! of HTTP: an error response's code (RFC 6749 §5.2, RFC 6750 §3.1,
//! RFC 7009 §2.2.1), a wait after failed attempts, or a failure behind it.
//! `crate::error` turns each into a response.

use std::borrow::Cow;

use tollgate_proto::ErrorCode;

use crate::store::StoreError;

/// Why the grant logic refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// An OAuth error response: the code and what to tell the caller.
    #[error("{code}: {description}")]
    Refused {
        code: ErrorCode,
        description: Cow<'static, str>,
    },
    /// Too many failed authentications: wait this long.
    #[error("throttled for {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// Overloaded (the password threads' queue is full): try again later.
    #[error("busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a failed dependency (the random source, signing); the
    /// caller sees only `server_error`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GrantError {
    pub fn oauth(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::Refused {
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
}

impl From<tollgate_proto::RequestError> for GrantError {
    fn from(e: tollgate_proto::RequestError) -> Self {
        Self::oauth(e.code, e.description)
    }
}
