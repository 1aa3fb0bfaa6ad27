//! Fencing: results under the wrong attempt or token, restores by a new leader, attempts in
//! doubt, records another leader wrote.

use super::*;

const OLD: LeaderToken = LeaderToken(5);
const NEWER: LeaderToken = LeaderToken(20);

/// The records an old leader (token 5) leaves in the store: `a` dispatched at `T0`, `b`
/// pending, a virtual-hold `v`, and `done` reached.
fn old_leaders_records() -> Vec<Record> {
    let mut old = CallbackCore::new(CoreConfig::default(), OLD, AlwaysOpen);
    let now = at(0);
    old.handle_request(now, request("a", "+4930001", "sales", 0))
        .unwrap();
    old.handle_capacity(now, &dept("sales"), 1).unwrap();
    old.handle_request(now, request("b", "+4930002", "sales", 0))
        .unwrap();
    old.handle_request(now, hold("v", "+4930003", "sales", 0, 0))
        .unwrap();
    old.handle_request(now, request("done", "+4930004", "support", 0))
        .unwrap();
    old.handle_capacity(now, &dept("support"), 1).unwrap();
    old.handle_result(now, &"done".into(), 1, OLD, Outcome::Reached)
        .unwrap();
    // The store keeps the last record written per id.
    let mut latest: std::collections::BTreeMap<String, Record> = Default::default();
    while let Some(o) = old.poll_output() {
        latest.insert(o.record().id.to_string(), o.record().clone());
    }
    latest.into_values().collect()
}

#[test]
fn results_are_refused_unless_they_name_the_dispatched_attempt_and_token() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.capacity("sales", 1);
    h.drain();
    let stale = |attempt, token| CallbackError::StaleAttempt {
        id: "a".into(),
        attempt,
        token,
    };
    let id = CallbackId::from("a");
    assert_eq!(
        h.core.handle_result(h.now, &id, 2, TOKEN, Outcome::Reached),
        Err(stale(2, TOKEN))
    );
    assert_eq!(
        h.core.handle_result(h.now, &id, 1, OLD, Outcome::Reached),
        Err(stale(1, OLD))
    );
    assert!(h.drain().is_empty());
    h.result("a", 1, Outcome::NoAnswer);
    assert_eq!(
        h.core.handle_result(h.now, &id, 1, TOKEN, Outcome::Reached),
        Err(stale(1, TOKEN)),
        "a second result for one attempt"
    );
}

#[test]
fn a_new_leader_does_not_dial_an_attempt_in_doubt_until_its_timeout() {
    let records = old_leaders_records();
    let mut h = Harness::new();
    h.advance_to(60);
    let restored = h.core.handle_restore(h.now, records).unwrap();
    assert_eq!(
        restored,
        Restored {
            active: 3,
            in_doubt: 1,
            finished: 1,
            duplicates: 0,
            invalid: vec![],
        }
    );
    h.capacity("sales", 10);
    // b and v are dialled (v first: it keeps its place); a is not: it may be ringing.
    assert_eq!(h.dispatched(), vec![("v".into(), 1), ("b".into(), 1)]);
    assert_eq!(h.state("a"), Some(StateKind::Dispatching));
    h.result("v", 1, Outcome::Reached);
    h.result("b", 1, Outcome::Reached);
    h.drain();
    // In doubt until 600 s after the old leader dispatched it, then retried under the new
    // token after the back-off.
    h.advance_to(599);
    assert!(h.dispatched().is_empty());
    h.advance_to(600);
    let changes = h.changes();
    assert!(matches!(
        changes.as_slice(),
        [(id, Change::Retried { attempt: 1, outcome: Outcome::InDoubt, .. })] if id == "a"
    ));
    h.advance_to(720);
    let outputs = h.drain();
    let Some(Output::Dispatch(d)) = outputs.first() else {
        panic!("expected a dispatch, got {outputs:?}");
    };
    assert_eq!((d.id.as_str(), d.attempt, d.token), ("a", 2, TOKEN));
}

#[test]
fn a_result_of_the_old_leaders_attempt_is_still_taken() {
    let mut h = Harness::new();
    h.advance_to(60);
    h.core.handle_restore(h.now, old_leaders_records()).unwrap();
    h.drain();
    // The dialler reports under the token in the record: the customer was reached.
    h.core
        .handle_result(h.now, &"a".into(), 1, OLD, Outcome::Reached)
        .unwrap();
    assert_eq!(h.state("a"), None);
    let changes = h.changes();
    assert_eq!(changes, vec![("a".into(), Change::Reached { attempt: 1 })]);
}

#[test]
fn a_record_dispatched_by_a_newer_leader_fences_the_core() {
    let mut records = old_leaders_records();
    for r in &mut records {
        if let State::Dispatching { token, .. } = &mut r.state {
            *token = NEWER;
        }
    }
    let mut h = Harness::new();
    assert_eq!(
        h.core.handle_restore(h.now, records),
        Err(CallbackError::Fenced { by: NEWER })
    );
    assert_eq!(h.core.active(), 0, "nothing restored");
    assert_eq!(
        h.core
            .handle_request(h.now, request("x", "+4930111", "sales", 0)),
        Err(CallbackError::Fenced { by: NEWER })
    );
    assert_eq!(
        h.core.handle_capacity(h.now, &dept("sales"), 1),
        Err(CallbackError::Fenced { by: NEWER })
    );
    assert_eq!(h.core.poll_output(), None);
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn a_record_another_leader_wrote_is_taken_as_stored_and_not_dialled_again() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 0));
    h.drain();
    // This leader would dispatch attempt 1 now, but the write finds the record already
    // dispatched by the old leader (it had not noticed it was replaced).
    h.capacity("sales", 1);
    let outputs = h.drain();
    let Some(Output::Dispatch(d)) = outputs.first() else {
        panic!("expected a dispatch");
    };
    let mut stored = (*d.record).clone();
    stored.state = State::Dispatching {
        attempt: 1,
        token: OLD,
        since: at(0),
    };
    h.core
        .handle_stored(h.now, &"a".into(), Some(stored.clone()))
        .unwrap();
    assert_eq!(h.core.get(&"a".into()), Some(&stored));
    // Attempt 1 is the old leader's now: this one never dials it and waits for the timeout.
    h.capacity("sales", 5);
    assert!(h.dispatched().is_empty());
    h.advance_to(600 + 120);
    assert_eq!(h.dispatched(), vec![("a".into(), 2)]);
}

#[test]
fn a_record_gone_from_the_store_is_forgotten() {
    let mut h = Harness::new();
    h.request(request("a", "+4930111", "sales", 100));
    h.drain();
    h.core.handle_stored(h.now, &"a".into(), None).unwrap();
    assert_eq!(h.core.active(), 0);
    assert_eq!(h.core.poll_timeout(), None);
    assert!(h.drain().is_empty());
}

#[test]
fn a_restore_expires_what_closed_while_nobody_led_and_skips_contradictions() {
    let mut records = old_leaders_records();
    let mut broken = records[0].clone();
    broken.id = "broken".into();
    broken.state = State::Dispatching {
        attempt: 7,
        token: OLD,
        since: at(0),
    };
    records.push(broken);
    let mut h = Harness::new();
    h.advance_to(2 * DAY);
    let restored = h.core.handle_restore(h.now, records).unwrap();
    assert_eq!(restored.invalid.len(), 1);
    assert!(matches!(
        &restored.invalid[0],
        CallbackError::InvalidRecord { id, .. } if id.as_str() == "broken"
    ));
    // Every window was one day long: b and v expire; a's attempt was in doubt long ago, and
    // its retry has no room in the window either.
    let mut ended: Vec<(String, StateKind)> = h
        .drain()
        .iter()
        .map(|o| (o.record().id.to_string(), o.record().state.kind()))
        .collect();
    ended.sort();
    assert_eq!(
        ended,
        vec![
            ("a".into(), StateKind::Expired),
            ("b".into(), StateKind::Expired),
            ("v".into(), StateKind::Expired),
        ]
    );
    assert_eq!(h.core.active(), 0);
}

#[test]
fn records_round_trip_through_json() {
    for record in old_leaders_records() {
        let json = serde_json::to_string(&record).unwrap();
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }
}
