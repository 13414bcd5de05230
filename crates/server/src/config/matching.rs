//! What a route matches besides its path prefix: `methods` and `hosts`,
//! and the order in which routes are tried. Most specific first, as Envoy
//! picks a virtual host by its domain before a route by its path, and as
//! Kong ranks routes with hosts above those without: an exact host, then
//! a wildcard (`*.example.com`, longest first), then any host; within
//! that, the longest path prefix; then a route with `methods` before one
//! without.

use std::cmp::Reverse;

use axum::http::Method;

/// One entry of `hosts`: `api.example.com`, or `*.example.com` for any
/// name under `example.com` (not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// `.example.com`: what a name must end with.
    Under(String),
}

impl HostPattern {
    /// `host` as routes see it: lower case, no port, no trailing dot.
    pub fn normalize(host: &str) -> String {
        let no_port = if host.starts_with('[') {
            // A bracketed IPv6 address keeps its colons.
            host.split_inclusive(']').next().unwrap_or(host)
        } else {
            host.split(':').next().unwrap_or(host)
        };
        no_port.trim_end_matches('.').to_ascii_lowercase()
    }

    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h == host,
            Self::Under(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

impl std::str::FromStr for HostPattern {
    type Err = String;

    fn from_str(given: &str) -> Result<Self, String> {
        let (wild, name) = match given.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, given),
        };
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(format!(
                "host `{given}` must be a DNS name like api.example.com, or *.example.com"
            ));
        }
        let name = name.to_ascii_lowercase();
        Ok(if wild {
            Self::Under(format!(".{name}"))
        } else {
            Self::Exact(name)
        })
    }
}

/// `methods`, as given (any case), parsed; none means any method.
pub fn methods(given: &[String]) -> Result<Vec<Method>, String> {
    given
        .iter()
        .map(|m| {
            let upper = m.to_ascii_uppercase();
            Method::from_bytes(upper.as_bytes())
                .ok()
                .filter(|_| !upper.is_empty() && upper.bytes().all(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| format!("method `{m}` is not an HTTP method like GET"))
        })
        .collect()
}

/// The order routes are tried in: smaller first.
pub fn specificity(
    hosts: &[HostPattern],
    prefix: &str,
    methods: &[Method],
) -> (u8, Reverse<usize>, Reverse<usize>, bool) {
    let exact = hosts.iter().any(|h| matches!(h, HostPattern::Exact(_)));
    let widest_suffix = hosts
        .iter()
        .filter_map(|h| match h {
            HostPattern::Under(s) => Some(s.len()),
            HostPattern::Exact(_) => None,
        })
        .max();
    let (class, suffix) = match (exact, widest_suffix) {
        (true, _) => (0, 0),
        (false, Some(len)) => (1, len),
        (false, None) => (2, 0),
    };
    (
        class,
        Reverse(suffix),
        Reverse(prefix.len()),
        methods.is_empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> HostPattern {
        s.parse().unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn hosts_match_exactly_or_under_a_wildcard() {
        assert!(host("API.example.com").matches("api.example.com"));
        assert!(host("*.example.com").matches("a.b.example.com"));
        assert!(!host("*.example.com").matches("example.com"));
        assert!(!host("*.example.com").matches("badexample.com"));
        for bad in [
            "",
            "*.",
            "a..b",
            "exa mple.com",
            "*",
            "a.com:80",
            "*.*.a.com",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad}");
        }
        assert_eq!(
            HostPattern::normalize("API.Example.com.:8443"),
            "api.example.com"
        );
        assert_eq!(HostPattern::normalize("[::1]:8080"), "[::1]");
    }

    #[test]
    fn methods_are_http_tokens() {
        assert_eq!(
            methods(&["get".into(), "POST".into()]),
            Ok(vec![Method::GET, Method::POST])
        );
        assert!(methods(&["GE T".into()]).is_err());
        assert!(methods(&[String::new()]).is_err());
    }
}
