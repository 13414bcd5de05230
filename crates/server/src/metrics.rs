//! Counters for operators, served at `/metrics` in the OpenMetrics text
//! format (`prometheus-client` encodes; Prometheus scrapes it as is).
//!
//! Labels have bounded cardinality: routes are route patterns or gateway
//! prefixes, never raw paths; grants, outcomes and limits are fixed words.
//! The other modules say what happened (`request`, `token`, `cache_hit`...)
//! and never see the registry.

use std::borrow::Cow;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The media type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upstream latency histogram bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TokenLabels {
    grant: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QuotaLabels {
    endpoint: &'static str,
    limit: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabels {
    route: String,
    target: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn upstream_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// One gateway target's metrics, found once when the gateway is built.
#[derive(Debug, Clone)]
pub struct TargetStats {
    up: Gauge,
    requests: Counter,
    failures: Counter,
    latency: Histogram,
}

impl TargetStats {
    /// Whether the target is taking requests (1) or out (0).
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// A request sent to the target, and whether it was answered (not 5xx).
    pub fn request(&self, latency: Duration, ok: bool) {
        self.requests.inc();
        if ok {
            self.latency.observe(latency.as_secs_f64());
        } else {
            self.failures.inc();
        }
    }
}

/// Every metric tollgate exports, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    quota_rejections: Family<QuotaLabels, Counter>,
    quota_store_errors: Counter,
    client_auth_failures: Counter,
    connections_open: Gauge,
    connections_refused: Counter,
    connections_timed_out: Counter,
    requests_shed: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    upstream_latency: Histogram,
    target_up: Family<TargetLabels, Gauge>,
    target_requests: Family<TargetLabels, Counter>,
    target_failures: Family<TargetLabels, Counter>,
    target_latency: Histograms<TargetLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            tokens: Family::default(),
            quota_rejections: Family::default(),
            quota_store_errors: Counter::default(),
            client_auth_failures: Counter::default(),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            connections_timed_out: Counter::default(),
            requests_shed: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            upstream_latency: Histogram::new(BUCKETS),
            target_up: Family::default(),
            target_requests: Family::default(),
            target_failures: Family::default(),
            target_latency: Family::new_with_constructor(upstream_histogram),
        };
        m.register_all();
        m
    }
}

impl Metrics {
    fn register_all(&mut self) {
        let r = &mut self.registry;
        let mut counter = |name: &str, help: &str, c: &Counter| r.register(name, help, c.clone());
        counter(
            "tollgate_quota_store_errors",
            "Quota decisions made without the shared store (it was unreachable)",
            &self.quota_store_errors,
        );
        counter(
            "tollgate_client_auth_failures",
            "Failed client authentications",
            &self.client_auth_failures,
        );
        counter(
            "tollgate_connections_refused",
            "Connections closed at once because max_connections were open",
            &self.connections_refused,
        );
        counter(
            "tollgate_connections_timed_out",
            "Connections closed because a request head was too slow or the connection idle",
            &self.connections_timed_out,
        );
        counter(
            "tollgate_requests_shed",
            "Requests answered 503 because max_requests_in_flight were being handled",
            &self.requests_shed,
        );
        counter(
            "tollgate_validation_cache_hits",
            "Bearer checks answered from the validation cache",
            &self.cache_hits,
        );
        counter(
            "tollgate_validation_cache_misses",
            "Bearer checks that went to the store",
            &self.cache_misses,
        );
        r.register(
            "tollgate_http_requests",
            "HTTP requests by route and status",
            self.requests.clone(),
        );
        r.register(
            "tollgate_token_requests",
            "Token requests by grant and outcome",
            self.tokens.clone(),
        );
        r.register(
            "tollgate_quota_rejections",
            "Requests refused by a quota, by endpoint and limit",
            self.quota_rejections.clone(),
        );
        r.register(
            "tollgate_connections_open",
            "Client connections open now",
            self.connections_open.clone(),
        );
        r.register(
            "tollgate_upstream_latency_seconds",
            "Time to an upstream's response headers",
            self.upstream_latency.clone(),
        );
        self.register_targets();
    }

    fn register_targets(&mut self) {
        let r = &mut self.registry;
        r.register(
            "tollgate_upstream_target_up",
            "Whether a route's target takes requests (1) or is out (0): ejected or failing its health checks",
            self.target_up.clone(),
        );
        r.register(
            "tollgate_upstream_target_requests",
            "Requests sent to a route's target",
            self.target_requests.clone(),
        );
        r.register(
            "tollgate_upstream_target_failures",
            "Requests to a route's target that got no answer or a 5xx",
            self.target_failures.clone(),
        );
        r.register(
            "tollgate_upstream_target_latency_seconds",
            "Time to a route's target's response headers, answered requests",
            self.target_latency.clone(),
        );
    }

    /// The metrics of `route`'s `target` (`host:port`).
    pub fn target(&self, route: &str, target: &str) -> TargetStats {
        let labels = TargetLabels {
            route: route.to_owned(),
            target: target.to_owned(),
        };
        TargetStats {
            up: self.target_up.get_or_create(&labels).clone(),
            requests: self.target_requests.get_or_create(&labels).clone(),
            failures: self.target_failures.get_or_create(&labels).clone(),
            latency: self.target_latency.get_or_create(&labels).clone(),
        }
    }

    /// A request answered on `route` (a pattern or gateway prefix).
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&request_labels(route, status))
            .inc();
    }

    /// Requests answered on `route` with `status` so far.
    pub fn request_count(&self, route: &str, status: u16) -> u64 {
        let labels = request_labels(route, status);
        self.requests.get(&labels).map_or(0, |c| c.get())
    }

    /// A token request's outcome: `issued` or the OAuth error code.
    pub fn token(&self, grant: &'static str, outcome: &'static str) {
        self.tokens
            .get_or_create(&TokenLabels { grant, outcome })
            .inc();
    }

    /// Token requests with this grant and outcome so far.
    pub fn token_count(&self, grant: &'static str, outcome: &'static str) -> u64 {
        let labels = TokenLabels { grant, outcome };
        self.tokens.get(&labels).map_or(0, |c| c.get())
    }

    /// A request refused by the `endpoint`'s (`api`, `token`) `limit`.
    pub fn quota_rejected(&self, endpoint: &'static str, limit: &'static str) {
        self.quota_rejections
            .get_or_create(&QuotaLabels { endpoint, limit })
            .inc();
    }

    /// A quota decision that could not be made (Redis unreachable).
    pub fn quota_store_error(&self) {
        self.quota_store_errors.inc();
    }

    /// A failed client authentication; returns how many so far.
    pub fn client_auth_failed(&self) -> u64 {
        self.client_auth_failures.inc() + 1
    }

    pub fn client_auth_failures(&self) -> u64 {
        self.client_auth_failures.get()
    }

    pub fn connection_opened(&self) {
        self.connections_open.inc();
    }

    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    pub fn connections_open(&self) -> i64 {
        self.connections_open.get()
    }

    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    pub fn connections_refused(&self) -> u64 {
        self.connections_refused.get()
    }

    pub fn connection_timed_out(&self) {
        self.connections_timed_out.inc();
    }

    pub fn request_shed(&self) {
        self.requests_shed.inc();
    }

    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    /// Bearer checks answered from the validation cache, and not, so far.
    pub fn cache_counts(&self) -> (u64, u64) {
        (self.cache_hits.get(), self.cache_misses.get())
    }

    pub fn upstream_latency(&self, d: Duration) {
        self.upstream_latency.observe(d.as_secs_f64());
    }

    /// The OpenMetrics text of everything ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        out
    }
}

/// The label set of a request.
fn request_labels(route: &str, status: u16) -> RequestLabels {
    RequestLabels {
        route: Cow::Owned(route.to_owned()),
        status,
    }
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
        m.quota_rejected("api", "per_second");
        m.upstream_latency(Duration::from_millis(3));
        m.connection_opened();
        let text = m.render();
        for line in [
            "tollgate_http_requests_total{route=\"/locations\",status=\"200\"} 2",
            "tollgate_token_requests_total{grant=\"client_credentials\",outcome=\"issued\"} 1",
            "tollgate_quota_rejections_total{endpoint=\"api\",limit=\"per_second\"} 1",
            "tollgate_upstream_latency_seconds_bucket{le=\"0.0025\"} 0",
            "tollgate_upstream_latency_seconds_bucket{le=\"0.005\"} 1",
            "tollgate_upstream_latency_seconds_count 1",
            "tollgate_connections_open 1",
            "tollgate_validation_cache_hits_total 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert_eq!(m.request_count("/locations", 200), 2);
        assert_eq!(m.request_count("/locations", 404), 0);
        assert_eq!(m.token_count("client_credentials", "issued"), 1);
    }
}
