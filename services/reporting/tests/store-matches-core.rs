//! The stores' reports (SQLite's and PostgreSQL's) equal the pure core's on the same
//! events, whatever the order, duplicates and batch cuts: the report for every dimension
//! and range, filtered or not, the KPIs and the call list.

mod common;

use cc_reporting::core::{
    AgentScope, CallRecord, Dimension, Filter, KpiQuery, ScenarioQuery, TimeRange, kpis,
    scenario_report,
};
use cc_reporting::store::{CallListQuery, IngestBatch, PostgresStore, ReportStore, SqliteStore};
use cc_reporting::testing::PostgresServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

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

fn ingest(store: &mut dyn ReportStore, traffic: &common::Traffic) {
    for batch in traffic.batches() {
        store
            .ingest(IngestBatch {
                events: batch,
                checkpoint: None,
            })
            .expect("ingest");
    }
}

fn report_equals_core(
    store: &mut dyn ReportStore,
    traffic: &common::Traffic,
) -> Result<(), TestCaseError> {
    ingest(store, traffic);
    let records: Vec<CallRecord> = CallRecord::fold_all(&traffic.call_events())
        .into_values()
        .collect();
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
                "{:?}",
                query
            );
            let query = query.filter(filter.clone());
            prop_assert_eq!(
                store.scenario_report(&query).expect("report"),
                scenario_report(&records, &query),
                "{:?}",
                query
            );
        }
    }
    Ok(())
}

fn kpis_equal_core(
    store: &mut dyn ReportStore,
    traffic: &common::Traffic,
) -> Result<(), TestCaseError> {
    ingest(store, traffic);
    let records: Vec<CallRecord> = CallRecord::fold_all(&traffic.call_events())
        .into_values()
        .collect();
    let agent_events = traffic.agent_events();
    for range in ranges() {
        for department in [None, Some("d0".into()), Some("d1".into())] {
            for agents in [AgentScope::All, AgentScope::Only(["a0".into()].into())] {
                let mut query = KpiQuery::new(range, department.clone());
                query.agents = agents;
                prop_assert_eq!(
                    store.kpis(&query).expect("kpis"),
                    kpis(&records, &agent_events, &query),
                    "{:?}",
                    query
                );
            }
        }
    }
    Ok(())
}

fn call_list_is_core_latest_first(
    store: &mut dyn ReportStore,
    traffic: &common::Traffic,
) -> Result<(), TestCaseError> {
    ingest(store, traffic);
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
    Ok(())
}

fn sqlite() -> SqliteStore {
    SqliteStore::open_in_memory().expect("open")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_sqlite_report_equals_the_core_report(traffic in common::traffic()) {
        report_equals_core(&mut sqlite(), &traffic)?;
    }

    #[test]
    fn the_sqlite_kpis_equal_the_core_kpis(traffic in common::traffic()) {
        kpis_equal_core(&mut sqlite(), &traffic)?;
    }

    #[test]
    fn the_sqlite_call_list_holds_the_core_records_latest_first(traffic in common::traffic()) {
        call_list_is_core_latest_first(&mut sqlite(), &traffic)?;
    }
}

/// Runs a property against PostgreSQL: one server, a fresh database per case (fewer cases
/// than SQLite's: each costs a database).
fn on_postgres(check: fn(&mut dyn ReportStore, &common::Traffic) -> Result<(), TestCaseError>) {
    let server = PostgresServer::start().expect("start PostgreSQL (scripts/setup.sh installs it)");
    let mut runner = TestRunner::new(Config::with_cases(24));
    let result = runner.run(&common::traffic(), |traffic| {
        let url = server.fresh_database().expect("a database");
        let mut store = PostgresStore::connect(&url).expect("connect");
        check(&mut store, &traffic)
    });
    if let Err(e) = result {
        panic!("{e}\n{}", server.log());
    }
}

#[test]
fn the_postgres_report_equals_the_core_report() {
    on_postgres(report_equals_core);
}

#[test]
fn the_postgres_kpis_equal_the_core_kpis() {
    on_postgres(kpis_equal_core);
}

#[test]
fn the_postgres_call_list_holds_the_core_records_latest_first() {
    on_postgres(call_list_is_core_latest_first);
}
