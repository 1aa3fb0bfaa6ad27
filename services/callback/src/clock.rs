//! The scheduler's clock: Unix milliseconds for the core, read from tokio's clock so that a
//! test with `tokio::time::pause` drives the whole service (timers, back-off, windows) on
//! virtual time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::core::Timestamp;

/// A tokio instant paired with the Unix time it stands for; every other instant is mapped
/// through it. Copies share the anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    mono: Instant,
    at: Timestamp,
}

impl Clock {
    /// Anchored to the system's wall clock now.
    pub fn system() -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self::starting_at(Timestamp::from_unix_ms(unix_ms))
    }

    /// Now is `at` (tests pick their own calendar).
    pub fn starting_at(at: Timestamp) -> Self {
        Self {
            mono: Instant::now(),
            at,
        }
    }

    /// The Unix time now.
    pub fn now(&self) -> Timestamp {
        self.at
            .saturating_add(Instant::now().saturating_duration_since(self.mono))
    }

    /// The tokio instant at which it will be `at` (in the past for an instant already
    /// passed; timers for it fire at once).
    pub fn instant(&self, at: Timestamp) -> Instant {
        if at >= self.at {
            self.mono + at.saturating_since(self.at).min(FAR)
        } else {
            let before = self.at.saturating_since(at);
            self.mono.checked_sub(before).unwrap_or(self.mono)
        }
    }
}

/// How far ahead a timer is ever armed (a deadline at the end of time would overflow
/// `Instant`); the scheduler wakes then and arms again.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_time_and_maps_instants_both_ways() {
        let t0 = Timestamp::from_unix_ms(1_700_000_000_000);
        let clock = Clock::starting_at(t0);
        let start = Instant::now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now(), Timestamp::from_unix_ms(1_700_000_001_500));
        let later = Timestamp::from_unix_ms(1_700_000_060_000);
        assert_eq!(clock.instant(later), start + Duration::from_secs(60));
        assert_eq!(
            clock.instant(Timestamp::from_unix_ms(i64::MAX)),
            start + FAR
        );
    }
}
