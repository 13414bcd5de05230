//! A route's replicas and how the gateway spreads requests over them:
//! `targets` with weights, `balance` (round robin or least in flight),
//! passive health (Envoy's outlier detection: a target that fails
//! `failures` times in a row is ejected, for a time that doubles on
//! repeat) and optional active health checks (Envoy's and Kong's: a path
//! asked every `interval_ms`, `healthy`/`unhealthy` answers in a row to
//! change state). Plain data, validated; the gateway's `balance` module
//! acts on it.

use std::time::Duration;

use axum::http::uri::PathAndQuery;
use serde::Deserialize;

/// The largest weight: a route's schedule holds the sum of its weights.
pub const MAX_WEIGHT: u32 = 1000;
/// The most targets a route may have.
pub const MAX_TARGETS: usize = 64;

/// One replica in `targets = [{ url = "...", weight = 2 }]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub url: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// How a target is chosen for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// In turn, in proportion to the weights (nginx's smooth weighted
    /// round robin); Envoy's and Kong's default.
    #[default]
    RoundRobin,
    /// The target with the fewest requests in flight for its weight
    /// (Envoy's `LEAST_REQUEST`, Kong's `least-connections`).
    LeastInFlight,
}

/// `[routes.passive_health]`, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveHealthConfig {
    /// Failures in a row (no connection, no answer, a 5xx) that eject a
    /// target; 0 turns passive health off. Default 5 (Envoy's).
    pub failures: Option<u32>,
    /// The first ejection's length; each ejection in a row doubles it.
    /// Default 30 000 (Envoy's `base_ejection_time`).
    pub ejection_ms: Option<u64>,
    /// The longest an ejection lasts. Default 300 000 (Envoy's).
    pub max_ejection_ms: Option<u64>,
}

/// `[routes.health_check]`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Asked with GET at each target (after the target's own base path);
    /// a 2xx or 3xx answer is healthy.
    pub path: String,
    /// Default 10 000.
    pub interval_ms: Option<u64>,
    /// Default 2 000; longer counts as a failure.
    pub timeout_ms: Option<u64>,
    /// Healthy answers in a row that bring a target back. Default 2.
    pub healthy: Option<u32>,
    /// Failed checks in a row that take a target out. Default 3.
    pub unhealthy: Option<u32>,
}

/// Passive health, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassiveHealth {
    /// 0: off.
    pub failures: u32,
    pub ejection: Duration,
    pub max_ejection: Duration,
}

/// Active health checks, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: PathAndQuery,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy: u32,
    pub unhealthy: u32,
}

impl TryFrom<PassiveHealthConfig> for PassiveHealth {
    type Error = String;

    fn try_from(c: PassiveHealthConfig) -> Result<Self, String> {
        let ejection = Duration::from_millis(c.ejection_ms.unwrap_or(30_000));
        let max_ejection = Duration::from_millis(c.max_ejection_ms.unwrap_or(300_000));
        if ejection.is_zero() || max_ejection < ejection {
            return Err(
                "passive_health: ejection_ms must be above 0 and at most max_ejection_ms".into(),
            );
        }
        Ok(Self {
            failures: c.failures.unwrap_or(5),
            ejection,
            max_ejection,
        })
    }
}

impl TryFrom<HealthCheckConfig> for HealthCheck {
    type Error = String;

    fn try_from(c: HealthCheckConfig) -> Result<Self, String> {
        let path = PathAndQuery::try_from(c.path.as_str())
            .ok()
            .filter(|_| c.path.starts_with('/'))
            .ok_or_else(|| {
                format!(
                    "health_check: path `{}` must be a path like /healthz",
                    c.path
                )
            })?;
        let interval = Duration::from_millis(c.interval_ms.unwrap_or(10_000));
        let timeout = Duration::from_millis(c.timeout_ms.unwrap_or(2_000));
        if interval < Duration::from_millis(10) || timeout.is_zero() {
            return Err(
                "health_check: interval_ms must be at least 10 and timeout_ms above 0".into(),
            );
        }
        let (healthy, unhealthy) = (c.healthy.unwrap_or(2), c.unhealthy.unwrap_or(3));
        if healthy == 0 || unhealthy == 0 {
            return Err("health_check: healthy and unhealthy must be at least 1".into());
        }
        Ok(Self {
            path,
            interval,
            timeout,
            healthy,
            unhealthy,
        })
    }
}

/// The weights of `targets`, checked.
pub fn check_targets(targets: &[TargetConfig]) -> Result<(), String> {
    if targets.len() > MAX_TARGETS {
        return Err(format!("at most {MAX_TARGETS} targets"));
    }
    match targets
        .iter()
        .find(|t| t.weight == 0 || t.weight > MAX_WEIGHT)
    {
        Some(t) => Err(format!(
            "target `{}`: weight must be 1 to {MAX_WEIGHT}",
            t.url
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_envoys() {
        let p = PassiveHealth::try_from(PassiveHealthConfig::default());
        let p = p.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.failures, 5);
        assert_eq!(p.ejection, Duration::from_secs(30));
        assert_eq!(p.max_ejection, Duration::from_secs(300));
        let h = HealthCheck::try_from(HealthCheckConfig {
            path: "/healthz".into(),
            interval_ms: None,
            timeout_ms: None,
            healthy: None,
            unhealthy: None,
        });
        let h = h.unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            (h.interval, h.healthy, h.unhealthy),
            (Duration::from_secs(10), 2, 3)
        );
    }

    #[test]
    fn nonsense_is_refused() {
        let bad = PassiveHealthConfig {
            ejection_ms: Some(10_000),
            max_ejection_ms: Some(1_000),
            ..PassiveHealthConfig::default()
        };
        assert!(PassiveHealth::try_from(bad).is_err());
        let check = |path: &str, healthy| HealthCheckConfig {
            path: path.into(),
            interval_ms: None,
            timeout_ms: None,
            healthy,
            unhealthy: None,
        };
        assert!(HealthCheck::try_from(check("healthz", None)).is_err());
        assert!(HealthCheck::try_from(check("/healthz", Some(0))).is_err());
        let heavy = TargetConfig {
            url: "http://a".into(),
            weight: MAX_WEIGHT + 1,
        };
        assert!(check_targets(&[heavy]).is_err());
    }
}
