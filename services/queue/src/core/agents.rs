//! Agent facts the core needs to distribute calls. One registry is shared by every
//! department of a core, so an agent reserved for one call is unavailable everywhere.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::ids::{AgentId, CallId};
use super::strategy::{AvailableKey, KeyFacts};

/// Index of an agent in the registry.
pub(crate) type AgentIdx = usize;

/// What an agent is doing as far as the queue knows; presence's online/paused state is kept
/// apart in [`Agent::ready`] because it changes independently (an agent may go offline in
/// the middle of a call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Free for an offer if ready.
    Idle,
    /// Part of a ring plan for this call (ringing or scheduled to ring).
    Reserved { call: CallId },
    /// In conversation since `since`; `wrap_up` follows the end.
    Talking {
        call: CallId,
        department: usize,
        since: Instant,
        wrap_up: Duration,
    },
    /// After-call work until `until`.
    WrapUp { until: Instant },
}

/// An agent's place in one department.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub department: usize,
    pub position: u32,
    pub ring: Duration,
    /// The key under which the agent sits in the department's available index, if it does.
    pub indexed: Option<AvailableKey>,
}

#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub id: AgentId,
    /// Presence says online and not paused.
    pub ready: bool,
    pub activity: Activity,
    pub idle_since: Option<Instant>,
    pub calls_handled: u64,
    pub talk_time: Duration,
    pub consecutive_no_answers: u32,
    pub memberships: Vec<Membership>,
}

impl Agent {
    fn new(id: AgentId) -> Self {
        Self {
            id,
            ready: false,
            activity: Activity::Idle,
            idle_since: None,
            calls_handled: 0,
            talk_time: Duration::ZERO,
            consecutive_no_answers: 0,
            memberships: Vec::new(),
        }
    }

    /// Can be put into a new plan.
    pub fn is_available(&self) -> bool {
        self.ready && self.activity == Activity::Idle
    }

    pub fn key_facts(&self) -> KeyFacts {
        KeyFacts {
            idle_since: self.idle_since,
            calls_handled: self.calls_handled,
            talk_time: self.talk_time,
        }
    }

    pub fn membership(&self, department: usize) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.department == department)
    }

    pub fn facts(&self) -> AgentFacts {
        AgentFacts {
            available: self.is_available(),
            idle_since: self.idle_since,
            calls_handled: self.calls_handled,
            talk_time: self.talk_time,
            consecutive_no_answers: self.consecutive_no_answers,
        }
    }
}

/// A snapshot of what the core knows about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFacts {
    /// Ready and idle: would be put into the next plan.
    pub available: bool,
    /// When the agent last became free (presence or end of wrap-up); `None` before the first.
    pub idle_since: Option<Instant>,
    /// Calls answered.
    pub calls_handled: u64,
    /// Accumulated talk time of ended calls.
    pub talk_time: Duration,
    /// Offers in a row that ended without an answer.
    pub consecutive_no_answers: u32,
}

/// All agents of a core, by id and by dense index.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    list: Vec<Agent>,
    by_id: HashMap<AgentId, AgentIdx>,
}

impl Agents {
    pub fn find(&self, id: &AgentId) -> Option<AgentIdx> {
        self.by_id.get(id).copied()
    }

    /// The agent's index, registering an agent presence knows but no department lists.
    pub fn find_or_insert(&mut self, id: &AgentId) -> AgentIdx {
        if let Some(idx) = self.by_id.get(id) {
            return *idx;
        }
        let idx = self.list.len();
        self.list.push(Agent::new(id.clone()));
        self.by_id.insert(id.clone(), idx);
        idx
    }

    /// Every agent, by index (for the invariant checks).
    #[cfg(test)]
    pub fn list_for_tests(&self) -> &[Agent] {
        &self.list
    }

    pub fn get(&self, idx: AgentIdx) -> Option<&Agent> {
        self.list.get(idx)
    }

    pub fn get_mut(&mut self, idx: AgentIdx) -> Option<&mut Agent> {
        self.list.get_mut(idx)
    }
}
