//! The reads: the scenario report grouped in SQL (the hourly rollup for whole hours, the
//! raw passes for the partial hours at the range's edges), the KPIs summed in SQL, the call
//! list. Rows are grouped and summed by the database; the filter then runs on the (few) grouped
//! rows through the core's [`ScenarioReport::from_rows`], so its semantics (an undefined
//! average compares false) are the core's exactly rather than SQL's three-valued logic.

use std::collections::HashMap;

use super::db::{Row, Sql, values};
use super::ingest::load_events;
use super::rollup;
use super::{StoreError, from_sql};
use crate::core::{
    AgentId, AgentState, CallId, CallRecord, CallType, DepartmentId, Dimension, DimensionValue,
    EndReason, KpiQuery, Kpis, Measures, OperationId, RowKey, ScenarioId, ScenarioQuery,
    ScenarioReport, ScenarioRow, interval_time,
};
use crate::store::{CallListQuery, sql};

fn corrupt(what: &'static str, value: String) -> StoreError {
    StoreError::Corrupt { what, value }
}

fn dimension_value(dimension: Dimension, text: String) -> Result<DimensionValue, StoreError> {
    Ok(match dimension {
        Dimension::Number => DimensionValue::Number(text),
        Dimension::CallType => DimensionValue::CallType(
            text.parse::<CallType>()
                .map_err(|_| corrupt("call type", text))?,
        ),
        Dimension::EndReason => DimensionValue::EndReason(
            text.parse::<EndReason>()
                .map_err(|_| corrupt("end reason", text))?,
        ),
        Dimension::Operation => DimensionValue::Operation(OperationId::new(text)),
        Dimension::Department => DimensionValue::Department(DepartmentId::new(text)),
    })
}

/// The R-60 sums of a grouped row, in columns 2..=10.
pub(super) fn measures(row: &Row) -> Result<Measures, StoreError> {
    let count = |i: usize, what| -> Result<u64, StoreError> { from_sql(what, row.int(i)?) };
    Ok(Measures {
        total: count(2, "total")?,
        by_option: count(3, "by option")?,
        with_transfer: count(4, "with transfer")?,
        no_conversation: count(5, "no conversation")?,
        completed: count(6, "completed")?,
        re_pass: count(7, "re-pass")?,
        ended: count(8, "ended")?,
        total_ms: row.int(9)?.unwrap_or(0),
        talk_ms: row.int(10)?.unwrap_or(0),
    })
}

pub(super) fn scenario_report(
    db: &mut impl Sql,
    query: &ScenarioQuery,
) -> Result<ScenarioReport, StoreError> {
    let (from, to) = (query.range.from(), query.range.to());
    let mut rows: HashMap<RowKey, Measures> = HashMap::new();
    let value = |text| match query.dimension {
        Some(d) => dimension_value(d, text),
        None => Err(corrupt("dimension value of a report without one", text)),
    };
    match rollup::whole_buckets(from, to) {
        Some((first, end)) => {
            rollup::read(db, query.dimension, (first, end), &mut rows, value)?;
            raw_rows(db, query.dimension, from, first, &mut rows)?;
            raw_rows(db, query.dimension, end, to, &mut rows)?;
        }
        None => raw_rows(db, query.dimension, from, to, &mut rows)?,
    }
    Ok(ScenarioReport::from_rows(
        rows.into_iter()
            .map(|(key, measures)| ScenarioRow { key, measures }),
        query.filter.as_ref(),
    ))
}

/// Groups the raw passes that started in `[from, to)` into `rows`.
fn raw_rows(
    db: &mut impl Sql,
    dimension: Option<Dimension>,
    from: i64,
    to: i64,
    rows: &mut HashMap<RowKey, Measures>,
) -> Result<(), StoreError> {
    if from >= to {
        return Ok(());
    }
    // Column names come from this match, never from the query's text.
    let (value, join) = match dimension {
        None => ("NULL", ""),
        Some(Dimension::Number) => ("p.number", ""),
        Some(Dimension::CallType) => ("p.call_type", ""),
        Some(Dimension::EndReason) => ("p.end_reason", ""),
        Some(Dimension::Department) => ("p.department", ""),
        Some(Dimension::Operation) => (
            "o.operation_id",
            " LEFT JOIN pass_operations o ON o.call_id = p.call_id AND o.pass_no = p.pass_no",
        ),
    };
    let group = if dimension.is_some() {
        format!("p.scenario_id, {value}")
    } else {
        "p.scenario_id".to_owned()
    };
    let text = sql::scenario_report(value, join, &group);
    for mut row in db.query(&text, values![from, to])? {
        let scenario = row.text(0)?;
        let value = match (dimension, row.text(1)?) {
            (Some(d), Some(v)) => Some(dimension_value(d, v)?),
            _ => None,
        };
        rows.entry(RowKey {
            scenario: scenario.map(ScenarioId::new),
            value,
        })
        .or_default()
        .merge(&measures(&row)?);
    }
    Ok(())
}

pub(super) fn kpis(db: &mut impl Sql, query: &KpiQuery) -> Result<Kpis, StoreError> {
    let (from, to) = (query.range.from(), query.range.to());
    let department = query.department.as_ref().map(DepartmentId::as_str);
    let sums = db.query(
        sql::KPI_CALLS,
        values![
            from,
            to,
            query.threshold_ms(),
            query.short_abandon_ms(),
            department
        ],
    )?;
    let sums = sums
        .first()
        .ok_or_else(|| corrupt("KPI sums", "no row".to_owned()))?;
    let mut k = Kpis {
        offered: from_sql("offered", sums.int(0)?)?,
        answered: from_sql("answered", sums.int(1)?)?,
        answered_in_threshold: from_sql("answered in threshold", sums.int(2)?)?,
        wait_ms: sums.int(3)?.unwrap_or(0),
        abandoned: from_sql("abandoned", sums.int(4)?)?,
        short_abandoned: from_sql("short abandoned", sums.int(5)?)?,
        handled: from_sql("handled", sums.int(6)?)?,
        handle_ms: sums.int(7)?.unwrap_or(0),
        callbacks_kept: from_sql("callbacks kept", sums.int(8)?)?,
        service_level_target: query.service_level_target,
        ..Kpis::default()
    };
    let requested = db.query(sql::KPI_CALLBACKS_REQUESTED, values![from, to, department])?;
    k.callbacks_requested = from_sql(
        "callbacks requested",
        requested.first().map(|r| r.int(0)).transpose()?.flatten(),
    )?;

    for mut row in db.query(sql::AGENT_INTERVALS, values![from, to])? {
        let agent = AgentId::new(row.required_text(0)?);
        if !query.agents.includes(&agent) {
            continue;
        }
        let state = row.required_text(1)?;
        let state = state
            .parse::<AgentState>()
            .map_err(|_| corrupt("agent state", state))?;
        let at = row.required_int(2)?;
        let until = row.int(3)?.unwrap_or_else(|| query.open_until());
        let (busy, staffed) = interval_time(state, at, until, &query.range);
        k.busy_ms = k.busy_ms.saturating_add(busy);
        k.staffed_ms = k.staffed_ms.saturating_add(staffed);
    }
    Ok(k)
}

pub(super) fn calls(
    db: &mut impl Sql,
    query: &CallListQuery,
) -> Result<Vec<CallRecord>, StoreError> {
    if query.limit > CallListQuery::MAX_LIMIT {
        return Err(StoreError::LimitTooLarge {
            asked: query.limit,
            max: CallListQuery::MAX_LIMIT,
        });
    }
    let ids = db.query(
        sql::CALL_LIST,
        values![
            query.range.from(),
            query.range.to(),
            query.department.as_ref().map(DepartmentId::as_str),
            i64::from(query.limit),
            query.number.as_deref(),
            query.agent.as_ref().map(AgentId::as_str),
            query.end_reason.map(EndReason::as_str),
        ],
    )?;
    ids.into_iter()
        .map(|mut row| {
            let call = CallId::new(row.required_text(0)?);
            let events = load_events(db, &call)?;
            Ok(CallRecord::fold(&call, &events))
        })
        .collect()
}
