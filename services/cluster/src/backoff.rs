//! The retry delay every follower, keeper and contender here uses: doubling from a first
//! delay up to 2 s, back to the first after a success.

use std::time::Duration;

const LAST: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    first: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn from(first: Duration) -> Self {
        Self { first, next: first }
    }

    /// The delay the next [`Self::take`] returns (for logs).
    pub(crate) fn peek(&self) -> Duration {
        self.next
    }

    /// The delay to wait now; the one after is twice as long (at most 2 s).
    pub(crate) fn take(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(LAST);
        now
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}
