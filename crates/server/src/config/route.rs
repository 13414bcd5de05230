//! `[[routes]]`, validated: a path prefix in canonical form, an http:// or
//! https:// upstream (none for a route only `/gateway/decision` judges)
//! with the files its TLS needs, the scopes a caller needs. Plain data;
//! the gateway matches requests against it and forwards.

use std::path::PathBuf;

use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderValue, Uri};
use serde::Deserialize;
use tollgate_proto::Scope;

use super::balance::{
    check_targets, Balance, HealthCheck, HealthCheckConfig, PassiveHealth, PassiveHealthConfig,
    TargetConfig,
};
use super::matching::{self, HostPattern};
use super::TlsFiles;
use crate::path;

/// One `[[routes]]` entry: a path prefix proxied to an upstream, or, with
/// no upstream, judged for a proxy that asks `/gateway/decision`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub path_prefix: String,
    /// Only these methods (any when empty).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Only requests for these hosts (`api.example.com`, `*.example.com`;
    /// any when empty).
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    #[serde(default)]
    pub strip_prefix: bool,
    #[serde(default)]
    pub underscores_in_headers: Underscores,
    /// The `aud` a token must hold to pass (RFC 9068 §4); default: the
    /// issuer, which tokens carry unless their client names an audience.
    #[serde(default)]
    pub audience: Option<String>,
    /// Origins (`https://app.example`) whose pages may call this route
    /// (CORS): preflights are answered and answers readable by them.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// PEM certificates trusted for an https upstream, besides the
    /// system's roots (a private CA's certificate).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// A PEM certificate chain shown to an https upstream that asks for
    /// one (mutual TLS); with `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Several replicas instead of one `upstream`.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    #[serde(default)]
    pub balance: Balance,
    #[serde(default)]
    pub passive_health: PassiveHealthConfig,
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Upgraded connections (WebSocket) end when the token they were
    /// opened with expires.
    #[serde(default)]
    pub upgrades_end_at_token_expiry: bool,
    /// The longest a TCP connection to a target may take to open
    /// (default: `upstream_timeout`).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// The longest from sending a request to its response headers
    /// (default: `upstream_timeout`).
    #[serde(default)]
    pub first_byte_timeout_ms: Option<u64>,
    /// The longest pause between two pieces of a response body (default:
    /// none).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Requests per second each client may make on this route, on top of
    /// its own quota (0 or none: no route limit).
    #[serde(default)]
    pub qps: Option<u64>,
    /// Requests per UTC day each client may make on this route.
    #[serde(default)]
    pub per_day: Option<u64>,
}

/// A route's own timeouts; `None`: the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    pub connect: Option<std::time::Duration>,
    pub first_byte: Option<std::time::Duration>,
    pub idle: Option<std::time::Duration>,
}

/// What the gateway does with a request header whose name has a `_`: a
/// CGI-style upstream (WSGI, PHP, CGI) reads `X_Tollgate_User` and
/// `X-Tollgate-User` as the same variable, so such a name could pass for
/// one tollgate sets. nginx ignores them by default
/// (`underscores_in_headers off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Underscores {
    /// Not forwarded (the default).
    #[default]
    Drop,
    /// The request is refused with 400.
    Refuse,
}

/// A validated gateway route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Starts with `/`, no trailing `/` (except the root route itself).
    pub prefix: String,
    /// Any method when empty.
    pub methods: Vec<axum::http::Method>,
    /// Any host when empty.
    pub hosts: Vec<HostPattern>,
    /// Where requests go; none: a decision-only route, never proxied.
    pub targets: Vec<Weighted>,
    pub balance: Balance,
    pub passive_health: PassiveHealth,
    pub health_check: Option<HealthCheck>,
    /// Upgraded connections end when their token expires.
    pub upgrades_end_at_token_expiry: bool,
    pub timeouts: Timeouts,
    /// Each client's limits on this route, on top of its own; `None`: none.
    pub quota: Option<super::Limits>,
    pub required_scopes: Scope,
    pub strip_prefix: bool,
    pub underscores_in_headers: Underscores,
    /// The `aud` a token must hold; `None`: the issuer.
    pub audience: Option<String>,
    /// Segments in `prefix`: a request's `..` may not climb above them.
    pub depth: usize,
    /// Origins whose pages may call the route (CORS).
    pub cors_origins: Vec<HeaderValue>,
    /// The files an https upstream's TLS reads; empty for http.
    pub tls: UpstreamTls,
}

/// What TLS to an https upstream trusts and shows, besides the system's
/// roots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UpstreamTls {
    pub ca_cert: Option<PathBuf>,
    /// Certificate chain and key for mutual TLS.
    pub client: Option<TlsFiles>,
}

/// One of a route's upstreams, and its share of the requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted {
    pub target: Target,
    pub weight: u32,
}

/// A route's upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https://`: TLS, verified against the host name (or IP address).
    pub https: bool,
    pub authority: Authority,
    /// `host:port` to connect to (the scheme's port when none is given).
    pub addr: String,
    /// `authority` as the `Host` header sent upstream.
    pub host: HeaderValue,
    /// The upstream URL's own path, without a trailing `/`.
    pub base_path: String,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(upstream: &str) -> Result<Self, String> {
        let uri: Uri = upstream
            .parse()
            .map_err(|_| format!("upstream `{upstream}` is not a URL"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(format!("upstream `{upstream}` needs a scheme and a host"));
        };
        let https = scheme == Scheme::HTTPS;
        if !https && scheme != Scheme::HTTP {
            return Err(format!(
                "upstream `{upstream}`: only http:// and https:// upstreams are supported"
            ));
        }
        if uri.query().is_some() {
            return Err(format!("upstream `{upstream}` must not have a query"));
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("upstream `{upstream}` has an unusable host"))?;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            https,
            addr: format!("{}:{port}", authority.host()),
            authority,
            host,
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

impl TryFrom<RouteConfig> for Route {
    type Error = String;

    fn try_from(c: RouteConfig) -> Result<Self, String> {
        if !c.path_prefix.starts_with('/') {
            return Err(format!(
                "path_prefix `{}` must start with `/`",
                c.path_prefix
            ));
        }
        let prefix = match c.path_prefix.trim_end_matches('/') {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        if path::normalize(&prefix).map(|n| n.path).as_deref() != Ok(prefix.as_str()) {
            return Err(format!(
                "path_prefix `{}` is not in canonical form (no `.`/`..`, `//` or escapes of unreserved characters)",
                c.path_prefix
            ));
        }
        let targets = targets(&prefix, c.upstream, c.targets)?;
        let in_route = |e: String| format!("route `{prefix}`: {e}");
        let methods = matching::methods(&c.methods).map_err(in_route)?;
        let hosts = c
            .hosts
            .iter()
            .map(|h| h.parse())
            .collect::<Result<Vec<HostPattern>, _>>()
            .map_err(in_route)?;
        let passive_health = PassiveHealth::try_from(c.passive_health).map_err(in_route)?;
        let health_check = c
            .health_check
            .map(HealthCheck::try_from)
            .transpose()
            .map_err(in_route)?;
        let mut required_scopes = Scope::empty();
        for s in &c.required_scopes {
            if !Scope::is_valid_token(s) {
                return Err(format!("required scope `{s}` is not a valid scope token"));
            }
            required_scopes = required_scopes.iter().chain([s.as_str()]).collect();
        }
        if let Some(aud) = &c.audience {
            if aud.is_empty() || aud.len() > 2048 || aud.chars().any(char::is_control) {
                return Err(format!(
                    "route `{prefix}`: audience must be 1 to 2048 printable characters"
                ));
            }
        }
        let cors_origins = cors_origins(&prefix, &c.cors_origins)?;
        let (connect, first_byte, idle) = (
            c.connect_timeout_ms,
            c.first_byte_timeout_ms,
            c.idle_timeout_ms,
        );
        let timeouts = timeouts(&prefix, connect, first_byte, idle)?;
        let https = targets.first().is_some_and(|t| t.target.https);
        let tls = upstream_tls(&prefix, https, c.ca_cert, c.client_cert, c.client_key)?;
        Ok(Route {
            tls,
            cors_origins,
            depth: path::depth(&prefix),
            prefix,
            methods,
            hosts,
            targets,
            balance: c.balance,
            passive_health,
            health_check,
            upgrades_end_at_token_expiry: c.upgrades_end_at_token_expiry,
            timeouts,
            quota: Some(super::Limits {
                qps: c.qps.unwrap_or(0),
                per_day: c.per_day.unwrap_or(0),
            })
            .filter(|l| !l.is_unlimited()),
            required_scopes,
            strip_prefix: c.strip_prefix,
            underscores_in_headers: c.underscores_in_headers,
            audience: c.audience,
        })
    }
}

/// The route's timeouts: each, when set, above 0.
fn timeouts(
    prefix: &str,
    connect: Option<u64>,
    first_byte: Option<u64>,
    idle: Option<u64>,
) -> Result<Timeouts, String> {
    if [connect, first_byte, idle].contains(&Some(0)) {
        return Err(format!(
            "route `{prefix}`: connect_timeout_ms, first_byte_timeout_ms and idle_timeout_ms must be above 0"
        ));
    }
    let ms = |v: Option<u64>| v.map(std::time::Duration::from_millis);
    Ok(Timeouts {
        connect: ms(connect),
        first_byte: ms(first_byte),
        idle: ms(idle),
    })
}

/// The route's targets: `upstream` (one) or `targets` (several, weighted),
/// never both; all http:// or all https://.
fn targets(
    prefix: &str,
    upstream: Option<String>,
    targets: Vec<TargetConfig>,
) -> Result<Vec<Weighted>, String> {
    let given = match (upstream, targets.is_empty()) {
        (Some(_), false) => {
            return Err(format!(
                "route `{prefix}`: give `upstream` or `targets`, not both"
            ))
        }
        (Some(url), true) => vec![TargetConfig { url, weight: 1 }],
        (None, _) => targets,
    };
    check_targets(&given).map_err(|e| format!("route `{prefix}`: {e}"))?;
    let targets = given
        .into_iter()
        .map(|t| {
            let target = t.url.parse::<Target>()?;
            Ok(Weighted {
                target,
                weight: t.weight,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let first = targets.first().map(|t| t.target.https);
    if targets.iter().any(|t| Some(t.target.https) != first) {
        return Err(format!(
            "route `{prefix}`: targets must be all http:// or all https://"
        ));
    }
    Ok(targets)
}

/// The TLS files of route `prefix`: only for an https upstream, a client
/// certificate only with its key.
fn upstream_tls(
    prefix: &str,
    https: bool,
    ca_cert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<UpstreamTls, String> {
    let any = ca_cert.is_some() || cert.is_some() || key.is_some();
    if any && !https {
        return Err(format!(
            "route `{prefix}`: ca_cert, client_cert and client_key are for an https:// upstream"
        ));
    }
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => {
            return Err(format!(
                "route `{prefix}`: client_cert and client_key go together"
            ))
        }
    };
    Ok(UpstreamTls { ca_cert, client })
}

/// `origins`, each `scheme://host[:port]` (never `*`, never a path).
fn cors_origins(prefix: &str, origins: &[String]) -> Result<Vec<HeaderValue>, String> {
    origins
        .iter()
        .map(|o| {
            let exact = tollgate_proto::client::origin_of(o).as_deref() == Some(o.as_str());
            let value = HeaderValue::from_str(o).ok().filter(|_| exact);
            value.ok_or_else(|| {
                format!("route `{prefix}`: CORS origin `{o}` must be scheme://host[:port], like https://app.example")
            })
        })
        .collect()
}

impl Route {
    /// Whether pages of `origin` may call this route.
    pub fn allows_origin(&self, origin: &HeaderValue) -> bool {
        self.cors_origins.iter().any(|o| o == origin)
    }

    /// Whether this route takes a request: its method, its host
    /// ([`HostPattern::normalize`]d; `None` when it named none) and its
    /// canonical path.
    pub fn takes(&self, method: &axum::http::Method, host: Option<&str>, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && (self.hosts.is_empty()
                || host.is_some_and(|h| self.hosts.iter().any(|p| p.matches(h))))
            && self.matches(path)
    }

    /// The order routes are tried in ([`matching::specificity`]).
    pub fn specificity(&self) -> impl Ord {
        matching::specificity(&self.hosts, &self.prefix, &self.methods)
    }

    pub fn matches(&self, path: &str) -> bool {
        self.prefix == "/"
            || path == self.prefix
            || path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The request target sent to `to` (origin form: the upstream is named
    /// in `Host`) for a request path and query.
    pub fn upstream_target(
        &self,
        to: &Target,
        path: &str,
        query: Option<&str>,
    ) -> Result<PathAndQuery, axum::http::uri::InvalidUri> {
        let rest = if self.strip_prefix && self.prefix != "/" {
            &path[self.prefix.len().min(path.len())..]
        } else {
            path
        };
        let rest = if rest.is_empty() { "/" } else { rest };
        let mut target = format!("{}{rest}", to.base_path);
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        PathAndQuery::try_from(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, upstream: &str, strip: bool) -> Route {
        Route::try_from(RouteConfig {
            path_prefix: prefix.into(),
            upstream: Some(upstream.into()),
            required_scopes: vec![],
            strip_prefix: strip,
            underscores_in_headers: Underscores::Drop,
            ..RouteConfig::default()
        })
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn matching_on_segment_boundaries() {
        let r = route("/inventory/", "http://127.0.0.1:9000", false);
        assert_eq!(r.prefix, "/inventory");
        assert!(r.matches("/inventory"));
        assert!(r.matches("/inventory/1"));
        assert!(!r.matches("/inventoryx"));
        assert!(!r.matches("/other"));
        assert!(route("/", "http://h", false).matches("/anything"));
    }

    fn target(r: &Route, path: &str, query: Option<&str>) -> String {
        let to = &r.targets.first().unwrap_or_else(|| unreachable!()).target;
        r.upstream_target(to, path, query)
            .map(|t| format!("http://{}{t}", to.authority))
            .unwrap_or_default()
    }

    #[test]
    fn upstream_uris() {
        let keep = route("/inventory", "http://127.0.0.1:9000", false);
        assert_eq!(
            target(&keep, "/inventory/1", Some("a=b")),
            "http://127.0.0.1:9000/inventory/1?a=b"
        );
        let strip = route("/inventory", "http://127.0.0.1:9000/v2/", true);
        assert_eq!(
            target(&strip, "/inventory/1", None),
            "http://127.0.0.1:9000/v2/1"
        );
        assert_eq!(
            target(&strip, "/inventory", None),
            "http://127.0.0.1:9000/v2/"
        );
    }

    #[test]
    fn a_route_without_upstream_is_decision_only() {
        let c = RouteConfig {
            path_prefix: "/inventory".into(),
            ..RouteConfig::default()
        };
        let r = Route::try_from(c).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((r.prefix.as_str(), r.targets.len()), ("/inventory", 0));
    }

    #[test]
    fn rejects_bad_routes() {
        for (prefix, upstream) in [
            ("x", "http://h"),
            ("/x", "ftp://h"),
            ("/x", "h:80"),
            ("/x", "http://h/?q=1"),
        ] {
            let r = Route::try_from(RouteConfig {
                path_prefix: prefix.into(),
                upstream: Some(upstream.into()),
                required_scopes: vec![],
                strip_prefix: false,
                ..RouteConfig::default()
            });
            assert!(r.is_err(), "{prefix} {upstream}");
        }
    }

    #[test]
    fn https_upstreams_and_their_files() {
        let r = route("/a", "https://api.example/v1", false);
        let to = &r.targets.first().unwrap_or_else(|| unreachable!()).target;
        assert!(to.https);
        assert_eq!(to.addr, "api.example:443");
        assert_eq!(
            route("/a", "http://h", false)
                .targets
                .first()
                .map(|t| t.target.addr.as_str()),
            Some("h:80")
        );
        let with = |upstream: &str, ca: bool, cert: bool, key: bool| {
            let file = |on: bool, name: &str| on.then(|| PathBuf::from(name));
            Route::try_from(RouteConfig {
                path_prefix: "/a".into(),
                upstream: Some(upstream.into()),
                ca_cert: file(ca, "ca.pem"),
                client_cert: file(cert, "c.pem"),
                client_key: file(key, "k.pem"),
                ..RouteConfig::default()
            })
        };
        assert!(with("https://h", true, true, true).is_ok());
        let refused = |r: Result<Route, String>| r.err().unwrap_or_default();
        let e = refused(with("http://h", true, false, false));
        assert!(e.contains("https://"), "{e}");
        let e = refused(with("https://h", false, true, false));
        assert!(e.contains("go together"), "{e}");
    }

    #[test]
    fn targets_or_upstream_never_both_and_one_scheme() {
        use crate::config::TargetConfig;
        let t = |url: &str| TargetConfig {
            url: url.into(),
            weight: 1,
        };
        let with = |upstream: Option<&str>, targets: Vec<TargetConfig>| {
            Route::try_from(RouteConfig {
                path_prefix: "/a".into(),
                upstream: upstream.map(str::to_owned),
                targets,
                ..RouteConfig::default()
            })
        };
        let two = with(None, vec![t("http://a:1"), t("http://b:2")]);
        assert_eq!(two.map(|r| r.targets.len()), Ok(2));
        let refused = |r: Result<Route, String>| r.err().unwrap_or_default();
        let e = refused(with(Some("http://a"), vec![t("http://b")]));
        assert!(e.contains("not both"), "{e}");
        let e = refused(with(None, vec![t("http://a"), t("https://b")]));
        assert!(e.contains("all http:// or all https://"), "{e}");
        let e = refused(with(
            None,
            vec![TargetConfig {
                url: "http://a".into(),
                weight: 0,
            }],
        ));
        assert!(e.contains("weight"), "{e}");
    }
}
