//! Brute-force protection for the password grant.
//!
//! After `max_failures` failed attempts for one username within
//! `window_secs`, further attempts are refused without checking the password
//! until the oldest failure leaves the window. Unknown usernames are counted
//! too, so the lockout does not reveal which usernames exist. State is per
//! process and bounded: stale entries are dropped as the map grows.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::config::LockoutPolicy;

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.policy.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Whether attempts for `username` are refused at `now_ms`.
    pub fn is_locked(&self, username: &str, now_ms: i64) -> bool {
        let cutoff = now_ms.saturating_sub(self.window_ms());
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(username).is_some_and(|times| {
            let recent = times.iter().filter(|&&t| t > cutoff).count();
            recent >= self.policy.max_failures as usize
        })
    }

    pub fn record_failure(&self, username: &str, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.window_ms());
        let max = self.policy.max_failures as usize;
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
        }
        let times = map.entry(username.to_owned()).or_default();
        while times.front().is_some_and(|&t| t <= cutoff) || times.len() >= max {
            times.pop_front();
        }
        times.push_back(now_ms);
    }

    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_unlocks_after_window() {
        let l = Lockout::new(LockoutPolicy {
            max_failures: 3,
            window_secs: 60,
        });
        for i in 0..3 {
            assert!(!l.is_locked("u", i * 1000));
            l.record_failure("u", i * 1000);
        }
        assert!(l.is_locked("u", 3_000));
        assert!(!l.is_locked("other", 3_000));
        // The first failure (t=0) leaves the window at t=60s.
        assert!(l.is_locked("u", 59_999));
        assert!(!l.is_locked("u", 60_001));
    }

    #[test]
    fn success_clears() {
        let l = Lockout::new(LockoutPolicy {
            max_failures: 1,
            window_secs: 60,
        });
        l.record_failure("u", 0);
        assert!(l.is_locked("u", 1));
        l.record_success("u");
        assert!(!l.is_locked("u", 2));
    }
}
