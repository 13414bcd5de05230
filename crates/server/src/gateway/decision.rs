//! Auth decisions for a proxy a team already runs (issue 33, point 5):
//! nginx `auth_request` and ingress-nginx's `auth-url` (which send
//! `X-Original-URI` and, when configured, `X-Original-Method`), Traefik's
//! and Caddy's `forward_auth` (`X-Forwarded-Method`, `-Uri`, `-Host`), and
//! Envoy's HTTP `ext_authz` (the original path after this endpoint's path,
//! the original method). The original host, for routes with `hosts`, is
//! `X-Forwarded-Host` (Traefik, Caddy; nginx when configured), else `Host`
//! (Envoy). The original path is put in the gateway's
//! canonical form and judged exactly as the gateway judges it: its route,
//! the route's scopes and audience, the client's quota. `2xx` carries the
//! `X-Tollgate-*` identity and the RateLimit headers for the proxy to copy
//! upstream; a refusal is the gateway's own (401/403 with
//! `WWW-Authenticate`, 429 with `Retry-After`); no route is 404, as Ory
//! Oathkeeper's decisions API answers.
//!
//! The proxy is trusted to set these headers itself: the endpoint belongs
//! on an internal address, or behind a proxy that overwrites them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Gateway, Routed};
use crate::error::{excerpt, Error};
use crate::path;
use crate::resource;

/// Where proxies ask; Envoy appends the original path to it.
pub const DECISION_PATH: &str = "/gateway/decision";

const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The request the proxy is asking about: its method and path.
#[derive(Debug, PartialEq, Eq)]
struct Original {
    method: String,
    path: String,
}

/// The original request, from the path after [`DECISION_PATH`] (Envoy)
/// or the headers the other proxies send.
fn original(headers: &HeaderMap, own_method: &str, own_path: &str) -> Result<Original, Error> {
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let method = text(&X_ORIGINAL_METHOD)
        .or_else(|| text(&X_FORWARDED_METHOD))
        .unwrap_or(own_method)
        .to_owned();
    let after = own_path
        .strip_prefix(DECISION_PATH)
        .filter(|rest| rest.starts_with('/'));
    let uri = match after {
        Some(rest) => rest,
        None => text(&X_ORIGINAL_URI)
            .or_else(|| text(&X_FORWARDED_URI))
            .ok_or_else(|| {
                Error::invalid_request(
                    "say which request to decide: X-Original-URI (nginx), X-Forwarded-Uri (Traefik, Caddy), or the path after /gateway/decision (Envoy)",
                )
            })?,
    };
    let path = uri.split(['?', '#']).next().unwrap_or("").to_owned();
    Ok(Original { method, path })
}

/// `/gateway/decision` and `/gateway/decision/{path}`, any method.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/gateway/decision",
    tag = "gateway",
    params(
        ("X-Original-URI" = Option<String>, Header, description = "the original request's URI (nginx auth_request, ingress-nginx)"),
        ("X-Original-Method" = Option<String>, Header, description = "its method (nginx, when configured)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "the original request's URI (Traefik, Caddy forward_auth)"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "its method (Traefik, Caddy)"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "its host, for routes with `hosts` (Traefik, Caddy; nginx when configured); else Host"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "allowed: X-Tollgate-Client-Id, -Username, -Scope and the RateLimit headers to copy upstream; Envoy ext_authz calls /gateway/decision/<original path> with the original method"),
        (status = 400, description = "no original request named, or a path that cannot be made canonical", body = tollgate_proto::ErrorResponse),
        (status = 401, description = "no token, or an invalid one (WWW-Authenticate as the gateway sends it)", body = tollgate_proto::ErrorResponse),
        (status = 403, description = "insufficient_scope", body = tollgate_proto::ErrorResponse),
        (status = 404, description = "the original path is under no [[routes]] entry", body = tollgate_proto::ErrorResponse),
        (status = 429, description = "over the client's quota (Retry-After)", body = tollgate_proto::ErrorResponse),
    )
)]
pub async fn decide(State(gw): State<Arc<Gateway>>, req: Request) -> Result<Response, Error> {
    let o = original(req.headers(), req.method().as_str(), req.uri().path())?;
    let canonical = path::normalize(&o.path).map_err(|e| Error::invalid_request(e.to_string()))?;
    let method = Method::from_bytes(o.method.as_bytes())
        .map_err(|_| Error::invalid_request("the original method is not an HTTP method"))?;
    let host_header = req
        .headers()
        .get(X_FORWARDED_HOST)
        .or(req.headers().get(header::HOST));
    let table = gw.table();
    let host = table.host_of(None, host_header);
    let Some(routing) = table.route_for(&method, host.as_deref(), &canonical.path) else {
        let shown = excerpt(&canonical.path, 64);
        return Err(Error::NotFound(format!("no route for {shown}")));
    };
    let route = &routing.route;
    let routed = |mut resp: Response| {
        resp.extensions_mut().insert(Routed(route.clone()));
        resp
    };
    if canonical.floor < route.depth {
        let e = Error::invalid_request("the path climbs above its route's prefix with `..`");
        return Ok(routed(e.into_response()));
    }
    let admitted = match gw.admit(route, req.headers()).await {
        Ok(a) => a,
        Err(refused) => return Ok(routed(refused)),
    };
    tracing::debug!(method = %o.method, route = %route.prefix, "decision: allowed");
    let mut resp = StatusCode::OK.into_response();
    super::proxy::add_identity(resp.headers_mut(), &admitted.principal);
    Ok(resource::finish(routed(resp), admitted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn each_proxy_says_the_original_request_its_own_way() {
        let nginx = with(&[
            ("x-original-uri", "/inv/items?x=1"),
            ("x-original-method", "POST"),
        ]);
        let caddy = with(&[
            ("x-forwarded-uri", "/inv/items"),
            ("x-forwarded-method", "PUT"),
        ]);
        let cases = [
            (nginx, "GET", DECISION_PATH, "POST", "/inv/items"),
            (caddy, "GET", DECISION_PATH, "PUT", "/inv/items"),
            (
                HeaderMap::new(),
                "DELETE",
                "/gateway/decision/inv/items",
                "DELETE",
                "/inv/items",
            ),
        ];
        for (h, own_method, own_path, method, path) in cases {
            let o = original(&h, own_method, own_path).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(
                o,
                Original {
                    method: method.into(),
                    path: path.into()
                }
            );
        }
        assert!(original(&HeaderMap::new(), "GET", DECISION_PATH).is_err());
        assert!(original(&HeaderMap::new(), "GET", "/gateway/decisionx").is_err());
    }
}
