//! Wall-clock time, replaceable in tests.
//!
//! Expiry and brute-force windows read time only through a `Clock`, so tests
//! can jump an hour ahead instead of sleeping through it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The system clock, or a manual one that moves only when told to.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { manual_ms: None }
    }

    /// A clock stopped at `unix_ms` milliseconds since the epoch.
    pub fn manual(unix_ms: i64) -> Self {
        Self {
            manual_ms: Some(Arc::new(AtomicI64::new(unix_ms))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual_ms {
            Some(ms) => ms.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }

    /// Whole seconds since the Unix epoch.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(ms) = &self.manual_ms {
            ms.fetch_add(
                i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
                Ordering::SeqCst,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = Clock::manual(1_000_500);
        assert_eq!(c.now_secs(), 1000);
        c.advance(Duration::from_millis(600));
        assert_eq!(c.now_ms(), 1_001_100);
        assert_eq!(c.now_secs(), 1001);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(Clock::system().now_secs() > 1_577_836_800);
    }
}
