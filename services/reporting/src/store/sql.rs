//! The store's statements, in SQL that SQLite and PostgreSQL both speak (ON CONFLICT
//! upserts, CASE rather than MIN/MAX of two values, window functions, sums cast back to
//! BIGINT since PostgreSQL sums BIGINTs as NUMERIC), so the PostgreSQL backend runs the
//! same text with its `?N` placeholders written `$N`.
//!
//! Statements over many rows are built for a number of rows (`row_placeholders`,
//! `list_placeholders`); the ingest cuts its rows with `db::pieces`, so each comes in a few
//! shapes, each prepared once.

use super::db::{list_placeholders, row_placeholders};

/// Inserts `rows` call events; returns the call id of each one not stored before.
pub fn insert_call_events(rows: usize) -> String {
    format!(
        "INSERT INTO call_events (call_id, seq, at_ms, kind, a, b, c) VALUES {} \
         ON CONFLICT (call_id, seq) DO NOTHING RETURNING call_id",
        row_placeholders(rows, 7)
    )
}

/// Inserts `rows` agent events (those stored before are left alone).
pub fn insert_agent_events(rows: usize) -> String {
    format!(
        "INSERT INTO agent_events (agent_id, seq, at_ms, state) VALUES {} \
         ON CONFLICT (agent_id, seq) DO NOTHING",
        row_placeholders(rows, 4)
    )
}

/// One call's events, in order.
pub const CALL_EVENTS: &str =
    "SELECT seq, at_ms, kind, a, b, c FROM call_events WHERE call_id = ?1 ORDER BY seq";

/// The events of `calls` calls, each call's in order.
pub fn events_of_calls(calls: usize) -> String {
    format!(
        "SELECT call_id, seq, at_ms, kind, a, b, c FROM call_events WHERE call_id IN ({}) \
         ORDER BY call_id, seq",
        list_placeholders(calls)
    )
}

/// Writes `rows` calls' rows (a call appears once).
pub fn upsert_calls(rows: usize) -> String {
    format!(
        "INSERT INTO calls (call_id, started_ms, number, caller, call_type, scenario_id, \
         department, agent, queued, wait_ms, abandon_wait_ms, handle_ms, ended_ms, end_reason, \
         talk_ms, callback_requested, callback_department, callback_kept, last_seq, events) \
         VALUES {} \
         ON CONFLICT (call_id) DO UPDATE SET started_ms = excluded.started_ms, \
         number = excluded.number, caller = excluded.caller, call_type = excluded.call_type, \
         scenario_id = excluded.scenario_id, department = excluded.department, \
         agent = excluded.agent, queued = excluded.queued, wait_ms = excluded.wait_ms, \
         abandon_wait_ms = excluded.abandon_wait_ms, handle_ms = excluded.handle_ms, \
         ended_ms = excluded.ended_ms, end_reason = excluded.end_reason, \
         talk_ms = excluded.talk_ms, callback_requested = excluded.callback_requested, \
         callback_department = excluded.callback_department, \
         callback_kept = excluded.callback_kept, last_seq = excluded.last_seq, \
         events = excluded.events",
        row_placeholders(rows, 20)
    )
}

pub fn delete_passes(calls: usize) -> String {
    format!(
        "DELETE FROM scenario_passes WHERE call_id IN ({})",
        list_placeholders(calls)
    )
}

pub fn delete_pass_operations(calls: usize) -> String {
    format!(
        "DELETE FROM pass_operations WHERE call_id IN ({})",
        list_placeholders(calls)
    )
}

pub fn insert_passes(rows: usize) -> String {
    format!(
        "INSERT INTO scenario_passes (call_id, pass_no, scenario_id, started_ms, number, \
         call_type, end_reason, department, by_option, re_pass, transferred, ended, \
         no_conversation, completed, total_ms, talk_ms) VALUES {}",
        row_placeholders(rows, 16)
    )
}

pub fn insert_pass_operations(rows: usize) -> String {
    format!(
        "INSERT INTO pass_operations (call_id, pass_no, operation_id) VALUES {}",
        row_placeholders(rows, 3)
    )
}

pub const UPSERT_CHECKPOINT: &str = "INSERT INTO sources (source, position) VALUES (?1, ?2) \
     ON CONFLICT (source) DO UPDATE SET position = CASE \
     WHEN excluded.position > sources.position THEN excluded.position \
     ELSE sources.position END";

pub const CHECKPOINT: &str = "SELECT position FROM sources WHERE source = ?1";

/// The scenario report: `{value}` is the second dimension's column (or NULL), `{join}` the
/// operations join when that is the dimension, `{group}` the grouping.
pub fn scenario_report(value: &str, join: &str, group: &str) -> String {
    format!(
        "SELECT p.scenario_id, {value}, COUNT(*), CAST(SUM(p.by_option) AS BIGINT), CAST(SUM(p.transferred) AS BIGINT), \
         CAST(SUM(p.no_conversation) AS BIGINT), CAST(SUM(p.completed) AS BIGINT), CAST(SUM(p.re_pass) AS BIGINT), CAST(SUM(p.ended) AS BIGINT), \
         CAST(SUM(p.total_ms) AS BIGINT), CAST(SUM(p.talk_ms) AS BIGINT) \
         FROM scenario_passes p{join} \
         WHERE p.started_ms >= ?1 AND p.started_ms < ?2 \
         GROUP BY {group}"
    )
}

pub const KPI_CALLS: &str = "SELECT CAST(SUM(queued) AS BIGINT), COUNT(wait_ms), \
     CAST(SUM(CASE WHEN wait_ms <= ?3 THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM(wait_ms) AS BIGINT), COUNT(abandon_wait_ms), \
     CAST(SUM(CASE WHEN abandon_wait_ms < ?4 THEN 1 ELSE 0 END) AS BIGINT), COUNT(handle_ms), \
     CAST(SUM(handle_ms) AS BIGINT), CAST(SUM(callback_kept) AS BIGINT) \
     FROM calls WHERE started_ms >= ?1 AND started_ms < ?2 AND (CAST(?5 AS TEXT) IS NULL OR department = ?5)";

pub const KPI_CALLBACKS_REQUESTED: &str = "SELECT COUNT(*) FROM calls \
     WHERE started_ms >= ?1 AND started_ms < ?2 AND callback_requested = 1 \
     AND (CAST(?3 AS TEXT) IS NULL OR callback_department = ?3)";

/// Each agent state with the time of the agent's next event (by sequence number), for the
/// intervals that can overlap `[?1, ?2)`.
pub const AGENT_INTERVALS: &str = "SELECT agent_id, state, at_ms, next_ms FROM ( \
     SELECT agent_id, state, at_ms, \
     LEAD(at_ms) OVER (PARTITION BY agent_id ORDER BY seq) AS next_ms FROM agent_events \
     ) t WHERE at_ms < ?2 AND (next_ms IS NULL OR next_ms > ?1)";

pub const CALL_LIST: &str = "SELECT call_id FROM calls \
     WHERE started_ms >= ?1 AND started_ms < ?2 AND (CAST(?3 AS TEXT) IS NULL OR department = ?3) \
     AND (CAST(?5 AS TEXT) IS NULL OR number = ?5) AND (CAST(?6 AS TEXT) IS NULL OR agent = ?6) \
     AND (CAST(?7 AS TEXT) IS NULL OR end_reason = ?7) \
     ORDER BY started_ms DESC, call_id DESC LIMIT ?4";
