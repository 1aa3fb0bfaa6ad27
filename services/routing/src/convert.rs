//! proto <-> domain for `cc.routing.internal.v1`, in one place. A refused request becomes a
//! gRPC status whose message starts with the request field it is about.

use cc_proto::routing::internal::v1 as pb;
use cc_proto::routing::internal::v1::decide_response::Step as PbStep;
use tonic::Status;

use crate::core::{Call, Caller, Cursor, Decision, DialOutcome, Facts, Forward, Outcome, Step};

// ----- requests -----

/// The call of a request: an empty `caller_extension` is a call from outside, from
/// `caller_number` (empty: withheld).
pub(crate) fn call(request: &pb::DecideRequest) -> Call<'_> {
    let extension = request.caller_extension.as_str();
    let number = request.caller_number.as_str();
    Call {
        dialed: &request.dialed,
        caller: if extension.is_empty() {
            Caller::Outside((!number.is_empty()).then_some(number))
        } else {
            Caller::Employee(extension)
        },
    }
}

/// The facts of a request: its `facts` (absent: those of a call that just arrived), its
/// cursor and the outcome of its previous step. A cursor that does not parse is left out:
/// the scenario starts again, as with a stale one.
pub(crate) fn facts(request: &pb::DecideRequest) -> Result<Facts<'_>, Status> {
    use pb::decide_request::Outcome as O;
    let (greeted, dial) = match &request.facts {
        Some(f) => (
            f.greeted,
            dial_outcome(f.dial_outcome, "facts.dial_outcome")?,
        ),
        None => (false, None),
    };
    let outcome = match &request.outcome {
        None => None,
        Some(O::Played(_)) => Some(Outcome::Played),
        Some(O::Digits(d)) => Some(Outcome::Digits(d)),
        Some(O::MenuTimeout(_)) => Some(Outcome::MenuTimeout),
        Some(O::Dial(value)) => match dial_outcome(*value, "dial")? {
            Some(d) => Some(Outcome::Dial(d)),
            None => {
                return Err(Status::invalid_argument(
                    "dial: DIAL_OUTCOME_UNSPECIFIED is no outcome",
                ));
            }
        },
    };
    Ok(Facts {
        greeted,
        dial,
        cursor: Cursor::parse(&request.cursor),
        outcome,
    })
}

/// A dial outcome in `field`: unspecified while nobody was dialled.
fn dial_outcome(value: i32, field: &str) -> Result<Option<DialOutcome>, Status> {
    use pb::DialOutcome as D;
    let outcome = D::try_from(value)
        .map_err(|_| Status::invalid_argument(format!("{field}: {value} is not a DialOutcome")))?;
    Ok(match outcome {
        D::Unspecified => None,
        D::NoAnswer => Some(DialOutcome::NoAnswer),
        D::Busy => Some(DialOutcome::Busy),
        D::Unreachable => Some(DialOutcome::Unreachable),
        D::Declined => Some(DialOutcome::Declined),
    })
}

// ----- responses -----

/// The response carrying one decision.
pub(crate) fn decision(decision: Decision<'_>) -> pb::DecideResponse {
    let step = match decision.step {
        Step::Play { prompt } => PbStep::Play(pb::Play {
            prompt: prompt.into(),
        }),
        Step::Menu {
            prompt,
            invalid_prompt,
            timeout_ms,
            max_digits,
        } => PbStep::Menu(pb::Menu {
            prompt: prompt.into(),
            invalid_prompt: invalid_prompt.unwrap_or_default().into(),
            timeout_ms,
            max_digits: u32::from(max_digits),
        }),
        Step::Queue {
            department,
            priority,
        } => PbStep::Queue(pb::Queue {
            department_id: department.into(),
            priority: u32::from(priority),
        }),
        Step::Dial {
            employee,
            forward,
            announce,
        } => PbStep::Dial(pb::Dial {
            employee_id: employee.into(),
            forward: forward.map(self::forward),
            announce,
        }),
        Step::Transfer { number, trunk } => PbStep::Transfer(pb::Transfer {
            number: number.into(),
            trunk_id: trunk.into(),
        }),
        Step::Hangup { prompt } => PbStep::Hangup(pb::Hangup {
            prompt: prompt.unwrap_or_default().into(),
        }),
        Step::NotFound => PbStep::NotFound(pb::NotFound {}),
        Step::Message { to } => PbStep::TakeMessage(pb::TakeMessage {
            recipient_id: to.into(),
        }),
        Step::Callback { from } => PbStep::OfferCallback(pb::OfferCallback {
            from_id: from.into(),
        }),
    };
    pb::DecideResponse {
        step: Some(step),
        operation_id: decision.operation.unwrap_or_default().into(),
        scenario_id: decision.scenario.unwrap_or_default().into(),
        cursor: decision.cursor.map(|c| c.to_string()).unwrap_or_default(),
        screened_by: decision.screened.unwrap_or_default().into(),
    }
}

fn forward(f: Forward<'_>) -> pb::Forward {
    pb::Forward {
        after_ms: u32::try_from(f.after.as_millis()).unwrap_or(u32::MAX),
        number: f.number.into(),
        trunk_id: f.trunk.into(),
    }
}

#[cfg(test)]
mod tests;
