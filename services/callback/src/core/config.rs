//! The scheduler's settings, parsed once into typed values.

use std::time::Duration;

/// Settings of a [`super::CallbackCore`].
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    /// Most active (pending or dispatching) callbacks; a request beyond it is refused with
    /// [`super::CallbackError::Full`] unless it merges. A restore takes every stored record
    /// even beyond it (nothing durable is dropped), so requests are refused until enough
    /// finish.
    pub max_pending: usize,
    /// Attempts allowed when a request does not say.
    pub max_attempts: u32,
    /// The wait before the second attempt.
    pub first_retry: Duration,
    /// Each later wait is the previous one times this (at least 1).
    pub retry_factor: f64,
    /// The longest wait between two attempts.
    pub max_retry: Duration,
    /// How long after a dispatch without a result the attempt counts as failed
    /// ([`super::Outcome::InDoubt`]). Until then nobody dials it again, so it bounds the
    /// delay a leader change adds; it must exceed the longest dial (ringing the agent and
    /// the customer), or a late `Reached` could come after a retry was dialled.
    pub in_doubt_after: Duration,
    /// Most history entries a record keeps.
    pub max_history: usize,
    /// The longest window a request may ask for.
    pub max_window: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_pending: 100_000,
            max_attempts: 3,
            first_retry: Duration::from_secs(120),
            retry_factor: 2.0,
            max_retry: Duration::from_secs(30 * 60),
            in_doubt_after: Duration::from_secs(10 * 60),
            max_history: 64,
            max_window: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

impl CoreConfig {
    /// The wait after failed attempt `attempt` (1-based) before the next:
    /// `first_retry * retry_factor^(attempt - 1)`, at most `max_retry`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = if self.retry_factor.is_finite() {
            self.retry_factor.max(1.0)
        } else {
            1.0
        };
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let ms = self.first_retry.as_millis() as f64 * factor.powi(exponent);
        let cap = self.max_retry.as_millis() as f64;
        let ms = if ms.is_finite() { ms.min(cap) } else { cap };
        // Non-negative and at most max_retry, so the cast is exact enough.
        Duration::from_millis(ms.max(0.0) as u64)
    }
}
