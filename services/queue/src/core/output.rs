//! What the core asks its owner to do, drained by `QueueCore::poll_output`.

use super::ids::{AgentId, CallId, DepartmentId};
use super::plan::RingPlan;

/// Why the core asks presence to pause an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// Too many offers in a row ended without an answer.
    NoAnswer,
}

/// One instruction or event for the owner of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Reserve the plan's agents and have the call's sip-edge node execute the plan.
    Offer {
        /// The queued call.
        call: CallId,
        /// Whom to ring, when.
        plan: RingPlan,
    },
    /// A target ended early and the rest of the plan was brought forward; replaces the
    /// running plan (same `created_at`, only the remaining targets).
    PlanChanged {
        /// The queued call.
        call: CallId,
        /// The remaining schedule.
        plan: RingPlan,
    },
    /// Stop ringing (or never start) this agent for this call; its reservation is released.
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// Every target of the plan ended without an answer; the call waits again in its place.
    OfferFailed {
        /// The call.
        call: CallId,
    },
    /// Ask presence to pause the agent.
    PauseAgent {
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: PauseReason,
    },
    /// The number of calls in a department's queue changed (R-72 "queue changed").
    QueueChanged {
        /// The department.
        department: DepartmentId,
        /// Calls now in its queue, offered ones included.
        waiting: usize,
    },
}
