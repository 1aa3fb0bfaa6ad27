//! Batch ingest: the events go in with ON CONFLICT DO NOTHING on their identity, and every
//! call that got at least one new event is folded again from all its stored events (so
//! events arriving out of order or across batches end in the same record as one ordered
//! batch would) and its derived rows and rollup contributions rewritten, all in one
//! transaction.

use std::collections::BTreeSet;

use super::db::{Sql, values};
use super::rollup::{self, Deltas, PassRow};
use super::{StoreError, to_sql};
use crate::core::{
    CallEvent, CallId, CallKpiFacts, CallRecord, CallStart, PassFacts, ReportEvent, ScenarioPass,
};
use crate::store::{IngestBatch, IngestOutcome, codec, sql};

/// Ingests a batch in the caller's transaction (which commits it).
pub(super) fn ingest(
    tx: &mut impl Sql,
    batch: IngestBatch<'_>,
) -> Result<IngestOutcome, StoreError> {
    let mut outcome = IngestOutcome::default();
    let mut touched: BTreeSet<&CallId> = BTreeSet::new();
    for event in batch.events {
        let inserted = match event {
            ReportEvent::Call(e) => {
                let row = codec::encode(&e.kind);
                let n = tx.execute(
                    sql::INSERT_CALL_EVENT,
                    values![
                        e.call.as_str(),
                        to_sql("call event seq", e.seq)?,
                        e.at,
                        row.kind,
                        row.a,
                        row.b,
                        row.c
                    ],
                )?;
                if n > 0 {
                    touched.insert(&e.call);
                }
                n > 0
            }
            ReportEvent::Agent(e) => {
                tx.execute(
                    sql::INSERT_AGENT_EVENT,
                    values![
                        e.agent.as_str(),
                        to_sql("agent event seq", e.seq)?,
                        e.at,
                        e.state.as_str()
                    ],
                )? > 0
            }
        };
        if inserted {
            outcome.new_events += 1;
        } else {
            outcome.duplicates += 1;
        }
    }
    let mut deltas = Deltas::default();
    for call in &touched {
        let events = load_events(tx, call)?;
        write_record(tx, &CallRecord::fold(call, &events), &mut deltas)?;
    }
    deltas.apply(tx)?;
    outcome.calls_updated = touched.len();
    if let Some(cp) = batch.checkpoint {
        tx.execute(
            sql::UPSERT_CHECKPOINT,
            values![
                cp.source.as_str(),
                to_sql("checkpoint position", cp.position)?
            ],
        )?;
    }
    Ok(outcome)
}

/// Every stored event of a call, in sequence order.
pub(super) fn load_events(db: &mut impl Sql, call: &CallId) -> Result<Vec<CallEvent>, StoreError> {
    let rows = db.query(sql::CALL_EVENTS, values![call.as_str()])?;
    let mut events = Vec::with_capacity(rows.len());
    for mut row in rows {
        let seq = row.required_int(0)?;
        let kind = row.required_text(2)?;
        events.push(CallEvent {
            call: call.clone(),
            seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt {
                what: "call event seq",
                value: seq.to_string(),
            })?,
            at: row.required_int(1)?,
            kind: codec::decode(&kind, row.text(3)?, row.text(4)?, row.text(5)?)?,
        });
    }
    Ok(events)
}

/// A pass of a folded call as it is stored.
fn pass_row(record: &CallRecord, start: &CallStart, pass: &ScenarioPass) -> PassRow {
    PassRow {
        scenario: pass.scenario.as_ref().map(|s| s.as_str().to_owned()),
        started_ms: start.at,
        number: start.number.clone(),
        call_type: start.call_type.as_str().to_owned(),
        end_reason: record.end.map(|e| e.reason.as_str().to_owned()),
        department: record.department.as_ref().map(|d| d.as_str().to_owned()),
        measures: PassFacts::of(record, pass).measures(),
        operations: pass
            .operations
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
    }
}

/// Rewrites a call's row, its scenario passes and their rollup contributions.
fn write_record(
    tx: &mut impl Sql,
    record: &CallRecord,
    deltas: &mut Deltas,
) -> Result<(), StoreError> {
    let id = record.call.as_str();
    let start = record.start.as_ref();
    let facts = CallKpiFacts::of(record);
    tx.execute(
        sql::UPSERT_CALL,
        values![
            id,
            start.map(|s| s.at),
            start.map(|s| s.number.as_str()),
            start.map(|s| s.caller.as_str()),
            start.map(|s| s.call_type.as_str()),
            record.first_scenario().map(|s| s.as_str()),
            record.department.as_ref().map(|d| d.as_str()),
            record.agent.as_ref().map(|a| a.as_str()),
            facts.queued,
            facts.wait_ms,
            facts.abandon_wait_ms,
            facts.handle_ms,
            record.end.map(|e| e.at),
            record.end.map(|e| e.reason.as_str()),
            record.talk_ms,
            record.callback.is_some(),
            record
                .callback
                .as_ref()
                .and_then(|c| c.department.as_ref())
                .map(|d| d.as_str()),
            facts.callback_kept,
            to_sql("call event seq", record.last_seq)?,
            to_sql("event count", record.events as u64)?,
        ],
    )?;
    for old in rollup::stored_passes(tx, id)? {
        deltas.pass(&old, -1);
    }
    tx.execute(sql::DELETE_PASSES, values![id])?;
    tx.execute(sql::DELETE_PASS_OPERATIONS, values![id])?;
    // A call without its start is in no range: no facts until the start arrives.
    let Some(start) = start else {
        return Ok(());
    };
    for (pass_no, pass) in record.passes.iter().enumerate() {
        let row = pass_row(record, start, pass);
        let m = &row.measures;
        tx.execute(
            sql::INSERT_PASS,
            values![
                id,
                pass_no as i64,
                &row.scenario,
                row.started_ms,
                &row.number,
                &row.call_type,
                &row.end_reason,
                &row.department,
                to_sql("count", m.by_option)?,
                to_sql("count", m.re_pass)?,
                to_sql("count", m.with_transfer)?,
                to_sql("count", m.ended)?,
                to_sql("count", m.no_conversation)?,
                to_sql("count", m.completed)?,
                m.total_ms,
                m.talk_ms,
            ],
        )?;
        for operation in &row.operations {
            tx.execute(
                sql::INSERT_PASS_OPERATION,
                values![id, pass_no as i64, operation],
            )?;
        }
        deltas.pass(&row, 1);
    }
    Ok(())
}
