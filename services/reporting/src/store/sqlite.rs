//! The SQLite store: one file (WAL mode) under the data directory, migrated on open.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::db::{self, Cell, DbError, Migrations, Row, Sql, Value, values};
use super::{
    CallListQuery, IngestBatch, IngestOutcome, ReportStore, StoreError, from_sql, ingest, query,
    sql,
};
use crate::core::{CallEvent, CallId, CallRecord, KpiQuery, Kpis, ScenarioQuery, ScenarioReport};

/// The migrations, in order. A database records the versions it has applied in
/// `schema_migrations`; opening applies the missing ones in one transaction.
const MIGRATIONS: Migrations = &[(
    1,
    "init",
    include_str!("../../migrations/sqlite/0001_init.sql"),
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
            database: path.display().to_string(),
            source: source.into(),
        })?;
        Self::init(conn)
    }

    /// A private database in memory (tests, tools).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(DbError::from)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        // WAL: readers do not block the ingest and a commit is one append. NORMAL
        // synchronisation can lose the last commits on power loss, never consistency:
        // the checkpoint goes in the same transaction as its events, so a restart
        // re-reads exactly what was lost.
        let setup = |conn: &mut Connection| -> rusqlite::Result<()> {
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")?;
            conn.busy_timeout(Duration::from_secs(5))?;
            // Multi-row statements come in a few shapes each (db::pieces).
            conn.set_prepared_statement_cache_capacity(256);
            Ok(())
        };
        setup(&mut conn).map_err(DbError::from)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        db::migrate(&mut Lite(&tx), MIGRATIONS)?;
        tx.commit().map_err(DbError::from)?;
        Ok(Self { conn })
    }

    /// The highest migration applied.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let v = db::schema_version(&mut Lite(&self.conn))?;
        Ok(u32::try_from(v).unwrap_or(0))
    }
}

impl ReportStore for SqliteStore {
    fn ingest(&mut self, batch: IngestBatch<'_>) -> Result<IngestOutcome, StoreError> {
        // IMMEDIATE: take the write lock now, not on the first insert, so a concurrent
        // reader's snapshot never makes the upgrade fail half-way.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        let outcome = ingest::ingest(&mut Lite(&tx), batch)?;
        tx.commit().map_err(DbError::from)?;
        Ok(outcome)
    }

    fn checkpoint(&mut self, source: &str) -> Result<Option<u64>, StoreError> {
        let rows = Lite(&self.conn).query(sql::CHECKPOINT, values![source])?;
        rows.first()
            .map(|r| from_sql("checkpoint position", r.int(0)?))
            .transpose()
    }

    fn scenario_report(&mut self, query: &ScenarioQuery) -> Result<ScenarioReport, StoreError> {
        query::scenario_report(&mut Lite(&self.conn), query)
    }

    fn kpis(&mut self, query: &KpiQuery) -> Result<Kpis, StoreError> {
        query::kpis(&mut Lite(&self.conn), query)
    }

    fn calls(&mut self, query: &CallListQuery) -> Result<Vec<CallRecord>, StoreError> {
        query::calls(&mut Lite(&self.conn), query)
    }

    fn call_events(&mut self, call: &CallId) -> Result<Vec<CallEvent>, StoreError> {
        ingest::load_events(&mut Lite(&self.conn), call)
    }
}

/// A connection (or a transaction, through its `Deref`) as [`Sql`]; rusqlite caches the
/// prepared statements.
struct Lite<'a>(&'a Connection);

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Int(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
        }
    }
}

impl Sql for Lite<'_> {
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, DbError> {
        let n = self
            .0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Text(t) => Cell::Text(
                        std::str::from_utf8(t)
                            .map_err(|_| DbError::Type {
                                column: i,
                                found: "text that is not UTF-8".to_owned(),
                                expected: "UTF-8 text",
                            })?
                            .to_owned(),
                    ),
                    other => {
                        return Err(DbError::Type {
                            column: i,
                            found: format!("{:?}", other.data_type()),
                            expected: "an integer or text",
                        });
                    }
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.0.execute_batch(sql)?)
    }
}
