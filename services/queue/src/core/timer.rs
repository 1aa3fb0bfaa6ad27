//! Deadlines as data: a min-heap of (deadline, timer). Entries are never removed when they
//! become moot; the core recognises stale ones when they come up, which keeps every update
//! O(log n).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::agents::AgentIdx;
use super::ids::CallId;

/// The core's timers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// A target of the call's offer stops ringing; valid while the offer has `generation`.
    OfferStop { call: CallId, generation: u64 },
    /// The agent's wrap-up ends.
    WrapUpEnd { agent: AgentIdx },
    /// A department's hold on offers ends (by index).
    HoldEnd { department: usize },
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Timers {
    pub fn arm(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    pub fn peek(&self) -> Option<(Instant, &Timer)> {
        self.heap.peek().map(|Reverse((at, t))| (*at, t))
    }

    /// Removes the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        if self.heap.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            self.heap.pop().map(|Reverse(e)| e)
        } else {
            None
        }
    }

    pub fn pop(&mut self) -> Option<(Instant, Timer)> {
        self.heap.pop().map(|Reverse(e)| e)
    }
}
