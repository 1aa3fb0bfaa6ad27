//! The per-scenario report: one row per scenario, or per scenario and value of
//! one second dimension, with the R-60 measures, for the calls that started in a time range;
//! rows filtered on their measures.

use std::collections::BTreeMap;
use std::time::Duration;

use super::event::{CallType, EndReason};
use super::filter::Filter;
use super::ids::{DepartmentId, OperationId, ScenarioId};
use super::range::TimeRange;
use super::record::{CallRecord, ScenarioPass};

/// The second dimension of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// The virtual number dialled.
    Number,
    CallType,
    /// Why the call ended (no value while it goes on).
    EndReason,
    /// The operation (step) of the scenario: a call counts once under every operation it
    /// walked in that scenario, so the rows of one scenario add up to more than its total.
    /// A pass that walked none has no value.
    Operation,
    /// The agent group: the first department the call queued in (no value if none).
    Department,
}

/// A value of the second dimension.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DimensionValue {
    Number(String),
    CallType(CallType),
    EndReason(EndReason),
    Operation(OperationId),
    Department(DepartmentId),
}

/// What to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioQuery {
    /// Calls whose start falls in this range (see [`TimeRange`] for the boundary rule).
    pub range: TimeRange,
    pub dimension: Option<Dimension>,
    /// Rows whose measures do not match are left out.
    pub filter: Option<Filter>,
}

impl ScenarioQuery {
    /// Every call in `range`, one row per scenario, no filter.
    pub fn new(range: TimeRange) -> Self {
        Self {
            range,
            dimension: None,
            filter: None,
        }
    }

    pub fn by(mut self, dimension: Dimension) -> Self {
        self.dimension = Some(dimension);
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }
}

/// Which row: the scenario, and the second dimension's value when one was asked for (None
/// there means "no value": a call in progress by end reason, a call never queued by
/// department).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    /// None: calls that entered no scenario.
    pub scenario: Option<ScenarioId>,
    pub value: Option<DimensionValue>,
}

/// The R-60 measures of a row. Counts and sums, so that rows add up and the store's SQL
/// computes exactly the same numbers; the averages are derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measures {
    /// Calls (passes) counted.
    pub total: u64,
    /// The scenario was entered by hand by an agent.
    pub by_option: u64,
    pub with_transfer: u64,
    /// Ended with zero net talk time.
    pub no_conversation: u64,
    /// Ended by a party's hang-up after a conversation.
    pub completed: u64,
    /// The call entered the scenario more than once.
    pub re_pass: u64,
    /// Calls that have ended: the denominator of both averages.
    pub ended: u64,
    /// Start-to-end time of the ended calls.
    pub total_ms: i64,
    /// Net talk time of the ended calls.
    pub talk_ms: i64,
}

impl Measures {
    /// Average start-to-end duration of the ended calls, in milliseconds.
    pub fn avg_total_ms(&self) -> Option<f64> {
        (self.ended > 0).then(|| self.total_ms as f64 / self.ended as f64)
    }

    /// Average net talk time of the ended calls (those without a conversation count as 0,
    /// so it compares with the average total duration like for like).
    pub fn avg_talk_ms(&self) -> Option<f64> {
        (self.ended > 0).then(|| self.talk_ms as f64 / self.ended as f64)
    }

    pub fn avg_total(&self) -> Option<Duration> {
        self.avg_total_ms()
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    pub fn avg_talk(&self) -> Option<Duration> {
        self.avg_talk_ms()
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    /// Adds another row's counts (durations saturate rather than wrap on absurd stamps).
    pub fn merge(&mut self, other: &Measures) {
        self.total += other.total;
        self.by_option += other.by_option;
        self.with_transfer += other.with_transfer;
        self.no_conversation += other.no_conversation;
        self.completed += other.completed;
        self.re_pass += other.re_pass;
        self.ended += other.ended;
        self.total_ms = self.total_ms.saturating_add(other.total_ms);
        self.talk_ms = self.talk_ms.saturating_add(other.talk_ms);
    }

    /// Counts one pass.
    pub fn add(&mut self, facts: &PassFacts) {
        self.merge(&facts.measures());
    }
}

/// What one pass of one call contributes to a row: the flags the store keeps per pass and
/// sums in SQL, computed here once for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFacts {
    pub by_option: bool,
    pub re_pass: bool,
    pub transferred: bool,
    pub ended: bool,
    pub no_conversation: bool,
    pub completed: bool,
    /// Start to end, for an ended call.
    pub total_ms: Option<i64>,
    pub talk_ms: i64,
}

impl PassFacts {
    pub fn of(call: &CallRecord, pass: &ScenarioPass) -> Self {
        Self {
            by_option: pass.by_option,
            re_pass: pass.is_re_pass(),
            transferred: call.transferred,
            ended: call.is_ended(),
            no_conversation: call.no_conversation(),
            completed: call.completed(),
            total_ms: call.total_ms(),
            talk_ms: call.talk_ms,
        }
    }

    /// The pass as a one-call row.
    pub fn measures(&self) -> Measures {
        Measures {
            total: 1,
            by_option: self.by_option.into(),
            with_transfer: self.transferred.into(),
            no_conversation: self.no_conversation.into(),
            completed: self.completed.into(),
            re_pass: self.re_pass.into(),
            ended: self.ended.into(),
            total_ms: self.total_ms.unwrap_or(0),
            talk_ms: if self.ended { self.talk_ms } else { 0 },
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRow {
    pub key: RowKey,
    pub measures: Measures,
}

/// The report: rows in key order (scenario, then dimension value; "none" first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScenarioReport {
    pub rows: Vec<ScenarioRow>,
}

impl ScenarioReport {
    /// Builds the report from grouped rows in any order: filters them and sorts by key.
    /// The store groups in SQL and ends here too, so both apply the filter the same way.
    pub fn from_rows(rows: impl IntoIterator<Item = ScenarioRow>, filter: Option<&Filter>) -> Self {
        let mut rows: Vec<ScenarioRow> = rows
            .into_iter()
            .filter(|r| filter.is_none_or(|f| f.matches(&r.measures)))
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Self { rows }
    }

    /// The row of a scenario (and dimension value).
    pub fn row(&self, scenario: Option<&str>, value: Option<&DimensionValue>) -> Option<&Measures> {
        self.rows
            .iter()
            .find(|r| {
                r.key.scenario.as_ref().map(ScenarioId::as_str) == scenario
                    && r.key.value.as_ref() == value
            })
            .map(|r| &r.measures)
    }
}

/// The dimension values one pass counts under (several for operations, one otherwise;
/// `[None]` when the pass has no value, or when no dimension was asked for).
pub fn dimension_values(
    call: &CallRecord,
    pass: &ScenarioPass,
    dimension: Option<Dimension>,
) -> Vec<Option<DimensionValue>> {
    let Some(dimension) = dimension else {
        return vec![None];
    };
    match dimension {
        Dimension::Number => vec![
            call.start
                .as_ref()
                .map(|s| DimensionValue::Number(s.number.clone())),
        ],
        Dimension::CallType => vec![
            call.start
                .as_ref()
                .map(|s| DimensionValue::CallType(s.call_type)),
        ],
        Dimension::EndReason => vec![call.end.map(|e| DimensionValue::EndReason(e.reason))],
        Dimension::Department => vec![
            call.department
                .as_ref()
                .map(|d| DimensionValue::Department(d.clone())),
        ],
        Dimension::Operation if pass.operations.is_empty() => vec![None],
        Dimension::Operation => pass
            .operations
            .iter()
            .map(|o| Some(DimensionValue::Operation(o.clone())))
            .collect(),
    }
}

/// The report over call records: the reference the store's SQL must equal.
pub fn scenario_report<'a>(
    calls: impl IntoIterator<Item = &'a CallRecord>,
    query: &ScenarioQuery,
) -> ScenarioReport {
    let mut rows: BTreeMap<RowKey, Measures> = BTreeMap::new();
    for call in calls {
        let Some(start) = &call.start else { continue };
        if !query.range.contains(start.at) {
            continue;
        }
        for pass in &call.passes {
            let facts = PassFacts::of(call, pass);
            for value in dimension_values(call, pass, query.dimension) {
                let key = RowKey {
                    scenario: pass.scenario.clone(),
                    value,
                };
                rows.entry(key).or_default().add(&facts);
            }
        }
    }
    ScenarioReport::from_rows(
        rows.into_iter()
            .map(|(key, measures)| ScenarioRow { key, measures }),
        query.filter.as_ref(),
    )
}
