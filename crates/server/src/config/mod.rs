//! Server configuration: read once, validated once.
//!
//! [`FileConfig`] is the TOML file's shape (every field optional, unknown keys
//! rejected). The CLI sets what its flags and `TOLLGATE_*` variables give
//! on the file's values, and [`Config::try_from`] fills in the rest from
//! [`defaults`] and checks everything, so the rest of the server only ever
//! sees a valid [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::Uri;
use serde::Deserialize;
use tollgate_proto::client::TokenFormat;
use tollgate_proto::Scope;

use crate::forwarded::TrustedProxies;

mod balance;
mod callers;
mod jwt;
mod matching;
mod quota;
mod route;
pub use balance::{
    Balance, HealthCheck, HealthCheckConfig, PassiveHealth, PassiveHealthConfig, TargetConfig,
};
use callers::trusted_proxies;
pub use callers::{ServerLimits, ThrottleConfig};
pub use jwt::JwtConfig;
pub use matching::HostPattern;
pub use quota::{Limits, QuotaConfig, QuotaFailMode, QuotaResponse};
pub use route::{Route, RouteConfig, Target, Timeouts, Underscores, UpstreamTls, Weighted};

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// Clients may register themselves (RFC 7591) without an initial
    /// access token.
    pub open_registration: Option<bool>,
    /// Seconds a device code (RFC 8628) waits for its user.
    pub device_code_ttl: Option<u64>,
    /// Seconds a device must wait between polls of the token endpoint.
    pub device_poll_interval: Option<u64>,
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
    /// The Device Authorization Grant: how long a user code lives, and the
    /// seconds between polls (`slow_down` when faster).
    pub device_code_ttl: i64,
    pub device_poll_interval: i64,
    /// Registration (RFC 7591) without an initial access token.
    pub open_registration: bool,
    pub argon2: Argon2Params,
    pub throttle: ThrottleConfig,
    pub bearer_case_insensitive: bool,
    pub quota_response: QuotaResponse,
    pub quota: QuotaConfig,
    pub upstream_timeout: std::time::Duration,
    pub demo_apis: bool,
    pub cache_max_entries: usize,
    pub change_poll: std::time::Duration,
    /// Gateway routes, most specific first.
    pub routes: Vec<Arc<Route>>,
    /// The file whose `[[routes]]` are read again on SIGHUP (the
    /// `--config` file; none: routes are fixed).
    pub routes_file: Option<PathBuf>,
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

/// Every default, in one place: what [`Config::try_from`] fills in for a
/// key the file and the flags leave out. The nested tables' defaults are
/// their types' `Default` (`Argon2Params`, `PostgresOptions`, `JwtConfig`,
/// `ThrottleConfig`, `QuotaConfig`, `ServerLimits`); the few that follow
/// from other keys are derived in `try_from`: `database` (in memory with
/// `demo`), `issuer` (from `listen` and TLS), `realm` (the issuer's host),
/// `demo_apis` (`demo`), `self_service_scopes` (the demo API's scope with
/// the demo APIs).
pub mod defaults {
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

    pub const LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    pub const DATABASE: &str = "sqlite://tollgate.db";
    /// The database of `demo` and tests.
    pub const MEMORY_DATABASE: &str = "sqlite::memory:";
    pub const TOKEN_TTL_SECS: u64 = 3600;
    pub const REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;
    pub const SWEEP_INTERVAL_SECS: u64 = 60;
    pub const SESSION_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
    pub const SESSION_LIFETIME_SECS: u64 = 8 * 3600;
    /// RFC 8628 §3.2's example lifetime, and its default interval.
    pub const DEVICE_CODE_TTL_SECS: u64 = 600;
    pub const DEVICE_POLL_INTERVAL_SECS: u64 = 5;
    pub const UPSTREAM_TIMEOUT_SECS: u64 = 30;
    pub const CACHE_MAX_ENTRIES: usize = 100_000;
    pub const CHANGE_POLL_MS: u64 = 250;
    pub const USAGE_FLUSH_MS: u64 = 5_000;
    pub const ADMIN_API: bool = true;
    pub const CONSOLE: bool = true;
    /// What developers may give their own apps when the demo APIs are on.
    pub const DEMO_SELF_SERVICE_SCOPE: &str = "locations:read";
}

/// The smallest `[throttle] table_bytes`: room for a few hundred keys.
const MIN_THROTTLE_TABLE_BYTES: usize = 64 << 10;

impl TryFrom<FileConfig> for Config {
    type Error = ConfigError;

    fn try_from(f: FileConfig) -> Result<Self, Self::Error> {
        let demo = f.demo.unwrap_or(false);
        let listen = demo_listen(demo, f.listen.unwrap_or(defaults::LISTEN))?;
        let database = f.database.unwrap_or_else(|| match demo {
            true => defaults::MEMORY_DATABASE.to_owned(),
            false => defaults::DATABASE.to_owned(),
        });
        let tls = tls_files(f.tls_cert, f.tls_key)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let issuer = f.issuer.unwrap_or_else(|| format!("{scheme}://{listen}"));
        let realm = realm(f.realm, &issuer)?;
        let admin_api = f.admin_api.unwrap_or(defaults::ADMIN_API);
        let (device_code_ttl, device_poll_interval) =
            device_timing(f.device_code_ttl, f.device_poll_interval)?;
        check_admin_listen(admin_api, f.admin_listen, listen)?;
        let demo_apis = f.demo_apis.unwrap_or(demo);
        let limits = f.limits.unwrap_or_default();
        limits.validate()?;
        Ok(Config {
            trusted_proxies: trusted_proxies(f.trusted_proxies.as_deref().unwrap_or_default())?,
            console: f.console.unwrap_or(defaults::CONSOLE),
            self_service_scopes: self_service_scopes(f.self_service_scopes, demo_apis)?,
            admin_api,
            admin_listen: f.admin_listen,
            usage_flush: millis("usage_flush_ms", f.usage_flush_ms, defaults::USAGE_FLUSH_MS)?,
            tls,
            limits,
            bearer_case_insensitive: f.bearer_case_insensitive.unwrap_or(false),
            quota_response: f.quota_response.unwrap_or_default(),
            quota: f.quota.unwrap_or_default(),
            upstream_timeout: std::time::Duration::from_secs(positive(
                "upstream_timeout",
                f.upstream_timeout,
                defaults::UPSTREAM_TIMEOUT_SECS,
            )?),
            demo_apis,
            cache_max_entries: f
                .cache_max_entries
                .unwrap_or(defaults::CACHE_MAX_ENTRIES)
                .max(1),
            change_poll: millis("change_poll_ms", f.change_poll_ms, defaults::CHANGE_POLL_MS)?,
            routes: routes(f.routes.unwrap_or_default())?,
            routes_file: None,
            postgres: f.postgres.unwrap_or_default(),
            redis: f.redis,
            quota_fail_mode: f.quota_fail_mode.unwrap_or_default(),
            listen,
            database,
            issuer: issuer.trim_end_matches('/').to_owned(),
            realm,
            demo,
            log_format: f.log_format.unwrap_or_default(),
            token_ttl: positive("token_ttl", f.token_ttl, defaults::TOKEN_TTL_SECS)?,
            refresh_ttl: positive("refresh_ttl", f.refresh_ttl, defaults::REFRESH_TTL_SECS)?,
            token_format: f.token_format.unwrap_or_default(),
            jwt: jwt(f.jwt.unwrap_or_default())?,
            sweep_interval: positive(
                "sweep_interval",
                f.sweep_interval,
                defaults::SWEEP_INTERVAL_SECS,
            )?,
            session_idle_timeout: seconds(positive(
                "session_idle_timeout",
                f.session_idle_timeout,
                defaults::SESSION_IDLE_TIMEOUT_SECS,
            )?),
            session_lifetime: seconds(positive(
                "session_lifetime",
                f.session_lifetime,
                defaults::SESSION_LIFETIME_SECS,
            )?),
            device_code_ttl,
            device_poll_interval,
            open_registration: f.open_registration.unwrap_or(false),
            argon2: argon2(f.argon2.unwrap_or_default())?,
            throttle: throttle(f.throttle.unwrap_or_default())?,
        })
    }
}

/// `device_code_ttl` and `device_poll_interval`, in seconds.
fn device_timing(ttl: Option<u64>, interval: Option<u64>) -> Result<(i64, i64), ConfigError> {
    let ttl = positive("device_code_ttl", ttl, defaults::DEVICE_CODE_TTL_SECS)?;
    let interval = positive(
        "device_poll_interval",
        interval,
        defaults::DEVICE_POLL_INTERVAL_SECS,
    )?;
    Ok((seconds(ttl), seconds(interval)))
}

/// `listen`, which with `demo` must be a loopback address.
fn demo_listen(demo: bool, listen: SocketAddr) -> Result<SocketAddr, ConfigError> {
    if demo && !listen.ip().is_loopback() {
        return Err(invalid(
            "listen",
            format!("--demo has fixed, published credentials and serves only on loopback; {listen} is not a loopback address"),
        ));
    }
    Ok(listen)
}

/// `v`, or `default` when it is not given; 0 is refused.
fn positive(key: &'static str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match v.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1")),
        n => Ok(n),
    }
}

/// A positive number of milliseconds, as a duration.
fn millis(
    key: &'static str,
    v: Option<u64>,
    default: u64,
) -> Result<std::time::Duration, ConfigError> {
    positive(key, v, default).map(std::time::Duration::from_millis)
}

fn tls_files(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        _ => Err(invalid(
            "tls_cert",
            "tls_cert and tls_key go together: give both or neither",
        )),
    }
}

/// The realm given, or the issuer's host; one a challenge can quote.
fn realm(given: Option<String>, issuer: &str) -> Result<String, ConfigError> {
    // The issuer is checked even when a realm is given.
    let host = issuer_host(issuer)?;
    let realm = given.unwrap_or(host);
    if realm.contains('"') || realm.contains('\\') || realm.chars().any(char::is_control) {
        return Err(invalid(
            "realm",
            "must not contain quotes, backslashes or control characters",
        ));
    }
    Ok(realm)
}

fn argon2(a: Argon2Params) -> Result<Argon2Params, ConfigError> {
    argon2::Params::new(a.memory_kib, a.iterations, a.parallelism, None)
        .map_err(|e| invalid("argon2", e.to_string()))?;
    Ok(a)
}

fn throttle(t: ThrottleConfig) -> Result<ThrottleConfig, ConfigError> {
    if t.max_delay_secs == 0 || t.forget_after_secs == 0 {
        return Err(invalid(
            "throttle",
            "max_delay_secs and forget_after_secs must be at least 1",
        ));
    }
    if t.table_bytes < MIN_THROTTLE_TABLE_BYTES {
        return Err(invalid(
            "throttle",
            format!("table_bytes must be at least {MIN_THROTTLE_TABLE_BYTES}"),
        ));
    }
    Ok(t)
}

/// The `[[routes]]` of the file at `path`, read again and checked as at
/// start (SIGHUP).
pub fn routes_in(path: &Path) -> Result<Vec<Arc<Route>>, ConfigError> {
    routes(FileConfig::load(path)?.routes.unwrap_or_default())
}

/// The gateway's routes, checked, most specific first
/// ([`Route::specificity`]).
fn routes(given: Vec<RouteConfig>) -> Result<Vec<Arc<Route>>, ConfigError> {
    let mut routes: Vec<Arc<Route>> = Vec::new();
    for r in given {
        let route = Route::try_from(r).map_err(|m| invalid("routes", m))?;
        let same = |x: &Route| {
            x.prefix == route.prefix && x.hosts == route.hosts && x.methods == route.methods
        };
        if routes.iter().any(|x| same(x)) {
            return Err(invalid(
                "routes",
                format!(
                    "path_prefix `{}` appears twice with the same hosts and methods",
                    route.prefix
                ),
            ));
        }
        routes.push(Arc::new(route));
    }
    routes.sort_by_key(|r| r.specificity());
    Ok(routes)
}

fn jwt(jwt: JwtConfig) -> Result<JwtConfig, ConfigError> {
    if jwt.prepublish_secs < jwt.jwks_max_age_secs {
        return Err(invalid(
            "jwt",
            "prepublish_secs must be at least jwks_max_age_secs, or verifiers with a cached JWKS refuse tokens signed by a new key",
        ));
    }
    Ok(jwt)
}

fn check_admin_listen(
    admin_api: bool,
    admin_listen: Option<SocketAddr>,
    listen: SocketAddr,
) -> Result<(), ConfigError> {
    if !admin_api && admin_listen.is_some() {
        return Err(invalid(
            "admin_listen",
            "admin_api = false turns the admin API off; remove admin_listen or turn it on",
        ));
    }
    if admin_listen.is_some_and(|a| a == listen && a.port() != 0) {
        return Err(invalid(
            "admin_listen",
            "must differ from listen (leave it out to serve the admin API on listen)",
        ));
    }
    Ok(())
}

fn self_service_scopes(given: Option<Vec<String>>, demo_apis: bool) -> Result<Scope, ConfigError> {
    match given {
        Some(list) => list
            .join(" ")
            .parse()
            .map_err(|_| invalid("self_service_scopes", "each entry must be one scope token")),
        None if demo_apis => Ok(Scope::from_iter([defaults::DEMO_SELF_SERVICE_SCOPE])),
        None => Ok(Scope::default()),
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
mod tests;
