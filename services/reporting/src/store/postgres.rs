//! The PostgreSQL store, for scale: the same tables (in PostgreSQL's dialect,
//! `migrations/postgres/`), the same statements and the same logic as SQLite's.
//!
//! The synchronous `postgres` client, like rusqlite: a store is used from one blocking
//! thread. Every ingest takes a transaction-level advisory lock, so two reporting nodes
//! writing into one database take turns (each call's rollup contribution is read, then
//! rewritten, which must not interleave); reads run in a read-only REPEATABLE READ
//! transaction, so a report's rollup and raw parts see the same commits. A lost
//! connection is opened again on the next use (the writer retries a failed batch).

use std::collections::HashMap;

use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};

use super::db::{self, Cell, DbError, Migrations, Row, Sql, Value, values};
use super::{
    CallListQuery, IngestBatch, IngestOutcome, ReportStore, StoreError, from_sql, ingest, query,
    sql,
};
use crate::core::{CallEvent, CallId, CallRecord, KpiQuery, Kpis, ScenarioQuery, ScenarioReport};

const MIGRATIONS: Migrations = &[(
    1,
    "init",
    include_str!("../../migrations/postgres/0001_init.sql"),
)];

/// How long a connection has to answer the check after a failed operation.
const CHECK_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The advisory lock (an arbitrary constant: "ccrp") writers and migrations take.
const WRITE_LOCK: i64 = 0x6363_7270;

/// A report store in a PostgreSQL database.
pub struct PostgresStore {
    /// Where to connect again after a lost connection.
    url: String,
    client: Client,
    /// Prepared statements by their text (as the store writes it, with `?N`).
    statements: HashMap<String, Statement>,
    /// The connection failed a check after an error: open a new one before the next use.
    broken: bool,
    /// Calls rewritten by this store, and how many there will be at its next ANALYZE.
    calls_written: u64,
    next_analyze: u64,
}

/// The first ANALYZE after this many calls written, then each time four times as many,
/// up to [`ANALYZE_UNTIL`]. Autovacuum analyzes a table once a minute at best, and a
/// fresh database grows much faster than that in its first minutes (a reporting node
/// catching up on the cluster's events): on the empty tables' statistics the planner scans
/// a whole table for a call's rows, and the ingest slows ten times until autovacuum comes.
const ANALYZE_FIRST: u64 = 1_000;
const ANALYZE_UNTIL: u64 = 4_000_000;

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

/// A `postgres://` URL (or `key=value` connection string) with its password hidden, for
/// logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url
            .split(' ')
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn connect(url: &str) -> Result<Client, StoreError> {
    // Commits are synchronous (the server's default): unlike SQLite, which dies with the
    // reporting node, PostgreSQL can crash alone, and a follower that goes on from its
    // place in memory would never read again the batches an asynchronous commit lost.
    Client::connect(url, NoTls).map_err(|source| StoreError::Open {
        database: redact(url),
        source: source.into(),
    })
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or
    /// any connection string the `postgres` crate takes) and migrates it.
    ///
    /// Blocking: call it from a blocking thread, never from an async task.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut store = Self {
            url: url.to_owned(),
            client: connect(url)?,
            statements: HashMap::new(),
            broken: false,
            calls_written: 0,
            next_analyze: ANALYZE_FIRST,
        };
        store.write(|tx| db::migrate(tx, MIGRATIONS))?;
        Ok(store)
    }

    /// The highest migration applied.
    pub fn schema_version(&mut self) -> Result<u32, StoreError> {
        let v = self.read(|tx| db::schema_version(tx))?;
        Ok(u32::try_from(v).unwrap_or(0))
    }

    fn reconnect_if_lost(&mut self) -> Result<(), StoreError> {
        if self.broken || self.client.is_closed() {
            tracing::info!(db = %redact(&self.url), "reporting: connecting to PostgreSQL again");
            self.statements.clear();
            self.client = connect(&self.url)?;
            self.broken = false;
        }
        Ok(())
    }

    /// After a failed operation: forgets the prepared statements (one prepared in a
    /// failed transaction is not trusted again) and checks the connection, so that a
    /// connection the server ended is replaced on the next use.
    fn failed(&mut self, e: StoreError) -> StoreError {
        self.statements.clear();
        self.broken = self.client.is_valid(CHECK_WITHIN).is_err();
        e
    }

    /// Runs `f` in a transaction that holds the write lock, and commits it.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Pg<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.reconnect_if_lost()?;
        let result = (|| {
            let mut tx = self.client.transaction().map_err(DbError::from)?;
            let mut pg = Pg {
                tx: &mut tx,
                statements: &mut self.statements,
            };
            pg.execute("SELECT pg_advisory_xact_lock(?1)", values![WRITE_LOCK])?;
            let value = f(&mut pg)?;
            tx.commit().map_err(DbError::from)?;
            Ok(value)
        })();
        result.map_err(|e| self.failed(e))
    }

    /// Runs `f` in a read-only snapshot.
    fn read<T>(
        &mut self,
        f: impl FnOnce(&mut Pg<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.reconnect_if_lost()?;
        let result = (|| {
            let mut tx = self
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(DbError::from)?;
            let value = f(&mut Pg {
                tx: &mut tx,
                statements: &mut self.statements,
            })?;
            tx.commit().map_err(DbError::from)?;
            Ok(value)
        })();
        result.map_err(|e| self.failed(e))
    }
}

impl ReportStore for PostgresStore {
    fn ingest(&mut self, batch: IngestBatch<'_>) -> Result<IngestOutcome, StoreError> {
        let outcome = self.write(|tx| ingest::ingest(tx, batch))?;
        self.calls_written += outcome.calls_updated as u64;
        if self.calls_written >= self.next_analyze && self.next_analyze <= ANALYZE_UNTIL {
            self.next_analyze = self.calls_written.saturating_mul(4);
            // The batch is stored: a failed ANALYZE only leaves the statistics older.
            if let Err(e) = self.client.batch_execute(
                "ANALYZE call_events, agent_events, calls, scenario_passes, pass_operations, \
                 report_rollup",
            ) {
                tracing::warn!(error = %e, "reporting: ANALYZE failed");
            }
        }
        Ok(outcome)
    }

    fn checkpoint(&mut self, source: &str) -> Result<Option<u64>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(sql::CHECKPOINT, values![source])?;
            rows.first()
                .map(|r| from_sql("checkpoint position", r.int(0)?))
                .transpose()
        })
    }

    fn scenario_report(&mut self, query: &ScenarioQuery) -> Result<ScenarioReport, StoreError> {
        self.read(|tx| query::scenario_report(tx, query))
    }

    fn kpis(&mut self, query: &KpiQuery) -> Result<Kpis, StoreError> {
        self.read(|tx| query::kpis(tx, query))
    }

    fn calls(&mut self, query: &CallListQuery) -> Result<Vec<CallRecord>, StoreError> {
        self.read(|tx| query::calls(tx, query))
    }

    fn call_events(&mut self, call: &CallId) -> Result<Vec<CallEvent>, StoreError> {
        self.read(|tx| ingest::load_events(tx, call))
    }
}

/// A transaction as [`Sql`], preparing each statement once per connection.
struct Pg<'a, 'c> {
    tx: &'a mut Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Pg<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.tx.prepare(&db::dollar_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn params<'v>(values: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| match v {
            Value::Int(i) => i as &(dyn ToSql + Sync),
            Value::Text(t) => t as &(dyn ToSql + Sync),
        })
        .collect()
}

fn cells(row: &postgres::Row) -> Result<Row, DbError> {
    let mut cells = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let cell = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map(|v| Cell::Int(i64::from(v)))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map(|v| Cell::Int(i64::from(v)))
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
        } else {
            return Err(DbError::Type {
                column: i,
                found: ty.to_string(),
                expected: "an integer or text",
            });
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(cells))
}

impl Sql for Pg<'_, '_> {
    fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        Ok(self.tx.execute(&statement, &params(values))?)
    }

    fn query(&mut self, sql: &str, values: &[Value<'_>]) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql)?;
        self.tx
            .query(&statement, &params(values))?
            .iter()
            .map(cells)
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.tx.batch_execute(sql)?)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_shows_in_logs() {
        assert_eq!(
            redact("postgres://cc:s3cret@db.example:5432/reports"),
            "postgres://cc:***@db.example:5432/reports"
        );
        assert_eq!(
            redact("postgres://cc@127.0.0.1:5432/reports"),
            "postgres://cc@127.0.0.1:5432/reports"
        );
        assert_eq!(
            redact("host=db user=cc password=s3cret"),
            "host=db user=cc password=***"
        );
    }
}
