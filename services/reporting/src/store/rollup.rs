//! The hourly rollup of the scenario report: per hour of call start, per second dimension
//! (and "none"), per scenario and value, the sums of the R-60 measures. A report reads it
//! for the whole hours in its range and groups the raw passes only for the partial hours at
//! the edges, so its cost follows the number of hours and rows, not of calls.
//!
//! Kept in step with `scenario_passes` in the ingest's transaction: a call's rewrite
//! subtracts what its old rows contributed and adds its new ones; the deltas of a batch are
//! netted in memory and applied once per key.

use std::collections::HashMap;

use super::db::{Row, Sql, Value, list_placeholders, pieces, row_placeholders, values};
use super::{StoreError, from_sql};
use crate::core::{Dimension, Measures, RowKey, ScenarioId};

/// The rollup's bucket: an hour (aligned to the Unix epoch).
pub const BUCKET_MS: i64 = 3_600_000;

/// The buckets wholly inside `[from, to)`, as `[first, end)`, if any.
pub fn whole_buckets(from: i64, to: i64) -> Option<(i64, i64)> {
    let first = if from.rem_euclid(BUCKET_MS) == 0 {
        from
    } else {
        from.div_euclid(BUCKET_MS)
            .checked_add(1)?
            .checked_mul(BUCKET_MS)?
    };
    let end = to.div_euclid(BUCKET_MS).checked_mul(BUCKET_MS)?;
    (first < end).then_some((first, end))
}

/// The name a dimension has in the rollup.
pub fn dimension_name(dimension: Option<Dimension>) -> &'static str {
    match dimension {
        None => "none",
        Some(Dimension::Number) => "number",
        Some(Dimension::CallType) => "call_type",
        Some(Dimension::EndReason) => "end_reason",
        Some(Dimension::Department) => "department",
        Some(Dimension::Operation) => "operation",
    }
}

/// '' for none, '=' and the text otherwise.
fn key(value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| format!("={v}"))
}

fn unkey(what: &'static str, key: String) -> Result<Option<String>, StoreError> {
    if key.is_empty() {
        return Ok(None);
    }
    match key.strip_prefix('=') {
        Some(v) => Ok(Some(v.to_owned())),
        None => Err(StoreError::Corrupt { what, value: key }),
    }
}

/// One pass as `scenario_passes` holds it, with its operations: what both its report rows
/// and its rollup contributions are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassRow {
    pub scenario: Option<String>,
    pub started_ms: i64,
    pub number: String,
    pub call_type: String,
    pub end_reason: Option<String>,
    pub department: Option<String>,
    pub measures: Measures,
    pub operations: Vec<String>,
}

/// A signed change of a rollup row's sums, in the table's column order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Delta([i64; 9]);

impl Delta {
    fn add(&mut self, m: &Measures, sign: i64) {
        let counts = [
            m.total,
            m.by_option,
            m.with_transfer,
            m.no_conversation,
            m.completed,
            m.re_pass,
            m.ended,
        ];
        for (sum, count) in self.0.iter_mut().zip(counts) {
            *sum += sign * i64::try_from(count).unwrap_or(i64::MAX);
        }
        self.0[7] += sign * m.total_ms;
        self.0[8] += sign * m.talk_ms;
    }
}

type Key = (&'static str, i64, String, String);

/// A batch's rollup changes, netted.
#[derive(Debug, Default)]
pub struct Deltas(HashMap<Key, Delta>);

impl Deltas {
    fn add(
        &mut self,
        dimension: &'static str,
        bucket: i64,
        scenario: &str,
        value: Option<&str>,
        m: &Measures,
        sign: i64,
    ) {
        self.0
            .entry((dimension, bucket, scenario.to_owned(), key(value)))
            .or_default()
            .add(m, sign);
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) what one pass contributes: one row per
    /// dimension, one per operation walked (or one "no operation").
    pub fn pass(&mut self, row: &PassRow, sign: i64) {
        let bucket = row.started_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        let scenario = key(row.scenario.as_deref());
        let m = &row.measures;
        self.add("none", bucket, &scenario, None, m, sign);
        self.add("number", bucket, &scenario, Some(&row.number), m, sign);
        self.add(
            "call_type",
            bucket,
            &scenario,
            Some(&row.call_type),
            m,
            sign,
        );
        self.add(
            "end_reason",
            bucket,
            &scenario,
            row.end_reason.as_deref(),
            m,
            sign,
        );
        self.add(
            "department",
            bucket,
            &scenario,
            row.department.as_deref(),
            m,
            sign,
        );
        if row.operations.is_empty() {
            self.add("operation", bucket, &scenario, None, m, sign);
        }
        for operation in &row.operations {
            self.add("operation", bucket, &scenario, Some(operation), m, sign);
        }
    }

    /// Writes the non-zero changes.
    pub fn apply(self, tx: &mut impl Sql) -> Result<(), StoreError> {
        // Each key once (they were netted), so one statement may carry many.
        let rows: Vec<(Key, Delta)> = self.0.into_iter().filter(|(_, d)| d.0 != [0; 9]).collect();
        for piece in pieces(rows.len()) {
            let rows = &rows[piece];
            let mut params: Vec<Value<'_>> = Vec::with_capacity(rows.len() * 13);
            for ((dimension, bucket, scenario, value), Delta(d)) in rows {
                params.extend_from_slice(values![
                    *dimension, *bucket, scenario, value, d[0], d[1], d[2], d[3], d[4], d[5], d[6],
                    d[7], d[8]
                ]);
            }
            tx.execute(&upsert(rows.len()), &params)?;
        }
        Ok(())
    }
}

fn upsert(rows: usize) -> String {
    format!(
        "INSERT INTO report_rollup (dimension, bucket_ms, scenario_key, value_key, total, \
     by_option, transferred, no_conversation, completed, re_pass, ended, total_ms, talk_ms) \
     VALUES {} ON CONFLICT (dimension, bucket_ms, scenario_key, value_key) DO UPDATE SET \
     total = report_rollup.total + excluded.total, \
     by_option = report_rollup.by_option + excluded.by_option, \
     transferred = report_rollup.transferred + excluded.transferred, \
     no_conversation = report_rollup.no_conversation + excluded.no_conversation, \
     completed = report_rollup.completed + excluded.completed, \
     re_pass = report_rollup.re_pass + excluded.re_pass, \
     ended = report_rollup.ended + excluded.ended, \
     total_ms = report_rollup.total_ms + excluded.total_ms, \
     talk_ms = report_rollup.talk_ms + excluded.talk_ms",
        row_placeholders(rows, 13)
    )
}

const READ: &str = "SELECT scenario_key, value_key, CAST(SUM(total) AS BIGINT), \
     CAST(SUM(by_option) AS BIGINT), CAST(SUM(transferred) AS BIGINT), \
     CAST(SUM(no_conversation) AS BIGINT), CAST(SUM(completed) AS BIGINT), \
     CAST(SUM(re_pass) AS BIGINT), CAST(SUM(ended) AS BIGINT), CAST(SUM(total_ms) AS BIGINT), \
     CAST(SUM(talk_ms) AS BIGINT) FROM report_rollup \
     WHERE dimension = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3 \
     GROUP BY scenario_key, value_key HAVING SUM(total) > 0";

fn old_passes(calls: usize) -> String {
    format!(
        "SELECT call_id, pass_no, scenario_id, started_ms, number, call_type, end_reason, \
         department, by_option, re_pass, transferred, ended, no_conversation, completed, \
         total_ms, talk_ms FROM scenario_passes WHERE call_id IN ({})",
        list_placeholders(calls)
    )
}

fn old_operations(calls: usize) -> String {
    format!(
        "SELECT call_id, pass_no, operation_id FROM pass_operations WHERE call_id IN ({})",
        list_placeholders(calls)
    )
}

/// The stored passes of `calls`, before they are rewritten.
pub fn stored_passes(db: &mut impl Sql, calls: &[&str]) -> Result<Vec<PassRow>, StoreError> {
    let mut passes: HashMap<(String, i64), PassRow> = HashMap::new();
    for piece in pieces(calls.len()) {
        let ids = &calls[piece];
        let params: Vec<Value<'_>> = ids.iter().map(|&id| id.into()).collect();
        for mut r in db.query(&old_passes(ids.len()), &params)? {
            let count =
                |r: &Row, i: usize, what| -> Result<u64, StoreError> { from_sql(what, r.int(i)?) };
            let key = (r.required_text(0)?, r.required_int(1)?);
            let row = PassRow {
                scenario: r.text(2)?,
                started_ms: r.required_int(3)?,
                number: r.required_text(4)?,
                call_type: r.required_text(5)?,
                end_reason: r.text(6)?,
                department: r.text(7)?,
                measures: Measures {
                    total: 1,
                    by_option: count(&r, 8, "by option")?,
                    re_pass: count(&r, 9, "re-pass")?,
                    with_transfer: count(&r, 10, "transferred")?,
                    ended: count(&r, 11, "ended")?,
                    no_conversation: count(&r, 12, "no conversation")?,
                    completed: count(&r, 13, "completed")?,
                    total_ms: r.required_int(14)?,
                    talk_ms: r.required_int(15)?,
                },
                operations: Vec::new(),
            };
            passes.insert(key, row);
        }
        if passes.is_empty() {
            continue;
        }
        for mut r in db.query(&old_operations(ids.len()), &params)? {
            let key = (r.required_text(0)?, r.required_int(1)?);
            let operation = r.required_text(2)?;
            if let Some(pass) = passes.get_mut(&key) {
                pass.operations.push(operation);
            }
        }
    }
    Ok(passes.into_values().collect())
}

/// Adds the rollup's rows for the buckets `[first, end)` to `rows`; `value` turns a stored
/// dimension value into the report's.
pub fn read(
    db: &mut impl Sql,
    dimension: Option<Dimension>,
    (first, end): (i64, i64),
    rows: &mut HashMap<RowKey, Measures>,
    value: impl Fn(String) -> Result<crate::core::DimensionValue, StoreError>,
) -> Result<(), StoreError> {
    for mut r in db.query(READ, values![dimension_name(dimension), first, end])? {
        let scenario = unkey("rollup scenario key", r.required_text(0)?)?;
        let dimension_value = match unkey("rollup value key", r.required_text(1)?)? {
            Some(v) if dimension.is_some() => Some(value(v)?),
            _ => None,
        };
        let measures = super::query::measures(&r)?;
        rows.entry(RowKey {
            scenario: scenario.map(ScenarioId::new),
            value: dimension_value,
        })
        .or_default()
        .merge(&measures);
    }
    Ok(())
}
