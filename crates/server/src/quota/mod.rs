//! Per-client quotas: requests per second and per UTC day (the seed: "the
//! maximum number of requests that can be made per second and per day").
//!
//! Per second is a GCRA (the virtual-scheduling form of a token bucket): a
//! client may make `burst + 1` requests at once and then one every `1/qps`
//! seconds, so in any one-second window at most `qps + burst` are admitted.
//! Per day is a counter that resets at 00:00 UTC. Both are decided together
//! under one lock per shard of clients, so a decision is atomic: concurrent
//! requests can never both take the last slot. Only admitted requests count.

mod gate;
pub mod redis;

use foldhash::fast::RandomState;
use foldhash::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue};

pub use crate::config::Limits;
pub use gate::{Quota, Refusal};

pub(crate) const DAY_MS: i64 = 86_400_000;
const SHARDS: usize = 16;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    PerSecond,
    PerDay,
}

impl Exceeded {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerSecond => "per_second",
            Self::PerDay => "per_day",
        }
    }
}

/// Where a client stands after a decision, for the `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// (limit incl. burst, remaining now, seconds until fully replenished)
    pub per_second: Option<(u64, u64, u64)>,
    /// (limit, remaining today, seconds until 00:00 UTC)
    pub per_day: Option<(u64, u64, u64)>,
}

impl Standing {
    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let mut policy = Vec::new();
        let mut current = Vec::new();
        if let Some((q, r, t)) = self.per_second {
            policy.push(format!("\"per-second\";q={q};w=1"));
            current.push(format!("\"per-second\";r={r};t={t}"));
        }
        if let Some((q, r, t)) = self.per_day {
            policy.push(format!("\"per-day\";q={q};w=86400"));
            current.push(format!("\"per-day\";r={r};t={t}"));
        }
        for (name, items) in [("ratelimit-policy", policy), ("ratelimit", current)] {
            if let (false, Ok(v)) = (items.is_empty(), HeaderValue::from_str(&items.join(", "))) {
                headers.insert(name, v);
            }
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub exceeded: Exceeded,
    /// Milliseconds until a request would be admitted.
    pub retry_after_ms: i64,
    pub standing: Standing,
}

impl Rejection {
    /// `Retry-After` in whole seconds, rounded up and never 0.
    pub fn retry_after_secs(&self) -> u64 {
        u64::try_from((self.retry_after_ms + 999) / 1000)
            .unwrap_or(1)
            .max(1)
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    /// GCRA theoretical arrival time, microseconds.
    tat_us: i64,
    day: i64,
    day_count: u64,
}

/// Quota state for every client, sharded to keep lock contention low.
#[derive(Debug)]
pub struct Quotas {
    burst: u64,
    shards: Box<[Mutex<HashMap<String, Counter>>]>,
    hasher: RandomState,
}

impl Quotas {
    pub fn new(burst: u64) -> Self {
        Self {
            burst,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            hasher: RandomState::default(),
        }
    }

    /// Admits or refuses one request of `key` at `now_ms`.
    pub fn decide(&self, key: &str, limits: Limits, now_ms: i64) -> Result<Standing, Rejection> {
        if limits.is_unlimited() {
            return Ok(Standing::default());
        }
        let shard = &self.shards[self.shard_of(key)];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let counter = match map.get_mut(key) {
            Some(c) => c,
            None => map.entry(key.to_owned()).or_default(),
        };
        decide(counter, limits, self.burst, now_ms)
    }

    /// Where `key` stands at `now_ms`, without counting a request.
    pub fn peek(&self, key: &str, limits: Limits, now_ms: i64) -> Standing {
        let shard = &self.shards[self.shard_of(key)];
        let map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.get(key).copied().unwrap_or_default();
        let count = if c.day == now_ms.div_euclid(DAY_MS) {
            c.day_count
        } else {
            0
        };
        standing(limits, self.burst, c.tat_us, count, now_ms)
    }

    fn shard_of(&self, key: &str) -> usize {
        usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0)
    }
}

/// The GCRA parameters for `lim`: (emission interval, tolerance) in µs.
pub(crate) fn gcra(lim: Limits, burst: u64) -> Option<(i64, i64)> {
    (lim.qps > 0).then(|| {
        let interval = (1_000_000 / i64::try_from(lim.qps).unwrap_or(i64::MAX)).max(1);
        (
            interval,
            interval.saturating_mul(i64::try_from(burst).unwrap_or(i64::MAX)),
        )
    })
}

/// Where a client stands, given its GCRA time and today's count.
pub(crate) fn standing(
    lim: Limits,
    burst: u64,
    tat_us: i64,
    day_count: u64,
    now_ms: i64,
) -> Standing {
    let now_us = now_ms.saturating_mul(1000);
    let day_left_ms = (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS - now_ms;
    Standing {
        per_second: gcra(lim, burst).map(|(interval, tolerance)| {
            let tat = tat_us.max(now_us);
            let remaining = (now_us + tolerance - tat).div_euclid(interval) + 1;
            let reset = (tat - now_us + 999_999) / 1_000_000;
            (lim.qps + burst, to_u64(remaining), to_u64(reset))
        }),
        per_day: (lim.per_day > 0).then(|| {
            (
                lim.per_day,
                lim.per_day.saturating_sub(day_count),
                to_u64((day_left_ms + 999) / 1000),
            )
        }),
    }
}

/// The refusal for `exceeded`, given the state that caused it.
pub(crate) fn rejection(
    exceeded: Exceeded,
    lim: Limits,
    burst: u64,
    tat_us: i64,
    day_count: u64,
    now_ms: i64,
) -> Rejection {
    let retry_after_ms = match (exceeded, gcra(lim, burst)) {
        (Exceeded::PerSecond, Some((_, tolerance))) => {
            (tat_us - tolerance - now_ms * 1000 + 999) / 1000
        }
        _ => (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS - now_ms,
    };
    Rejection {
        exceeded,
        retry_after_ms: retry_after_ms.max(1),
        standing: standing(lim, burst, tat_us, day_count, now_ms),
    }
}

fn decide(c: &mut Counter, lim: Limits, burst: u64, now_ms: i64) -> Result<Standing, Rejection> {
    let now_us = now_ms.saturating_mul(1000);
    let day = now_ms.div_euclid(DAY_MS);
    if c.day != day {
        c.day = day;
        c.day_count = 0;
    }
    if lim.per_day > 0 && c.day_count >= lim.per_day {
        return Err(rejection(
            Exceeded::PerDay,
            lim,
            burst,
            c.tat_us,
            c.day_count,
            now_ms,
        ));
    }
    if let Some((interval, tolerance)) = gcra(lim, burst) {
        let tat = c.tat_us.max(now_us);
        if tat - tolerance > now_us {
            return Err(rejection(
                Exceeded::PerSecond,
                lim,
                burst,
                c.tat_us,
                c.day_count,
                now_ms,
            ));
        }
        c.tat_us = tat + interval;
    }
    c.day_count += 1;
    Ok(standing(lim, burst, c.tat_us, c.day_count, now_ms))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(q: &Quotas, limits: Limits, times_ms: impl IntoIterator<Item = i64>) -> usize {
        times_ms
            .into_iter()
            .filter(|&t| q.decide("c", limits, t).is_ok())
            .count()
    }

    #[test]
    fn qps_without_burst_spaces_requests() {
        let q = Quotas::new(0);
        let lim = Limits { qps: 5, per_day: 0 };
        // 50 requests evenly over one second: 5 admitted.
        assert_eq!(admitted(&q, lim, (0..50).map(|i| 1_000_000 + i * 20)), 5);
    }

    #[test]
    fn burst_allows_that_many_extra_at_once() {
        let q = Quotas::new(3);
        let lim = Limits { qps: 5, per_day: 0 };
        assert_eq!(admitted(&q, lim, std::iter::repeat_n(1_000_000, 50)), 4);
        // In any one-second window: at most qps + burst.
        let q = Quotas::new(3);
        assert_eq!(admitted(&q, lim, (0..100).map(|i| 1_000_000 + i * 10)), 8);
    }

    #[test]
    fn rejection_says_when_to_retry() {
        let q = Quotas::new(0);
        let lim = Limits { qps: 2, per_day: 0 };
        assert!(q.decide("c", lim, 10_000).is_ok());
        let r = q.decide("c", lim, 10_100).err();
        assert_eq!(
            r.map(|r| (r.exceeded, r.retry_after_ms)),
            Some((Exceeded::PerSecond, 400))
        );
        assert!(q.decide("c", lim, 10_500).is_ok());
    }

    #[test]
    fn per_day_resets_at_midnight_utc() {
        let q = Quotas::new(0);
        let lim = Limits { qps: 0, per_day: 3 };
        let evening = 20 * DAY_MS + DAY_MS - 60_000;
        assert_eq!(admitted(&q, lim, (0..10).map(|i| evening + i)), 3);
        let r = q.decide("c", lim, evening + 100).err();
        assert_eq!(
            r.map(|r| (r.exceeded, r.retry_after_secs())),
            Some((Exceeded::PerDay, 60))
        );
        assert!(q.decide("c", lim, 21 * DAY_MS).is_ok(), "new UTC day");
    }

    #[test]
    fn clients_are_independent_and_unlimited_is_free() {
        let q = Quotas::new(0);
        let lim = Limits { qps: 1, per_day: 0 };
        assert!(q.decide("a", lim, 0).is_ok());
        assert!(q.decide("b", lim, 0).is_ok());
        assert!(q.decide("a", lim, 1).is_err());
        assert_eq!(admitted(&q, Limits::default(), 0..1000), 1000);
    }

    #[test]
    fn peeking_spends_nothing() {
        let q = Quotas::new(0);
        let lim = Limits {
            qps: 2,
            per_day: 10,
        };
        let fresh = q.peek("c", lim, 5_000);
        assert_eq!(fresh.per_day.map(|d| d.1), Some(10));
        assert_eq!(fresh.per_second.map(|p| p.1), Some(1));
        assert!(q.decide("c", lim, 5_000).is_ok());
        for _ in 0..5 {
            assert_eq!(q.peek("c", lim, 5_000).per_day.map(|d| d.1), Some(9));
        }
        assert!(q.decide("c", lim, 5_500).is_ok(), "peeks took no slot");
        let tomorrow = q.peek("c", lim, 5_000 + DAY_MS);
        assert_eq!(tomorrow.per_day.map(|d| d.1), Some(10));
    }

    #[test]
    fn standing_counts_down() {
        let q = Quotas::new(2);
        let lim = Limits {
            qps: 10,
            per_day: 100,
        };
        let s = q.decide("c", lim, 5_000).unwrap_or_default();
        assert_eq!(s.per_second.map(|p| (p.0, p.1)), Some((12, 2)));
        assert_eq!(s.per_day.map(|d| (d.0, d.1)), Some((100, 99)));
    }

    #[test]
    fn concurrent_decisions_never_exceed_the_limit() {
        let q = std::sync::Arc::new(Quotas::new(0));
        let lim = Limits {
            qps: 0,
            per_day: 1000,
        };
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    (0..500).filter(|_| q.decide("c", lim, 1).is_ok()).count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(total, 1000);
    }
}
