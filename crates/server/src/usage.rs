//! Usage records: per client, per UTC day and per route, the API calls
//! admitted and refused by each quota, and the token requests by grant and
//! outcome.
//!
//! The hot path only adds to counters in memory (one shard lock, no
//! allocation once a client's row exists); [`Usage::flush`] moves what has
//! accumulated into the store every `usage_flush_ms`, where every
//! instance's counts add up (`Store::add_usage`). A flush that fails puts
//! its counts back, so an outage of the store loses nothing; a `kill -9`
//! loses at most what accumulated since the last flush. Only authenticated
//! clients are counted, so a caller cannot grow the table with made-up ids.

use foldhash::fast::RandomState;
use foldhash::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use crate::clock::{day_of, iso_day, Clock};
use crate::store::{CallUsage, Store, StoreResult, TokenUsage};

const SHARDS: usize = 16;

/// What became of one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Admitted,
    OverPerSecond,
    OverPerDay,
}

/// Counts of one client since the last flush.
#[derive(Debug, Default)]
struct Tally {
    calls: Vec<CallTally>,
    tokens: Vec<TokenTally>,
}

#[derive(Debug)]
struct CallTally {
    day: i64,
    route: String,
    counts: [u64; 3],
}

#[derive(Debug)]
struct TokenTally {
    day: i64,
    grant: &'static str,
    outcome: &'static str,
    n: u64,
}

/// Every client's counts not yet in the store.
#[derive(Debug)]
pub struct Usage {
    shards: Box<[Mutex<HashMap<String, Tally>>]>,
    hasher: RandomState,
    clock: Clock,
}

impl Usage {
    pub fn new(clock: Clock) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            hasher: RandomState::default(),
            clock,
        }
    }

    /// Counts one API call of `client_id` to `route`.
    pub fn call(&self, client_id: &str, route: &str, what: Call) {
        let day = day_of(self.clock.now_ms());
        let mut counts = [0; 3];
        counts[what as usize] = 1;
        self.with_tally(client_id, |t| t.add_call(day, route, counts));
    }

    /// Counts one token request of `client_id`.
    pub fn token(&self, client_id: &str, grant: &'static str, outcome: &'static str) {
        let day = day_of(self.clock.now_ms());
        self.with_tally(client_id, |t| t.add_token(day, grant, outcome, 1));
    }

    fn with_tally(&self, client_id: &str, f: impl FnOnce(&mut Tally)) {
        let shard = &self.shards[self.shard_of(client_id)];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(client_id) {
            Some(t) => f(t),
            None => f(map.entry(client_id.to_owned()).or_default()),
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0)
    }

    /// Moves the counts into the store; returns how many rows were written.
    /// On failure the counts are kept for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<usize> {
        let taken = self.take();
        let (calls, tokens) = records(&taken);
        if calls.is_empty() && tokens.is_empty() {
            return Ok(0);
        }
        match store.add_usage(&calls, &tokens).await {
            Ok(()) => Ok(calls.len() + tokens.len()),
            Err(e) => {
                self.put_back(taken);
                Err(e)
            }
        }
    }

    fn put_back(&self, taken: Vec<HashMap<String, Tally>>) {
        for (client_id, tally) in taken.into_iter().flatten() {
            self.with_tally(&client_id, |t| {
                for c in &tally.calls {
                    t.add_call(c.day, &c.route, c.counts);
                }
                for k in &tally.tokens {
                    t.add_token(k.day, k.grant, k.outcome, k.n);
                }
            });
        }
    }

    /// Every shard's counts, leaving them empty.
    fn take(&self) -> Vec<HashMap<String, Tally>> {
        self.shards
            .iter()
            .map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(|p| p.into_inner())))
            .collect()
    }
}

impl Tally {
    /// Adds `counts` to the row of (`day`, `route`), made when missing.
    fn add_call(&mut self, day: i64, route: &str, counts: [u64; 3]) {
        match self
            .calls
            .iter_mut()
            .find(|c| c.day == day && c.route == route)
        {
            Some(c) => c.counts.iter_mut().zip(counts).for_each(|(a, b)| *a += b),
            None => self.calls.push(CallTally {
                day,
                route: route.to_owned(),
                counts,
            }),
        }
    }

    /// Adds `n` to the row of (`day`, `grant`, `outcome`), made when missing.
    fn add_token(&mut self, day: i64, grant: &'static str, outcome: &'static str, n: u64) {
        match self
            .tokens
            .iter_mut()
            .find(|x| x.day == day && x.grant == grant && x.outcome == outcome)
        {
            Some(x) => x.n += n,
            None => self.tokens.push(TokenTally {
                day,
                grant,
                outcome,
                n,
            }),
        }
    }
}

/// The store's rows for the counts taken.
fn records(taken: &[HashMap<String, Tally>]) -> (Vec<CallUsage>, Vec<TokenUsage>) {
    let mut calls = Vec::new();
    let mut tokens = Vec::new();
    for (client_id, tally) in taken.iter().flatten() {
        for c in &tally.calls {
            calls.push(CallUsage {
                client_id: client_id.clone(),
                day: iso_day(c.day),
                route: c.route.clone(),
                admitted: c.counts[Call::Admitted as usize],
                rejected_per_second: c.counts[Call::OverPerSecond as usize],
                rejected_per_day: c.counts[Call::OverPerDay as usize],
            });
        }
        for t in &tally.tokens {
            tokens.push(TokenUsage {
                client_id: client_id.clone(),
                day: iso_day(t.day),
                grant_type: t.grant.to_owned(),
                outcome: t.outcome.to_owned(),
                count: t.n,
            });
        }
    }
    (calls, tokens)
}

/// Flushes every `every` until the task is dropped; `run` flushes once more
/// at shutdown.
pub async fn flush_loop(usage: Arc<Usage>, store: Arc<dyn Store>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match usage.flush(store.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "usage flushed"),
            Err(e) => {
                tracing::warn!(error = %e, "flushing usage failed; keeping the counts for the next try")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_by_client_day_and_route() {
        let clock = Clock::manual(20_780 * crate::clock::DAY_MS + 1000);
        let u = Usage::new(clock.clone());
        u.call("a", "/locations", Call::Admitted);
        u.call("a", "/locations", Call::Admitted);
        u.call("a", "/locations", Call::OverPerSecond);
        u.call("b", "/v1/", Call::OverPerDay);
        u.token("a", "client_credentials", "issued");
        clock.advance(std::time::Duration::from_secs(86_400));
        u.call("a", "/locations", Call::Admitted);
        let taken = u.take();
        let (mut calls, tokens) = records(&taken);
        calls.sort_by(|x, y| (&x.client_id, &x.day).cmp(&(&y.client_id, &y.day)));
        let summary: Vec<_> = calls
            .iter()
            .map(|c| {
                (
                    c.client_id.as_str(),
                    c.day.as_str(),
                    c.admitted,
                    c.rejected_per_second,
                    c.rejected_per_day,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("a", "2026-11-23", 2, 1, 0),
                ("a", "2026-11-24", 1, 0, 0),
                ("b", "2026-11-23", 0, 0, 1)
            ]
        );
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].count, 1);
        u.put_back(taken);
        let again: usize = u
            .shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert_eq!(again, 2, "a failed flush keeps every client's counts");
    }
}
