//! The configuration's defaults and checks, key by key.

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
    assert_eq!(c.database, defaults::MEMORY_DATABASE);
    let err = config("demo = true\nlisten = \"0.0.0.0:8080\"")
        .err()
        .unwrap_or_default();
    assert!(err.contains("loopback"), "{err}");
    assert!(config("demo = true\nlisten = \"[::1]:8080\"").is_ok());
}

#[test]
fn realm_defaults_to_issuer_host() {
    let c = config("issuer = \"https://api.manheim.com/\"").unwrap_or_else(|e| unreachable!("{e}"));
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
fn replicas_as_the_readme_writes_them() {
    let text = r#"
[[routes]]
path_prefix = "/inventory"
targets = [
  { url = "http://10.0.0.1:9000", weight = 2 },
  { url = "http://10.0.0.2:9000" },
]
balance = "least_in_flight"
passive_health = { failures = 3, ejection_ms = 10000 }
health_check = { path = "/healthz", interval_ms = 5000 }
"#;
    let c = config(text).unwrap_or_else(|e| unreachable!("{e}"));
    let r = &c.routes[0];
    let weights: Vec<u32> = r.targets.iter().map(|t| t.weight).collect();
    assert_eq!(weights, [2, 1]);
    assert_eq!(r.balance, Balance::LeastInFlight);
    assert_eq!(r.passive_health.failures, 3);
    let check = r.health_check.as_ref().unwrap_or_else(|| unreachable!());
    assert_eq!(check.path.as_str(), "/healthz");
    let e = config("[[routes]]\npath_prefix = \"/x\"\nbalance = \"random\"").err();
    assert!(e.unwrap_or_default().contains("round_robin"));
}

#[test]
fn routes_by_host_then_prefix_then_methods() {
    let text = r#"
[[routes]]
path_prefix = "/"
upstream = "http://127.0.0.1:1"
[[routes]]
path_prefix = "/api"
upstream = "http://127.0.0.1:2"
[[routes]]
path_prefix = "/api"
methods = ["get"]
upstream = "http://127.0.0.1:3"
[[routes]]
path_prefix = "/"
hosts = ["*.example.com"]
upstream = "http://127.0.0.1:4"
[[routes]]
path_prefix = "/"
hosts = ["api.example.com"]
upstream = "http://127.0.0.1:5"
"#;
    let c = config(text).unwrap_or_else(|e| unreachable!("{e}"));
    let ports: Vec<&str> = c
        .routes
        .iter()
        .filter_map(|r| r.targets.first())
        .map(|t| t.target.addr.as_str())
        .collect();
    assert_eq!(
        ports,
        [
            "127.0.0.1:5",
            "127.0.0.1:4",
            "127.0.0.1:3",
            "127.0.0.1:2",
            "127.0.0.1:1"
        ]
    );
    let twice = "[[routes]]\npath_prefix = \"/a\"\nmethods = [\"GET\"]\n\
                 [[routes]]\npath_prefix = \"/a\"\nmethods = [\"GET\"]";
    let e = config(twice).err().unwrap_or_default();
    assert!(e.contains("twice"), "{e}");
    let e = config("[[routes]]\npath_prefix = \"/a\"\nhosts = [\"bad host\"]").err();
    assert!(e.unwrap_or_default().contains("DNS name"));
}
