//! cc.reporting.v1 messages to and from the core's types. A request field that is wrong
//! becomes INVALID_ARGUMENT naming it.

use std::time::Duration;

use cc_proto::reporting::v1 as pb;
use tonic::Status;

use crate::core::{
    AgentId, CallEvent, CallEventKind, CallId, CallRecord, DepartmentId, Dimension, DimensionValue,
    EndReason, Filter, KpiQuery, Kpis, Measures, ScenarioEntry, ScenarioQuery, ScenarioReport,
    TimeRange,
};
use crate::store::CallListQuery;

/// The call list's page when the request says none.
pub const DEFAULT_LIMIT: u32 = 100;

/// `[from, to)`; 0 for an open end.
#[allow(clippy::result_large_err)]
pub fn range(range: Option<&pb::TimeRange>) -> Result<TimeRange, Status> {
    let Some(r) = range else {
        return Ok(TimeRange::all());
    };
    let from = match r.from_unix_ms {
        0 => i64::MIN,
        n => n,
    };
    let to = match r.to_unix_ms {
        0 => i64::MAX,
        n => n,
    };
    TimeRange::new(from, to).map_err(|e| Status::invalid_argument(format!("range: {e}")))
}

#[allow(clippy::result_large_err)]
pub fn scenario_query(request: &pb::ScenarioReportRequest) -> Result<ScenarioQuery, Status> {
    let mut query = ScenarioQuery::new(range(request.range.as_ref())?);
    let dimension = pb::Dimension::try_from(request.dimension).map_err(|_| {
        Status::invalid_argument(format!("dimension: {} is no dimension", request.dimension))
    })?;
    let dimension = match dimension {
        pb::Dimension::Unspecified => None,
        pb::Dimension::Number => Some(Dimension::Number),
        pb::Dimension::CallType => Some(Dimension::CallType),
        pb::Dimension::EndReason => Some(Dimension::EndReason),
        pb::Dimension::Operation => Some(Dimension::Operation),
        pb::Dimension::Department => Some(Dimension::Department),
    };
    if let Some(d) = dimension {
        query = query.by(d);
    }
    if !request.filter.trim().is_empty() {
        let filter: Filter = request
            .filter
            .parse()
            .map_err(|e| Status::invalid_argument(format!("filter: {e}")))?;
        query = query.filter(filter);
    }
    Ok(query)
}

fn value(v: Option<&DimensionValue>) -> String {
    match v {
        None => String::new(),
        Some(DimensionValue::Number(n)) => n.clone(),
        Some(DimensionValue::CallType(t)) => t.to_string(),
        Some(DimensionValue::EndReason(r)) => r.to_string(),
        Some(DimensionValue::Operation(o)) => o.to_string(),
        Some(DimensionValue::Department(d)) => d.to_string(),
    }
}

fn ms(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn measures(m: &Measures) -> pb::Measures {
    pb::Measures {
        total: m.total,
        by_option: m.by_option,
        with_transfer: m.with_transfer,
        no_conversation: m.no_conversation,
        completed: m.completed,
        re_pass: m.re_pass,
        ended: m.ended,
        avg_total_ms: ms(m.avg_total()),
        avg_talk_ms: ms(m.avg_talk()),
    }
}

pub fn scenario_report(report: &ScenarioReport) -> pb::ScenarioReport {
    pb::ScenarioReport {
        rows: report
            .rows
            .iter()
            .map(|row| pb::ScenarioRow {
                scenario_id: row
                    .key
                    .scenario
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                value: value(row.key.value.as_ref()),
                measures: Some(measures(&row.measures)),
            })
            .collect(),
    }
}

#[allow(clippy::result_large_err)]
pub fn kpi_query(request: &pb::KpisRequest) -> Result<KpiQuery, Status> {
    let department = (!request.department_id.is_empty())
        .then(|| DepartmentId::from(request.department_id.as_str()));
    let mut query = KpiQuery::new(range(request.range.as_ref())?, department);
    if request.service_level_seconds > 0 {
        query.service_level_threshold =
            Duration::from_secs(u64::from(request.service_level_seconds));
    }
    if request.short_abandon_seconds > 0 {
        query.short_abandon = Duration::from_secs(u64::from(request.short_abandon_seconds));
    }
    Ok(query)
}

pub fn kpis(k: &Kpis) -> pb::Kpis {
    pb::Kpis {
        offered: k.offered,
        answered: k.answered,
        answered_in_threshold: k.answered_in_threshold,
        abandoned: k.abandoned,
        short_abandoned: k.short_abandoned,
        handled: k.handled,
        callbacks_requested: k.callbacks_requested,
        callbacks_kept: k.callbacks_kept,
        service_level: k.service_level(),
        asa_ms: ms(k.asa()),
        abandonment_rate: k.abandonment_rate(),
        aht_ms: ms(k.aht()),
        occupancy: k.occupancy(),
    }
}

#[allow(clippy::result_large_err)]
pub fn call_list_query(request: &pb::ListCallsRequest) -> Result<CallListQuery, Status> {
    let limit = match request.limit {
        0 => DEFAULT_LIMIT,
        n if n > CallListQuery::MAX_LIMIT => {
            return Err(Status::invalid_argument(format!(
                "limit: {n} is more than the {} calls of a page",
                CallListQuery::MAX_LIMIT
            )));
        }
        n => n,
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let end_reason = match request.end_reason.as_str() {
        "" => None,
        r => Some(
            r.parse::<EndReason>()
                .map_err(|e| Status::invalid_argument(format!("end_reason: {e}")))?,
        ),
    };
    Ok(CallListQuery {
        department: non_empty(&request.department_id).map(DepartmentId::new),
        number: non_empty(&request.number),
        agent: non_empty(&request.agent_id).map(AgentId::new),
        end_reason,
        ..CallListQuery::new(range(request.range.as_ref())?, limit)
    })
}

pub fn call_summary(r: &CallRecord) -> pb::CallSummary {
    let start = r.start.as_ref();
    pb::CallSummary {
        call_id: r.call.to_string(),
        started_unix_ms: start.map_or(0, |s| s.at),
        ended_unix_ms: r.end.map_or(0, |e| e.at),
        number: start.map(|s| s.number.clone()).unwrap_or_default(),
        caller: start.map(|s| s.caller.clone()).unwrap_or_default(),
        call_type: start.map(|s| s.call_type.to_string()).unwrap_or_default(),
        department_id: r
            .department
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        agent_id: r
            .agent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        end_reason: r.end.map(|e| e.reason.to_string()).unwrap_or_default(),
        talk_ms: r.talk_ms,
        hold_ms: r.hold_ms,
        wait_ms: r.wait_ms(),
        transferred: r.transferred,
        callback_requested: r.callback.is_some(),
        scenario_ids: r
            .passes
            .iter()
            .filter_map(|p| p.scenario.as_ref().map(ToString::to_string))
            .collect(),
        operation_ids: r.operations.iter().map(ToString::to_string).collect(),
        recordings: r.recordings.iter().map(|p| recording_name(p)).collect(),
    }
}

/// What a recording is called in the API: its file name (where it is kept is the media
/// node's business).
pub fn recording_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_owned())
}

pub fn timeline_event(e: &CallEvent) -> pb::TimelineEvent {
    let (kind, detail) = match &e.kind {
        CallEventKind::Started {
            number,
            caller,
            call_type,
        } => (
            "started",
            format!("{call_type} call to {number} from {caller}"),
        ),
        CallEventKind::ScenarioEntered { scenario, entry } => (
            "scenario_entered",
            match entry {
                ScenarioEntry::Routing => scenario.to_string(),
                ScenarioEntry::ByOption { agent: Some(a) } => format!("{scenario} (by {a})"),
                ScenarioEntry::ByOption { agent: None } => format!("{scenario} (by option)"),
            },
        ),
        CallEventKind::OperationEntered { operation } => {
            ("operation_entered", operation.to_string())
        }
        CallEventKind::OperationLeft { operation } => ("operation_left", operation.to_string()),
        CallEventKind::Queued { department } => ("queued", department.to_string()),
        CallEventKind::Offered { agent } => ("offered", agent.to_string()),
        CallEventKind::Answered { agent } => (
            "answered",
            agent.as_ref().map(ToString::to_string).unwrap_or_default(),
        ),
        CallEventKind::Transferred { target } => ("transferred", target.clone()),
        CallEventKind::Held => ("held", String::new()),
        CallEventKind::Resumed => ("resumed", String::new()),
        CallEventKind::RecordingStarted { recording } => {
            ("recording_started", recording_name(recording))
        }
        CallEventKind::CallbackRequested { department } => (
            "callback_requested",
            department
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        CallEventKind::Ended { reason } => ("ended", reason.to_string()),
    };
    pb::TimelineEvent {
        seq: e.seq,
        unix_ms: e.at,
        kind: kind.to_owned(),
        detail,
    }
}

#[allow(clippy::result_large_err)]
pub fn call_id(id: &str) -> Result<CallId, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("call_id: empty"));
    }
    Ok(CallId::from(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_field_is_named() {
        let inverted = pb::TimeRange {
            from_unix_ms: 10,
            to_unix_ms: 5,
        };
        let e = range(Some(&inverted)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().starts_with("range: "), "{}", e.message());

        let bad_filter = pb::ScenarioReportRequest {
            filter: "no_conversation >".into(),
            ..Default::default()
        };
        let e = scenario_query(&bad_filter).unwrap_err();
        assert!(e.message().starts_with("filter: "), "{}", e.message());

        let bad_dimension = pb::ScenarioReportRequest {
            dimension: 42,
            ..Default::default()
        };
        let e = scenario_query(&bad_dimension).unwrap_err();
        assert!(e.message().starts_with("dimension: "), "{}", e.message());

        let bad_reason = pb::ListCallsRequest {
            end_reason: "exploded".into(),
            ..Default::default()
        };
        let e = call_list_query(&bad_reason).unwrap_err();
        assert!(e.message().starts_with("end_reason: "), "{}", e.message());

        let too_many = pb::ListCallsRequest {
            limit: 10_001,
            ..Default::default()
        };
        let e = call_list_query(&too_many).unwrap_err();
        assert!(e.message().starts_with("limit: "), "{}", e.message());
        assert_eq!(
            call_id("").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn open_ends_and_defaults_fill_in() {
        let q = call_list_query(&pb::ListCallsRequest::default()).unwrap();
        assert_eq!(q, CallListQuery::new(TimeRange::all(), DEFAULT_LIMIT));
        let q = scenario_query(&pb::ScenarioReportRequest {
            range: Some(pb::TimeRange {
                from_unix_ms: 1000,
                to_unix_ms: 0,
            }),
            dimension: pb::Dimension::Department as i32,
            filter: "total > 2".into(),
        })
        .unwrap();
        assert_eq!(q.range.from(), 1000);
        assert_eq!(q.range.to(), i64::MAX);
        assert_eq!(q.dimension, Some(Dimension::Department));
        assert!(q.filter.is_some());
        let k = kpi_query(&pb::KpisRequest {
            department_id: "sales".into(),
            service_level_seconds: 30,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(k.department, Some(DepartmentId::from("sales")));
        assert_eq!(k.service_level_threshold, Duration::from_secs(30));
        assert_eq!(k.short_abandon, Duration::from_secs(5));
    }
}
