//! Server configuration: read once, validated once.
//!
//! [`FileConfig`] is the TOML file's shape (every field optional, unknown keys
//! rejected). The CLI overlays its flags and `TOLLGATE_*` variables onto it
//! with [`FileConfig::overlay`], and [`Config::try_from`] fills defaults and
//! checks everything, so the rest of the server only ever sees a valid
//! [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::Uri;
use serde::Deserialize;
use tollgate_proto::client::TokenFormat;
use tollgate_proto::Scope;

use crate::forwarded::TrustedProxies;

mod callers;
mod jwt;
mod quota;
mod route;
use callers::trusted_proxies;
pub use callers::{ServerLimits, ThrottleConfig};
pub use jwt::JwtConfig;
pub use quota::{Limits, QuotaConfig, QuotaFailMode, QuotaResponse};
pub use route::{Route, RouteConfig, Underscores};

/// Configuration errors, each naming the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("`{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// argon2id cost for user passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommended floor for argon2id: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// `[postgres]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// Longest a statement may run, in milliseconds.
    pub statement_timeout_ms: u64,
    /// Longest a request waits for a connection, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// disable, allow, prefer, require, verify-ca or verify-full; when
    /// absent, the URL's `sslmode` (default prefer).
    pub ssl_mode: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout_ms: 5_000,
            acquire_timeout_ms: 3_000,
            ssl_mode: None,
        }
    }
}

/// Where the PEM certificate chain and private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TOML file, and the overlay the CLI builds from flags and environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub issuer: Option<String>,
    pub realm: Option<String>,
    pub demo: Option<bool>,
    pub log_format: Option<LogFormat>,
    /// Default access-token lifetime in seconds.
    pub token_ttl: Option<u64>,
    /// Refresh-token lifetime in seconds.
    pub refresh_ttl: Option<u64>,
    /// Access tokens: `opaque` (stored) or `jwt` (signed); clients may override.
    pub token_format: Option<TokenFormat>,
    pub jwt: Option<JwtConfig>,
    /// Seconds between sweeps of expired tokens.
    pub sweep_interval: Option<u64>,
    /// Seconds a sign-in session lives without use.
    pub session_idle_timeout: Option<u64>,
    /// Seconds a sign-in session lives at most, from the sign-in.
    pub session_lifetime: Option<u64>,
    pub argon2: Option<Argon2Params>,
    pub throttle: Option<ThrottleConfig>,
    /// Accept `bearer`/`BEARER` (RFC 7235) instead of only `Bearer` (the seed).
    pub bearer_case_insensitive: Option<bool>,
    pub quota_response: Option<QuotaResponse>,
    pub quota: Option<QuotaConfig>,
    /// Seconds to wait for an upstream's response headers.
    pub upstream_timeout: Option<u64>,
    /// Serve the seeds' demo APIs (`/locations`, user details); on with `demo`.
    pub demo_apis: Option<bool>,
    /// Most tokens kept in the validation cache.
    pub cache_max_entries: Option<usize>,
    /// Milliseconds between checks for changes made by other processes.
    pub change_poll_ms: Option<u64>,
    pub routes: Option<Vec<RouteConfig>>,
    /// Pool and session settings for a `postgres://` database.
    pub postgres: Option<PostgresOptions>,
    /// `redis://HOST:PORT/`: share quotas and revocations between instances.
    pub redis: Option<String>,
    pub quota_fail_mode: Option<QuotaFailMode>,
    pub limits: Option<ServerLimits>,
    /// PEM certificate chain and private key: serve HTTPS (and HTTP/2).
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve the admin API under /admin/v1 (default true).
    pub admin_api: Option<bool>,
    /// Serve the admin API on this address only, not on `listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Milliseconds between flushes of usage counts to the store.
    pub usage_flush_ms: Option<u64>,
    /// Serve the developer portal and admin console at /console (default true).
    pub console: Option<bool>,
    /// Scopes developers may give their own apps in the portal without an
    /// admin's approval (default: the demo API's `locations:read` when the
    /// demo APIs are on, else none).
    pub self_service_scopes: Option<Vec<String>>,
    /// Networks (CIDR, or single addresses) of the proxies in front of
    /// tollgate whose `X-Forwarded-For` is believed; none by default.
    pub trusted_proxies: Option<Vec<String>>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: shown,
            message: e.to_string(),
        })
    }

    /// Values set in `top` win over those in `self`.
    pub fn overlay(self, top: FileConfig) -> FileConfig {
        FileConfig {
            listen: top.listen.or(self.listen),
            database: top.database.or(self.database),
            issuer: top.issuer.or(self.issuer),
            realm: top.realm.or(self.realm),
            demo: top.demo.or(self.demo),
            log_format: top.log_format.or(self.log_format),
            token_ttl: top.token_ttl.or(self.token_ttl),
            refresh_ttl: top.refresh_ttl.or(self.refresh_ttl),
            token_format: top.token_format.or(self.token_format),
            jwt: top.jwt.or(self.jwt),
            sweep_interval: top.sweep_interval.or(self.sweep_interval),
            session_idle_timeout: top.session_idle_timeout.or(self.session_idle_timeout),
            session_lifetime: top.session_lifetime.or(self.session_lifetime),
            argon2: top.argon2.or(self.argon2),
            throttle: top.throttle.or(self.throttle),
            bearer_case_insensitive: top.bearer_case_insensitive.or(self.bearer_case_insensitive),
            quota_response: top.quota_response.or(self.quota_response),
            quota: top.quota.or(self.quota),
            upstream_timeout: top.upstream_timeout.or(self.upstream_timeout),
            demo_apis: top.demo_apis.or(self.demo_apis),
            cache_max_entries: top.cache_max_entries.or(self.cache_max_entries),
            change_poll_ms: top.change_poll_ms.or(self.change_poll_ms),
            routes: top.routes.or(self.routes),
            postgres: top.postgres.or(self.postgres),
            redis: top.redis.or(self.redis),
            quota_fail_mode: top.quota_fail_mode.or(self.quota_fail_mode),
            limits: top.limits.or(self.limits),
            tls_cert: top.tls_cert.or(self.tls_cert),
            tls_key: top.tls_key.or(self.tls_key),
            admin_api: top.admin_api.or(self.admin_api),
            admin_listen: top.admin_listen.or(self.admin_listen),
            usage_flush_ms: top.usage_flush_ms.or(self.usage_flush_ms),
            console: top.console.or(self.console),
            self_service_scopes: top.self_service_scopes.or(self.self_service_scopes),
            trusted_proxies: top.trusted_proxies.or(self.trusted_proxies),
        }
    }
}

/// Validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: String,
    pub issuer: String,
    pub realm: String,
    pub demo: bool,
    pub log_format: LogFormat,
    pub token_ttl: u64,
    pub refresh_ttl: u64,
    pub token_format: TokenFormat,
    pub jwt: JwtConfig,
    pub sweep_interval: u64,
    /// Sign-in sessions (the `/oauth2` pages and the console): seconds
    /// without use, and seconds from the sign-in, after which they end.
    pub session_idle_timeout: i64,
    pub session_lifetime: i64,
    pub argon2: Argon2Params,
    pub throttle: ThrottleConfig,
    pub bearer_case_insensitive: bool,
    pub quota_response: QuotaResponse,
    pub quota: QuotaConfig,
    pub upstream_timeout: std::time::Duration,
    pub demo_apis: bool,
    pub cache_max_entries: usize,
    pub change_poll: std::time::Duration,
    /// Gateway routes, longest prefix first.
    pub routes: Vec<Arc<Route>>,
    pub postgres: PostgresOptions,
    pub redis: Option<String>,
    pub quota_fail_mode: QuotaFailMode,
    pub limits: ServerLimits,
    /// Serve HTTPS with these files; reloaded on SIGHUP.
    pub tls: Option<TlsFiles>,
    pub admin_api: bool,
    /// The admin API's own listener; `None`: it shares `listen`.
    pub admin_listen: Option<SocketAddr>,
    pub usage_flush: std::time::Duration,
    /// Serve /console.
    pub console: bool,
    /// Scopes granted at once when a developer asks for them in the portal.
    pub self_service_scopes: Scope,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE: &str = "sqlite://tollgate.db";
pub const MEMORY_DATABASE: &str = "sqlite::memory:";
/// The smallest `[throttle] table_bytes`: room for a few hundred keys.
const MIN_THROTTLE_TABLE_BYTES: usize = 64 << 10;

impl TryFrom<FileConfig> for Config {
    type Error = ConfigError;

    fn try_from(f: FileConfig) -> Result<Self, Self::Error> {
        let demo = f.demo.unwrap_or(false);
        let listen = match f.listen {
            Some(a) => a,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| invalid("listen", "bad built-in default"))?,
        };
        if demo && !listen.ip().is_loopback() {
            return Err(invalid(
                "listen",
                format!("--demo has fixed, published credentials and serves only on loopback; {listen} is not a loopback address"),
            ));
        }
        let database = f.database.unwrap_or_else(|| {
            if demo {
                MEMORY_DATABASE
            } else {
                DEFAULT_DATABASE
            }
            .to_owned()
        });
        let tls = match (f.tls_cert, f.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "tls_cert",
                    "tls_cert and tls_key go together: give both or neither",
                ))
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let issuer = f.issuer.unwrap_or_else(|| format!("{scheme}://{listen}"));
        let issuer_host = issuer_host(&issuer)?;
        let realm = f.realm.unwrap_or(issuer_host);
        if realm.contains('"') || realm.contains('\\') || realm.chars().any(char::is_control) {
            return Err(invalid(
                "realm",
                "must not contain quotes, backslashes or control characters",
            ));
        }
        let positive = |key: &'static str, v: Option<u64>, default: u64| match v.unwrap_or(default)
        {
            0 => Err(invalid(key, "must be at least 1")),
            n => Ok(n),
        };
        let argon2 = f.argon2.unwrap_or_default();
        argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        )
        .map_err(|e| invalid("argon2", e.to_string()))?;
        let throttle = f.throttle.unwrap_or_default();
        if throttle.max_delay_secs == 0 || throttle.forget_after_secs == 0 {
            return Err(invalid(
                "throttle",
                "max_delay_secs and forget_after_secs must be at least 1",
            ));
        }
        if throttle.table_bytes < MIN_THROTTLE_TABLE_BYTES {
            return Err(invalid(
                "throttle",
                format!("table_bytes must be at least {MIN_THROTTLE_TABLE_BYTES}"),
            ));
        }
        let mut routes = Vec::new();
        for r in f.routes.unwrap_or_default() {
            let route = Route::try_from(r).map_err(|m| invalid("routes", m))?;
            if routes.iter().any(|x: &Arc<Route>| x.prefix == route.prefix) {
                return Err(invalid(
                    "routes",
                    format!("path_prefix `{}` appears twice", route.prefix),
                ));
            }
            routes.push(std::sync::Arc::new(route));
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let limits = f.limits.unwrap_or_default();
        limits.validate()?;
        let jwt = f.jwt.unwrap_or_default();
        if jwt.prepublish_secs < jwt.jwks_max_age_secs {
            return Err(invalid(
                "jwt",
                "prepublish_secs must be at least jwks_max_age_secs, or verifiers with a cached JWKS refuse tokens signed by a new key",
            ));
        }
        let admin_api = f.admin_api.unwrap_or(true);
        if !admin_api && f.admin_listen.is_some() {
            return Err(invalid(
                "admin_listen",
                "admin_api = false turns the admin API off; remove admin_listen or turn it on",
            ));
        }
        if f.admin_listen.is_some_and(|a| a == listen && a.port() != 0) {
            return Err(invalid(
                "admin_listen",
                "must differ from listen (leave it out to serve the admin API on listen)",
            ));
        }
        let demo_apis = f.demo_apis.unwrap_or(demo);
        let self_service_scopes = match &f.self_service_scopes {
            Some(list) => list.join(" ").parse().map_err(|_| {
                invalid("self_service_scopes", "each entry must be one scope token")
            })?,
            None if demo_apis => Scope::from_iter(["locations:read"]),
            None => Scope::default(),
        };
        let trusted_proxies = trusted_proxies(f.trusted_proxies.as_deref().unwrap_or_default())?;
        Ok(Config {
            trusted_proxies,
            console: f.console.unwrap_or(true),
            self_service_scopes,
            admin_api,
            admin_listen: f.admin_listen,
            usage_flush: std::time::Duration::from_millis(positive(
                "usage_flush_ms",
                f.usage_flush_ms,
                5_000,
            )?),
            tls,
            limits,
            bearer_case_insensitive: f.bearer_case_insensitive.unwrap_or(false),
            quota_response: f.quota_response.unwrap_or_default(),
            quota: f.quota.unwrap_or_default(),
            upstream_timeout: std::time::Duration::from_secs(positive(
                "upstream_timeout",
                f.upstream_timeout,
                30,
            )?),
            demo_apis,
            cache_max_entries: f.cache_max_entries.unwrap_or(100_000).max(1),
            change_poll: std::time::Duration::from_millis(positive(
                "change_poll_ms",
                f.change_poll_ms,
                250,
            )?),
            routes,
            postgres: f.postgres.unwrap_or_default(),
            redis: f.redis,
            quota_fail_mode: f.quota_fail_mode.unwrap_or_default(),
            listen,
            database,
            issuer: issuer.trim_end_matches('/').to_owned(),
            realm,
            demo,
            log_format: f.log_format.unwrap_or_default(),
            token_ttl: positive("token_ttl", f.token_ttl, 3600)?,
            refresh_ttl: positive("refresh_ttl", f.refresh_ttl, 30 * 24 * 3600)?,
            token_format: f.token_format.unwrap_or_default(),
            jwt,
            sweep_interval: positive("sweep_interval", f.sweep_interval, 60)?,
            session_idle_timeout: seconds(positive(
                "session_idle_timeout",
                f.session_idle_timeout,
                30 * 60,
            )?),
            session_lifetime: seconds(positive("session_lifetime", f.session_lifetime, 8 * 3600)?),
            argon2,
            throttle,
        })
    }
}

/// Seconds as the clock's `i64`, saturating.
fn seconds(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The host part of the issuer URL, the default realm.
fn issuer_host(issuer: &str) -> Result<String, ConfigError> {
    let uri: Uri = issuer
        .parse()
        .map_err(|_| invalid("issuer", format!("`{issuer}` is not a URL")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) => Ok(host.trim_matches(['[', ']']).to_owned()),
        _ => Err(invalid(
            "issuer",
            format!("`{issuer}` must be an http(s) URL with a host"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> Result<Config, String> {
        let f: FileConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        Config::try_from(f).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = config("").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database, "sqlite://tollgate.db");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.realm, "127.0.0.1");
        assert_eq!(c.token_ttl, 3600);
        assert_eq!(c.refresh_ttl, 2_592_000);
        assert_eq!(c.token_format, TokenFormat::Opaque);
        assert_eq!(c.jwt, JwtConfig::default());
    }

    #[test]
    fn demo_defaults_to_memory_and_refuses_public_listen() {
        let c = config("demo = true").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.database, MEMORY_DATABASE);
        let err = config("demo = true\nlisten = \"0.0.0.0:8080\"")
            .err()
            .unwrap_or_default();
        assert!(err.contains("loopback"), "{err}");
        assert!(config("demo = true\nlisten = \"[::1]:8080\"").is_ok());
    }

    #[test]
    fn realm_defaults_to_issuer_host() {
        let c =
            config("issuer = \"https://api.manheim.com/\"").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.realm, "api.manheim.com");
        assert_eq!(c.issuer, "https://api.manheim.com");
    }

    #[test]
    fn rejects_bad_values() {
        for (text, needle) in [
            ("bogus = 1", "unknown field"),
            ("issuer = \"ftp://x\"", "issuer"),
            ("token_ttl = 0", "token_ttl"),
            ("realm = 'a\"b'", "realm"),
            (
                "[argon2]\nmemory_kib = 1\niterations = 1\nparallelism = 1",
                "argon2",
            ),
            ("[throttle]\nmax_delay_secs = 0", "throttle"),
            ("[throttle]\ntable_bytes = 1000", "throttle"),
            ("[limits]\nmax_connections = 0", "max_connections"),
            ("[limits]\nmax_form_bytes = 10", "max_form_bytes"),
            ("quota_response = \"loud\"", "quota_response"),
            ("[quota]\nqps = 1", "unknown field"),
            ("token_format = \"jws\"", "token_format"),
            ("[jwt]\nalgorithm = \"HS256\"", "algorithm"),
            ("[jwt]\nprepublish_secs = 60", "prepublish_secs"),
            ("[[routes]]\npath_prefix = \"x\"\nupstream = \"http://127.0.0.1:1\"", "routes"),
            ("[[routes]]\npath_prefix = \"/x\"\nupstream = \"ftp://h\"", "routes"),
            ("[[routes]]\npath_prefix = \"/x\"\nupstream = \"http://h\"\nrequired_scopes = [\"a b\"]", "routes"),
            (
                "[[routes]]\npath_prefix = \"/x\"\nupstream = \"http://h\"\n[[routes]]\npath_prefix = \"/x/\"\nupstream = \"http://h\"",
                "twice",
            ),
        ] {
            let err = config(text).err().unwrap_or_default();
            assert!(err.contains(needle), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn routes_sorted_longest_prefix_first() {
        let text = "[[routes]]\npath_prefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\n\
                    [[routes]]\npath_prefix = \"/a/b\"\nupstream = \"http://127.0.0.1:2/base\"\nrequired_scopes = [\"s\"]";
        let c = config(text).unwrap_or_else(|e| unreachable!("{e}"));
        let prefixes: Vec<&str> = c.routes.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, ["/a/b", "/a"]);
        assert!(c.routes[0].required_scopes.contains("s"));
    }

    #[test]
    fn postgres_and_redis_settings() {
        let text = "redis = \"redis://127.0.0.1:6379/\"\nquota_fail_mode = \"closed\"\n\
                    [postgres]\nmax_connections = 4\nstatement_timeout_ms = 250\nssl_mode = \"require\"";
        let c = config(text).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.postgres.max_connections, 4);
        assert_eq!(c.postgres.statement_timeout_ms, 250);
        assert_eq!(c.postgres.acquire_timeout_ms, 3000, "default kept");
        assert_eq!(c.postgres.ssl_mode.as_deref(), Some("require"));
        assert_eq!(c.quota_fail_mode, QuotaFailMode::Closed);
        assert_eq!(c.redis.as_deref(), Some("redis://127.0.0.1:6379/"));
        assert!(
            config("[postgres]\npool = 3").is_err(),
            "unknown keys refused"
        );
    }

    #[test]
    fn the_shipped_deploy_config_is_valid() {
        let text = include_str!("../../../../deploy/tollgate.toml");
        let c = config(text).unwrap_or_else(|e| unreachable!("deploy/tollgate.toml: {e}"));
        assert_eq!(c.limits.max_connections, 10_000);
        assert_eq!(c.throttle.max_delay_secs, 60);
    }

    #[test]
    fn overlay_prefers_top() {
        let base: FileConfig = toml::from_str("realm = \"a\"\ntoken_ttl = 5").unwrap_or_default();
        let top = FileConfig {
            realm: Some("b".into()),
            ..FileConfig::default()
        };
        let merged = base.overlay(top);
        assert_eq!(merged.realm.as_deref(), Some("b"));
        assert_eq!(merged.token_ttl, Some(5));
    }
}
