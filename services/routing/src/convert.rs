//! proto <-> domain for `cc.routing.internal.v1`, in one place. A refused request becomes a
//! gRPC status whose message starts with the request field it is about.

use cc_proto::routing::internal::v1 as pb;
use cc_proto::routing::internal::v1::decide_response::Step as PbStep;
use tonic::Status;

use crate::core::{Call, DialOutcome, Facts, Forward, Step};

// ----- requests -----

/// The call of a request: an empty `caller_extension` is a call from outside.
pub(crate) fn call(request: &pb::DecideRequest) -> Call<'_> {
    let extension = request.caller_extension.as_str();
    Call {
        dialed: &request.dialed,
        caller_extension: (!extension.is_empty()).then_some(extension),
    }
}

/// The `facts` of a request; absent facts are those of a call that just arrived.
pub(crate) fn facts(facts: Option<&pb::Facts>) -> Result<Facts, Status> {
    let Some(facts) = facts else {
        return Ok(Facts::default());
    };
    Ok(Facts {
        greeted: facts.greeted,
        dial: dial_outcome(facts.dial_outcome)?,
    })
}

/// `facts.dial_outcome`: unspecified while nobody was dialled.
fn dial_outcome(value: i32) -> Result<Option<DialOutcome>, Status> {
    use pb::DialOutcome as D;
    let outcome = D::try_from(value).map_err(|_| {
        Status::invalid_argument(format!("facts.dial_outcome: {value} is not a DialOutcome"))
    })?;
    Ok(match outcome {
        D::Unspecified => None,
        D::NoAnswer => Some(DialOutcome::NoAnswer),
        D::Busy => Some(DialOutcome::Busy),
        D::Unreachable => Some(DialOutcome::Unreachable),
    })
}

// ----- responses -----

/// The response carrying one step.
pub(crate) fn step(step: Step) -> pb::DecideResponse {
    let step = match step {
        Step::Play { prompt } => PbStep::Play(pb::Play { prompt }),
        Step::Queue {
            department,
            priority,
        } => PbStep::Queue(pb::Queue {
            department_id: department,
            priority: u32::from(priority),
        }),
        Step::Dial { employee, forward } => PbStep::Dial(pb::Dial {
            employee_id: employee,
            forward: forward.map(self::forward),
        }),
        Step::Hangup { prompt } => PbStep::Hangup(pb::Hangup {
            prompt: prompt.unwrap_or_default(),
        }),
        Step::NotFound => PbStep::NotFound(pb::NotFound {}),
    };
    pb::DecideResponse { step: Some(step) }
}

fn forward(f: Forward) -> pb::Forward {
    pb::Forward {
        after_ms: u32::try_from(f.after.as_millis()).unwrap_or(u32::MAX),
        number: f.number,
        trunk_id: f.trunk,
    }
}

#[cfg(test)]
mod tests;
