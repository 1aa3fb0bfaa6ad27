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
    AgentId, CallEvent, CallId, CallRecord, DepartmentId, EndReason, KpiQuery, Kpis, ReportEvent,
    ScenarioQuery, ScenarioReport, TimeRange,
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
    /// Only calls to (inbound) or of (outbound) this number.
    pub number: Option<String>,
    /// Only calls this agent handled (the last to answer).
    pub agent: Option<AgentId>,
    /// Only calls that ended so.
    pub end_reason: Option<EndReason>,
    /// At most [`CallListQuery::MAX_LIMIT`].
    pub limit: u32,
}

impl CallListQuery {
    /// A page of the call list is read whole (each call folded from its events).
    pub const MAX_LIMIT: u32 = 10_000;

    /// Every call in `range`, at most `limit`.
    pub fn new(range: TimeRange, limit: u32) -> Self {
        Self {
            range,
            department: None,
            number: None,
            agent: None,
            end_reason: None,
            limit,
        }
    }

    /// Whether a call's record passes the filters (the range aside).
    pub fn admits(&self, record: &CallRecord) -> bool {
        let number = record.start.as_ref().map(|s| s.number.as_str());
        self.department
            .as_ref()
            .is_none_or(|d| record.department.as_ref() == Some(d))
            && self.number.as_deref().is_none_or(|n| number == Some(n))
            && self
                .agent
                .as_ref()
                .is_none_or(|a| record.agent.as_ref() == Some(a))
            && self
                .end_reason
                .is_none_or(|r| record.end.map(|e| e.reason) == Some(r))
    }
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

    /// Every stored event of a call, in sequence order (none for a call never heard of).
    fn call_events(&self, call: &CallId) -> Result<Vec<CallEvent>, StoreError>;
}
