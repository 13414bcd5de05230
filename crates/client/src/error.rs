//! Client errors: each carries the URL involved, the HTTP status and OAuth
//! error where there was one, and says what a person can do about it.

use std::sync::Arc;
use std::time::Duration;

/// A failed client operation. `Clone`, so one failed token request can be
/// handed to every caller that was waiting for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The token endpoint refused (any 4xx/5xx). Never retried.
    #[error("token request to {url} failed: HTTP {status}{}{}", oauth_suffix(.error, .description), token_hint(*.status, .error.as_deref()))]
    TokenEndpoint {
        url: String,
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// The token endpoint answered 2xx with something that is not a token.
    #[error("the token endpoint {url} did not return a token: {detail}")]
    BadTokenResponse { url: String, detail: String },
    /// An API rejected a token twice in a row, the second one freshly issued.
    #[error("{url} rejected a freshly obtained token too (invalid_token{}); the token endpoint and the API may not belong together", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    InvalidToken {
        url: String,
        description: Option<String>,
    },
    /// The per-second quota was still exceeded after the allowed retries.
    #[error("{url} kept answering with a per-second quota error after {attempts} attempts; slow down or raise the client's quota")]
    QuotaExhausted { url: String, attempts: usize },
    /// The daily quota is used up: waiting a few seconds will not help.
    #[error("the daily quota at {url} is exhausted{}", .retry_after.map(|d| format!("; it resets in {} s", d.as_secs())).unwrap_or_default())]
    DailyQuota {
        url: String,
        retry_after: Option<Duration>,
    },
    /// Browser sign-in tokens are gone (or the refresh token was refused):
    /// a person must sign in again.
    #[error("not signed in, or the sign-in expired: run `tollgate login` again")]
    SignInRequired,
    /// `--decode` of a token that is not a JWT.
    #[error("the access token is not a JWT: {0}")]
    NotJwt(String),
    /// Introspection or revocation refused.
    #[error("{url} answered HTTP {status}{}", oauth_suffix(.error, .description))]
    Endpoint {
        url: String,
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// The server could not be reached, or the connection failed. The
    /// cause is the `source` (shown by `{:#}` and error reporters), not
    /// repeated in this message.
    #[error("cannot reach {url}")]
    Transport {
        url: String,
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// Bad settings on our side (a URL that does not parse, ...).
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub(crate) fn transport(url: &str, e: reqwest::Error) -> Self {
        if e.is_builder() {
            // Nothing was sent: the URL itself is the problem.
            let why = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "it does not parse".into());
            return Self::Config(format!("the URL `{url}` is malformed: {why}"));
        }
        Self::Transport {
            url: url.to_owned(),
            source: Arc::new(e.without_url()),
        }
    }

    /// The OAuth `error` code, when the server sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::TokenEndpoint { error, .. } | Self::Endpoint { error, .. } => error.as_deref(),
            Self::InvalidToken { .. } => Some("invalid_token"),
            _ => None,
        }
    }

    /// The HTTP status, when there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::TokenEndpoint { status, .. } | Self::Endpoint { status, .. } => Some(*status),
            Self::InvalidToken { .. } => Some(401),
            _ => None,
        }
    }
}

/// ` (error: description)`, ` (error)` or nothing: how messages name an OAuth error.
pub fn oauth_suffix(error: &Option<String>, description: &Option<String>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(" ({e}: {d})"),
        (Some(e), None) => format!(" ({e})"),
        _ => String::new(),
    }
}

fn token_hint(status: u16, error: Option<&str>) -> &'static str {
    match (status, error) {
        (_, Some("invalid_client")) | (401, None) => "; check the client id and secret, and the --auth-method",
        (_, Some("invalid_grant")) => "; the username and password (or refresh token) are invalid for the authorization server",
        (_, Some("invalid_scope")) => "; ask only for scopes the client is approved for",
        (_, Some("unauthorized_client")) => "; the client is not registered for this grant",
        (429 | 403, _) => "; the token endpoint is throttling this client: reuse tokens instead of asking for one per call",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = Error::TokenEndpoint {
            url: "https://a/token".into(),
            status: 400,
            error: Some("invalid_grant".into()),
            description: Some("invalid username or password".into()),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("https://a/token") && msg.contains("HTTP 400"),
            "{msg}"
        );
        assert!(
            msg.contains("invalid_grant: invalid username or password"),
            "{msg}"
        );
        assert!(msg.contains("username and password"), "{msg}");
        let daily = Error::DailyQuota {
            url: "u".into(),
            retry_after: Some(Duration::from_secs(60)),
        };
        assert!(daily.to_string().contains("resets in 60 s"));
    }
}
