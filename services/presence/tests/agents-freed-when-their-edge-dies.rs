//! A call binding remembers the sip-edge node that carries the call; when that node is gone
//! for good (`edge_gone`), nobody will ever end its calls, so every agent bound to one of
//! them leaves it as if it had ended with no wrap-up. Bindings of other edges, and bindings
//! with no edge, stay.
#![allow(clippy::unwrap_used)]

mod common;

use cc_presence::core::{
    AgentId, AgentState, Cause, EdgeCleared, EdgeNode, PauseReason, PresenceError, PresenceEvent,
};
use common::{Harness, call, secs, sip};

fn edge(name: &str) -> Option<EdgeNode> {
    Some(EdgeNode::new(name))
}

/// `(agent, cause, to)` of every state change drained.
fn changes(h: &mut Harness) -> Vec<(AgentId, Cause, AgentState)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            PresenceEvent::AgentStateChanged {
                agent, cause, to, ..
            } => Some((agent, cause, to)),
            _ => None,
        })
        .collect()
}

fn edge_of(h: &Harness, id: &AgentId) -> Option<EdgeNode> {
    h.p.agent(id).unwrap().edge().cloned()
}

#[test]
fn the_edge_is_kept_from_reservation_to_talking_and_its_death_frees_only_its_agents() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let b = h.ready_agent("bob");
    let c = h.ready_agent("carol");
    h.p.reserve(&a, call("c1"), edge("e1"), secs(5), h.now)
        .unwrap();
    h.p.reserve(&b, call("c2"), edge("e2"), secs(5), h.now)
        .unwrap();
    h.p.reserve(&c, call("c3"), None, secs(5), h.now).unwrap();
    for (id, c) in [(&a, "c1"), (&b, "c2"), (&c, "c3")] {
        h.p.confirm_ringing(id, &call(c), h.now).unwrap();
    }
    assert_eq!(edge_of(&h, &a), edge("e1"), "kept while ringing");
    for (id, c) in [(&a, "c1"), (&b, "c2"), (&c, "c3")] {
        h.p.answered(id, &call(c), h.now).unwrap();
    }
    assert_eq!(edge_of(&h, &a), edge("e1"), "kept on the call");
    assert_eq!(edge_of(&h, &c), None);
    h.events();

    h.advance(secs(60));
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now).freed,
        vec![a.clone()]
    );
    // No wrap-up: nobody ended the call, the agent can take the next one at once.
    assert_eq!(
        changes(&mut h),
        [(a.clone(), Cause::EdgeGone, AgentState::Available)]
    );
    assert_eq!(h.p.agent(&a).unwrap().since(), h.now);
    assert_eq!(edge_of(&h, &a), None);
    assert_eq!(h.state(&b), AgentState::OnCall { call: call("c2") });
    assert_eq!(h.state(&c), AgentState::OnCall { call: call("c3") });
    assert_eq!(h.p.poll_timeout(), None);

    // Gone twice, or an edge nobody's call is on: nothing to free, nothing emitted.
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now),
        EdgeCleared::default()
    );
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e9"), h.now),
        EdgeCleared::default()
    );
    assert!(h.events().is_empty());

    // The dead edge's later news about its call is stale and changes nothing.
    let late =
        h.p.call_ended(&a, &call("c1"), secs(30), h.now)
            .unwrap_err();
    assert!(matches!(late, PresenceError::StaleCall { .. }), "{late:?}");
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn every_phase_of_the_call_is_freed_and_the_reservation_timer_goes_with_it() {
    let mut h = Harness::new();
    let reserved = h.ready_agent("alice");
    let ringing = h.ready_agent("bob");
    let talking = h.ready_agent("carol");
    for (id, c) in [(&reserved, "c1"), (&ringing, "c2"), (&talking, "c3")] {
        h.p.reserve(id, call(c), edge("e1"), secs(5), h.now)
            .unwrap();
    }
    h.p.confirm_ringing(&ringing, &call("c2"), h.now).unwrap();
    h.p.answered(&talking, &call("c3"), h.now).unwrap();
    h.events();

    let mut freed = h.p.edge_gone(&EdgeNode::new("e1"), h.now).freed;
    freed.sort();
    assert_eq!(freed, [reserved.clone(), ringing.clone(), talking.clone()]);
    for id in [&reserved, &ringing, &talking] {
        assert_eq!(h.state(id), AgentState::Available);
    }
    assert!(
        changes(&mut h)
            .iter()
            .all(|(_, cause, _)| *cause == Cause::EdgeGone)
    );
    assert_eq!(
        h.p.poll_timeout(),
        None,
        "no expiry left for the reservation"
    );
}

#[test]
fn freed_agents_rest_where_their_login_pause_and_devices_say() {
    let mut h = Harness::new();
    let out = h.ready_agent("alice");
    let paused = h.ready_agent("bob");
    let phoneless = h.ready_agent("carol");
    for (id, c) in [(&out, "c1"), (&paused, "c2"), (&phoneless, "c3")] {
        h.p.reserve(id, call(c), edge("e1"), secs(5), h.now)
            .unwrap();
        h.p.answered(id, &call(c), h.now).unwrap();
    }
    // Asked during the call: they take effect when the agent leaves it.
    h.p.logout(&out, h.now).unwrap();
    h.p.pause(&paused, PauseReason::Lunch, h.now).unwrap();
    h.p.device_gone(&phoneless, &sip("carol-phone").id, h.now)
        .unwrap();
    assert_eq!(h.state(&out), AgentState::OnCall { call: call("c1") });

    h.p.edge_gone(&EdgeNode::new("e1"), h.now);
    assert_eq!(h.state(&out), AgentState::Offline);
    assert_eq!(
        h.state(&paused),
        AgentState::Paused {
            reason: PauseReason::Lunch
        }
    );
    assert_eq!(h.state(&phoneless), AgentState::Offline);
}

#[test]
fn a_retiring_agent_freed_by_its_edge_leaves_presence() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), edge("e1"), secs(5), h.now)
        .unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.configure(vec![], h.now).unwrap();
    h.events();

    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now).freed,
        vec![a.clone()]
    );
    assert!(h.p.agent(&a).is_err());
    let events = h.events();
    assert!(matches!(
        events.as_slice(),
        [
            PresenceEvent::AgentStateChanged {
                cause: Cause::EdgeGone,
                to: AgentState::Offline,
                ..
            },
            PresenceEvent::AgentRemoved { .. },
        ]
    ));
}

#[test]
fn the_edge_is_forgotten_when_the_agent_leaves_the_call() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), edge("e1"), secs(5), h.now)
        .unwrap();
    h.p.released(&a, &call("c1"), h.now).unwrap();
    assert_eq!(edge_of(&h, &a), None);

    // The next call has no known edge: e1's death does not touch it.
    h.p.reserve(&a, call("c2"), None, secs(5), h.now).unwrap();
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now),
        EdgeCleared::default()
    );
    assert!(matches!(h.state(&a), AgentState::Reserved { .. }));

    // An expired reservation forgets its edge too.
    h.p.released(&a, &call("c2"), h.now).unwrap();
    h.p.reserve(&a, call("c3"), edge("e1"), secs(5), h.now)
        .unwrap();
    h.advance_and_fire(secs(5));
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(edge_of(&h, &a), None);

    // So does a call that ended, through wrap-up.
    h.p.reserve(&a, call("c4"), edge("e1"), secs(5), h.now)
        .unwrap();
    h.p.answered(&a, &call("c4"), h.now).unwrap();
    h.p.call_ended(&a, &call("c4"), secs(30), h.now).unwrap();
    assert_eq!(edge_of(&h, &a), None);
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now),
        EdgeCleared::default()
    );
    assert!(matches!(h.state(&a), AgentState::WrapUp { .. }));
}

#[test]
fn timers_due_before_the_edge_died_apply_first() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), edge("e1"), secs(5), h.now)
        .unwrap();
    h.events();
    h.advance(secs(6));
    // The reservation had lapsed by itself before the edge was declared gone.
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now),
        EdgeCleared::default()
    );
    assert_eq!(
        changes(&mut h),
        [(a, Cause::ReservationExpired, AgentState::Available)]
    );
}

#[test]
fn a_call_in_progress_records_its_edge_and_the_latest_report_wins() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let b = h.ready_agent("bob");
    h.p.call_in_progress(&a, call("c1"), edge("e1"), false, h.now)
        .unwrap();
    assert_eq!(edge_of(&h, &a), edge("e1"));
    h.p.call_in_progress(&a, call("c1"), None, true, h.now)
        .unwrap();
    assert_eq!(
        edge_of(&h, &a),
        edge("e1"),
        "a report without an edge keeps it"
    );
    h.p.call_in_progress(&a, call("c1"), edge("e2"), true, h.now)
        .unwrap();
    assert_eq!(edge_of(&h, &a), edge("e2"), "a repeated report updates it");

    // A reservation with no edge learns it from the call in progress, and keeps the
    // reservation's when the report has none.
    h.p.reserve(&b, call("c2"), None, secs(5), h.now).unwrap();
    h.p.call_in_progress(&b, call("c2"), edge("e1"), false, h.now)
        .unwrap();
    assert_eq!(edge_of(&h, &b), edge("e1"));
    // Refused for another call: nothing recorded.
    let other =
        h.p.call_in_progress(&b, call("c9"), edge("e3"), true, h.now)
            .unwrap_err();
    assert!(matches!(other, PresenceError::StaleCall { .. }));
    assert_eq!(edge_of(&h, &b), edge("e1"));

    h.events();
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e1"), h.now).freed,
        vec![b.clone()]
    );
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
    // A restored call is freed like any other: alice rests where her facts say.
    assert_eq!(
        h.p.edge_gone(&EdgeNode::new("e2"), h.now).freed,
        vec![a.clone()]
    );
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn an_empty_or_oversized_edge_name_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    let long = EdgeNode::new("e".repeat(300));
    for bad in [EdgeNode::new(""), long] {
        let e =
            h.p.reserve(&a, call("c1"), Some(bad.clone()), secs(5), h.now)
                .unwrap_err();
        assert!(
            matches!(
                e,
                PresenceError::Empty { field: "edge node" }
                    | PresenceError::TooLong {
                        field: "edge node",
                        ..
                    }
            ),
            "{e:?}"
        );
        let e =
            h.p.call_in_progress(&a, call("c1"), Some(bad), true, h.now)
                .unwrap_err();
        assert!(matches!(
            e,
            PresenceError::Empty { .. } | PresenceError::TooLong { .. }
        ));
    }
    assert_eq!(h.state(&a), AgentState::Available);
    assert!(h.events().is_empty());
}
