//! The time range of a report: half-open, by call start.
//!
//! The rule for calls that span a boundary: a call belongs to the range its start falls in,
//! whole: its talk, its end and its outcome count there even when they happen after the
//! range's end, and a call that started before the range is not in it at all, however long
//! it went on. So a call is counted in exactly one of two adjacent ranges, and a report over
//! a closed period does not change when a late call's end arrives, except for that call.
//! Occupancy is the exception: it is time, and is clipped to the range.

use super::event::UnixMs;

/// `[from, to)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    from: UnixMs,
    to: UnixMs,
}

/// A range that ends before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the time range ends ({to}) before it starts ({from})")]
pub struct InvertedRange {
    pub from: UnixMs,
    pub to: UnixMs,
}

impl TimeRange {
    /// `[from, to)`; `from == to` is an empty range.
    pub fn new(from: UnixMs, to: UnixMs) -> Result<Self, InvertedRange> {
        if from > to {
            return Err(InvertedRange { from, to });
        }
        Ok(Self { from, to })
    }

    /// Every time there is.
    pub fn all() -> Self {
        Self {
            from: UnixMs::MIN,
            to: UnixMs::MAX,
        }
    }

    pub fn from(&self) -> UnixMs {
        self.from
    }

    pub fn to(&self) -> UnixMs {
        self.to
    }

    /// Whether `at` falls in the range (a call's start, for the call to count).
    pub fn contains(&self, at: UnixMs) -> bool {
        self.from <= at && at < self.to
    }

    /// How much of `[start, end)` lies in the range, 0 when none (or when the clock went
    /// backwards between the two stamps).
    pub fn overlap_ms(&self, start: UnixMs, end: UnixMs) -> i64 {
        let start = start.max(self.from);
        let end = end.min(self.to);
        end.saturating_sub(start).max(0)
    }
}
