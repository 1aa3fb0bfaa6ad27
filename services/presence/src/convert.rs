//! proto <-> domain for `cc.agents.v1`, in one place. Every refusal becomes a gRPC status
//! whose message starts with the request field it is about.

use cc_proto::agents::v1 as pb;
use tonic::Status;

use crate::core::{Agent, AgentId, AgentState, Cause, PauseReason, PresenceError, PresenceEvent};
use crate::error::ServiceError;
use crate::wall::WallClock;

// ----- requests -----

/// The `agent_id` of a request.
pub(crate) fn agent_id(id: String) -> Result<AgentId, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("agent_id: must not be empty"));
    }
    Ok(AgentId::new(id))
}

/// The `reason` and `text` of a pause request: text only with `PAUSE_REASON_OTHER`, where it
/// is required.
pub(crate) fn pause_reason(reason: i32, text: String) -> Result<PauseReason, Status> {
    use pb::PauseReason as P;
    let reason = P::try_from(reason)
        .map_err(|_| Status::invalid_argument(format!("reason: {reason} is not a PauseReason")))?;
    let fixed = match reason {
        P::Unspecified => {
            return Err(Status::invalid_argument(
                "reason: required (PAUSE_REASON_BREAK, ..., or PAUSE_REASON_OTHER with text)",
            ));
        }
        P::Other if text.is_empty() => {
            return Err(Status::invalid_argument(
                "text: required with PAUSE_REASON_OTHER",
            ));
        }
        P::Other => return Ok(PauseReason::Other(text)),
        P::Break => PauseReason::Break,
        P::Lunch => PauseReason::Lunch,
        P::Meeting => PauseReason::Meeting,
        P::Training => PauseReason::Training,
        P::Private => PauseReason::Private,
        P::NoAnswer => PauseReason::NoAnswer,
    };
    if !text.is_empty() {
        return Err(Status::invalid_argument(
            "text: only allowed with PAUSE_REASON_OTHER",
        ));
    }
    Ok(fixed)
}

// ----- responses -----

/// An agent as the API shows it.
pub(crate) fn agent(a: &Agent, wall: &WallClock) -> pb::Agent {
    let (pause_reason, pause_text) = pause(a.pause_reason());
    pb::Agent {
        agent_id: a.id().to_string(),
        name: a.config().display_name.clone(),
        state: state(a.state()).into(),
        call_id: a
            .state()
            .call()
            .map(ToString::to_string)
            .unwrap_or_default(),
        since_unix_ms: wall.unix_ms(a.since()),
        logged_in: a.logged_in(),
        device_count: u32::try_from(a.devices().count()).unwrap_or(u32::MAX),
        pause_reason: pause_reason.into(),
        pause_text,
        until_unix_ms: a.state().deadline().map_or(0, |at| wall.unix_ms(at)),
    }
}

/// One presence event.
pub(crate) fn event(e: &PresenceEvent, wall: &WallClock) -> pb::AgentEvent {
    use pb::agent_event::Kind;
    let (kind, from, to, cause_, at) = match e {
        PresenceEvent::AgentAdded { state, at, .. } => (Kind::Added, None, Some(state), None, at),
        PresenceEvent::AgentStateChanged {
            from,
            to,
            cause,
            at,
            ..
        } => (Kind::StateChanged, Some(from), Some(to), Some(*cause), at),
        PresenceEvent::AgentRemoved { last, at, .. } => (Kind::Removed, Some(last), None, None, at),
    };
    let call_id = to
        .and_then(AgentState::call)
        .or_else(|| from.and_then(AgentState::call))
        .map(ToString::to_string)
        .unwrap_or_default();
    let paused = match to {
        Some(AgentState::Paused { reason }) => Some(reason),
        _ => None,
    };
    let (pause_reason, pause_text) = pause(paused);
    pb::AgentEvent {
        sequence: e.seq(),
        agent_id: e.agent().to_string(),
        kind: kind.into(),
        from: from.map_or(pb::AgentState::Unspecified, state).into(),
        to: to.map_or(pb::AgentState::Unspecified, state).into(),
        cause: cause_
            .map_or(pb::Cause::Unspecified, |c| cause(c, to))
            .into(),
        call_id,
        pause_reason: pause_reason.into(),
        pause_text,
        unix_ms: wall.unix_ms(*at),
    }
}

pub(crate) fn state(s: &AgentState) -> pb::AgentState {
    match s {
        AgentState::Offline => pb::AgentState::Offline,
        AgentState::Available => pb::AgentState::Available,
        AgentState::Reserved { .. } => pb::AgentState::Reserved,
        AgentState::Ringing { .. } => pb::AgentState::Ringing,
        AgentState::OnCall { .. } => pb::AgentState::OnCall,
        AgentState::WrapUp { .. } => pb::AgentState::WrapUp,
        AgentState::Paused { .. } => pb::AgentState::Paused,
    }
}

/// A pause reason as the API names it (text only with `PAUSE_REASON_OTHER`).
pub(crate) fn pause(reason: Option<&PauseReason>) -> (pb::PauseReason, String) {
    match reason {
        None => (pb::PauseReason::Unspecified, String::new()),
        Some(PauseReason::Break) => (pb::PauseReason::Break, String::new()),
        Some(PauseReason::Lunch) => (pb::PauseReason::Lunch, String::new()),
        Some(PauseReason::Meeting) => (pb::PauseReason::Meeting, String::new()),
        Some(PauseReason::Training) => (pb::PauseReason::Training, String::new()),
        Some(PauseReason::Private) => (pb::PauseReason::Private, String::new()),
        Some(PauseReason::NoAnswer) => (pb::PauseReason::NoAnswer, String::new()),
        Some(PauseReason::Other(text)) => (pb::PauseReason::Other, text.clone()),
    }
}

/// The public cause of a change to `to`. A call restored after a takeover has no cause of
/// its own in `cc.agents.v1`: it shows as the phase the call is in (ringing or answered).
/// Nor does a call whose sip-edge node died: for watchers the call ended (with no wrap-up).
fn cause(c: Cause, to: Option<&AgentState>) -> pb::Cause {
    match c {
        Cause::Restored => match to {
            Some(AgentState::OnCall { .. }) => pb::Cause::Answered,
            _ => pb::Cause::Ringing,
        },
        Cause::Login => pb::Cause::Login,
        Cause::Logout | Cause::Forgotten => pb::Cause::Logout,
        Cause::DeviceRegistered => pb::Cause::DeviceRegistered,
        Cause::DeviceGone => pb::Cause::DeviceGone,
        Cause::Pause => pb::Cause::Pause,
        Cause::Resume => pb::Cause::Resume,
        Cause::Reserved => pb::Cause::Reserved,
        Cause::Ringing => pb::Cause::Ringing,
        Cause::Answered => pb::Cause::Answered,
        Cause::Released => pb::Cause::Released,
        Cause::CallEnded | Cause::EdgeGone => pb::Cause::CallEnded,
        Cause::ReservationExpired => pb::Cause::ReservationExpired,
        Cause::WrapUpEnded => pb::Cause::WrapUpEnded,
    }
}

// ----- errors -----

/// The gRPC status of a refusal, naming the request field where there is one.
pub(crate) fn status(e: ServiceError) -> Status {
    match e {
        ServiceError::Presence(e) => presence_status(e),
        e @ (ServiceError::SequenceTooOld { .. } | ServiceError::SequenceAhead { .. }) => {
            Status::out_of_range(e.to_string())
        }
        e @ (ServiceError::Stopped
        | ServiceError::Timeout(_)
        | ServiceError::Start(_)
        | ServiceError::Sessions(_)
        | ServiceError::NotOwned { .. }
        | ServiceError::ShardNotOwned(_)
        | ServiceError::Lagged) => Status::unavailable(e.to_string()),
    }
}

fn presence_status(e: PresenceError) -> Status {
    match e {
        PresenceError::UnknownAgent(id) => {
            Status::not_found(format!("agent_id: {:?} is not an agent", id.as_str()))
        }
        PresenceError::NotLoggedIn(id) => Status::failed_precondition(format!(
            "agent_id: {:?} is not logged in; log in before pausing",
            id.as_str()
        )),
        PresenceError::Empty { field } | PresenceError::TooLong { field, .. } => {
            Status::invalid_argument(format!("{}: {e}", request_field(field)))
        }
        e @ PresenceError::StaleCall { .. } => Status::failed_precondition(format!("call_id: {e}")),
        // Only a reservation carries a ttl; a queue must not take it for "agent not free".
        e @ PresenceError::InvalidTtl { .. } => Status::invalid_argument(format!("ttl_ms: {e}")),
        e @ PresenceError::TooManyDevices { .. } | e @ PresenceError::TooManyAgents { .. } => {
            Status::resource_exhausted(e.to_string())
        }
        e => Status::failed_precondition(e.to_string()),
    }
}

/// The request field a core text check is about.
fn request_field(core_field: &'static str) -> &'static str {
    match core_field {
        "pause reason" => "text",
        "agent id" => "agent_id",
        "call id" => "call_id",
        "edge node" => "edge_node",
        // A SIP device's id is its contact.
        "device id" => "contact",
        other => other,
    }
}

#[cfg(test)]
mod tests;
