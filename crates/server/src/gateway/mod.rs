//! The proxying gateway: `[[routes]]` from the config, matched by longest
//! path prefix on segment boundaries (`/inventory` matches `/inventory` and
//! `/inventory/x`, never `/inventoryx`). An unknown path is 404 before any
//! token check and without touching an upstream.

mod balance;
pub mod decision;
mod proxy;
mod send;
mod tls;
mod upgrade;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use foldhash::HashMap;

use crate::clock::Clock;
use crate::config::{ConfigError, HostPattern, Route, UpstreamTls};
use crate::error::excerpt;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::path;
use crate::quota::Quota;
use crate::resource::{self, Resource};
use balance::{Balancer, Member};
use upstream::Pool;

/// The routes, the bearer check in front of them, and each route's pool of
/// upstream connections.
#[derive(Debug)]
pub struct Gateway {
    /// Swapped whole when the routes are reloaded; a request keeps the
    /// table it started with.
    table: ArcSwap<Table>,
    resource: Arc<Resource>,
    /// Longest wait for an upstream's response headers.
    timeout: Duration,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// Each client's quota on routes with `qps` or `per_day`.
    route_quota: Quota,
}

/// The routes as built: most specific first, each with its targets.
#[derive(Debug)]
struct Table {
    routes: Vec<Routing>,
    /// Whether any route matches on `hosts`.
    any_hosts: bool,
}

impl Gateway {
    /// The gateway for `routes`; fails when an https route's TLS files
    /// cannot be read.
    pub fn new(
        routes: Vec<Arc<Route>>,
        resource: Arc<Resource>,
        timeout: Duration,
        (metrics, clock, route_quota): (Arc<Metrics>, Clock, Quota),
    ) -> Result<Self, ConfigError> {
        let table = Table::build(routes, timeout, &metrics)?;
        Ok(Self {
            table: ArcSwap::from_pointee(table),
            resource,
            timeout,
            metrics,
            clock,
            route_quota,
        })
    }

    /// The bearer check and the client's quota (with the route's scopes
    /// and audience), then the route's own quota; a refusal as its
    /// response, with the caller's RateLimit standing once its own quota
    /// admitted it.
    async fn admit(
        &self,
        route: &Route,
        headers: &HeaderMap,
    ) -> Result<resource::Admitted, Response> {
        let audience = route.audience.as_deref().unwrap_or(self.resource.issuer());
        let admitted = self
            .resource
            .admit(headers, &route.required_scopes, audience, &route.prefix)
            .await
            .map_err(IntoResponse::into_response)?;
        match self.admit_on_route(route, &admitted.principal).await {
            Ok(()) => Ok(admitted),
            Err(e) => Err(resource::finish(e.into_response(), admitted)),
        }
    }

    /// The route's own quota for the caller, when it has one: a request
    /// the client's quota admitted may still be over the route's.
    async fn admit_on_route(
        &self,
        route: &Route,
        principal: &resource::Principal,
    ) -> Result<(), Error> {
        let Some(limits) = route.quota else {
            return Ok(());
        };
        let key = format!("{}\n{}", route.prefix, principal.0.client_id);
        self.route_quota.admit(&key, limits).await?;
        Ok(())
    }

    /// Puts `routes` in place of the routes in use, for requests from now
    /// on (those in progress finish on the old ones); on an error nothing
    /// changes.
    pub fn replace_routes(&self, routes: Vec<Arc<Route>>) -> Result<(), ConfigError> {
        let table = Table::build(routes, self.timeout, &self.metrics)?;
        self.table.store(Arc::new(table));
        Ok(())
    }

    /// The routes in use now.
    fn table(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// How long until `principal`'s token expires.
    fn until_expiry(&self, principal: &resource::Principal) -> Duration {
        let left_ms = principal.0.expires_at_ms - self.clock.now_ms();
        Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))
    }
}

impl Table {
    /// Each route with its targets' pools (one per upstream, TLS setting
    /// and connect timeout) and health checks.
    fn build(
        routes: Vec<Arc<Route>>,
        timeout: Duration,
        metrics: &Metrics,
    ) -> Result<Self, ConfigError> {
        let mut pools: HashMap<PoolKey, Arc<Pool>> = HashMap::default();
        let mut system = tls::SystemRoots::default();
        let mut routing = Vec::with_capacity(routes.len());
        for route in routes {
            let mut members = Vec::with_capacity(route.targets.len());
            for w in &route.targets {
                let to = &w.target;
                let connect = route.timeouts.connect.unwrap_or(timeout);
                let key = (to.authority.clone(), to.https, route.tls.clone(), connect);
                let pool = match pools.get(&key) {
                    Some(p) => p.clone(),
                    None => {
                        let tls = to.https.then(|| tls::connector(&route, to, &mut system));
                        let tls = tls.transpose()?;
                        let pool = Pool::new(to.authority.clone(), to.addr.clone(), tls, connect);
                        pools.entry(key).or_insert(Arc::new(pool)).clone()
                    }
                };
                let stats = metrics.target(&route.prefix, to.authority.as_str());
                members.push(Member::new(to.clone(), pool, w.weight, stats));
            }
            let balancer = (!members.is_empty()).then(|| {
                let check = route.health_check.as_ref();
                let b = Balancer::new(members, route.balance, route.passive_health, check);
                let b = Arc::new(b);
                if let Some(check) = check {
                    balance::spawn_checks(&b, check.clone());
                }
                b
            });
            routing.push(Routing { route, balancer });
        }
        Ok(Self {
            any_hosts: routing.iter().any(|r| !r.route.hosts.is_empty()),
            routes: routing,
        })
    }

    /// The route for a request: the first (most specific) that takes it.
    fn route_for(&self, method: &Method, host: Option<&str>, path: &str) -> Option<&Routing> {
        self.routes
            .iter()
            .find(|r| r.route.takes(method, host, path))
    }

    /// The host a request names (its URI's `authority`, as HTTP/2 gives
    /// it, else its `Host` header), normalized; not looked at when no
    /// route has `hosts`.
    fn host_of(
        &self,
        authority: Option<&Authority>,
        host_header: Option<&HeaderValue>,
    ) -> Option<String> {
        if !self.any_hosts {
            return None;
        }
        let named = authority
            .map(Authority::as_str)
            .or_else(|| host_header.and_then(|h| h.to_str().ok()))?;
        Some(HostPattern::normalize(named))
    }
}

/// Routes to one upstream with the same TLS settings and connect timeout
/// share a pool.
type PoolKey = (Authority, bool, UpstreamTls, Duration);

/// A route and its targets (each with the pool of connections to it),
/// paired once when the gateway is built (routes to one upstream share
/// its pool); none for a decision-only route.
#[derive(Debug)]
struct Routing {
    route: Arc<Route>,
    balancer: Option<Arc<Balancer>>,
}

/// In the extensions of a response the gateway made for a route, so that the
/// access log names the route without matching the path again.
#[derive(Debug, Clone)]
pub struct Routed(pub Arc<Route>);

/// The gateway, for every path no built-in route takes. The path is put
/// in canonical form first ([`crate::path`]), and that one form
/// chooses the route, is checked against its scopes, and goes upstream.
/// 400 for a path that cannot be normalised safely or whose `..` climbed
/// above its route's prefix, 404 for one no route matches (all before any
/// token check, without touching an upstream); then the bearer check and
/// quota with the route's scopes, then the upstream. One handler rather
/// than layers: the per-request work of each layer showed in profiles.
pub async fn gateway(State(gw): State<Arc<Gateway>>, req: Request) -> Result<Response, Error> {
    // The request moves upstream below; its URI (shared bytes) stays here.
    let uri = req.uri().clone();
    let path = path::normalize(uri.path()).map_err(|e| Error::invalid_request(e.to_string()))?;
    let table = gw.table();
    let host = table.host_of(req.uri().authority(), req.headers().get(header::HOST));
    let Some(Routing { route, balancer }) =
        table.route_for(req.method(), host.as_deref(), &path.path)
    else {
        let shown = excerpt(&path.path, 64);
        return Err(Error::NotFound(format!("no route for {shown}")));
    };
    // From here every answer, refusals too, names its route (access log,
    // metrics).
    let routed = |mut resp: Response| {
        resp.extensions_mut().insert(Routed(route.clone()));
        resp
    };
    if path.floor < route.depth {
        let e = Error::invalid_request("the path climbs above its route's prefix with `..`");
        return Ok(routed(e.into_response()));
    }
    let Some(balancer) = balancer else {
        let e = Error::NotFound(format!(
            "{} is judged by {}, not proxied",
            route.prefix,
            decision::DECISION_PATH
        ));
        return Ok(routed(e.into_response()));
    };
    // CORS, when the route names origins: a preflight carries no token, so
    // it is answered here for those origins, before the bearer check.
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|o| route.allows_origin(o))
        .cloned();
    if req.method() == Method::OPTIONS && crate::cors::origin_of_preflight(req.headers()).is_some()
    {
        if let Some(o) = origin {
            let methods = "GET, HEAD, POST, PUT, PATCH, DELETE";
            return Ok(routed(crate::cors::preflight(o, methods)));
        }
    }
    let cors = |mut resp: Response| {
        if !route.cors_origins.is_empty() {
            crate::cors::allow(resp.headers_mut(), origin.clone());
        }
        resp
    };
    let admitted = match gw.admit(route, req.headers()).await {
        Ok(a) => a,
        Err(refused) => return Ok(cors(routed(refused))),
    };
    // An upstream failure still carries the caller's RateLimit standing.
    let resp = proxy::forward(&gw, (route, balancer), &path.path, &admitted.principal, req)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    Ok(cors(resource::finish(routed(resp), admitted)))
}
