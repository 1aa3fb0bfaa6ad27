//! Deadlines of all agents in one ordered table, so the next wake-up is its first entry
//! rather than a scan over every agent.

use std::collections::BTreeSet;
use std::time::Instant;

use super::ids::AgentId;

/// Each agent has at most one deadline at a time: the one its state carries
/// (reservation expiry or end of wrap-up). The table mirrors [`super::AgentState::deadline`].
#[derive(Debug, Default)]
pub(crate) struct Timers {
    table: BTreeSet<(Instant, AgentId)>,
}

impl Timers {
    /// Moves an agent's deadline from `old` to `new` (either may be absent).
    pub(crate) fn replace(&mut self, agent: &AgentId, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.table.remove(&(at, agent.clone()));
        }
        if let Some(at) = new {
            self.table.insert((at, agent.clone()));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.table.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest deadline if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, AgentId)> {
        match self.table.first() {
            Some((at, _)) if *at <= now => self.table.pop_first(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}
