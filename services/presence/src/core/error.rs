//! Why presence refused an input. A refused input never changes any state.

use std::time::Duration;

use super::ids::{AgentId, CallId};
use super::state::AgentState;

/// A call-control input, named in [`PresenceError::InvalidTransition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallInput {
    /// `confirm_ringing`
    ConfirmRinging,
    /// `answered`
    Answered,
    /// `released`
    Released,
    /// `call_ended`
    CallEnded,
}

impl std::fmt::Display for CallInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ConfirmRinging => "confirm_ringing",
            Self::Answered => "answered",
            Self::Released => "released",
            Self::CallEnded => "call_ended",
        })
    }
}

/// Errors of the presence core. Each names what the caller needs to react (the agent, the
/// state it is really in), because the caller is usually another node acting on old news.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    /// The agent is not in the configured set.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// `add_agent` for an id that is already configured.
    #[error("agent {0} already exists")]
    AgentExists(AgentId),
    /// The configured maximum number of agents is reached.
    #[error("agent limit of {max} reached")]
    TooManyAgents {
        /// The configured limit.
        max: usize,
    },
    /// The agent already has the configured maximum number of devices.
    #[error("agent {agent} already has the maximum of {max} devices")]
    TooManyDevices {
        /// The agent.
        agent: AgentId,
        /// The configured limit.
        max: usize,
    },
    /// An id or text is empty where a value is required.
    #[error("{field} must not be empty")]
    Empty {
        /// Which input field.
        field: &'static str,
    },
    /// An id or text is longer than the core stores.
    #[error("{field} is {len} bytes long; at most {max} allowed")]
    TooLong {
        /// Which input field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// `reserve` on an agent that is not `Available` (including an agent already reserved).
    #[error("agent {agent} cannot be reserved: {state}")]
    NotAvailable {
        /// The agent.
        agent: AgentId,
        /// The state the agent is in.
        state: AgentState,
    },
    /// The reservation time-to-live is zero or above the configured maximum.
    #[error("reservation ttl {ttl:?} is outside (0, {max:?}]")]
    InvalidTtl {
        /// The requested ttl.
        ttl: Duration,
        /// The configured maximum.
        max: Duration,
    },
    /// `pause` on an agent that is not logged in.
    #[error("agent {0} is not logged in")]
    NotLoggedIn(AgentId),
    /// A call input naming a call the agent is not (or no longer) engaged in, or
    /// `call_in_progress` for an agent bound to another call.
    #[error("call {call} is not the call of agent {agent} ({state})")]
    StaleCall {
        /// The agent.
        agent: AgentId,
        /// The call the input named.
        call: CallId,
        /// The state the agent is in.
        state: AgentState,
    },
    /// A call input for the agent's call that does not fit the call's phase
    /// (for example `released` after `answered`: use `call_ended`).
    #[error("{input} for call {call} refused: agent {agent} is {state}")]
    InvalidTransition {
        /// The agent.
        agent: AgentId,
        /// The call.
        call: CallId,
        /// The refused input.
        input: CallInput,
        /// The state the agent is in.
        state: AgentState,
    },
    /// `remove_agent` while the agent is engaged in a call; retry after the call.
    #[error("agent {agent} cannot be removed while {state}")]
    AgentEngaged {
        /// The agent.
        agent: AgentId,
        /// The call-bound state the agent is in.
        state: AgentState,
    },
}
