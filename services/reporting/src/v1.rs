//! Today's public event stream, `cc.events.v1.Event`, mapped into the reporting's events:
//! a pure function of one event, so that a reporting node can follow a node's
//! `WatchEvents` stream now, before the emitters speak the richer model.
//!
//! | cc.events.v1            | reporting event                                       |
//! |-------------------------|-------------------------------------------------------|
//! | CallStarted             | Started { number: dialed, caller, call_type } (a relay leg: nothing) |
//! | CallScenario            | ScenarioEntered (by option when an agent is named)    |
//! | CallOperation           | OperationEntered                                      |
//! | CallOperationLeft       | OperationLeft                                         |
//! | CallQueued              | Queued                                                |
//! | CallOffered             | Offered                                               |
//! | CallAnswered            | Answered (empty agent: answered outside)              |
//! | CallTransferred         | Transferred                                           |
//! | CallbackRequested       | CallbackRequested (empty department: an employee's)   |
//! | MessageLeft             | RecordingStarted (the message's recording)            |
//! | CallRecordingStarted    | RecordingStarted (the conversation's recording)       |
//! | CallHeld, CallResumed   | Held, Resumed (talk time leaves hold time out)        |
//! | CallEnded               | Ended, the reason's words mapped by [`end_reason`]    |
//! | AgentStateChanged       | an agent event                                        |
//! | CallScreened, QueueChanged | nothing (see below)                                |
//!
//! Numbering, so that an event read twice is stored once:
//! - a call event is numbered by its call (`call_sequence`: sip-edge's call actor numbers
//!   what it raises), the same through whichever node and however often it is read. An
//!   event without it (from a node older than the field) falls back to the stream's
//!   sequence, which is only stable as long as it is read again from the same node;
//! - an agent event gets `unix_ms * 1000 + sequence % 1000`: ordered by time, the same
//!   each time it is read from the node that numbered it, and apart from the other
//!   nodes' events for the agent unless two of them number one agent's change in the same
//!   millisecond with the same last three digits.
//!
//! What today's stream lacks, for a later change in sip-edge (and routing):
//! - **a scenario run by an agent**: nothing raises CallScenario with an agent yet (no API
//!   runs a scenario for a call), so "by option" stays 0;
//! - **operation left and recording started** are not emitted: only messages' recordings
//!   are known;
//! - **the end reason** is words ("caller hung up"); [`end_reason`] maps the words sip-edge
//!   uses today, and anything else becomes [`EndReason::Other`]. Abandonment does not
//!   depend on it: a queued call the caller hung up on is abandoned either way;
//! - CallScreened is not mapped: when screening ends the call, the end reason says so, and
//!   when it sends the call elsewhere the call goes on.

use cc_proto::agents::v1::AgentState as PbAgentState;
use cc_proto::events::v1 as pb;
use pb::event::Event as Kind;

use crate::core::{
    AgentEvent, AgentId, AgentState, CallEvent, CallEventKind, CallId, CallType, DepartmentId,
    EndReason, OperationId, ReportEvent, ScenarioEntry, ScenarioId,
};

/// A cc.events.v1 event that cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V1Error {
    #[error("cc.events.v1 event {sequence} ({kind}) has no call id")]
    MissingCallId { sequence: u64, kind: &'static str },
    #[error("cc.events.v1 event {sequence} (AgentStateChanged) has no agent id")]
    MissingAgentId { sequence: u64 },
}

/// The reporting's end reason for the words sip-edge ends calls with today.
pub fn end_reason(words: &str) -> EndReason {
    match words {
        "caller hung up" | "caller cancelled" => EndReason::CallerHungUp,
        "agent hung up" => EndReason::AgentHungUp,
        "abandoned in queue" => EndReason::AbandonedInQueue,
        "the phones were rung" | "nobody to take the call" => EndReason::NoAnswer,
        "rejected by screening" => EndReason::RejectedByScreening,
        "media timeout" => EndReason::Timeout,
        "no such extension"
        | "routing unavailable"
        | "nothing configured"
        | "no media"
        | "cannot connect the callee" => EndReason::Failure,
        "message left" => EndReason::MessageLeft,
        "callback requested" => EndReason::CallbackRequested,
        "said goodbye" => EndReason::ScenarioEnded,
        _ => EndReason::Other,
    }
}

fn agent_state(state: i32) -> Option<AgentState> {
    Some(match PbAgentState::try_from(state).ok()? {
        PbAgentState::Unspecified => return None,
        PbAgentState::Offline => AgentState::Offline,
        PbAgentState::Available => AgentState::Available,
        PbAgentState::Reserved => AgentState::Reserved,
        PbAgentState::Ringing => AgentState::Ringing,
        PbAgentState::OnCall => AgentState::OnCall,
        PbAgentState::WrapUp => AgentState::WrapUp,
        PbAgentState::Paused => AgentState::Paused,
    })
}

/// An agent event's number: see the module's notes.
fn agent_seq(event: &pb::Event) -> u64 {
    event
        .unix_ms
        .saturating_mul(1000)
        .saturating_add(event.sequence % 1000)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Maps one event; `Ok(None)` for events the reporting does not use (and for an agent
/// state the sender left unspecified).
pub fn map_event(event: &pb::Event) -> Result<Option<ReportEvent>, V1Error> {
    let Some(kind) = &event.event else {
        return Ok(None);
    };
    let seq = event.sequence;
    let at = i64::try_from(event.unix_ms).unwrap_or(i64::MAX);
    let call_seq = match event.call_sequence {
        0 => seq,
        n => n,
    };
    let call = |id: &str, kind: &'static str, what: CallEventKind| {
        if id.is_empty() {
            return Err(V1Error::MissingCallId {
                sequence: seq,
                kind,
            });
        }
        Ok(Some(ReportEvent::Call(CallEvent {
            call: CallId::from(id),
            seq: call_seq,
            at,
            kind: what,
        })))
    };
    match kind {
        Kind::CallStarted(e) => {
            let call_type = match pb::CallType::try_from(e.call_type) {
                // A relay leg is the other node's call: without its start it is in no
                // report.
                Ok(pb::CallType::Relay) => return Ok(None),
                Ok(pb::CallType::Internal) => CallType::Internal,
                Ok(pb::CallType::Callback) => CallType::Callback,
                Ok(pb::CallType::Outbound) => CallType::Outbound,
                // Older nodes say nothing: their calls at sip-edge were inbound.
                Ok(pb::CallType::Inbound | pb::CallType::Unspecified) | Err(_) => CallType::Inbound,
            };
            call(
                &e.call_id,
                "CallStarted",
                CallEventKind::Started {
                    number: e.dialed.clone(),
                    caller: e.caller.clone(),
                    call_type,
                },
            )
        }
        Kind::CallScenario(e) => call(
            &e.call_id,
            "CallScenario",
            CallEventKind::ScenarioEntered {
                scenario: ScenarioId::from(e.scenario_id.as_str()),
                entry: match non_empty(&e.by_agent_id) {
                    None => ScenarioEntry::Routing,
                    Some(agent) => ScenarioEntry::ByOption {
                        agent: Some(AgentId::from(agent)),
                    },
                },
            },
        ),
        Kind::CallOperation(e) => call(
            &e.call_id,
            "CallOperation",
            CallEventKind::OperationEntered {
                operation: OperationId::from(e.operation_id.as_str()),
            },
        ),
        Kind::CallOperationLeft(e) => call(
            &e.call_id,
            "CallOperationLeft",
            CallEventKind::OperationLeft {
                operation: OperationId::from(e.operation_id.as_str()),
            },
        ),
        Kind::CallQueued(e) => call(
            &e.call_id,
            "CallQueued",
            CallEventKind::Queued {
                department: DepartmentId::from(e.department_id.as_str()),
            },
        ),
        Kind::CallOffered(e) => call(
            &e.call_id,
            "CallOffered",
            CallEventKind::Offered {
                agent: AgentId::from(e.agent_id.as_str()),
            },
        ),
        Kind::CallAnswered(e) => call(
            &e.call_id,
            "CallAnswered",
            CallEventKind::Answered {
                agent: non_empty(&e.agent_id).map(AgentId::from),
            },
        ),
        Kind::CallTransferred(e) => call(
            &e.call_id,
            "CallTransferred",
            CallEventKind::Transferred {
                target: e.target.clone(),
            },
        ),
        Kind::CallbackRequested(e) => call(
            &e.call_id,
            "CallbackRequested",
            CallEventKind::CallbackRequested {
                department: non_empty(&e.department_id).map(DepartmentId::from),
            },
        ),
        Kind::MessageLeft(e) => call(
            &e.call_id,
            "MessageLeft",
            CallEventKind::RecordingStarted {
                recording: e.recording_path.clone(),
            },
        ),
        Kind::CallRecordingStarted(e) => call(
            &e.call_id,
            "CallRecordingStarted",
            CallEventKind::RecordingStarted {
                recording: e.recording_path.clone(),
            },
        ),
        Kind::CallHeld(e) => call(&e.call_id, "CallHeld", CallEventKind::Held),
        Kind::CallResumed(e) => call(&e.call_id, "CallResumed", CallEventKind::Resumed),
        Kind::CallEnded(e) => call(
            &e.call_id,
            "CallEnded",
            CallEventKind::Ended {
                reason: end_reason(&e.reason),
            },
        ),
        Kind::AgentStateChanged(e) => {
            if e.agent_id.is_empty() {
                return Err(V1Error::MissingAgentId { sequence: seq });
            }
            Ok(agent_state(e.state).map(|state| {
                ReportEvent::Agent(AgentEvent {
                    agent: AgentId::from(e.agent_id.as_str()),
                    seq: agent_seq(event),
                    at,
                    state,
                })
            }))
        }
        Kind::CallScreened(_) | Kind::QueueChanged(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
