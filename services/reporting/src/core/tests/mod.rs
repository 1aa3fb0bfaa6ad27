//! Hand-built call sequences for every measure, dimension and KPI.

mod filter;
mod fold;
mod kpi;
mod report;

use super::*;

/// The tests' epoch: times in the builders are seconds after it.
pub const T0: UnixMs = 1_700_000_000_000;

pub fn ms(seconds: i64) -> UnixMs {
    T0 + seconds * 1000
}

/// Builds one call's events, numbering them in the order written.
pub struct Call {
    id: CallId,
    events: Vec<CallEvent>,
}

pub fn call(id: &str) -> Call {
    Call {
        id: CallId::from(id),
        events: Vec::new(),
    }
}

impl Call {
    pub fn at(mut self, seconds: i64, kind: CallEventKind) -> Self {
        self.events.push(CallEvent {
            call: self.id.clone(),
            seq: self.events.len() as u64 + 1,
            at: ms(seconds),
            kind,
        });
        self
    }

    pub fn started(self, s: i64, number: &str, call_type: CallType) -> Self {
        self.at(
            s,
            CallEventKind::Started {
                number: number.into(),
                caller: "+49170111".into(),
                call_type,
            },
        )
    }

    pub fn inbound(self, s: i64) -> Self {
        self.started(s, "+4930100", CallType::Inbound)
    }

    pub fn scenario(self, s: i64, scenario: &str) -> Self {
        self.at(
            s,
            CallEventKind::ScenarioEntered {
                scenario: scenario.into(),
                entry: ScenarioEntry::Routing,
            },
        )
    }

    pub fn by_option(self, s: i64, scenario: &str) -> Self {
        self.at(
            s,
            CallEventKind::ScenarioEntered {
                scenario: scenario.into(),
                entry: ScenarioEntry::ByOption {
                    agent: Some("anna".into()),
                },
            },
        )
    }

    pub fn op(self, s: i64, operation: &str) -> Self {
        self.at(
            s,
            CallEventKind::OperationEntered {
                operation: operation.into(),
            },
        )
    }

    pub fn queued(self, s: i64, department: &str) -> Self {
        self.at(
            s,
            CallEventKind::Queued {
                department: department.into(),
            },
        )
    }

    pub fn answered(self, s: i64, agent: &str) -> Self {
        self.at(
            s,
            CallEventKind::Answered {
                agent: Some(agent.into()),
            },
        )
    }

    pub fn held(self, s: i64) -> Self {
        self.at(s, CallEventKind::Held)
    }

    pub fn resumed(self, s: i64) -> Self {
        self.at(s, CallEventKind::Resumed)
    }

    pub fn transferred(self, s: i64, target: &str) -> Self {
        self.at(
            s,
            CallEventKind::Transferred {
                target: target.into(),
            },
        )
    }

    pub fn callback(self, s: i64, department: Option<&str>) -> Self {
        self.at(
            s,
            CallEventKind::CallbackRequested {
                department: department.map(DepartmentId::from),
            },
        )
    }

    pub fn ended(self, s: i64, reason: EndReason) -> Self {
        self.at(s, CallEventKind::Ended { reason })
    }

    pub fn events(self) -> Vec<CallEvent> {
        self.events
    }

    pub fn record(self) -> CallRecord {
        let id = self.id.clone();
        CallRecord::fold(&id, &self.events)
    }
}

/// Records of several calls.
pub fn records(calls: Vec<Call>) -> Vec<CallRecord> {
    calls.into_iter().map(Call::record).collect()
}
