//! The pure reporting core: the event model, the per-call fold, the per-scenario report and
//! the KPIs. No I/O, no clock reads, no runtime: events and queries in, records, rows and
//! KPIs out. The store computes the same numbers in SQL and its tests compare the two.

mod event;
mod filter;
mod ids;
mod kpi;
mod range;
mod record;
mod report;

#[cfg(test)]
mod tests;

pub use event::{
    AgentEvent, AgentState, CallEvent, CallEventKind, CallType, EndReason, ReportEvent,
    ScenarioEntry, UnixMs, UnknownName,
};
pub use filter::{Cmp, CountMeasure, DurationMeasure, Filter, FilterError};
pub use ids::{AgentId, CallId, DepartmentId, OperationId, ScenarioId};
pub use kpi::{AgentScope, CallKpiFacts, KpiQuery, Kpis, agent_time, interval_time, kpis};
pub use range::{InvertedRange, TimeRange};
pub use record::{CallEnd, CallRecord, CallStart, CallbackRequest, ScenarioPass};
pub use report::{
    Dimension, DimensionValue, Measures, PassFacts, RowKey, ScenarioQuery, ScenarioReport,
    ScenarioRow, dimension_values, scenario_report,
};
