//! The agent state machine's vocabulary: one enum, the data inside the variants.

use std::fmt;
use std::time::Instant;

use super::ids::CallId;

/// What an agent is doing, as every other service sees it.
///
/// `Reserved`, `Ringing` and `OnCall` are *call-bound*: they belong to one call and only
/// inputs naming that call move the agent out of them (or the reservation timer). Because
/// the call lives inside the variant, an agent can never be in two calls at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// Not logged in, or no device to ring: never offered a call.
    Offline,
    /// Logged in, at least one device, not paused, not busy: the only state `reserve` takes.
    Available,
    /// Taken by a queue for `call`; falls back by itself at `until` unless confirmed ringing.
    Reserved {
        /// The call the agent is reserved for.
        call: CallId,
        /// When the unconfirmed reservation expires.
        until: Instant,
    },
    /// The agent's devices ring for `call`.
    Ringing {
        /// The call ringing the agent.
        call: CallId,
    },
    /// The agent talks on `call`.
    OnCall {
        /// The call the agent is on.
        call: CallId,
    },
    /// After-call work; the agent becomes available at `until` (or earlier on `resume`).
    WrapUp {
        /// When wrap-up ends by itself.
        until: Instant,
    },
    /// Logged in but not taking calls, for a reason supervisors can see.
    Paused {
        /// Why the agent paused.
        reason: PauseReason,
    },
}

impl AgentState {
    /// The call this state belongs to, if it is call-bound.
    pub fn call(&self) -> Option<&CallId> {
        match self {
            Self::Reserved { call, .. } | Self::Ringing { call } | Self::OnCall { call } => {
                Some(call)
            }
            Self::Offline | Self::Available | Self::WrapUp { .. } | Self::Paused { .. } => None,
        }
    }

    /// When this state ends by itself (reservation expiry, end of wrap-up).
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Reserved { until, .. } | Self::WrapUp { until } => Some(*until),
            _ => None,
        }
    }

    /// Whether the state belongs to a call (logout, pause and device loss wait for its end).
    pub fn is_call_bound(&self) -> bool {
        self.call().is_some()
    }

    /// Whether the agent can be reserved right now.
    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available)
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offline => f.write_str("offline"),
            Self::Available => f.write_str("available"),
            Self::Reserved { call, .. } => write!(f, "reserved for call {call}"),
            Self::Ringing { call } => write!(f, "ringing for call {call}"),
            Self::OnCall { call } => write!(f, "on call {call}"),
            Self::WrapUp { .. } => f.write_str("wrap-up"),
            Self::Paused { reason } => write!(f, "paused ({reason})"),
        }
    }
}

/// Why an agent is paused. The fixed reasons are the ones the product itself uses or
/// reports on; tenants configure more through `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// A short break.
    Break,
    /// Lunch.
    Lunch,
    /// In a meeting.
    Meeting,
    /// In training.
    Training,
    /// Using the line privately; visible to supervisors (MISSION R-51).
    Private,
    /// Did not answer an offered call; set by the queue so that the agent is not offered
    /// the next call before they come back.
    NoAnswer,
    /// A reason configured by the tenant.
    Other(String),
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Break => f.write_str("break"),
            Self::Lunch => f.write_str("lunch"),
            Self::Meeting => f.write_str("meeting"),
            Self::Training => f.write_str("training"),
            Self::Private => f.write_str("private"),
            Self::NoAnswer => f.write_str("no answer"),
            Self::Other(text) => f.write_str(text),
        }
    }
}
