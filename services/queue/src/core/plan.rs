//! Ring plans: what the caller's sip-edge node executes (public [`RingPlan`]), and the
//! core's running copy of it (`Offer`), which moves on when targets end early.

use std::time::{Duration, Instant};

use super::agents::AgentIdx;
use super::ids::{AgentId, DepartmentId};

/// One agent to ring, with offsets from [`RingPlan::created_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingTarget {
    /// The agent to ring.
    pub agent: AgentId,
    /// When to start ringing this agent.
    pub start: Duration,
    /// When to stop ringing this agent if nobody answered.
    pub stop: Duration,
}

/// The schedule of ringing for one queued call. The first answer wins; the core then cancels
/// the other targets. Every target is reserved for this call until it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingPlan {
    /// The department whose queue the call is in.
    pub department: DepartmentId,
    /// The origin of the offsets.
    pub created_at: Instant,
    /// Targets in ring order.
    pub targets: Vec<RingTarget>,
}

/// A target as the core tracks it, in absolute time.
#[derive(Debug, Clone)]
pub(crate) struct LiveTarget {
    pub agent: AgentIdx,
    pub start: Instant,
    pub stop: Instant,
}

/// A running plan: the targets that are still reserved (ringing or yet to ring).
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub created_at: Instant,
    pub targets: Vec<LiveTarget>,
    /// Bumped whenever a new deadline is armed, so an older timer entry is recognised stale.
    pub generation: u64,
}

impl Offer {
    /// The next moment a target stops on its own.
    pub fn next_stop(&self) -> Option<Instant> {
        self.targets.iter().map(|t| t.stop).min()
    }

    /// Removes the agent's target, saying whether it was there.
    pub fn remove(&mut self, agent: AgentIdx) -> bool {
        let before = self.targets.len();
        self.targets.retain(|t| t.agent != agent);
        self.targets.len() != before
    }

    /// When nobody is ringing any more but targets remain scheduled, brings the remaining
    /// schedule forward so the next target starts now: a caller is never left with nobody
    /// ringing while the plan still has agents. Returns whether the schedule moved.
    pub fn move_on(&mut self, now: Instant) -> bool {
        if self.targets.iter().any(|t| t.start <= now) {
            return false;
        }
        let Some(next) = self.targets.iter().map(|t| t.start).min() else {
            return false;
        };
        let shift = next.saturating_duration_since(now);
        for t in &mut self.targets {
            t.start = t.start.checked_sub(shift).unwrap_or(now);
            t.stop = t.stop.checked_sub(shift).unwrap_or(now);
        }
        true
    }

    /// The public view of the remaining targets.
    pub fn to_plan(&self, department: DepartmentId, ids: impl Fn(AgentIdx) -> AgentId) -> RingPlan {
        RingPlan {
            department,
            created_at: self.created_at,
            targets: self
                .targets
                .iter()
                .map(|t| RingTarget {
                    agent: ids(t.agent),
                    start: t.start.saturating_duration_since(self.created_at),
                    stop: t.stop.saturating_duration_since(self.created_at),
                })
                .collect(),
        }
    }
}
