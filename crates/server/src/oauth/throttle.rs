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
//! real client.
//!
//! State is per process and bounded in bytes (`table_bytes` per backoff).
//! When a new key would not fit, the least useful entries go first: those
//! forgotten, then those with the fewest failures, oldest first, down to
//! three quarters of the budget. An entry that has used its free failures
//! (so its next failure waits) or has a check in progress is never evicted,
//! so no flood of junk keys resets a guesser's backoff; if the table holds
//! only such entries, a new key is refused for a second ([`Refused::Full`])
//! rather than let in uncounted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::ThrottleConfig;

/// What one entry costs beyond its key's bytes: the `(String, Entry)` slot
/// and control byte of a hash table that may be just past doubling (2.3
/// slots per entry), plus the allocator's rounding of the key.
/// An estimate from the layout, on the high side.
pub const ENTRY_OVERHEAD: usize = 160;
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
    /// The table is full of keys that may not be forgotten yet.
    Full,
}

impl Refused {
    /// Milliseconds to wait: the key's wait, or a second while other checks
    /// decide.
    pub fn wait_ms(self) -> i64 {
        match self {
            Self::Wait(ms) => ms,
            Self::Busy | Self::Full => 1000,
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
    /// The most bytes the table may hold (keys plus [`ENTRY_OVERHEAD`]).
    pub table_bytes: usize,
}

/// The backoffs the token endpoint and the pages keep.
#[derive(Debug)]
pub struct Throttles {
    /// Password checks per (username, source address).
    pub passwords: Backoff,
    /// Password checks per username.
    pub accounts: Backoff,
    /// Client authentications per source address.
    pub clients: Backoff,
    /// User codes entered on the device page per source address (RFC 8628
    /// §5.1), with the client authentications' free failures.
    pub user_codes: Backoff,
}

impl Throttles {
    pub fn new(c: &ThrottleConfig) -> Self {
        let policy = |free, pending_counts| Policy {
            free,
            pending_counts,
            max_delay_ms: i64::try_from(c.max_delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            forget_after_ms: i64::try_from(c.forget_after_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            table_bytes: c.table_bytes,
        };
        Self {
            passwords: Backoff::new(policy(c.free_failures, true)),
            accounts: Backoff::new(policy(c.account_free_failures, true)),
            clients: Backoff::new(policy(c.client_free_failures, false)),
            user_codes: Backoff::new(policy(c.client_free_failures, true)),
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
        self.backoff.lock().remove(&self.key);
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
    table: Mutex<Table>,
}

/// The entries and what they cost, kept together so the count is never
/// out of step with the map.
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
    bytes: usize,
}

/// What keeping `key` costs the table.
fn cost(key: &str) -> usize {
    key.len().saturating_add(ENTRY_OVERHEAD)
}

impl Table {
    fn remove(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            self.bytes = self.bytes.saturating_sub(cost(key));
        }
    }

    /// Evicts the least useful entries until at most `target` bytes are
    /// kept, sparing every one `keep` says must stay.
    fn evict(
        &mut self,
        target: usize,
        keep: impl Fn(&Entry) -> bool,
        forgotten: impl Fn(&Entry) -> bool,
    ) {
        let mut victims: Vec<(bool, u32, i64, String)> = self
            .entries
            .iter()
            .filter(|(_, e)| !keep(e))
            .map(|(k, e)| (!forgotten(e), e.failures, e.last_failure_ms, k.clone()))
            .collect();
        victims.sort_unstable();
        for (.., key) in victims {
            if self.bytes <= target {
                break;
            }
            self.remove(&key);
        }
    }
}

impl Backoff {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            table: Mutex::new(Table::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes the table holds now (keys plus [`ENTRY_OVERHEAD`] each).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
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
        let mut table = self.lock();
        if !table.entries.contains_key(key) {
            self.make_room(&mut table, cost(key), now_ms)?;
        }
        let fresh = Entry {
            failures: 0,
            pending: 0,
            last_failure_ms: now_ms,
            next_allowed_ms: now_ms,
        };
        let Table { entries, bytes } = &mut *table;
        let e = entries.entry(key.to_owned()).or_insert_with(|| {
            *bytes += cost(key);
            fresh
        });
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

    /// Room for a new entry costing `needed` bytes, evicting to three
    /// quarters of the budget when it would not fit.
    fn make_room(&self, table: &mut Table, needed: usize, now_ms: i64) -> Result<(), Refused> {
        let budget = self.policy.table_bytes;
        if table.bytes.saturating_add(needed) <= budget {
            return Ok(());
        }
        let target = (budget / 4 * 3).saturating_sub(needed);
        table.evict(
            target,
            |e| self.must_keep(e, now_ms),
            |e| self.forgotten(e, now_ms),
        );
        if table.bytes.saturating_add(needed) <= budget {
            Ok(())
        } else {
            Err(Refused::Full)
        }
    }

    /// An entry with a check in progress, or one that has used its free
    /// failures and is not yet forgotten: evicting it would hand its key
    /// fresh checks.
    fn must_keep(&self, e: &Entry, now_ms: i64) -> bool {
        e.pending > 0 || (e.failures >= self.policy.free.max(1) && !self.forgotten(e, now_ms))
    }

    /// Ends a check of `key`: a failure at `failed_at`, or nothing.
    fn end(&self, key: &str, failed_at: Option<i64>) {
        let mut table = self.lock();
        let Some(e) = table.entries.get_mut(key) else {
            return;
        };
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
        sized(free, 1 << 20)
    }

    fn sized(free: u32, table_bytes: usize) -> Backoff {
        Backoff::new(Policy {
            free,
            pending_counts: true,
            max_delay_ms: 60_000,
            forget_after_ms: 900_000,
            table_bytes,
        })
    }

    fn fail(b: &Backoff, key: &str, now: i64) {
        b.begin(key, now).map(|t| t.failed(now)).unwrap_or_default();
    }

    fn wait(b: &Backoff, key: &str, now: i64) -> Result<(), i64> {
        b.begin(key, now).map(drop).map_err(|r| match r {
            Refused::Wait(ms) => ms,
            Refused::Busy | Refused::Full => -1,
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
    fn a_flood_of_junk_keys_neither_overflows_the_budget_nor_resets_a_backoff() {
        let b = sized(5, 64 << 10);
        for _ in 0..9 {
            fail(&b, "10.0.0.1 alice", 0);
        }
        let waiting = wait(&b, "10.0.0.1 alice", 0);
        assert!(matches!(waiting, Err(ms) if ms > 0), "{waiting:?}");
        let mut most = 0;
        for i in 0..100_000 {
            fail(&b, &format!("10.0.0.2 junk{i}"), 1);
            most = most.max(b.bytes());
        }
        assert!(most <= 64 << 10, "{most} bytes kept");
        assert_eq!(
            wait(&b, "10.0.0.1 alice", 1),
            waiting.map_err(|ms| ms - 1),
            "still waits"
        );
        // Among the evictable, the fewest failures go first.
        for _ in 0..4 {
            fail(&b, "10.0.0.3 partial", 2);
        }
        for i in 0..2_000 {
            fail(&b, &format!("10.0.0.2 more{i}"), 3);
        }
        let t = b
            .begin("10.0.0.3 partial", 4)
            .unwrap_or_else(|_| unreachable!());
        t.failed(4);
        assert!(
            wait(&b, "10.0.0.3 partial", 4).is_ok(),
            "five failures: the last free one"
        );
        fail(&b, "10.0.0.3 partial", 4);
        assert!(wait(&b, "10.0.0.3 partial", 4).is_err(), "kept its count");
    }

    #[test]
    fn a_table_full_of_backoffs_refuses_new_keys_until_they_are_forgotten() {
        let b = sized(0, 64 << 10);
        let mut i = 0;
        while b.begin(&format!("k{i}"), 0).map(|t| t.failed(0)).is_ok() {
            i += 1;
        }
        assert!(i > 300, "{i} keys fit");
        assert_eq!(b.begin("new", 1).map(drop), Err(Refused::Full));
        assert_eq!(wait(&b, "k0", 1), Err(999), "the kept ones still wait");
        assert!(b.begin("new", 900_000).is_ok(), "forgotten ones make room");
    }

    #[test]
    fn refusals_in_whole_seconds() {
        for (r, secs) in [
            (Refused::Wait(1), 1),
            (Refused::Wait(1000), 1),
            (Refused::Wait(1001), 2),
            (Refused::Wait(60_000), 60),
            (Refused::Busy, 1),
            (Refused::Full, 1),
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
