//! Counters for operators, rendered in Prometheus text format at `/metrics`.
//!
//! Labels have bounded cardinality: routes are route patterns or gateway
//! prefixes, never raw paths. Increments take a shared read lock and an
//! atomic add; only a label seen for the first time takes the write lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use crate::quota::Exceeded;
use crate::resource::cache::ValidationCache;

/// Upstream latency histogram bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug)]
struct Labeled<K: Ord>(RwLock<BTreeMap<K, AtomicU64>>);

impl<K: Ord + Clone> Labeled<K> {
    fn new() -> Self {
        Self(RwLock::new(BTreeMap::new()))
    }

    fn inc(&self, key: &K) {
        {
            let map = self.0.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(key) {
                c.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Vec<(K, u64)> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect()
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub client_auth_failures: AtomicU64,
    /// Connections open now, refused at `max_connections`, and closed for
    /// a timeout (head too slow, or idle).
    pub connections_open: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_timed_out: AtomicU64,
    /// Requests answered 503 at `max_requests_in_flight`.
    pub requests_shed: AtomicU64,
    quota_store_errors: AtomicU64,
    /// By route, then status: looked up by `&str`, so counting allocates nothing.
    requests: RwLock<BTreeMap<String, BTreeMap<u16, AtomicU64>>>,
    tokens: Labeled<(&'static str, &'static str)>,
    quota_rejections: Labeled<(&'static str, &'static str)>,
    upstream_buckets: [AtomicU64; BUCKETS.len()],
    upstream_count: AtomicU64,
    upstream_sum_us: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            client_auth_failures: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_timed_out: AtomicU64::new(0),
            requests_shed: AtomicU64::new(0),
            quota_store_errors: AtomicU64::new(0),
            requests: RwLock::new(BTreeMap::new()),
            tokens: Labeled::new(),
            quota_rejections: Labeled::new(),
            upstream_buckets: Default::default(),
            upstream_count: AtomicU64::new(0),
            upstream_sum_us: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn request(&self, route: &str, status: u16) {
        {
            let map = self.requests.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(route).and_then(|by_status| by_status.get(&status)) {
                c.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self.requests.write().unwrap_or_else(|p| p.into_inner());
        let by_status = map.entry(route.to_owned()).or_default();
        by_status
            .entry(status)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn request_snapshot(&self) -> Vec<((String, u16), u64)> {
        let map = self.requests.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .flat_map(|(route, by_status)| {
                by_status
                    .iter()
                    .map(move |(s, c)| ((route.clone(), *s), c.load(Ordering::Relaxed)))
            })
            .collect()
    }

    /// A token request's outcome: `issued` or the OAuth error code.
    pub fn token(&self, grant: &'static str, outcome: &'static str) {
        self.tokens.inc(&(grant, outcome));
    }

    /// Token requests with this grant and outcome so far.
    pub fn token_count(&self, grant: &str, outcome: &str) -> u64 {
        self.tokens
            .snapshot()
            .into_iter()
            .filter(|((g, o), _)| *g == grant && *o == outcome)
            .map(|(_, v)| v)
            .sum()
    }

    /// Requests answered on `route` with `status` so far.
    pub fn request_count(&self, route: &str, status: u16) -> u64 {
        self.request_snapshot()
            .into_iter()
            .filter(|((r, s), _)| r == route && *s == status)
            .map(|(_, v)| v)
            .sum()
    }

    pub fn quota_rejected(&self, exceeded: Exceeded) {
        self.quota_rejections.inc(&("api", exceeded.as_str()));
    }

    /// A quota decision that could not be made (Redis unreachable).
    pub fn quota_store_error(&self) {
        self.quota_store_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn token_quota_rejected(&self, exceeded: Exceeded) {
        self.quota_rejections.inc(&("token", exceeded.as_str()));
    }

    pub fn upstream_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.upstream_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.upstream_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.upstream_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self, cache: &ValidationCache) -> String {
        let mut out = String::new();
        let requests = self
            .request_snapshot()
            .into_iter()
            .map(|((route, status), v)| {
                format!("{{route=\"{}\",status=\"{status}\"}} {v}", escape(&route))
            });
        family(
            &mut out,
            "tollgate_http_requests_total",
            "HTTP requests by route and status.",
            "counter",
            requests,
        );
        let tokens = self
            .tokens
            .snapshot()
            .into_iter()
            .map(|((grant, outcome), v)| {
                format!("{{grant=\"{grant}\",outcome=\"{outcome}\"}} {v}")
            });
        family(
            &mut out,
            "tollgate_token_requests_total",
            "Token requests by grant and outcome.",
            "counter",
            tokens,
        );
        let quota = self
            .quota_rejections
            .snapshot()
            .into_iter()
            .map(|((kind, limit), v)| format!("{{endpoint=\"{kind}\",limit=\"{limit}\"}} {v}"));
        family(
            &mut out,
            "tollgate_quota_rejections_total",
            "Requests refused by a quota, by endpoint and limit.",
            "counter",
            quota,
        );
        let single = |v: &AtomicU64| std::iter::once(format!(" {}", v.load(Ordering::Relaxed)));
        family(
            &mut out,
            "tollgate_quota_store_errors_total",
            "Quota decisions made without the shared store (it was unreachable).",
            "counter",
            single(&self.quota_store_errors),
        );
        family(
            &mut out,
            "tollgate_client_auth_failures_total",
            "Failed client authentications.",
            "counter",
            single(&self.client_auth_failures),
        );
        for (name, help, kind, v) in [
            (
                "tollgate_connections_open",
                "Client connections open now.",
                "gauge",
                &self.connections_open,
            ),
            (
                "tollgate_connections_refused_total",
                "Connections closed at once because max_connections were open.",
                "counter",
                &self.connections_refused,
            ),
            (
                "tollgate_connections_timed_out_total",
                "Connections closed because a request head was too slow or the connection idle.",
                "counter",
                &self.connections_timed_out,
            ),
            (
                "tollgate_requests_shed_total",
                "Requests answered 503 because max_requests_in_flight were being handled.",
                "counter",
                &self.requests_shed,
            ),
        ] {
            family(&mut out, name, help, kind, single(v));
        }
        family(
            &mut out,
            "tollgate_validation_cache_hits_total",
            "Bearer checks answered from the validation cache.",
            "counter",
            single(&cache.hits),
        );
        family(
            &mut out,
            "tollgate_validation_cache_misses_total",
            "Bearer checks that went to the store.",
            "counter",
            single(&cache.misses),
        );
        let count = self.upstream_count.load(Ordering::Relaxed);
        let sum = self.upstream_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let buckets = BUCKETS
            .iter()
            .zip(&self.upstream_buckets)
            .map(|(bound, c)| format!("_bucket{{le=\"{bound}\"}} {}", c.load(Ordering::Relaxed)))
            .chain([
                format!("_bucket{{le=\"+Inf\"}} {count}"),
                format!("_sum {sum}"),
                format!("_count {count}"),
            ]);
        family(
            &mut out,
            "tollgate_upstream_latency_seconds",
            "Time to an upstream's response headers.",
            "histogram",
            buckets,
        );
        out
    }
}

/// Writes one metric family: HELP, TYPE, then `name` + each suffix.
fn family(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    samples: impl Iterator<Item = String>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for s in samples {
        let _ = writeln!(out, "{name}{s}");
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.request("/locations", 200);
        m.request("/locations", 200);
        m.token("client_credentials", "issued");
        m.quota_rejected(Exceeded::PerSecond);
        m.upstream_latency(Duration::from_millis(3));
        let text = m.render(&ValidationCache::new(10));
        assert!(
            text.contains("tollgate_http_requests_total{route=\"/locations\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "tollgate_token_requests_total{grant=\"client_credentials\",outcome=\"issued\"} 1"
        ));
        assert!(text
            .contains("tollgate_quota_rejections_total{endpoint=\"api\",limit=\"per_second\"} 1"));
        assert!(text.contains("tollgate_upstream_latency_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("tollgate_upstream_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("tollgate_upstream_latency_seconds_count 1"));
    }
}
