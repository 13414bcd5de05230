//! The proxying gateway: `[[routes]]` from the config, matched by longest
//! path prefix on segment boundaries (`/inventory` matches `/inventory` and
//! `/inventory/x`, never `/inventoryx`). An unknown path is 404 before any
//! token check and without touching an upstream.

mod proxy;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::uri::{Authority, Scheme};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use tollgate_proto::Scope;

pub use proxy::{upstream_client, UpstreamClient};

use crate::config::RouteConfig;
use crate::error::excerpt;
use crate::http::path;
use crate::resource;
use crate::state::AppState;
use crate::Error;

/// A validated gateway route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Starts with `/`, no trailing `/` (except the root route itself).
    pub prefix: String,
    pub scheme: Scheme,
    pub authority: Authority,
    /// The upstream URL's own path, without a trailing `/`.
    pub base_path: String,
    pub required_scopes: Scope,
    pub strip_prefix: bool,
    /// Segments in `prefix`: a request's `..` may not climb above them.
    pub depth: usize,
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
        let uri: Uri = c
            .upstream
            .parse()
            .map_err(|_| format!("upstream `{}` is not a URL", c.upstream))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(format!(
                "upstream `{}` needs a scheme and a host",
                c.upstream
            ));
        };
        if scheme != Scheme::HTTP {
            return Err(format!(
                "upstream `{}`: only http:// upstreams are supported",
                c.upstream
            ));
        }
        if uri.query().is_some() {
            return Err(format!("upstream `{}` must not have a query", c.upstream));
        }
        let mut required_scopes = Scope::empty();
        for s in &c.required_scopes {
            if !Scope::is_valid_token(s) {
                return Err(format!("required scope `{s}` is not a valid scope token"));
            }
            required_scopes = required_scopes.iter().chain([s.as_str()]).collect();
        }
        Ok(Route {
            depth: path::depth(&prefix),
            prefix,
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            required_scopes,
            strip_prefix: c.strip_prefix,
        })
    }
}

impl Route {
    pub fn matches(&self, path: &str) -> bool {
        self.prefix == "/"
            || path == self.prefix
            || path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The upstream URI for a request path and query.
    pub fn upstream_uri(&self, path: &str, query: Option<&str>) -> Result<Uri, Error> {
        let rest = if self.strip_prefix && self.prefix != "/" {
            &path[self.prefix.len().min(path.len())..]
        } else {
            path
        };
        let rest = if rest.is_empty() { "/" } else { rest };
        let mut target = format!("{}{rest}", self.base_path);
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(target)
            .build()
            .map_err(|e| Error::Internal(format!("building the upstream URI: {e}")))
    }
}

/// The route for `path`: routes are sorted longest prefix first.
pub fn find<'a>(routes: &'a [Arc<Route>], path: &str) -> Option<&'a Arc<Route>> {
    routes.iter().find(|r| r.matches(path))
}

/// The gateway, for every path no built-in route takes. The path is put
/// in canonical form first ([`crate::http::path`]), and that one form
/// chooses the route, is checked against its scopes, and goes upstream.
/// 400 for a path that cannot be normalised safely or whose `..` climbed
/// above its route's prefix, 404 for one no route matches (all before any
/// token check, without touching an upstream); then the bearer check and
/// quota with the route's scopes, then the upstream. One handler rather
/// than layers: the per-request work of each layer showed in profiles.
pub async fn gateway(State(state): State<AppState>, req: Request) -> Result<Response, Error> {
    // The request moves upstream below; its URI (shared bytes) stays here.
    let uri = req.uri().clone();
    let path = path::normalize(uri.path()).map_err(|e| Error::invalid_request(e.to_string()))?;
    let Some(route) = find(&state.config.routes, &path.path).cloned() else {
        let shown = excerpt(&path.path, 64);
        return Err(Error::NotFound(format!("no route for {shown}")));
    };
    if path.floor < route.depth {
        return Err(Error::invalid_request(
            "the path climbs above its route's prefix with `..`",
        ));
    }
    let admitted = resource::admit(&state, req.headers(), &route.required_scopes).await?;
    // An upstream failure still carries the caller's RateLimit standing.
    let resp = proxy::forward(&state, &route, &path.path, &admitted.principal, req)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    Ok(resource::finish(resp, admitted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, upstream: &str, strip: bool) -> Route {
        Route::try_from(RouteConfig {
            path_prefix: prefix.into(),
            upstream: upstream.into(),
            required_scopes: vec![],
            strip_prefix: strip,
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

    #[test]
    fn longest_prefix_wins() {
        let mut routes = vec![
            Arc::new(route("/a", "http://h1", false)),
            Arc::new(route("/a/b", "http://h2", false)),
        ];
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        assert_eq!(
            find(&routes, "/a/b/c").map(|r| r.prefix.as_str()),
            Some("/a/b")
        );
        assert_eq!(
            find(&routes, "/a/bc").map(|r| r.prefix.as_str()),
            Some("/a")
        );
        assert!(find(&routes, "/b").is_none());
    }

    fn target(r: &Route, path: &str, query: Option<&str>) -> String {
        r.upstream_uri(path, query)
            .map(|u| u.to_string())
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
    fn rejects_bad_routes() {
        for (prefix, upstream) in [
            ("x", "http://h"),
            ("/x", "https://h"),
            ("/x", "h:80"),
            ("/x", "http://h/?q=1"),
        ] {
            let r = Route::try_from(RouteConfig {
                path_prefix: prefix.into(),
                upstream: upstream.into(),
                required_scopes: vec![],
                strip_prefix: false,
            });
            assert!(r.is_err(), "{prefix} {upstream}");
        }
    }
}
