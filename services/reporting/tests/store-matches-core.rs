//! The SQLite store's reports equal the pure core's on the same events, whatever the
//! order, duplicates and batch cuts: the report for every dimension and range, filtered or
//! not, the KPIs and the call list.

mod common;

use cc_reporting::core::{
    AgentScope, CallRecord, Dimension, Filter, KpiQuery, ScenarioQuery, TimeRange, kpis,
    scenario_report,
};
use cc_reporting::store::{CallListQuery, IngestBatch, ReportStore, SqliteStore};
use proptest::prelude::*;

fn ranges() -> Vec<TimeRange> {
    let t = |s: i64| common::T0 + s * 1000;
    let hour = common::first_hour();
    vec![
        // Whole hours only (the rollup), open-ended.
        TimeRange::all(),
        // Inside one hour (raw passes only).
        TimeRange::new(t(20), t(60)).expect("range"),
        TimeRange::new(t(60), t(500)).expect("range"),
        TimeRange::new(t(200), t(200)).expect("range"),
        // Whole hours with partial hours at both edges.
        TimeRange::new(t(1_000), t(10_500)).expect("range"),
        // Exactly two whole hours.
        TimeRange::new(hour, hour + 7_200_000).expect("range"),
    ]
}

fn dimensions() -> [Option<Dimension>; 6] {
    [
        None,
        Some(Dimension::Number),
        Some(Dimension::CallType),
        Some(Dimension::EndReason),
        Some(Dimension::Operation),
        Some(Dimension::Department),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_sql_report_equals_the_core_report(traffic in common::traffic()) {
        let mut store = SqliteStore::open_in_memory().expect("open");
        for batch in traffic.batches() {
            store.ingest(IngestBatch { events: batch, checkpoint: None }).expect("ingest");
        }
        let records: Vec<CallRecord> =
            CallRecord::fold_all(&traffic.call_events()).into_values().collect();
        let filter: Filter = "total > 1 or (no_conversation > 0 and avg_total < 30s)"
            .parse()
            .expect("filter");
        for range in ranges() {
            for dimension in dimensions() {
                let mut query = ScenarioQuery::new(range);
                query.dimension = dimension;
                prop_assert_eq!(
                    store.scenario_report(&query).expect("report"),
                    scenario_report(&records, &query),
                    "{:?}", query
                );
                let query = query.filter(filter.clone());
                prop_assert_eq!(
                    store.scenario_report(&query).expect("report"),
                    scenario_report(&records, &query),
                    "{:?}", query
                );
            }
        }
    }

    #[test]
    fn the_sql_kpis_equal_the_core_kpis(traffic in common::traffic()) {
        let mut store = SqliteStore::open_in_memory().expect("open");
        for batch in traffic.batches() {
            store.ingest(IngestBatch { events: batch, checkpoint: None }).expect("ingest");
        }
        let records: Vec<CallRecord> =
            CallRecord::fold_all(&traffic.call_events()).into_values().collect();
        let agent_events = traffic.agent_events();
        for range in ranges() {
            for department in [None, Some("d0".into()), Some("d1".into())] {
                for agents in [AgentScope::All, AgentScope::Only(["a0".into()].into())] {
                    let mut query = KpiQuery::new(range, department.clone());
                    query.agents = agents;
                    prop_assert_eq!(
                        store.kpis(&query).expect("kpis"),
                        kpis(&records, &agent_events, &query),
                        "{:?}", query
                    );
                }
            }
        }
    }

    #[test]
    fn the_call_list_holds_the_core_records_latest_first(traffic in common::traffic()) {
        let mut store = SqliteStore::open_in_memory().expect("open");
        for batch in traffic.batches() {
            store.ingest(IngestBatch { events: batch, checkpoint: None }).expect("ingest");
        }
        let mut expected: Vec<CallRecord> = CallRecord::fold_all(&traffic.call_events())
            .into_values()
            .filter(|r| r.start.is_some())
            .collect();
        expected.sort_by(|a, b| {
            let key = |r: &CallRecord| (r.start.as_ref().map(|s| s.at), r.call.clone());
            key(b).cmp(&key(a))
        });
        let query = CallListQuery::new(TimeRange::all(), 5);
        let all = expected.clone();
        expected.truncate(5);
        prop_assert_eq!(store.calls(&query).expect("calls"), expected);
        // Filtered on what the first call has, the list is the core's records that pass.
        if let Some(first) = all.first() {
            let query = CallListQuery {
                department: first.department.clone(),
                number: first.start.as_ref().map(|s| s.number.clone()),
                agent: first.agent.clone(),
                end_reason: first.end.map(|e| e.reason),
                ..CallListQuery::new(TimeRange::all(), CallListQuery::MAX_LIMIT)
            };
            let passing: Vec<CallRecord> = all.iter().filter(|r| query.admits(r)).cloned().collect();
            prop_assert!(!passing.is_empty());
            prop_assert_eq!(store.calls(&query).expect("calls"), passing);
        }
    }
}
