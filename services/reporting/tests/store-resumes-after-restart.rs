//! A reporting node that stops and opens its database again resumes where its checkpoint
//! says: re-reading the overlap adds nothing, nothing is lost, and the report is the one a
//! single uninterrupted ingest gives.

mod common;

use cc_reporting::core::{Dimension, KpiQuery, ScenarioQuery, TimeRange};
use cc_reporting::store::{
    Checkpoint, IngestBatch, PostgresStore, ReportStore, SqliteStore, StoreError,
};
use cc_reporting::synth::{Traffic, TrafficConfig};
use cc_reporting::testing::PostgresServer;

const SOURCE: &str = "events.v1@node-a";

fn ingest_from(
    store: &mut dyn ReportStore,
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

/// Ingests part of the events, "restarts" (`reopen` gives the store again on the same
/// database), resumes from the checkpoint with an overlap, and compares with one
/// uninterrupted ingest.
fn resume_after_restart(reopen: &mut dyn FnMut() -> Box<dyn ReportStore>) {
    let events = Traffic::new(11, TrafficConfig::default()).batch(4_000);
    let mut store = reopen();
    assert_eq!(store.checkpoint(SOURCE).expect("checkpoint"), None);
    ingest_from(store.as_mut(), &events, 0, 1_500);
    drop(store);

    let mut store = reopen();
    let resume = store
        .checkpoint(SOURCE)
        .expect("checkpoint")
        .expect("a checkpoint") as usize;
    assert_eq!(resume, 1_500);
    // The source replays a little before the checkpoint, as a stream resumed late would.
    ingest_from(store.as_mut(), &events, resume - 100, events.len());

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
fn a_restart_resumes_from_the_checkpoint_without_loss_or_duplicates_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    resume_after_restart(&mut || {
        let store = SqliteStore::open_in_dir(dir.path()).expect("open");
        assert!(
            dir.path().join("reporting.sqlite3-wal").exists(),
            "the database runs in WAL mode"
        );
        assert_eq!(store.schema_version().expect("version"), 1);
        Box::new(store)
    });
}

#[test]
fn a_restart_resumes_from_the_checkpoint_without_loss_or_duplicates_on_postgres() {
    let server = PostgresServer::start().expect("start PostgreSQL");
    let url = server.fresh_database().expect("a database");
    resume_after_restart(&mut || {
        let mut store = PostgresStore::connect(&url).expect("connect");
        assert_eq!(store.schema_version().expect("version"), 1);
        Box::new(store)
    });
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

#[test]
fn a_postgres_database_from_a_newer_build_is_refused() {
    let server = PostgresServer::start().expect("start PostgreSQL");
    let url = server.fresh_database().expect("a database");
    drop(PostgresStore::connect(&url).expect("connect"));
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("client");
    client
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')",
            &[],
        )
        .expect("insert");
    let err = PostgresStore::connect(&url).expect_err("newer schema");
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
fn a_postgres_database_that_cannot_be_reached_names_it_without_its_password() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://cc:s3cret@127.0.0.1:{port}/reports?connect_timeout=2");
    let err = PostgresStore::connect(&url).expect_err("nothing listens");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot open the report database postgres://cc:***@127.0.0.1:{port}/reports"
        )),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn a_postgres_store_reconnects_after_its_connection_is_lost() {
    let server = PostgresServer::start().expect("start PostgreSQL");
    let url = server.fresh_database().expect("a database");
    let mut store = PostgresStore::connect(&url).expect("connect");
    let events = Traffic::new(5, TrafficConfig::default()).batch(500);
    ingest_from(&mut store, &events, 0, 250);
    // Every other backend is ended by the server, as a failover or restart would.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("client");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND datname = current_database()",
            &[],
        )
        .expect("terminate");
    // The first use after the loss fails (the writer retries it); the next one connects
    // again and goes through.
    let cp = Checkpoint {
        source: SOURCE.into(),
        position: 500,
    };
    let batch = IngestBatch {
        events: &events[250..],
        checkpoint: Some(&cp),
    };
    if store.ingest(batch).is_err() {
        store.ingest(batch).expect("ingest after reconnecting");
    }
    assert_eq!(store.checkpoint(SOURCE).expect("checkpoint"), Some(500));
}
