//! A call event's kind as a row: a stable kind name and up to three text arguments. Names,
//! not numbers, so the table reads on its own and new kinds never renumber old ones.

use crate::core::{
    AgentId, CallEventKind, CallType, DepartmentId, EndReason, OperationId, ScenarioEntry,
    ScenarioId,
};

use super::StoreError;

/// The columns `kind, a, b, c` of an event row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRow<'a> {
    pub kind: &'static str,
    pub a: Option<&'a str>,
    pub b: Option<&'a str>,
    pub c: Option<&'a str>,
}

fn row<'a>(
    kind: &'static str,
    a: Option<&'a str>,
    b: Option<&'a str>,
    c: Option<&'a str>,
) -> EventRow<'a> {
    EventRow { kind, a, b, c }
}

pub fn encode(kind: &CallEventKind) -> EventRow<'_> {
    match kind {
        CallEventKind::Started {
            number,
            caller,
            call_type,
        } => row(
            "started",
            Some(number),
            Some(caller),
            Some(call_type.as_str()),
        ),
        CallEventKind::ScenarioEntered { scenario, entry } => match entry {
            ScenarioEntry::Routing => {
                row("scenario", Some(scenario.as_str()), Some("routing"), None)
            }
            ScenarioEntry::ByOption { agent } => row(
                "scenario",
                Some(scenario.as_str()),
                Some("option"),
                agent.as_ref().map(AgentId::as_str),
            ),
        },
        CallEventKind::OperationEntered { operation } => {
            row("operation_entered", Some(operation.as_str()), None, None)
        }
        CallEventKind::OperationLeft { operation } => {
            row("operation_left", Some(operation.as_str()), None, None)
        }
        CallEventKind::Queued { department } => {
            row("queued", Some(department.as_str()), None, None)
        }
        CallEventKind::Offered { agent } => row("offered", Some(agent.as_str()), None, None),
        CallEventKind::Answered { agent } => {
            row("answered", agent.as_ref().map(AgentId::as_str), None, None)
        }
        CallEventKind::Transferred { target } => row("transferred", Some(target), None, None),
        CallEventKind::Held => row("held", None, None, None),
        CallEventKind::Resumed => row("resumed", None, None, None),
        CallEventKind::RecordingStarted { recording } => {
            row("recording_started", Some(recording), None, None)
        }
        CallEventKind::CallbackRequested { department } => row(
            "callback_requested",
            department.as_ref().map(DepartmentId::as_str),
            None,
            None,
        ),
        CallEventKind::Ended { reason } => row("ended", Some(reason.as_str()), None, None),
    }
}

fn required(value: Option<String>, what: &'static str) -> Result<String, StoreError> {
    value.ok_or(StoreError::Corrupt {
        what,
        value: "NULL".to_owned(),
    })
}

/// The event kind of a stored row.
pub fn decode(
    kind: &str,
    a: Option<String>,
    b: Option<String>,
    c: Option<String>,
) -> Result<CallEventKind, StoreError> {
    Ok(match kind {
        "started" => {
            let call_type = required(c, "call type")?;
            CallEventKind::Started {
                number: required(a, "started number")?,
                caller: required(b, "started caller")?,
                call_type: call_type
                    .parse::<CallType>()
                    .map_err(|_| StoreError::Corrupt {
                        what: "call type",
                        value: call_type,
                    })?,
            }
        }
        "scenario" => {
            let scenario = ScenarioId::new(required(a, "scenario id")?);
            let entry = match required(b, "scenario entry")?.as_str() {
                "routing" => ScenarioEntry::Routing,
                "option" => ScenarioEntry::ByOption {
                    agent: c.map(AgentId::new),
                },
                other => {
                    return Err(StoreError::Corrupt {
                        what: "scenario entry",
                        value: other.to_owned(),
                    });
                }
            };
            CallEventKind::ScenarioEntered { scenario, entry }
        }
        "operation_entered" => CallEventKind::OperationEntered {
            operation: OperationId::new(required(a, "operation id")?),
        },
        "operation_left" => CallEventKind::OperationLeft {
            operation: OperationId::new(required(a, "operation id")?),
        },
        "queued" => CallEventKind::Queued {
            department: DepartmentId::new(required(a, "department id")?),
        },
        "offered" => CallEventKind::Offered {
            agent: AgentId::new(required(a, "agent id")?),
        },
        "answered" => CallEventKind::Answered {
            agent: a.map(AgentId::new),
        },
        "transferred" => CallEventKind::Transferred {
            target: required(a, "transfer target")?,
        },
        "held" => CallEventKind::Held,
        "resumed" => CallEventKind::Resumed,
        "recording_started" => CallEventKind::RecordingStarted {
            recording: required(a, "recording")?,
        },
        "callback_requested" => CallEventKind::CallbackRequested {
            department: a.map(DepartmentId::new),
        },
        "ended" => {
            let reason = required(a, "end reason")?;
            CallEventKind::Ended {
                reason: reason
                    .parse::<EndReason>()
                    .map_err(|_| StoreError::Corrupt {
                        what: "end reason",
                        value: reason,
                    })?,
            }
        }
        other => {
            return Err(StoreError::Corrupt {
                what: "event kind",
                value: other.to_owned(),
            });
        }
    })
}
