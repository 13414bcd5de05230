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

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day (days since 1970-01-01) of a Unix time in milliseconds.
pub fn day_of(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(DAY_MS)
}

/// The Julian day of 1970-01-01, where day numbers count from.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The calendar date of a day number, within `time`'s years 1 to 9999.
fn date_of(day: i64) -> Option<time::Date> {
    let julian = i32::try_from(day.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    time::Date::from_julian_day(julian).ok()
}

/// A day number as `YYYY-MM-DD` (`day N` outside the years 1 to 9999,
/// which no clock or query here reaches).
pub fn iso_day(day: i64) -> String {
    match date_of(day) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => format!("day {day}"),
    }
}

/// The day number of a `YYYY-MM-DD` date, if it is one.
pub fn parse_iso_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(y), month, u8::try_from(d).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates() {
        assert_eq!(iso_day(0), "1970-01-01");
        assert_eq!(iso_day(day_of(1_795_392_000_000)), "2026-11-23");
        assert_eq!(iso_day(-1), "1969-12-31");
        for day in [-1, 0, 59, 10_957, 11_016, 20_415, 2_932_896] {
            assert_eq!(parse_iso_day(&iso_day(day)), Some(day), "{day}");
        }
        assert_eq!(parse_iso_day("2024-02-29"), Some(19_782));
        assert_eq!(iso_day(2_932_897), "day 2932897", "past 9999-12-31");
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "20261123",
            "2026-11-2x",
            "+026-11-23",
        ] {
            assert_eq!(parse_iso_day(bad), None, "{bad}");
        }
    }

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
