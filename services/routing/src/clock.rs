//! Where the routing API takes "now" from: the system clock, or, for tests, a fixed instant
//! (`ccd` reads it from `CCD_FAKE_NOW`, see [`FAKE_NOW_ENV`]). The core never reads a
//! clock; the API asks this one once per decision.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;

/// The environment variable that fixes routing's clock for end-to-end tests: Unix seconds
/// (`1767258000`) or RFC 3339 (`2026-01-01T09:00:00+01:00`). Test-only: every decision
/// then happens at that instant.
pub const FAKE_NOW_ENV: &str = "CCD_FAKE_NOW";

/// A source of Unix time in seconds. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The wall clock (greetings and working hours follow it, not a monotonic one).
    pub fn system() -> Clock {
        Clock(Arc::new(system_now))
    }

    /// Always `unix`.
    pub fn fixed(unix: i64) -> Clock {
        Clock(Arc::new(move || unix))
    }

    /// Whatever `now` returns (a test that moves time along).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The system clock, or the fixed instant `fake_now` gives (the value of
    /// [`FAKE_NOW_ENV`]; absent or empty means the system clock).
    pub fn from_fake_now(fake_now: Option<&str>) -> Result<Clock, ClockError> {
        match fake_now.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(Clock::system()),
            Some(value) => {
                let unix = parse_instant(value).ok_or_else(|| ClockError(value.to_owned()))?;
                tracing::warn!(
                    unix,
                    "{FAKE_NOW_ENV} is set: routing decides every call at this fixed instant \
                     (for tests only)"
                );
                Ok(Clock::fixed(unix))
            }
        }
    }

    /// Unix time in seconds.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock(now = {})", self.now())
    }
}

/// A fake time that is neither Unix seconds nor RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{FAKE_NOW_ENV}: {0:?} is neither Unix seconds nor an RFC 3339 time (e.g. 2026-01-01T09:00:00+01:00)"
)]
pub struct ClockError(pub String);

/// Unix seconds or RFC 3339.
fn parse_instant(value: &str) -> Option<i64> {
    if let Ok(unix) = value.parse::<i64>() {
        return DateTime::from_timestamp(unix, 0).map(|_| unix);
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp())
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_now_is_unix_seconds_or_rfc_3339() {
        let fixed = |v| Clock::from_fake_now(Some(v)).map(|c| c.now());
        assert_eq!(fixed("1767258000"), Ok(1_767_258_000));
        assert_eq!(fixed(" 1767258000\n"), Ok(1_767_258_000));
        assert_eq!(fixed("2026-01-01T09:00:00+01:00"), Ok(1_767_254_400));
        assert_eq!(fixed("2026-01-01T08:00:00Z"), Ok(1_767_254_400));
        assert_eq!(fixed("-1"), Ok(-1));
        for bad in [
            "tomorrow",
            "2026-01-01 09:00",
            "2026-01-01",
            "99999999999999999",
        ] {
            let err = fixed(bad).unwrap_err();
            assert!(err.to_string().starts_with("CCD_FAKE_NOW: "), "{err}");
        }
    }

    #[test]
    fn without_a_fake_now_it_is_the_system_clock() {
        let before = system_now();
        for absent in [None, Some(""), Some("  ")] {
            let now = Clock::from_fake_now(absent).unwrap().now();
            assert!(now >= before && now < before + 60, "{now}");
        }
        let ticks = std::sync::atomic::AtomicI64::new(10);
        let moving =
            Clock::from_fn(move || ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        assert_eq!((moving.now(), moving.now()), (10, 11));
    }
}
