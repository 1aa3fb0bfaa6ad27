//! A reporting node that stops and opens its database again resumes where its checkpoint
//! says: re-reading the overlap adds nothing, nothing is lost, and the report is the one a
//! single uninterrupted ingest gives.

use cc_reporting::core::{Dimension, KpiQuery, ScenarioQuery, TimeRange};
use cc_reporting::store::{Checkpoint, IngestBatch, ReportStore, SqliteStore, StoreError};
use cc_reporting::synth::{Traffic, TrafficConfig};

const SOURCE: &str = "events.v1@node-a";

fn ingest_from(
    store: &mut SqliteStore,
    events: &[cc_reporting::core::ReportEvent],
    from: usize,
    to: usize,
) {
    // Positions are 1-based like a stream's sequence numbers.
    for start in (from..to).step_by(250) {
        let end = (start + 250).min(to);
        let cp = Checkpoint {
            source: SOURCE.into(),
            position: end as u64,
        };
        store
            .ingest(IngestBatch {
                events: &events[start..end],
                checkpoint: Some(&cp),
            })
            .expect("ingest");
    }
}

#[test]
fn a_restart_resumes_from_the_checkpoint_without_loss_or_duplicates() {
    let events = Traffic::new(11, TrafficConfig::default()).batch(4_000);
    let dir = tempfile::tempdir().expect("temp dir");

    let mut store = SqliteStore::open_in_dir(dir.path()).expect("open");
    assert!(
        dir.path().join("reporting.sqlite3-wal").exists(),
        "the database runs in WAL mode"
    );
    assert_eq!(store.checkpoint(SOURCE).expect("checkpoint"), None);
    ingest_from(&mut store, &events, 0, 1_500);
    drop(store);

    let mut store = SqliteStore::open_in_dir(dir.path()).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), 1);
    let resume = store
        .checkpoint(SOURCE)
        .expect("checkpoint")
        .expect("a checkpoint") as usize;
    assert_eq!(resume, 1_500);
    // The source replays a little before the checkpoint, as a stream resumed late would.
    ingest_from(&mut store, &events, resume - 100, events.len());

    let mut once = SqliteStore::open_in_memory().expect("open");
    once.ingest(IngestBatch {
        events: &events,
        checkpoint: None,
    })
    .expect("ingest");
    for dimension in [None, Some(Dimension::Operation), Some(Dimension::EndReason)] {
        let mut query = ScenarioQuery::new(TimeRange::all());
        query.dimension = dimension;
        assert_eq!(
            store.scenario_report(&query).expect("report"),
            once.scenario_report(&query).expect("report")
        );
    }
    let kpis = KpiQuery::new(TimeRange::all(), Some("dept-1".into()));
    assert_eq!(
        store.kpis(&kpis).expect("kpis"),
        once.kpis(&kpis).expect("kpis")
    );
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(SqliteStore::open_in_dir(dir.path()).expect("open"));
    let conn = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("sqlite");
    conn.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')",
        [],
    )
    .expect("insert");
    drop(conn);
    let err = SqliteStore::open_in_dir(dir.path()).expect_err("newer schema");
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                known: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn a_database_that_cannot_be_opened_names_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing").join("reporting.sqlite3");
    let err = SqliteStore::open(&path).expect_err("no such directory");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
