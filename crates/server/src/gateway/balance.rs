//! Spreading a route's requests over its targets, and keeping the ones
//! that fail out of the way, as Envoy and Kong do.
//!
//! - **Choice**: round robin in proportion to the weights (nginx's smooth
//!   weighted order, computed once), or the target with the fewest
//!   requests waiting for their response headers for its weight; targets
//!   that are out are skipped.
//! - **Passive health** (Envoy's outlier detection): `failures` failures
//!   in a row (no connection, no answer, a 5xx) eject a target for
//!   `ejection`, doubled for each ejection since it last stayed up for as
//!   long as it was out, at most `max_ejection`. It comes back by itself
//!   when that time is over.
//! - **Active health** (optional): each target's path is asked every
//!   `interval`; `unhealthy` failures in a row take it out, `healthy`
//!   answers in a row bring it back and end a passive ejection too
//!   (Envoy's `successful_active_health_check_uneject_host`). Targets
//!   start up. The checks stop when the gateway is dropped.
//!
//! All out: the caller is told when to retry, never kept waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use http_body_util::BodyExt;

use super::upstream::Pool;
use crate::config::{Balance, HealthCheck, PassiveHealth, Target};
use crate::metrics::TargetStats;

/// A route's targets and their health.
#[derive(Debug)]
pub struct Balancer {
    members: Vec<Member>,
    balance: Balance,
    passive: PassiveHealth,
    /// Smooth weighted round robin: member indexes in the order they are
    /// given requests, each as often as its weight.
    schedule: Vec<usize>,
    next: AtomicUsize,
    /// How long a target stays out after active checks took it out, as
    /// far as a caller can be told (`Retry-After`).
    checked_out_for: Duration,
}

/// One target.
#[derive(Debug)]
pub struct Member {
    pub target: Target,
    pub pool: Arc<Pool>,
    weight: u32,
    in_flight: AtomicUsize,
    health: Mutex<Health>,
    stats: TargetStats,
}

#[derive(Debug, Default)]
struct Health {
    /// Passive: failures in a row.
    failures: u32,
    ejected_until: Option<Instant>,
    /// Ejections in a row, for the doubling.
    ejections: u32,
    /// Active: taken out by its checks.
    checked_out: bool,
    passes: u32,
    fails: u32,
}

impl Health {
    fn is_up(&self, now: Instant) -> bool {
        !self.checked_out && self.ejected_until.is_none_or(|t| now >= t)
    }
}

/// A request in flight to a member, counted until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Member);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Member {
    pub fn new(target: Target, pool: Arc<Pool>, weight: u32, stats: TargetStats) -> Self {
        stats.set_up(true);
        Self {
            target,
            pool,
            weight,
            in_flight: AtomicUsize::new(0),
            health: Mutex::default(),
            stats,
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a request to this member until the guard is dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
}

impl Balancer {
    pub fn new(
        members: Vec<Member>,
        balance: Balance,
        passive: PassiveHealth,
        check: Option<&HealthCheck>,
    ) -> Self {
        let weights: Vec<u32> = members.iter().map(|m| m.weight).collect();
        let checked_out_for = check.map_or(Duration::ZERO, |c| c.interval * c.healthy);
        Self {
            schedule: smooth_order(&weights),
            members,
            balance,
            passive,
            next: AtomicUsize::new(0),
            checked_out_for,
        }
    }

    pub fn member(&self, i: usize) -> Option<&Member> {
        self.members.get(i)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The member for the next request, other than `except`; when none is
    /// up, how long until one may be.
    pub fn pick(&self, except: Option<usize>) -> Result<usize, Duration> {
        let now = Instant::now();
        let up = |i: usize| Some(i) != except && self.members[i].health().is_up(now);
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let found = match self.balance {
            Balance::RoundRobin => (0..self.schedule.len())
                .map(|k| self.schedule[(turn + k) % self.schedule.len()])
                .find(|&i| up(i)),
            Balance::LeastInFlight => self.least_in_flight(up, turn),
        };
        found.ok_or_else(|| self.wait(now, except))
    }

    /// The member up with the fewest requests in flight for its weight;
    /// ties go round, from `turn`.
    fn least_in_flight(&self, up: impl Fn(usize) -> bool, turn: usize) -> Option<usize> {
        let n = self.members.len();
        let load = |i: usize| {
            let m = &self.members[i];
            (
                m.in_flight.load(Ordering::Relaxed) as u64,
                u64::from(m.weight),
            )
        };
        (0..n)
            .map(|k| (turn + k) % n)
            .filter(|&i| up(i))
            .min_by(|&a, &b| {
                let ((fa, wa), (fb, wb)) = (load(a), load(b));
                (fa * wb).cmp(&(fb * wa))
            })
    }

    /// Until the first ejection ends (or the checks may bring one back).
    fn wait(&self, now: Instant, except: Option<usize>) -> Duration {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != except)
            .map(|(_, m)| {
                let h = m.health();
                let ejected = h.ejected_until.map_or(Duration::ZERO, |t| t - now.min(t));
                if h.checked_out {
                    ejected.max(self.checked_out_for)
                } else {
                    ejected
                }
            })
            .min()
            .unwrap_or(Duration::ZERO)
    }

    /// The outcome of a request to member `i`: `ok` when it answered with
    /// anything but a 5xx.
    pub fn report(&self, i: usize, ok: bool, latency: Duration) {
        let Some(m) = self.members.get(i) else {
            return;
        };
        m.stats.request(latency, ok);
        let mut h = m.health();
        let now = Instant::now();
        if ok {
            h.failures = 0;
            m.stats.set_up(h.is_up(now));
            // Up for as long as it was last out: the doubling starts over.
            let out_for = self.ejection(h.ejections);
            if h.ejected_until.is_some_and(|t| now >= t + out_for) {
                h.ejections = 0;
                h.ejected_until = None;
            }
            return;
        }
        h.failures += 1;
        let due = self.passive.failures > 0 && h.failures >= self.passive.failures;
        if due && h.is_up(now) {
            h.ejections += 1;
            let out_for = self.ejection(h.ejections);
            h.ejected_until = Some(now + out_for);
            h.failures = 0;
            tracing::warn!(upstream = %m.target.authority, secs = out_for.as_secs_f64(), "target ejected after failures in a row");
            m.stats.set_up(false);
        }
    }

    /// The length of the `n`th ejection in a row.
    fn ejection(&self, n: u32) -> Duration {
        let doubled = self
            .passive
            .ejection
            .saturating_mul(1 << n.saturating_sub(1).min(16));
        doubled.min(self.passive.max_ejection)
    }

    /// The outcome of an active check of member `i`.
    fn checked(&self, i: usize, ok: bool, check: &HealthCheck) {
        let Some(m) = self.members.get(i) else {
            return;
        };
        let mut h = m.health();
        if ok {
            (h.passes, h.fails) = (h.passes + 1, 0);
            if h.passes >= check.healthy && (h.checked_out || h.ejected_until.is_some()) {
                (h.checked_out, h.ejected_until, h.failures) = (false, None, 0);
                tracing::info!(upstream = %m.target.authority, "target healthy again");
            }
        } else {
            (h.passes, h.fails) = (0, h.fails + 1);
            if h.fails >= check.unhealthy && !h.checked_out {
                h.checked_out = true;
                tracing::warn!(upstream = %m.target.authority, "target failed its health checks");
            }
        }
        m.stats.set_up(h.is_up(Instant::now()));
    }
}

/// nginx's smooth weighted round robin, run once over a whole cycle: each
/// index as often as its weight, spread out (weights 5, 1, 1 give
/// a a b a c a a, not a a a a a b c).
fn smooth_order(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i64::from(w);
        }
        let best = (0..weights.len()).max_by_key(|&i| (current[i], std::cmp::Reverse(i)));
        if let Some(b) = best {
            current[b] -= total;
            order.push(b);
        }
    }
    order
}

/// Starts the active checks of `balancer`'s members: one task each, that
/// ends when the balancer is dropped. Needs a Tokio runtime.
pub fn spawn_checks(balancer: &Arc<Balancer>, check: HealthCheck) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("health checks need a Tokio runtime; none were started");
        return;
    };
    let check = Arc::new(check);
    for i in 0..balancer.len() {
        let (weak, check) = (Arc::downgrade(balancer), check.clone());
        runtime.spawn(check_loop(weak, i, check));
    }
}

async fn check_loop(balancer: Weak<Balancer>, i: usize, check: Arc<HealthCheck>) {
    loop {
        tokio::time::sleep(check.interval).await;
        let Some(b) = balancer.upgrade() else {
            return;
        };
        let Some(m) = b.member(i) else {
            return;
        };
        let ok = probe(m, &check).await;
        b.checked(i, ok, &check);
    }
}

/// One health check: `GET` the target's base path + `check.path`, healthy
/// when answered 2xx or 3xx, body and all, within the timeout.
async fn probe(m: &Member, check: &HealthCheck) -> bool {
    let path = format!("{}{}", m.target.base_path, check.path);
    let req = Request::get(path)
        .header(header::HOST, m.target.host.clone())
        .header(
            header::USER_AGENT,
            HeaderValue::from_static("tollgate-health-check"),
        )
        .body(Body::empty());
    let Ok(req) = req else {
        return false;
    };
    let asked = async {
        let resp = m.pool.send(req).await.ok()?;
        let healthy = resp.status().is_success() || resp.status().is_redirection();
        resp.into_body().collect().await.ok()?;
        Some(healthy)
    };
    matches!(
        tokio::time::timeout(check.timeout, asked).await,
        Ok(Some(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_order_spreads_by_weight() {
        assert_eq!(smooth_order(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(smooth_order(&[1, 1, 1]), vec![0, 1, 2]);
        assert_eq!(smooth_order(&[2, 1]), vec![0, 1, 0]);
    }
}
