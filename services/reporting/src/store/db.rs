//! What the store's logic needs of a database, so that ingest, rollup and queries are
//! written once for SQLite and PostgreSQL: run a statement with parameters, read rows of
//! integers and text. Each backend adapts its client ([`super::sqlite`],
//! [`super::postgres`]) and caches its prepared statements.
//!
//! Values are only ever 64-bit integers and text (booleans are 0 and 1), the types both
//! databases share exactly; a NULL keeps its type because PostgreSQL checks a parameter's
//! type even when it is NULL.

use super::StoreError;

/// A database error, from either backend.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    #[error("column {column} holds a {found} where the store expects {expected}")]
    Type {
        column: usize,
        found: String,
        expected: &'static str,
    },
}

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Self::Int(Some(i64::from(v)))
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Self::Text(v.as_deref())
    }
}

/// The parameters of a statement, each converted with [`Value::from`].
macro_rules! values {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::db::Value::from($v)),*]
    };
}
pub(crate) use values;

/// A column of a row read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// A row read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or(&Cell::Null)
    }

    fn mismatch(&self, i: usize, expected: &'static str) -> StoreError {
        StoreError::Sql(DbError::Type {
            column: i,
            found: format!("{:?}", self.cell(i)),
            expected,
        })
    }

    /// An integer column that may be NULL.
    pub fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Text(_) => Err(self.mismatch(i, "an integer")),
        }
    }

    /// An integer column that is never NULL.
    pub fn required_int(&self, i: usize) -> Result<i64, StoreError> {
        self.int(i)?.ok_or_else(|| self.mismatch(i, "an integer"))
    }

    /// A text column that may be NULL (taken out of the row).
    pub fn text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get_mut(i) {
            None | Some(Cell::Null) => Ok(None),
            Some(Cell::Text(v)) => Ok(Some(std::mem::take(v))),
            Some(Cell::Int(_)) => Err(self.mismatch(i, "text")),
        }
    }

    /// A text column that is never NULL (taken out of the row).
    pub fn required_text(&mut self, i: usize) -> Result<String, StoreError> {
        self.text(i)?.ok_or_else(|| self.mismatch(i, "text"))
    }
}

/// A connection or a transaction on one, with its statements cached by their text.
/// Statements are written in the SQL both databases speak, with `?N` placeholders (a
/// PostgreSQL backend rewrites them as `$N`).
pub trait Sql {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, DbError>;

    /// Runs a query; every row it returns.
    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError>;

    /// Runs statements without parameters, separated by `;` (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
}

/// `?N` placeholders as PostgreSQL's `$N` (the store's statements have no `?` elsewhere).
pub fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The migrations of one dialect, in order: (version, name, SQL).
pub type Migrations = &'static [(u32, &'static str, &'static str)];

/// Applies the migrations a database lacks, in the caller's transaction, recording each in
/// `schema_migrations`. A database newer than `migrations` is refused.
pub fn migrate(db: &mut impl Sql, migrations: Migrations) -> Result<(), StoreError> {
    db.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )?;
    let found = schema_version(db)?;
    let known = migrations.last().map_or(0, |m| m.0);
    if found > i64::from(known) {
        return Err(StoreError::NewerSchema { found, known });
    }
    for &(version, name, text) in migrations {
        if i64::from(version) <= found {
            continue;
        }
        db.batch(text)
            .and_then(|()| {
                db.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                    values![i64::from(version), name],
                )
            })
            .map_err(|source| StoreError::Migration {
                version,
                name,
                source,
            })?;
    }
    Ok(())
}

/// The highest migration applied (0 for none).
pub fn schema_version(db: &mut impl Sql) -> Result<i64, StoreError> {
    let rows = db.query("SELECT MAX(version) FROM schema_migrations", &[])?;
    Ok(rows
        .first()
        .map(|r| r.int(0))
        .transpose()?
        .flatten()
        .unwrap_or(0))
}

/// The most rows one multi-row statement carries. With at most 20 columns a row, a
/// statement stays far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
pub const MAX_ROWS: usize = 128;

/// Cuts `len` rows into pieces for multi-row statements: pieces of [`MAX_ROWS`], then the
/// rest in powers of two, so a statement comes in at most 8 shapes (each prepared once).
pub fn pieces(len: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < len {
        let left = len - at;
        let n = if left >= MAX_ROWS {
            MAX_ROWS
        } else {
            1 << (usize::BITS - 1 - left.leading_zeros())
        };
        out.push(at..at + n);
        at += n;
    }
    out
}

/// `(?1, ?2), (?3, ?4)`: `rows` groups of `columns` placeholders, numbered from 1.
pub fn row_placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('?');
            out.push_str(&(r * columns + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// `?1, ?2, ?3`: `n` placeholders, numbered from 1.
pub fn list_placeholders(n: usize) -> String {
    row_placeholders(n, 1).replace(['(', ')'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_and_nothing_else_changes() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE b = ?1 AND (?12 IS NULL OR c = ?12)"),
            "SELECT a FROM t WHERE b = $1 AND ($12 IS NULL OR c = $12)"
        );
        assert_eq!(dollar_placeholders("x ? y"), "x ? y");
    }

    #[test]
    fn rows_are_cut_into_few_shapes() {
        let sizes = |len| pieces(len).iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(300), [128, 128, 32, 8, 4]);
        let covered: usize = pieces(1_000).iter().map(|r| r.len()).sum();
        assert_eq!(covered, 1_000);
        assert_eq!(pieces(5)[1], 4..5);
    }

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(row_placeholders(2, 3), "(?1, ?2, ?3), (?4, ?5, ?6)");
        assert_eq!(list_placeholders(3), "?1, ?2, ?3");
    }
}
