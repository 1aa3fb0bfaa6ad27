//! Wall-clock times for the API. The core works in monotonic [`Instant`]s; integrators want
//! Unix milliseconds, so one anchor taken at start maps the first onto the second.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A monotonic instant paired with the Unix time it was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    mono: Instant,
    unix_ms: u64,
}

impl WallClock {
    /// Anchors now. Uses tokio's clock so that tests with a paused clock stay consistent.
    pub fn now() -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self::at(tokio::time::Instant::now().into_std(), unix_ms)
    }

    /// An explicit anchor (for tests).
    pub fn at(mono: Instant, unix_ms: u64) -> Self {
        Self { mono, unix_ms }
    }

    /// The Unix time (ms) of a monotonic instant.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        if at >= self.mono {
            let ms = u64::try_from(at.duration_since(self.mono).as_millis()).unwrap_or(u64::MAX);
            self.unix_ms.saturating_add(ms)
        } else {
            let ms = u64::try_from(self.mono.duration_since(at).as_millis()).unwrap_or(u64::MAX);
            self.unix_ms.saturating_sub(ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn instants_map_to_unix_ms_both_sides_of_the_anchor() {
        let mono = Instant::now();
        let wall = WallClock::at(mono, 1_000_000);
        assert_eq!(wall.unix_ms(mono), 1_000_000);
        assert_eq!(wall.unix_ms(mono + Duration::from_millis(1500)), 1_001_500);
        if let Some(before) = mono.checked_sub(Duration::from_millis(250)) {
            assert_eq!(wall.unix_ms(before), 999_750);
        }
    }
}
