//! Batch ingest: the events go in with ON CONFLICT DO NOTHING on their identity, and every
//! call that got at least one new event is folded again from all its stored events (so
//! events arriving out of order or across batches end in the same record as one ordered
//! batch would) and its derived rows and rollup contributions rewritten, all in one
//! transaction.
//!
//! Every step works on all the batch's rows at once, in multi-row statements (a batch of
//! 1,000 events is a few dozen statements, not thousands): what a database over a network
//! needs, and what keeps SQLite's per-statement cost low too.

use std::collections::{BTreeMap, BTreeSet};

use super::db::{Sql, Value, pieces, values};
use super::rollup::{self, Deltas, PassRow};
use super::{StoreError, to_sql};
use crate::core::{
    AgentEvent, CallEvent, CallId, CallKpiFacts, CallRecord, CallStart, PassFacts, ReportEvent,
    ScenarioPass,
};
use crate::store::{IngestBatch, IngestOutcome, codec, sql};

/// Ingests a batch in the caller's transaction (which commits it).
pub(super) fn ingest(
    tx: &mut impl Sql,
    batch: IngestBatch<'_>,
) -> Result<IngestOutcome, StoreError> {
    let mut calls: Vec<&CallEvent> = Vec::new();
    let mut agents: Vec<&AgentEvent> = Vec::new();
    for event in batch.events {
        match event {
            ReportEvent::Call(e) => calls.push(e),
            ReportEvent::Agent(e) => agents.push(e),
        }
    }
    let mut new_events = 0usize;
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for piece in pieces(calls.len()) {
        let rows = &calls[piece];
        let mut params: Vec<Value<'_>> = Vec::with_capacity(rows.len() * 7);
        for e in rows {
            let row = codec::encode(&e.kind);
            params.extend_from_slice(values![
                e.call.as_str(),
                to_sql("call event seq", e.seq)?,
                e.at,
                row.kind,
                row.a,
                row.b,
                row.c
            ]);
        }
        for mut inserted in tx.query(&sql::insert_call_events(rows.len()), &params)? {
            touched.insert(inserted.required_text(0)?);
            new_events += 1;
        }
    }
    for piece in pieces(agents.len()) {
        let rows = &agents[piece];
        let mut params: Vec<Value<'_>> = Vec::with_capacity(rows.len() * 4);
        for e in rows {
            params.extend_from_slice(values![
                e.agent.as_str(),
                to_sql("agent event seq", e.seq)?,
                e.at,
                e.state.as_str()
            ]);
        }
        let n = tx.execute(&sql::insert_agent_events(rows.len()), &params)?;
        new_events += usize::try_from(n).unwrap_or(usize::MAX);
    }
    let touched: Vec<CallId> = touched.into_iter().map(CallId::new).collect();
    let mut events = events_of_calls(tx, &touched)?;
    let records: Vec<CallRecord> = touched
        .iter()
        .map(|call| CallRecord::fold(call, events.remove(call).as_deref().unwrap_or(&[])))
        .collect();
    let mut deltas = Deltas::default();
    write_records(tx, &records, &mut deltas)?;
    deltas.apply(tx)?;
    if let Some(cp) = batch.checkpoint {
        tx.execute(
            sql::UPSERT_CHECKPOINT,
            values![
                cp.source.as_str(),
                to_sql("checkpoint position", cp.position)?
            ],
        )?;
    }
    Ok(IngestOutcome {
        new_events,
        duplicates: batch.events.len().saturating_sub(new_events),
        calls_updated: touched.len(),
    })
}

fn decode_event(
    call: &CallId,
    row: &mut super::db::Row,
    at: usize,
) -> Result<CallEvent, StoreError> {
    let seq = row.required_int(at)?;
    let kind = row.required_text(at + 2)?;
    Ok(CallEvent {
        call: call.clone(),
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt {
            what: "call event seq",
            value: seq.to_string(),
        })?,
        at: row.required_int(at + 1)?,
        kind: codec::decode(
            &kind,
            row.text(at + 3)?,
            row.text(at + 4)?,
            row.text(at + 5)?,
        )?,
    })
}

/// Every stored event of a call, in sequence order.
pub(super) fn load_events(db: &mut impl Sql, call: &CallId) -> Result<Vec<CallEvent>, StoreError> {
    db.query(sql::CALL_EVENTS, values![call.as_str()])?
        .iter_mut()
        .map(|row| decode_event(call, row, 0))
        .collect()
}

/// Every stored event of each of `calls`, each call's in sequence order.
fn events_of_calls(
    db: &mut impl Sql,
    calls: &[CallId],
) -> Result<BTreeMap<CallId, Vec<CallEvent>>, StoreError> {
    let mut events: BTreeMap<CallId, Vec<CallEvent>> = BTreeMap::new();
    for piece in pieces(calls.len()) {
        let ids = &calls[piece];
        let params: Vec<Value<'_>> = ids.iter().map(|c| Value::from(c.as_str())).collect();
        for mut row in db.query(&sql::events_of_calls(ids.len()), &params)? {
            let call = CallId::new(row.required_text(0)?);
            let event = decode_event(&call, &mut row, 1)?;
            events.entry(call).or_default().push(event);
        }
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

/// Rewrites the calls' rows, their scenario passes and their rollup contributions.
fn write_records(
    tx: &mut impl Sql,
    records: &[CallRecord],
    deltas: &mut Deltas,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = records.iter().map(|r| r.call.as_str()).collect();
    for old in rollup::stored_passes(tx, &ids)? {
        deltas.pass(&old, -1);
    }
    for piece in pieces(ids.len()) {
        let params: Vec<Value<'_>> = ids[piece.clone()].iter().map(|&id| id.into()).collect();
        tx.execute(&sql::delete_passes(piece.len()), &params)?;
        tx.execute(&sql::delete_pass_operations(piece.len()), &params)?;
    }
    for piece in pieces(records.len()) {
        let rows = &records[piece];
        let mut params: Vec<Value<'_>> = Vec::with_capacity(rows.len() * 20);
        for record in rows {
            let start = record.start.as_ref();
            let facts = CallKpiFacts::of(record);
            params.extend_from_slice(values![
                record.call.as_str(),
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
            ]);
        }
        tx.execute(&sql::upsert_calls(rows.len()), &params)?;
    }
    // A call without its start is in no range: no facts until the start arrives.
    let passes: Vec<(&str, i64, PassRow)> = records
        .iter()
        .filter_map(|r| r.start.as_ref().map(|start| (r, start)))
        .flat_map(|(record, start)| {
            record.passes.iter().enumerate().map(move |(n, pass)| {
                (
                    record.call.as_str(),
                    n as i64,
                    pass_row(record, start, pass),
                )
            })
        })
        .collect();
    for piece in pieces(passes.len()) {
        let rows = &passes[piece];
        let mut params: Vec<Value<'_>> = Vec::with_capacity(rows.len() * 16);
        for (id, pass_no, row) in rows {
            let m = &row.measures;
            params.extend_from_slice(values![
                *id,
                *pass_no,
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
            ]);
        }
        tx.execute(&sql::insert_passes(rows.len()), &params)?;
    }
    let operations: Vec<(&str, i64, &str)> = passes
        .iter()
        .flat_map(|(id, pass_no, row)| row.operations.iter().map(|o| (*id, *pass_no, o.as_str())))
        .collect();
    for piece in pieces(operations.len()) {
        let rows = &operations[piece];
        let mut params: Vec<Value<'_>> = Vec::with_capacity(rows.len() * 3);
        for &(id, pass_no, operation) in rows {
            params.extend_from_slice(values![id, pass_no, operation]);
        }
        tx.execute(&sql::insert_pass_operations(rows.len()), &params)?;
    }
    for (_, _, row) in &passes {
        deltas.pass(row, 1);
    }
    Ok(())
}
