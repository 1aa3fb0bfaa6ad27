//! Whether a target takes callbacks at an instant: a department's working hours, an
//! employee's hours and do-not-disturb. The core asks, it never computes schedules itself;
//! routing's `Schedule` (open_at / next_change) can implement this later without this crate
//! depending on cc-routing.

use super::ids::Target;
use super::time::Timestamp;

/// A target's hours at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    /// Callbacks may be dialled now.
    Open,
    /// Not now; it next opens at `next_open` (`None`: not known, e.g. not within the
    /// schedule's horizon; the core asks again at its next input).
    Closed {
        /// When it opens.
        next_open: Option<Timestamp>,
    },
}

/// The working hours of every target. A closure `Fn(&Target, Timestamp) -> Openness` is one.
pub trait Hours: Send {
    /// Whether `target` takes callbacks at `at`, and if not when it next does.
    fn openness(&self, target: &Target, at: Timestamp) -> Openness;
}

impl<F> Hours for F
where
    F: Fn(&Target, Timestamp) -> Openness + Send,
{
    fn openness(&self, target: &Target, at: Timestamp) -> Openness {
        self(target, at)
    }
}

/// Every target open around the clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl Hours for AlwaysOpen {
    fn openness(&self, _: &Target, _: Timestamp) -> Openness {
        Openness::Open
    }
}
