//! The SQLite store: one file (WAL mode) under the data directory, migrated on open.

mod ingest;
mod query;
mod rollup;

pub use rollup::BUCKET_MS as ROLLUP_BUCKET_MS;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{CallListQuery, IngestBatch, IngestOutcome, ReportStore, StoreError, sql};
use crate::core::{CallEvent, CallId, CallRecord, KpiQuery, Kpis, ScenarioQuery, ScenarioReport};

/// The migrations, in order: (version, name, SQL). A database records the versions it has
/// applied in `schema_migrations`; opening applies the missing ones, each in a transaction.
const MIGRATIONS: &[(u32, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../../migrations/sqlite/0001_init.sql"),
)];

/// A report store in one SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// The database's file name in a data directory.
    pub const FILE_NAME: &str = "reporting.sqlite3";

    /// Opens (creating it if needed) `reporting.sqlite3` in a data directory (`ccd all`'s).
    pub fn open_in_dir(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&data_dir.join(Self::FILE_NAME))
    }

    /// Opens (creating it if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::init(conn)
    }

    /// A private database in memory (tests, tools).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        // WAL: readers do not block the ingest and a commit is one append. NORMAL
        // synchronisation can lose the last commits on power loss, never consistency:
        // the checkpoint goes in the same transaction as its events, so a restart
        // re-reads exactly what was lost.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        Ok(Self { conn })
    }

    /// The highest migration applied.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let v: Option<i64> =
            self.conn
                .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                    r.get(0)
                })?;
        Ok(v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    )?;
    let found: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })?;
    let found = found.unwrap_or(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if found > i64::from(known) {
        return Err(StoreError::NewerSchema { found, known });
    }
    for &(version, name, text) in MIGRATIONS {
        if i64::from(version) <= found {
            continue;
        }
        let apply = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(text)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                (version, name),
            )?;
            tx.commit()
        };
        apply(conn).map_err(|source| StoreError::Migration {
            version,
            name,
            source,
        })?;
    }
    Ok(())
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

impl ReportStore for SqliteStore {
    fn ingest(&mut self, batch: IngestBatch<'_>) -> Result<IngestOutcome, StoreError> {
        ingest::ingest(&mut self.conn, batch)
    }

    fn checkpoint(&self, source: &str) -> Result<Option<u64>, StoreError> {
        let position: Option<i64> = self
            .conn
            .prepare_cached(sql::CHECKPOINT)?
            .query_row([source], |r| r.get(0))
            .optional()?;
        position
            .map(|p| from_sql("checkpoint position", Some(p)))
            .transpose()
    }

    fn scenario_report(&self, query: &ScenarioQuery) -> Result<ScenarioReport, StoreError> {
        query::scenario_report(&self.conn, query)
    }

    fn kpis(&self, query: &KpiQuery) -> Result<Kpis, StoreError> {
        query::kpis(&self.conn, query)
    }

    fn calls(&self, query: &CallListQuery) -> Result<Vec<CallRecord>, StoreError> {
        query::calls(&self.conn, query)
    }

    fn call_events(&self, call: &CallId) -> Result<Vec<CallEvent>, StoreError> {
        ingest::load_events(&self.conn, call)
    }
}
