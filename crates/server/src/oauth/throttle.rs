//! Slowing down guessing without handing guessers a lockout.
//!
//! A [`Backoff`] counts failed checks per key. The first `free` failures
//! cost nothing; after that each failure makes the key wait before its next
//! real check: 1 s, 2 s, 4 s, ... up to `max_delay`. Attempts made while a
//! key waits are refused without being checked and do not lengthen the
//! wait, so the owner of an account can always sign in at most `max_delay`
//! after the last real check, however long a burst of guesses was. A
//! success clears the key; a key with no failure for `forget_after` starts
//! afresh (NIST SP 800-63B §5.2.2: rate-limit failed attempts, never lock).
//!
//! The keys (which the callers choose) make it per username *and* source
//! address for passwords, so guesses from one address do not delay the owner
//! at another; per username alone with a higher `free`, against guessing
//! spread over many addresses; per source address for client
//! authentication — never per client id, which would let anyone lock out a
//! real client. State is per process and bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::ThrottleConfig;

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 100_000;
/// How long [`Backoff::enter`] waits for other checks of the same key to
/// decide, and how often it looks.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Why a check may not begin now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The key waits this many milliseconds after failed checks.
    Wait(i64),
    /// Checks in progress could use up the free failures: wait for them.
    Busy,
}

impl Refused {
    /// Milliseconds to wait: the key's wait, or a second while other checks
    /// decide.
    pub fn wait_ms(self) -> i64 {
        match self {
            Self::Wait(ms) => ms,
            Self::Busy => 1000,
        }
    }

    /// [`Refused::wait_ms`] in whole seconds, rounded up, at least one: a
    /// `Retry-After` value.
    pub fn retry_after_secs(self) -> u64 {
        u64::try_from(self.wait_ms())
            .unwrap_or(1)
            .div_ceil(1000)
            .max(1)
    }
}

/// How a [`Backoff`] counts and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures before any wait.
    pub free: u32,
    /// Whether checks in progress count as failures until they end, so a
    /// concurrent burst gets no more checks than a serial one. Right for
    /// passwords (one person signs in once at a time); wrong for client
    /// authentication, where a service may start many workers at once.
    pub pending_counts: bool,
    pub max_delay_ms: i64,
    pub forget_after_ms: i64,
}

/// The three backoffs the token endpoint keeps.
#[derive(Debug)]
pub struct Throttles {
    /// Password checks per (username, source address).
    pub passwords: Backoff,
    /// Password checks per username.
    pub accounts: Backoff,
    /// Client authentications per source address.
    pub clients: Backoff,
}

impl Throttles {
    pub fn new(c: &ThrottleConfig) -> Self {
        let policy = |free, pending_counts| Policy {
            free,
            pending_counts,
            max_delay_ms: i64::try_from(c.max_delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            forget_after_ms: i64::try_from(c.forget_after_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        };
        Self {
            passwords: Backoff::new(policy(c.free_failures, true)),
            accounts: Backoff::new(policy(c.account_free_failures, true)),
            clients: Backoff::new(policy(c.client_free_failures, false)),
        }
    }
}

/// The key of a username at a source address.
pub fn user_at(username: &str, source: IpAddr) -> String {
    format!("{source} {username}")
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Checks begun and not yet ended: they count as failures until they
    /// end, so a concurrent burst gets no more checks than a serial one.
    pending: u32,
    last_failure_ms: i64,
    next_allowed_ms: i64,
}

/// A check that [`Backoff::begin`] let through; dropping it without
/// [`Ticket::failed`] or [`Ticket::succeeded`] (an error elsewhere) just
/// ends it.
#[derive(Debug)]
pub struct Ticket<'a> {
    backoff: &'a Backoff,
    key: String,
    ended: bool,
}

impl Ticket<'_> {
    /// The check failed at `now_ms`.
    pub fn failed(mut self, now_ms: i64) {
        self.ended = true;
        self.backoff.end(&self.key, Some(now_ms));
    }

    /// The check succeeded: the key starts afresh.
    pub fn succeeded(mut self) {
        self.ended = true;
        let mut map = self.backoff.lock();
        map.remove(&self.key);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.backoff.end(&self.key, None);
        }
    }
}

#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Backoff {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Backoff::begin`], waiting (up to two seconds) while checks in
    /// progress decide. So concurrent sign-ins of one account are queued,
    /// not refused.
    pub async fn enter(&self, key: &str, now_ms: impl Fn() -> i64) -> Result<Ticket<'_>, Refused> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        loop {
            match self.begin(key, now_ms()) {
                Err(Refused::Busy) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(BUSY_POLL).await;
                }
                other => return other,
            }
        }
    }

    /// A ticket for one real check of `key`, or why not now. Past the free
    /// failures (counting checks in progress), one check at a time.
    pub fn begin(&self, key: &str, now_ms: i64) -> Result<Ticket<'_>, Refused> {
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            map.retain(|_, e| {
                e.pending > 0 || (!self.forgotten(e, now_ms) && e.next_allowed_ms > now_ms)
            });
        }
        let fresh = Entry {
            failures: 0,
            pending: 0,
            last_failure_ms: now_ms,
            next_allowed_ms: now_ms,
        };
        let e = map.entry(key.to_owned()).or_insert(fresh);
        if e.pending == 0 && self.forgotten(e, now_ms) {
            *e = fresh;
        }
        if now_ms < e.next_allowed_ms {
            return Err(Refused::Wait(e.next_allowed_ms - now_ms));
        }
        if self.policy.pending_counts && e.failures + e.pending >= self.policy.free && e.pending > 0
        {
            return Err(Refused::Busy);
        }
        e.pending += 1;
        Ok(Ticket {
            backoff: self,
            key: key.to_owned(),
            ended: false,
        })
    }

    /// Ends a check of `key`: a failure at `failed_at`, or nothing.
    fn end(&self, key: &str, failed_at: Option<i64>) {
        let mut map = self.lock();
        let Some(e) = map.get_mut(key) else { return };
        e.pending = e.pending.saturating_sub(1);
        let Some(now_ms) = failed_at else { return };
        e.failures = e.failures.saturating_add(1);
        e.last_failure_ms = now_ms;
        if let Some(over) = e.failures.checked_sub(self.policy.free + 1) {
            let delay = 1000i64
                .checked_shl(over.min(30))
                .unwrap_or(i64::MAX)
                .min(self.policy.max_delay_ms);
            e.next_allowed_ms = now_ms.saturating_add(delay);
        }
    }

    fn forgotten(&self, e: &Entry, now_ms: i64) -> bool {
        now_ms.saturating_sub(e.last_failure_ms) >= self.policy.forget_after_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(free: u32) -> Backoff {
        Backoff::new(Policy {
            free,
            pending_counts: true,
            max_delay_ms: 60_000,
            forget_after_ms: 900_000,
        })
    }

    fn fail(b: &Backoff, key: &str, now: i64) {
        b.begin(key, now).map(|t| t.failed(now)).unwrap_or_default();
    }

    fn wait(b: &Backoff, key: &str, now: i64) -> Result<(), i64> {
        b.begin(key, now).map(drop).map_err(|r| match r {
            Refused::Wait(ms) => ms,
            Refused::Busy => -1,
        })
    }

    #[test]
    fn free_failures_then_doubling_waits_capped() {
        let b = backoff(2);
        fail(&b, "k", 0);
        fail(&b, "k", 0);
        assert_eq!(wait(&b, "k", 0), Ok(()));
        fail(&b, "k", 0);
        assert_eq!(wait(&b, "k", 0), Err(1000));
        fail(&b, "k", 1000);
        assert_eq!(wait(&b, "k", 1000), Err(2000));
        let mut t = 3000;
        for _ in 0..20 {
            fail(&b, "k", t);
            t += 60_000;
        }
        assert_eq!(wait(&b, "k", t - 60_000), Err(60_000), "capped");
        assert_eq!(wait(&b, "k", t), Ok(()));
        assert_eq!(wait(&b, "other", 0), Ok(()));
    }

    #[test]
    fn refused_attempts_do_not_lengthen_the_wait() {
        let b = backoff(0);
        fail(&b, "k", 0);
        for t in (0..1000).step_by(10) {
            assert!(wait(&b, "k", t).is_err());
        }
        assert_eq!(wait(&b, "k", 1000), Ok(()));
    }

    #[test]
    fn concurrent_checks_past_the_free_ones_go_one_at_a_time() {
        let b = backoff(2);
        let tickets: Vec<_> = (0..10).filter_map(|_| b.begin("k", 0).ok()).collect();
        assert_eq!(tickets.len(), 2, "the free ones");
        for t in tickets {
            t.failed(0);
        }
        let deciding = b.begin("k", 0).unwrap_or_else(|_| unreachable!());
        assert_eq!(
            wait(&b, "k", 0),
            Err(-1),
            "one at a time past the free ones"
        );
        deciding.failed(0);
        assert_eq!(wait(&b, "k", 0), Err(1000));
    }

    #[test]
    fn refusals_in_whole_seconds() {
        for (r, secs) in [
            (Refused::Wait(1), 1),
            (Refused::Wait(1000), 1),
            (Refused::Wait(1001), 2),
            (Refused::Wait(60_000), 60),
            (Refused::Busy, 1),
        ] {
            assert_eq!(r.retry_after_secs(), secs, "{r:?}");
        }
    }

    #[test]
    fn success_and_time_forget() {
        let b = backoff(0);
        let t = b.begin("k", 0).unwrap_or_else(|_| unreachable!());
        t.succeeded();
        assert_eq!(wait(&b, "k", 1), Ok(()));
        fail(&b, "j", 0);
        assert_eq!(wait(&b, "j", 900_000), Ok(()));
        fail(&b, "j", 900_000);
        assert_eq!(wait(&b, "j", 900_000), Err(1000), "counted afresh");
    }
}
