//! Quotas: their defaults for clients registered without limits, how a
//! refusal is answered, and what happens while Redis is unreachable.

use serde::Deserialize;

/// How a refused request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaResponse {
    /// 429 with `Retry-After` and `RateLimit` headers.
    #[default]
    Standard,
    /// 403 with Mashery's `X-Mashery-Error-Code` headers.
    Mashery,
}

/// What quotas do while their shared store (Redis) is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaFailMode {
    /// Admit the request, log a warning and count it.
    #[default]
    Open,
    /// Refuse with 503 and `Retry-After`.
    Closed,
}

/// Quota defaults for clients registered without limits; 0 is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Requests per second for clients registered without `--qps`.
    pub default_qps: u64,
    /// Requests per UTC day for clients registered without `--per-day`.
    pub default_per_day: u64,
    /// Requests a client may make at once above its per-second rate.
    pub burst: u64,
    /// Token requests per second per client at the token endpoint.
    pub token_qps: u64,
}

impl QuotaConfig {
    pub fn defaults(&self) -> Limits {
        Limits {
            qps: self.default_qps,
            per_day: self.default_per_day,
        }
    }
}

/// Limits of one client; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub qps: u64,
    pub per_day: u64,
}

impl Limits {
    pub fn is_unlimited(self) -> bool {
        self.qps == 0 && self.per_day == 0
    }
}
