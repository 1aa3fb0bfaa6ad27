//! The reporting's event model: what sip-edge, routing, queue, presence and callback tell
//! about a call (and about agents, for occupancy).
//!
//! Every call event carries the call's own sequence number, strictly increasing over the
//! call's events whoever emits them, so that a report never counts an event twice: the pair
//! (call, seq) is the event's identity, a second event with the same pair is a duplicate
//! (the first one seen wins) and the order of a call's events is the order of their
//! sequence numbers, not the order they arrive in. Agent events are numbered per agent in
//! the same way.

use std::fmt;
use std::str::FromStr;

use super::ids::{AgentId, CallId, DepartmentId, OperationId, ScenarioId};

/// Milliseconds since the Unix epoch, stamped by the node that saw the event.
pub type UnixMs = i64;

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallType {
    /// From outside to one of the virtual numbers.
    Inbound,
    /// From an agent to outside.
    Outbound,
    /// Between two extensions.
    Internal,
    /// Dialled by the callback service to keep a promised callback.
    Callback,
}

/// How a call entered a scenario.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScenarioEntry {
    /// Routing chose it (the number's route, a menu choice, a fallback).
    Routing,
    /// An agent re-ran it by hand because the caller fell into the wrong one ("by option").
    ByOption {
        /// The agent who did, when known.
        agent: Option<AgentId>,
    },
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndReason {
    /// The caller hung up (or cancelled before an answer).
    CallerHungUp,
    /// The agent (or the called party) hung up.
    AgentHungUp,
    /// The caller gave up while waiting in a queue.
    AbandonedInQueue,
    /// Every phone rang out; nobody took the call.
    NoAnswer,
    /// The called party was busy.
    Busy,
    /// An employee's screening policy turned the call away.
    RejectedByScreening,
    /// A timer ran out (media silence, a queue's maximum wait...).
    Timeout,
    /// Something broke: no route, no media, the callee could not be connected.
    Failure,
    /// The caller left a message; the call ended there.
    MessageLeft,
    /// The caller asked to be called back; the call ended there.
    CallbackRequested,
    /// The scenario itself said goodbye and hung up.
    ScenarioEnded,
    /// A reason the emitter worded in a way the mapping does not know.
    Other,
}

impl EndReason {
    /// Every reason, in a fixed order (for tests and generators).
    pub const ALL: [EndReason; 12] = [
        Self::CallerHungUp,
        Self::AgentHungUp,
        Self::AbandonedInQueue,
        Self::NoAnswer,
        Self::Busy,
        Self::RejectedByScreening,
        Self::Timeout,
        Self::Failure,
        Self::MessageLeft,
        Self::CallbackRequested,
        Self::ScenarioEnded,
        Self::Other,
    ];

    /// The stable name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallerHungUp => "caller_hung_up",
            Self::AgentHungUp => "agent_hung_up",
            Self::AbandonedInQueue => "abandoned_in_queue",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::RejectedByScreening => "rejected_by_screening",
            Self::Timeout => "timeout",
            Self::Failure => "failure",
            Self::MessageLeft => "message_left",
            Self::CallbackRequested => "callback_requested",
            Self::ScenarioEnded => "scenario_ended",
            Self::Other => "other",
        }
    }

    /// A hang-up by one of the two parties after the business was done, as opposed to
    /// the system ending the call (what "completed" asks of a call with a conversation).
    pub fn is_hang_up(self) -> bool {
        matches!(self, Self::CallerHungUp | Self::AgentHungUp)
    }
}

impl CallType {
    /// Every call type.
    pub const ALL: [CallType; 4] = [
        Self::Inbound,
        Self::Outbound,
        Self::Internal,
        Self::Callback,
    ];

    /// The stable name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Internal => "internal",
            Self::Callback => "callback",
        }
    }
}

/// A stored name that names no variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
pub struct UnknownName {
    /// What was being parsed ("call type", "end reason", "agent state").
    pub what: &'static str,
    /// The text found.
    pub value: String,
}

macro_rules! names {
    ($ty:ty, $what:literal) => {
        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        value: s.to_owned(),
                    })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(CallType, "call type");
names!(EndReason, "end reason");
names!(AgentState, "agent state");

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEventKind {
    /// The call started (sip-edge: the INVITE, or the callback service's dial).
    Started {
        /// The virtual number dialled (inbound) or the number called (outbound).
        number: String,
        /// Who calls, as the From showed it; empty when withheld.
        caller: String,
        call_type: CallType,
    },
    /// The call entered a scenario (routing, or an agent by hand).
    ScenarioEntered {
        scenario: ScenarioId,
        entry: ScenarioEntry,
    },
    /// The call entered an operation (step) of its current scenario.
    OperationEntered { operation: OperationId },
    /// The call left an operation. Carried for per-operation durations; no measure of the
    /// scenario report needs it.
    OperationLeft { operation: OperationId },
    /// The call joined a department's queue.
    Queued { department: DepartmentId },
    /// An agent's phone rang for the call.
    Offered { agent: AgentId },
    /// Someone took the call: talk time runs from here.
    Answered {
        /// None when answered outside (mobile forwarding).
        agent: Option<AgentId>,
    },
    /// The call was transferred (blind or announced): talk time stops until the next
    /// answer.
    Transferred {
        /// The person, department or number it went to.
        target: String,
    },
    /// The caller was put on hold: hold time is not talk time.
    Held,
    /// The caller was taken off hold.
    Resumed,
    /// A recording of the call started (R-62: it can be listened to from the call list).
    RecordingStarted {
        /// Where the media node keeps it.
        recording: String,
    },
    /// The caller asked to be called back.
    CallbackRequested {
        /// The department that calls back; None when an employee does.
        department: Option<DepartmentId>,
    },
    /// The call ended.
    Ended { reason: EndReason },
}

/// One event of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    pub call: CallId,
    /// The call's own sequence number: (call, seq) is the event's identity.
    pub seq: u64,
    pub at: UnixMs,
    pub kind: CallEventKind,
}

/// An agent's state, as presence keeps it (cc.agents.v1.AgentState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgentState {
    Offline,
    Available,
    /// Taken by a queue for a call, not ringing yet.
    Reserved,
    Ringing,
    OnCall,
    /// After-call work.
    WrapUp,
    Paused,
}

impl AgentState {
    /// Every state.
    pub const ALL: [AgentState; 7] = [
        Self::Offline,
        Self::Available,
        Self::Reserved,
        Self::Ringing,
        Self::OnCall,
        Self::WrapUp,
        Self::Paused,
    ];

    /// The stable name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Ringing => "ringing",
            Self::OnCall => "on_call",
            Self::WrapUp => "wrap_up",
            Self::Paused => "paused",
        }
    }

    /// Logged in and ready for or busy with calls: the denominator of occupancy. Paused
    /// and offline time is nobody's staffed time.
    pub fn is_staffed(self) -> bool {
        !matches!(self, Self::Offline | Self::Paused)
    }

    /// Handling a call (reserved for it, ringing, talking or in after-call work): the
    /// numerator of occupancy.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Self::Reserved | Self::Ringing | Self::OnCall | Self::WrapUp
        )
    }
}

/// One state change of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEvent {
    pub agent: AgentId,
    /// The agent's own sequence number: (agent, seq) is the event's identity.
    pub seq: u64,
    pub at: UnixMs,
    pub state: AgentState,
}

/// What the reporting ingests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportEvent {
    Call(CallEvent),
    Agent(AgentEvent),
}

impl From<CallEvent> for ReportEvent {
    fn from(e: CallEvent) -> Self {
        Self::Call(e)
    }
}

impl From<AgentEvent> for ReportEvent {
    fn from(e: AgentEvent) -> Self {
        Self::Agent(e)
    }
}
