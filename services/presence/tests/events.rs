//! One event per change, numbered so that WatchEvents can resume from a sequence.
#![allow(clippy::unwrap_used)]

mod common;

use cc_presence::core::{AgentConfig, AgentState, PauseReason, PresenceConfig, PresenceEvent};
use common::{Harness, call, secs, sip};

#[test]
fn sequence_numbers_strictly_increase_one_event_per_change() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let b = h.ready_agent("bob");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.reserve(&b, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap(); // duplicate: no event
    assert!(h.p.reserve(&a, call("c2"), None, secs(5), h.now).is_err()); // refused: no event
    h.advance_and_fire(secs(5)); // bob's reservation expires
    h.p.call_ended(&a, &call("c1"), secs(10), h.now).unwrap();
    h.advance_and_fire(secs(10));
    h.p.pause(&b, PauseReason::Break, h.now).unwrap();

    let events = h.events();
    let seqs: Vec<u64> = events.iter().map(PresenceEvent::seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "contiguous from 1");
    assert_eq!(h.p.last_seq(), *seqs.last().unwrap());
    // adds (2), alice login+device (1 change: device), bob same (1), 2 reserves, answer,
    // expiry, call end, wrap-up end, pause
    let changes = events
        .iter()
        .filter(|e| matches!(e, PresenceEvent::AgentStateChanged { .. }))
        .count();
    assert_eq!(changes, 9);
    for event in &events {
        if let PresenceEvent::AgentStateChanged { from, to, .. } = event {
            assert_ne!(from, to);
        }
    }
}

#[test]
fn each_change_continues_from_the_previous_state() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    h.p.released(&a, &call("c1"), h.now).unwrap();
    h.p.logout(&a, h.now).unwrap();
    let changes = h.changes();
    let mut state = AgentState::Offline;
    for (from, to) in changes {
        assert_eq!(from, state);
        state = to;
    }
    assert_eq!(state, h.state(&a));
}

#[test]
fn events_carry_the_time_of_the_input() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    h.advance(secs(7));
    let t = h.now;
    h.p.logout(&a, t).unwrap();
    match h.events().as_slice() {
        [PresenceEvent::AgentStateChanged { at, agent, .. }] => {
            assert_eq!(*at, t);
            assert_eq!(agent, &a);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(h.p.agent(&a).unwrap().since(), t);
}

#[test]
fn add_and_remove_are_events_too() {
    let mut h = Harness::new();
    h.p.add_agent(AgentConfig::new("a", "A"), h.now).unwrap();
    h.p.remove_agent(&"a".into(), h.now).unwrap();
    let events = h.events();
    assert!(matches!(
        &events[0],
        PresenceEvent::AgentAdded {
            seq: 1,
            state: AgentState::Offline,
            ..
        }
    ));
    assert!(matches!(
        &events[1],
        PresenceEvent::AgentRemoved {
            seq: 2,
            last: AgentState::Offline,
            ..
        }
    ));
}

#[test]
fn undrained_events_are_bounded_and_the_gap_is_visible() {
    let mut h = Harness::with_config(PresenceConfig {
        max_pending_events: 4,
        ..Default::default()
    });
    let a = h.ready_agent("alice"); // added + available = 2
    for _ in 0..5 {
        h.p.device_gone(&a, &"alice-phone".into(), h.now).unwrap();
        h.p.device_registered(&a, sip("alice-phone"), h.now)
            .unwrap();
    }
    assert_eq!(h.p.last_seq(), 12);
    assert_eq!(h.p.dropped_events(), 8);
    let seqs: Vec<u64> = h.events().iter().map(PresenceEvent::seq).collect();
    assert_eq!(seqs, vec![9, 10, 11, 12]);
}
