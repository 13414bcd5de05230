//! Calling APIs with a bearer token, as the seed asks a client to:
//!
//! - on `401` with `WWW-Authenticate: Bearer ... error="invalid_token"`, drop
//!   the token just used, get a new one (single-flight) and retry exactly
//!   once; a second `invalid_token` is an error, never a loop;
//! - on a per-second quota (`429`, or Mashery's `403` with
//!   `ERR_403_DEVELOPER_OVER_QPS`), wait `Retry-After` (capped, jittered) and
//!   retry a bounded number of times;
//! - a daily quota (`ERR_403_DEVELOPER_OVER_RATE`, or a `Retry-After` beyond
//!   the cap) is returned at once as [`Error::DailyQuota`]. A plain 403, and
//!   every other status, is returned to the caller as a response.
//!
//! Request bodies are buffered so a request can be sent again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::Method;
use tollgate_proto::{BearerChallenge, ErrorCode};

use crate::source::TokenSource;
use crate::token::Token;
use crate::Error;

/// How quota errors are waited out.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// Longest wait honoured; a longer `Retry-After` means a daily quota.
    pub max_wait: Duration,
    /// Up to this much random delay is added to each wait.
    pub jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_wait: Duration::from_secs(30),
            jitter: Duration::from_millis(250),
        }
    }
}

/// A request to send, with its body buffered.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

impl ApiRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub version: reqwest::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why one attempt did not produce a response for the caller.
#[derive(Debug)]
enum Attempt {
    Throttled(Duration),
    Failed(Error),
}

/// An API client bound to one token source.
#[derive(Debug, Clone)]
pub struct ApiClient {
    source: TokenSource,
    policy: RetryPolicy,
}

impl ApiClient {
    pub fn new(source: TokenSource, policy: RetryPolicy) -> Self {
        Self { source, policy }
    }

    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// Sends `req`, re-authenticating and waiting out quotas as described above.
    pub async fn send(&self, req: &ApiRequest) -> Result<ApiResponse, Error> {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let policy = self.policy.clone();
        let backoff = ConstantBuilder::default()
            .with_delay(Duration::from_secs(1))
            .with_max_times(self.policy.max_attempts.saturating_sub(1));
        let result = (|| async {
            counted.fetch_add(1, Ordering::Relaxed);
            self.attempt(req).await
        })
        .retry(backoff)
        .when(|e| matches!(e, Attempt::Throttled(_)))
        .adjust(move |e, planned| match (e, planned) {
            (Attempt::Throttled(wait), Some(_)) => Some(*wait + jitter(policy.jitter)),
            _ => None,
        })
        .notify(|_, wait| tracing::info!(?wait, "quota exceeded; waiting before retrying"))
        .await;
        result.map_err(|e| match e {
            Attempt::Throttled(_) => Error::QuotaExhausted {
                url: req.url.clone(),
                attempts: attempts.load(Ordering::Relaxed),
            },
            Attempt::Failed(e) => e,
        })
    }

    async fn attempt(&self, req: &ApiRequest) -> Result<ApiResponse, Attempt> {
        let token = self.source.token().await.map_err(Attempt::Failed)?;
        let mut resp = self.send_once(req, &token).await?;
        if invalid_token(&resp).is_some() {
            self.source.invalidate(&token);
            let fresh = self.source.token().await.map_err(Attempt::Failed)?;
            resp = self.send_once(req, &fresh).await?;
            if let Some(description) = invalid_token(&resp) {
                self.source.invalidate(&fresh);
                return Err(Attempt::Failed(Error::InvalidToken {
                    url: req.url.clone(),
                    description,
                }));
            }
        }
        self.classify_quota(req, resp)
    }

    async fn send_once(&self, req: &ApiRequest, token: &Token) -> Result<ApiResponse, Attempt> {
        let mut b = self.source.http().request(req.method.clone(), &req.url);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &req.body {
            b = b.body(body.clone());
        }
        let fail = |e| Attempt::Failed(Error::transport(&req.url, e));
        let resp = b.bearer_auth(token.secret()).send().await.map_err(fail)?;
        Ok(ApiResponse {
            status: resp.status().as_u16(),
            version: resp.version(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.map_err(fail)?,
        })
    }

    fn classify_quota(&self, req: &ApiRequest, resp: ApiResponse) -> Result<ApiResponse, Attempt> {
        let retry_after = retry_after(&resp.headers);
        let daily = |retry_after| {
            Attempt::Failed(Error::DailyQuota {
                url: req.url.clone(),
                retry_after,
            })
        };
        let mashery = resp
            .headers
            .get("x-mashery-error-code")
            .and_then(|v| v.to_str().ok());
        match (resp.status, mashery) {
            (403, Some("ERR_403_DEVELOPER_OVER_RATE")) => Err(daily(retry_after)),
            (403, Some("ERR_403_DEVELOPER_OVER_QPS")) => Err(Attempt::Throttled(
                retry_after.unwrap_or(Duration::from_secs(1)),
            )),
            (429, _) => {
                let says_daily = serde_json::from_slice::<serde_json::Value>(&resp.body)
                    .is_ok_and(|v| v["limit"] == "per_day");
                match retry_after {
                    Some(w) if w > self.policy.max_wait => Err(daily(Some(w))),
                    _ if says_daily => Err(daily(retry_after)),
                    w => Err(Attempt::Throttled(w.unwrap_or(Duration::from_secs(1)))),
                }
            }
            _ => Ok(resp),
        }
    }
}

/// `Some(description)` when the response is `401` with a Bearer
/// `invalid_token` challenge.
fn invalid_token(resp: &ApiResponse) -> Option<Option<String>> {
    if resp.status != 401 {
        return None;
    }
    resp.headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(BearerChallenge::parse)
        .find(|c| c.error == Some(ErrorCode::InvalidToken))
        .map(|c| c.error_description)
}

/// `Retry-After` as delay-seconds (an HTTP-date is treated as absent).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

fn jitter(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(0);
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::random_range(0..=ms))
}
