//! proto <-> domain for `cc.queues.v1`, in one place. Every refusal becomes a gRPC status
//! whose message starts with the request field it is about.

use cc_proto::queues::v1 as pb;
use tonic::Status;

use crate::core::{DepartmentId, QueueError};
use crate::error::ServiceError;
use crate::service::{QueueStats, WaitingCall};

/// The `department_id` of a request.
pub(crate) fn department_id(id: String) -> Result<DepartmentId, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("department_id: must not be empty"));
    }
    Ok(DepartmentId::new(id))
}

pub(crate) fn queue(s: &QueueStats) -> pb::Queue {
    pb::Queue {
        department_id: s.department.to_string(),
        waiting_calls: count(s.waiting),
        longest_wait_seconds: s.longest_wait.as_secs(),
        available_agents: count(s.available_agents),
        agents: count(s.agents),
    }
}

pub(crate) fn waiting_call(c: &WaitingCall) -> pb::WaitingCall {
    pb::WaitingCall {
        call_id: c.call.to_string(),
        position: count(c.position),
        wait_seconds: c.wait.as_secs(),
        priority: u32::from(c.priority.0),
        expected_wait_seconds: c.expected_wait.map(|d| d.as_secs()),
    }
}

/// A count or 1-based position on the wire.
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The gRPC status of a refusal, naming the request field where there is one.
pub(crate) fn status(e: ServiceError) -> Status {
    match e {
        ServiceError::Queue(QueueError::UnknownDepartment(id)) => Status::not_found(format!(
            "department_id: {:?} is not a department",
            id.as_str()
        )),
        ServiceError::Queue(QueueError::UnknownCall(id)) => Status::not_found(format!(
            "call_id: {:?} is neither queued nor answered",
            id.as_str()
        )),
        ServiceError::Queue(QueueError::DuplicateCall(id)) => Status::already_exists(format!(
            "call_id: {:?} is already queued or answered",
            id.as_str()
        )),
        ServiceError::Queue(e @ QueueError::DepartmentClosing(_)) => {
            Status::failed_precondition(format!("department_id: {e}"))
        }
        ServiceError::Queue(e @ QueueError::NotOffered { .. }) => {
            Status::failed_precondition(format!("agent_id: {e}"))
        }
        ServiceError::Queue(e) => Status::failed_precondition(e.to_string()),
        // Retry at the owner: this node may own it again later, another node does now.
        e @ ServiceError::NotOwned(_) => Status::unavailable(format!("department_id: {e}")),
        e @ (ServiceError::Stopped | ServiceError::Timeout(_) | ServiceError::Start(_)) => {
            Status::unavailable(e.to_string())
        }
    }
}
