//! Where call events are kept and reports are computed: the [`ReportStore`] trait and its
//! SQLite implementation (the embedded default, under `ccd all`'s data directory).
//! PostgreSQL, for scale, is to implement the same trait with the same tables
//! (`migrations/`, in its dialect) and the same statements (`sql.rs` and the rollup's).
//!
//! SQLite is reached through rusqlite (bundled, synchronous), not sqlx as DESIGN.md §7 has
//! it. The ingest is a tight loop of prepared statements in one transaction, owned by one
//! task on a blocking thread, and gains nothing from async. Bundled SQLite needs no
//! system library. A PostgreSQL backend may use sqlx or the `postgres` crate behind the
//! same synchronous trait.

mod codec;
mod sql;
mod sqlite;

use std::path::PathBuf;

use crate::core::{
    CallRecord, DepartmentId, KpiQuery, Kpis, ReportEvent, ScenarioQuery, ScenarioReport, TimeRange,
};

pub use sqlite::{ROLLUP_BUCKET_MS, SqliteStore};

/// Where an event source was read up to (e.g. a node's cc.events.v1 sequence), stored in
/// the same transaction as the events it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The source's name (e.g. "events.v1@node-a").
    pub source: String,
    /// The position of the last event in the batch; the next read starts after it.
    pub position: u64,
}

/// One batch of events, ingested all or nothing.
#[derive(Debug, Clone, Copy)]
pub struct IngestBatch<'a> {
    pub events: &'a [ReportEvent],
    pub checkpoint: Option<&'a Checkpoint>,
}

/// What a batch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Events not seen before.
    pub new_events: usize,
    /// Events already stored (same call or agent and sequence number): ignored.
    pub duplicates: usize,
    /// Calls whose record was rebuilt.
    pub calls_updated: usize,
}

/// The call list: the latest calls first, each with its recordings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallListQuery {
    pub range: TimeRange,
    /// Only calls that queued first in this department.
    pub department: Option<DepartmentId>,
    /// At most [`CallListQuery::MAX_LIMIT`].
    pub limit: u32,
}

impl CallListQuery {
    /// A page of the call list is read whole (each call folded from its events).
    pub const MAX_LIMIT: u32 = 10_000;
}

/// What went wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the report database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("report database migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "the report database is at schema version {found}, newer than this build knows \
         ({known}): run a newer ccd against it"
    )]
    NewerSchema { found: i64, known: u32 },
    #[error("report database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the report database holds an invalid {what}: {value:?}")]
    Corrupt { what: &'static str, value: String },
    #[error("{what} {value} is too large to store (at most {})", i64::MAX)]
    TooLarge { what: &'static str, value: u64 },
    #[error("a call list page is at most {max} calls, {asked} asked")]
    LimitTooLarge { asked: u32, max: u32 },
}

/// A store of call events that answers reports. Ingest is all or nothing per batch and
/// idempotent: events are identified by (call, seq) or (agent, seq), and a batch given
/// twice (a restart that re-reads from its last checkpoint) changes nothing the second
/// time. Reads return what committed batches hold.
///
/// Synchronous on purpose: a store is owned by one task that runs it on a blocking thread;
/// both SQLite and a PostgreSQL client fit behind it.
pub trait ReportStore: Send {
    /// Stores a batch of events and its checkpoint in one transaction, and rebuilds the
    /// records of the calls that got new events.
    fn ingest(&mut self, batch: IngestBatch<'_>) -> Result<IngestOutcome, StoreError>;

    /// Where `source` was read up to, if it ever was.
    fn checkpoint(&self, source: &str) -> Result<Option<u64>, StoreError>;

    /// The per-scenario report, grouped in the database.
    fn scenario_report(&self, query: &ScenarioQuery) -> Result<ScenarioReport, StoreError>;

    fn kpis(&self, query: &KpiQuery) -> Result<Kpis, StoreError>;

    /// The latest calls first (by start, then call id descending).
    fn calls(&self, query: &CallListQuery) -> Result<Vec<CallRecord>, StoreError>;
}
