//! Typed configuration of the core: global knobs and one [`DepartmentConfig`] per queue.

use std::time::Duration;

use super::ids::{AgentId, DepartmentId};
use super::strategy::Strategy;

/// Knobs that apply to every department of a core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// Consecutive unanswered offers after which the agent is paused
    /// ([`super::Output::PauseAgent`]); 0 never pauses.
    pub max_no_answers: u32,
    /// Seed of the generator behind [`Strategy::Random`]: the core has no entropy source of its
    /// own, so a run is reproducible from its seed.
    pub rng_seed: u64,
    /// The longest an agent who answered may take to accept or decline a call presented
    /// to them ([`super::QueueCore::handle_presenting`]) before it counts as not answered.
    pub max_presentation: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_no_answers: 3,
            rng_seed: 0,
            max_presentation: Duration::from_secs(90),
        }
    }
}

/// One member of a department, in the department's configured order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// The agent.
    pub agent: AgentId,
    /// How long this member rings before the plan moves on; `None` takes the department's
    /// `ring_seconds`.
    pub ring_seconds: Option<u32>,
}

/// A department (agent group) and its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentConfig {
    /// The department.
    pub id: DepartmentId,
    /// How agents are chosen and rung.
    pub strategy: Strategy,
    /// Default ring time per member.
    pub ring_seconds: u32,
    /// Time an agent stays unavailable after a call of this department ends.
    pub wrap_up_seconds: u32,
    /// Members in the configured order (sequential, progressive, round-robin and ties of the
    /// other strategies follow it).
    pub members: Vec<MemberConfig>,
    /// Upper bound on targets per plan; `None` rings every available member. Setting 1 with a
    /// single-target strategy lets waiting calls go to free agents in parallel instead of
    /// reserving every free agent for the head call.
    pub max_plan_targets: Option<usize>,
    /// Last-agent routing (MISSION R-34): a caller who spoke to a member of this department
    /// recently is offered to that member alone first, when the member is available.
    pub last_agent: Option<LastAgent>,
}

/// How a department routes returning callers to the member they last spoke to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAgent {
    /// How long after an answered call the caller is remembered.
    pub remember: Duration,
    /// How long that member alone rings before the department's strategy takes over.
    pub ring: Duration,
}

impl DepartmentConfig {
    /// A department with no members, 15 s ring time and no wrap-up.
    pub fn new(id: impl Into<DepartmentId>, strategy: Strategy) -> Self {
        Self {
            id: id.into(),
            strategy,
            ring_seconds: 15,
            wrap_up_seconds: 0,
            members: Vec::new(),
            max_plan_targets: None,
            last_agent: None,
        }
    }

    /// Routes a caller answered by a member within `remember` to that member first, alone,
    /// ringing for `ring` (when the member is available at the time).
    #[must_use]
    pub fn last_agent(mut self, remember: Duration, ring: Duration) -> Self {
        self.last_agent = Some(LastAgent { remember, ring });
        self
    }

    /// Sets the default ring time per member.
    #[must_use]
    pub fn ring_seconds(mut self, seconds: u32) -> Self {
        self.ring_seconds = seconds;
        self
    }

    /// Sets the wrap-up time after each call.
    #[must_use]
    pub fn wrap_up_seconds(mut self, seconds: u32) -> Self {
        self.wrap_up_seconds = seconds;
        self
    }

    /// Appends a member that rings for the department's default time.
    #[must_use]
    pub fn member(mut self, agent: impl Into<AgentId>) -> Self {
        self.members.push(MemberConfig {
            agent: agent.into(),
            ring_seconds: None,
        });
        self
    }

    /// Appends a member with its own ring time.
    #[must_use]
    pub fn member_ringing(mut self, agent: impl Into<AgentId>, seconds: u32) -> Self {
        self.members.push(MemberConfig {
            agent: agent.into(),
            ring_seconds: Some(seconds),
        });
        self
    }

    /// Caps the number of targets per plan.
    #[must_use]
    pub fn max_plan_targets(mut self, limit: usize) -> Self {
        self.max_plan_targets = Some(limit);
        self
    }

    pub(crate) fn ring_of(&self, member: &MemberConfig) -> Duration {
        Duration::from_secs(u64::from(member.ring_seconds.unwrap_or(self.ring_seconds)))
    }
}
