//! Ingesting the same events again, in other batches or another order, changes nothing:
//! events are identified by (call, seq) and (agent, seq). On SQLite and PostgreSQL.

mod common;

use cc_reporting::core::{CallEvent, Dimension, KpiQuery, ReportEvent, ScenarioQuery, TimeRange};
use cc_reporting::store::{
    CallListQuery, Checkpoint, IngestBatch, IngestOutcome, ReportStore, StoreError,
};
use cc_reporting::synth::{Traffic, TrafficConfig};

fn traffic(events: usize) -> Vec<ReportEvent> {
    Traffic::new(7, TrafficConfig::default()).batch(events)
}

fn all() -> ScenarioQuery {
    ScenarioQuery::new(TimeRange::all())
}

fn ingesting_twice_gives_the_same_report(store: &mut dyn ReportStore) {
    let events = traffic(5_000);
    let first = store
        .ingest(IngestBatch {
            events: &events,
            checkpoint: None,
        })
        .expect("ingest");
    assert_eq!(first.new_events, 5_000);
    assert_eq!(first.duplicates, 0);
    let report = store
        .scenario_report(&all().by(Dimension::Operation))
        .expect("report");
    let kpis = store
        .kpis(&KpiQuery::new(TimeRange::all(), None))
        .expect("kpis");
    assert!(report.rows.len() > 20, "{} rows", report.rows.len());

    // Again, in other batches and backwards.
    let mut reversed = events.clone();
    reversed.reverse();
    for batch in reversed.chunks(333) {
        let again = store
            .ingest(IngestBatch {
                events: batch,
                checkpoint: None,
            })
            .expect("ingest");
        assert_eq!(
            again,
            IngestOutcome {
                new_events: 0,
                duplicates: batch.len(),
                calls_updated: 0
            }
        );
    }
    assert_eq!(
        store
            .scenario_report(&all().by(Dimension::Operation))
            .expect("report"),
        report
    );
    assert_eq!(
        store
            .kpis(&KpiQuery::new(TimeRange::all(), None))
            .expect("kpis"),
        kpis
    );
}

fn a_call_s_events_across_batches_and_out_of_order_end_in_one_record(store: &mut dyn ReportStore) {
    let mut generator = Traffic::new(3, TrafficConfig::default());
    let call: Vec<CallEvent> = generator.call();
    let events: Vec<ReportEvent> = call.iter().cloned().map(ReportEvent::Call).collect();
    // The end first, then the rest one by one from the back.
    for e in events.iter().rev() {
        store
            .ingest(IngestBatch {
                events: std::slice::from_ref(e),
                checkpoint: None,
            })
            .expect("ingest");
    }
    let listed = store
        .calls(&CallListQuery::new(TimeRange::all(), 10))
        .expect("calls");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0],
        cc_reporting::core::CallRecord::fold(&call[0].call, &call)
    );
}

fn the_checkpoint_only_moves_forward(store: &mut dyn ReportStore) {
    let at = |position| Checkpoint {
        source: "events.v1@a".into(),
        position,
    };
    for position in [10, 30, 20] {
        let cp = at(position);
        store
            .ingest(IngestBatch {
                events: &[],
                checkpoint: Some(&cp),
            })
            .expect("ingest");
    }
    assert_eq!(
        store.checkpoint("events.v1@a").expect("checkpoint"),
        Some(30)
    );
    assert_eq!(store.checkpoint("events.v1@b").expect("checkpoint"), None);
}

fn a_call_list_page_is_bounded(store: &mut dyn ReportStore) {
    let err = store
        .calls(&CallListQuery::new(TimeRange::all(), 10_001))
        .expect_err("too many");
    assert!(matches!(
        err,
        StoreError::LimitTooLarge {
            asked: 10_001,
            max: 10_000
        }
    ));
}

fn a_sequence_number_beyond_sql_s_range_is_refused_and_nothing_is_stored(
    store: &mut dyn ReportStore,
) {
    let mut events = traffic(10);
    if let Some(ReportEvent::Call(e)) = events.last_mut() {
        e.seq = u64::MAX;
    }
    let err = store
        .ingest(IngestBatch {
            events: &events,
            checkpoint: None,
        })
        .expect_err("seq too large");
    assert_eq!(
        err.to_string(),
        format!(
            "call event seq {} is too large to store (at most {})",
            u64::MAX,
            i64::MAX
        )
    );
    assert!(
        store
            .scenario_report(&all())
            .expect("report")
            .rows
            .is_empty()
    );
}

common::on_both_stores!(
    ingesting_twice_gives_the_same_report,
    a_call_s_events_across_batches_and_out_of_order_end_in_one_record,
    the_checkpoint_only_moves_forward,
    a_call_list_page_is_bounded,
    a_sequence_number_beyond_sql_s_range_is_refused_and_nothing_is_stored,
);
