//! proto <-> domain for `cc.queue.internal.v1`, in one place. Every refusal becomes a gRPC
//! status whose message starts with the request field it is about; the core's refusals go
//! through the queue's one mapping, [`crate::convert::status`].

use std::time::{Duration, Instant};

use cc_proto::queue::internal::v1 as pb;
use cc_proto::queue::internal::v1::offer_event::Event;
use tonic::Status;

use crate::convert::{count, department_id};
use crate::core::{AgentId, CallId, Caller, EdgeNode, Enqueue, Priority, RejectReason, RingPlan};
use crate::service::{QueueEvent, WaitingCall};

// ----- requests -----

/// The `call_id` of a request.
pub(super) fn call_id(id: String) -> Result<CallId, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("call_id: must not be empty"));
    }
    Ok(CallId::new(id))
}

/// The `agent_id` of a request.
pub(super) fn agent_id(id: String) -> Result<AgentId, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("agent_id: must not be empty"));
    }
    Ok(AgentId::new(id))
}

/// An enqueue request, at monotonic `now` and Unix time `now_unix_ms` (the same moment).
pub(super) fn enqueue(
    request: pb::EnqueueRequest,
    now: Instant,
    now_unix_ms: u64,
) -> Result<Enqueue, Status> {
    Ok(Enqueue {
        call: call_id(request.call_id)?,
        department: department_id(request.department_id)?,
        priority: priority(request.priority)?,
        enqueued_at: enqueued_at(request.enqueued_at_unix_ms, now, now_unix_ms),
        edge: edge_node(request.edge_node),
        caller: caller(request.caller),
    })
}

/// The `caller` of an enqueue: empty means unknown.
fn caller(caller: String) -> Option<Caller> {
    (!caller.is_empty()).then(|| Caller::new(caller))
}

/// The `edge_node` of an enqueue: empty means unknown.
pub(super) fn edge_node(name: String) -> Option<EdgeNode> {
    (!name.is_empty()).then(|| EdgeNode::new(name))
}

/// The core's priorities are 0..=255; a larger one is refused rather than silently capped.
fn priority(p: u32) -> Result<Priority, Status> {
    u8::try_from(p)
        .map(Priority)
        .map_err(|_| Status::invalid_argument(format!("priority: {p} is above 255")))
}

/// The instant of an original enqueue given in Unix ms: as long before `now` as the Unix
/// time is before `now_unix_ms`. 0 means now (`None`); a time in the future (clock skew
/// between nodes) is now as well, and one before the monotonic clock's origin is the
/// earliest instant that can be represented.
pub(super) fn enqueued_at(unix_ms: u64, now: Instant, now_unix_ms: u64) -> Option<Instant> {
    if unix_ms == 0 {
        return None;
    }
    let age = Duration::from_millis(now_unix_ms.saturating_sub(unix_ms));
    Some(now.checked_sub(age).unwrap_or_else(|| earliest(now, age)))
}

/// The earliest instant at most `age` before `now`, by halving the rest of the way.
fn earliest(now: Instant, age: Duration) -> Instant {
    let mut at = now;
    let mut step = age;
    while !step.is_zero() {
        match at.checked_sub(step) {
            Some(earlier) => at = earlier,
            None => step /= 2,
        }
    }
    at
}

/// The `reason` of a rejection.
pub(super) fn reject_reason(reason: i32) -> Result<RejectReason, Status> {
    use pb::rejected_request::Reason as R;
    match R::try_from(reason) {
        Ok(R::Declined) => Ok(RejectReason::Declined),
        Ok(R::NoAnswer) => Ok(RejectReason::NoAnswer),
        Ok(R::Unspecified) => Err(Status::invalid_argument(
            "reason: required (REASON_DECLINED or REASON_NO_ANSWER)",
        )),
        Err(_) => Err(Status::invalid_argument(format!(
            "reason: {reason} is not a Reason"
        ))),
    }
}

// ----- responses -----

/// The answer to an enqueue: the place in line right after joining.
pub(super) fn enqueued(c: &WaitingCall) -> pb::EnqueueResponse {
    pb::EnqueueResponse {
        position: count(c.position),
    }
}

/// A queued call's place in line and waits.
pub(super) fn position(c: &WaitingCall) -> pb::Position {
    pb::Position {
        position: count(c.position),
        wait_ms: millis(c.wait),
        expected_wait_ms: c.expected_wait.map(millis),
    }
}

/// The event for the call actors, sent at `now`; `None` for what they do not watch (queue
/// lengths).
pub(super) fn offer_event(e: &QueueEvent, now: Instant) -> Option<pb::OfferEvent> {
    let (call, event) = match e {
        QueueEvent::Offer { call, plan } => (call, Event::Offer(ring_plan(plan, now))),
        QueueEvent::PlanChanged { call, plan } => (call, Event::PlanChanged(ring_plan(plan, now))),
        QueueEvent::CancelOffer { call, agent } => (call, Event::CancelAgentId(agent.to_string())),
        QueueEvent::OfferFailed { call } => (call, Event::OfferFailed(pb::OfferFailed {})),
        QueueEvent::QueueChanged { .. } => return None,
    };
    Some(pb::OfferEvent {
        call_id: call.to_string(),
        event: Some(event),
    })
}

/// A plan with its offsets moved from the plan's creation to `now`, the moment it is sent:
/// what should have started already starts at once (0), and a target that should have
/// stopped already stops at once.
fn ring_plan(plan: &RingPlan, now: Instant) -> pb::RingPlan {
    let from_now = |offset: Duration| {
        plan.created_at
            .checked_add(offset)
            .map_or(u64::MAX, |at| millis(at.saturating_duration_since(now)))
    };
    pb::RingPlan {
        department_id: plan.department.to_string(),
        targets: plan
            .targets
            .iter()
            .map(|t| pb::RingTarget {
                agent_id: t.agent.to_string(),
                start_ms: from_now(t.start),
                stop_ms: from_now(t.stop),
            })
            .collect(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
