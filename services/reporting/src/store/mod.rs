//! Where call events are kept and reports are computed: the [`ReportStore`] trait and its
//! two databases, SQLite (the embedded default, under `ccd all`'s data directory) and
//! PostgreSQL (for scale). Both have the same tables (`migrations/`, one directory per
//! dialect) and run the same statements (`sql.rs` and the rollup's) through the same
//! logic (`ingest.rs`, `rollup.rs`, `query.rs`), written once against [`db::Sql`].
//!
//! SQLite is reached through rusqlite (bundled, synchronous) and PostgreSQL through the
//! synchronous `postgres` client, not sqlx as DESIGN.md §7 has it. The ingest is a tight
//! loop of prepared statements in one transaction, owned by one task on a blocking thread,
//! and gains nothing from async. Bundled SQLite needs no system library.

mod codec;
mod db;
mod ingest;
mod postgres;
mod query;
mod rollup;
mod sql;
mod sqlite;

use std::path::{Path, PathBuf};

use crate::core::{
    AgentId, CallEvent, CallId, CallRecord, DepartmentId, EndReason, KpiQuery, Kpis, ReportEvent,
    ScenarioQuery, ScenarioReport, TimeRange,
};

pub use db::DbError;
pub use postgres::{PostgresStore, redact};
pub use rollup::BUCKET_MS as ROLLUP_BUCKET_MS;
pub use sqlite::SqliteStore;

/// Where a reporting node keeps its reports: `--reporting-db`.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user:password@host:port/database`).
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite {}", path.display()),
            Self::Postgres(url) => write!(f, "PostgreSQL {}", redact(url)),
        }
    }
}

impl Database {
    /// `--reporting-db`: a `postgres://` or `postgresql://` URL, else an SQLite file path.
    pub fn parse(given: &str) -> Result<Self, String> {
        if given.trim().is_empty() {
            return Err("empty: give an SQLite file path or a postgres:// URL".to_owned());
        }
        if given.starts_with("postgres://") || given.starts_with("postgresql://") {
            return Ok(Self::Postgres(given.to_owned()));
        }
        if given.contains("://") {
            return Err(format!(
                "{given:?}: an unknown database; give an SQLite file path or a postgres:// URL"
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(given)))
    }

    /// The default: `reporting.sqlite3` in a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join(SqliteStore::FILE_NAME))
    }

    /// Opens (and migrates) the database: an SQLite file's directory is created if
    /// missing. Blocking.
    pub fn open(&self) -> Result<Box<dyn ReportStore>, StoreError> {
        match self {
            Self::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                Ok(Box::new(SqliteStore::open(path)?))
            }
            Self::Postgres(url) => Ok(Box::new(PostgresStore::connect(url)?)),
        }
    }
}

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
    #[error("cannot open the report database {database}: {source}")]
    Open { database: String, source: DbError },
    #[error("cannot create the report database's directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report database migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        source: DbError,
    },
    #[error(
        "the report database is at schema version {found}, newer than this build knows \
         ({known}): run a newer ccd against it"
    )]
    NewerSchema { found: i64, known: u32 },
    #[error("report database: {0}")]
    Sql(#[from] DbError),
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
/// both SQLite and a PostgreSQL client fit behind it. Reads take `&mut self` too: a
/// PostgreSQL client needs it to run anything.
pub trait ReportStore: Send {
    /// Stores a batch of events and its checkpoint in one transaction, and rebuilds the
    /// records of the calls that got new events.
    fn ingest(&mut self, batch: IngestBatch<'_>) -> Result<IngestOutcome, StoreError>;

    /// Where `source` was read up to, if it ever was.
    fn checkpoint(&mut self, source: &str) -> Result<Option<u64>, StoreError>;

    /// The per-scenario report, grouped in the database.
    fn scenario_report(&mut self, query: &ScenarioQuery) -> Result<ScenarioReport, StoreError>;

    fn kpis(&mut self, query: &KpiQuery) -> Result<Kpis, StoreError>;

    /// The latest calls first (by start, then call id descending).
    fn calls(&mut self, query: &CallListQuery) -> Result<Vec<CallRecord>, StoreError>;

    /// Every stored event of a call, in sequence order (none for a call never heard of).
    fn call_events(&mut self, call: &CallId) -> Result<Vec<CallEvent>, StoreError>;
}

/// A number the store keeps as SQL's signed 64 bits.
fn to_sql(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::TooLarge { what, value })
}

/// A count or sum read back from SQL.
fn from_sql(what: &'static str, value: Option<i64>) -> Result<u64, StoreError> {
    let value = value.unwrap_or(0);
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        what,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::Database;
    use std::path::PathBuf;

    #[test]
    fn a_reporting_db_is_a_postgres_url_or_an_sqlite_path() {
        assert_eq!(
            Database::parse("postgres://cc:pw@db:5432/reports"),
            Ok(Database::Postgres(
                "postgres://cc:pw@db:5432/reports".into()
            ))
        );
        assert_eq!(
            Database::parse("postgresql://db/reports"),
            Ok(Database::Postgres("postgresql://db/reports".into()))
        );
        assert_eq!(
            Database::parse("/var/lib/ccd/reports.sqlite3"),
            Ok(Database::Sqlite(PathBuf::from(
                "/var/lib/ccd/reports.sqlite3"
            )))
        );
        assert_eq!(
            Database::parse("mysql://db/reports"),
            Err(
                "\"mysql://db/reports\": an unknown database; give an SQLite file path or a \
                 postgres:// URL"
                    .to_owned()
            )
        );
        assert!(Database::parse(" ").is_err());
        assert_eq!(
            Database::Postgres("postgres://cc:pw@db/reports".into()).to_string(),
            "PostgreSQL postgres://cc:***@db/reports"
        );
    }
}
