//! The crate's typed error: misuse of the core by its caller. Expected conditions (no agent
//! free, a timer that fired for an offer that already ended) are not errors.

use super::ids::{AgentId, CallId, DepartmentId};

/// Why the core refused an input or a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The department is not configured in this core.
    #[error("unknown department {0}")]
    UnknownDepartment(DepartmentId),
    /// The department was removed from the configuration and only serves the calls that
    /// already wait in it.
    #[error("department {0} is closing and takes no new calls")]
    DepartmentClosing(DepartmentId),
    /// Two departments share an id.
    #[error("department {0} configured twice")]
    DuplicateDepartment(DepartmentId),
    /// The same agent is listed twice in one department's member order.
    #[error("agent {agent} listed twice in department {department}")]
    DuplicateMember {
        /// The department.
        department: DepartmentId,
        /// The repeated agent.
        agent: AgentId,
    },
    /// A ring time of zero would offer a call to nobody.
    #[error("ring time of agent {agent} in department {department} must be positive")]
    ZeroRingTime {
        /// The department.
        department: DepartmentId,
        /// The member with the zero ring time.
        agent: AgentId,
    },
    /// The call is not queued (or not in conversation, for `handle_call_ended`).
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    /// The call is already queued or in conversation.
    #[error("call {0} is already known")]
    DuplicateCall(CallId),
    /// An answer or rejection came from an agent the call is not currently offered to.
    #[error("call {call} is not offered to agent {agent}")]
    NotOffered {
        /// The call.
        call: CallId,
        /// The agent that claimed the offer.
        agent: AgentId,
    },
}
