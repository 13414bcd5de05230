//! What callers can cost and whose word about them is taken: connection
//! and request bounds (`[limits]`), how guessing is slowed (`[throttle]`),
//! and the proxies whose `X-Forwarded-For` is believed (`trusted_proxies`).

use serde::Deserialize;

use super::{invalid, ConfigError};
use crate::forwarded::TrustedProxies;

/// How guessing is slowed down (see `oauth::throttle`): failures allowed
/// before waits begin, the longest wait, and how long failures are
/// remembered; and the time every failed client authentication takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed password checks per username and source address before waits.
    pub free_failures: u32,
    /// Failed password checks per username from all addresses before waits.
    pub account_free_failures: u32,
    /// Failed client authentications per source address before waits.
    pub client_free_failures: u32,
    /// The longest wait, seconds: the owner of an account can always sign
    /// in this long after the last guess was checked.
    pub max_delay_secs: u64,
    /// Seconds after which a key's failures are forgotten.
    pub forget_after_secs: u64,
    /// Every failed client authentication is answered this many
    /// milliseconds after the request arrived, whatever failed.
    pub failure_floor_ms: u64,
    /// The most memory each of the three backoff tables may hold, bytes.
    pub table_bytes: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            account_free_failures: 50,
            client_free_failures: 20,
            max_delay_secs: 60,
            forget_after_secs: 15 * 60,
            failure_floor_ms: 10,
            table_bytes: 16 << 20,
        }
    }
}

/// What one connection and one request may cost, and how many there may be
/// at once: memory is bounded by these, never by what callers send.
/// Defaults follow nginx's (`client_header_timeout`, `keepalive_timeout`,
/// `large_client_header_buffers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Open connections; at the limit an idle one is closed to make room,
    /// else the new one is closed at once, with a warning logged.
    pub max_connections: usize,
    /// Open connections from one TCP peer address (trusted proxies
    /// excepted); more are closed at once. Room for a NAT'd office.
    pub max_connections_per_address: usize,
    /// Requests being handled at once; more are answered 503.
    pub max_requests_in_flight: usize,
    /// Seconds for a request's head to arrive once its first byte has.
    pub header_read_timeout: u64,
    /// Seconds a connection with no request in progress is kept open.
    pub idle_timeout: u64,
    /// Bytes of request headers (names, values, separators), else 431.
    pub max_header_bytes: usize,
    /// Bytes of the request target, else 414.
    pub max_uri_bytes: usize,
    /// Bytes of a form body at the OAuth endpoints, else 413.
    pub max_form_bytes: usize,
    /// Parameters in a form body, else `invalid_request`.
    pub max_form_params: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_address: 1024,
            max_requests_in_flight: 2048,
            header_read_timeout: 10,
            idle_timeout: 60,
            max_header_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
            max_form_bytes: 64 * 1024,
            max_form_params: 64,
        }
    }
}

impl ServerLimits {
    /// Bytes hyper may buffer for a request head: above the header limit,
    /// so that a head over `max_header_bytes` still gets a JSON 431.
    pub fn head_buffer_bytes(&self) -> usize {
        (self.max_header_bytes + self.max_uri_bytes + 8 * 1024).max(16 * 1024)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("limits.max_connections", self.max_connections as u64),
            (
                "limits.max_connections_per_address",
                self.max_connections_per_address as u64,
            ),
            (
                "limits.max_requests_in_flight",
                self.max_requests_in_flight as u64,
            ),
            ("limits.header_read_timeout", self.header_read_timeout),
            ("limits.idle_timeout", self.idle_timeout),
            ("limits.max_form_params", self.max_form_params as u64),
        ] {
            if v == 0 {
                return Err(invalid("limits", format!("{key} must be at least 1")));
            }
        }
        for (key, v, min) in [
            ("limits.max_header_bytes", self.max_header_bytes, 1024),
            ("limits.max_uri_bytes", self.max_uri_bytes, 256),
            ("limits.max_form_bytes", self.max_form_bytes, 1024),
        ] {
            if v < min {
                return Err(invalid("limits", format!("{key} must be at least {min}")));
            }
        }
        Ok(())
    }
}

/// `trusted_proxies`: each entry a network (`10.0.0.0/8`) or an address.
pub(super) fn trusted_proxies(entries: &[String]) -> Result<TrustedProxies, ConfigError> {
    let mut nets = Vec::with_capacity(entries.len());
    for e in entries {
        let net = match e.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => e
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| {
                    invalid(
                        "trusted_proxies",
                        format!("`{e}` is neither a network (10.0.0.0/8) nor an address"),
                    )
                })?,
        };
        nets.push(net.trunc());
    }
    Ok(TrustedProxies::new(nets))
}
