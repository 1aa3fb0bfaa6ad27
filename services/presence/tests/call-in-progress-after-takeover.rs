//! A presence node that took over hears from sip-edge about calls already ringing or
//! talking: the agent is bound to that call (never offered a second one), whatever their
//! login and devices, and the call then ends as any other.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_presence::core::{
    AgentConfig, AgentId, AgentState, Cause, PauseReason, PresenceError, PresenceEvent,
};
use common::{Harness, call, secs};

/// `(cause, to)` of every state change drained.
fn causes(h: &mut Harness) -> Vec<(Cause, AgentState)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            PresenceEvent::AgentStateChanged { cause, to, .. } => Some((cause, to)),
            _ => None,
        })
        .collect()
}

fn offline_agent(h: &mut Harness, name: &str) -> AgentId {
    h.p.add_agent(AgentConfig::new(name, name), h.now).unwrap();
    h.events();
    AgentId::new(name)
}

#[test]
fn a_talking_agent_unknown_to_the_new_owner_is_on_call_until_the_call_ends() {
    let mut h = Harness::new();
    let a = offline_agent(&mut h, "alice");
    let c = call("c1");

    h.p.call_in_progress(&a, c.clone(), None, true, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: c.clone() });
    assert_eq!(
        causes(&mut h),
        [(Cause::Restored, AgentState::OnCall { call: c.clone() })]
    );
    let second =
        h.p.reserve(&a, call("c2"), None, secs(5), h.now)
            .unwrap_err();
    assert!(matches!(second, PresenceError::NotAvailable { .. }));

    // Not logged in and no phone as far as this node knows: no wrap-up, straight to rest.
    h.p.call_ended(&a, &c, secs(30), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
    assert_eq!(h.p.poll_timeout(), None);
}

#[test]
fn a_ringing_agent_answers_and_wraps_up_like_any_call() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    let c = call("c1");

    h.p.call_in_progress(&a, c.clone(), None, false, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Ringing { call: c.clone() });
    h.p.answered(&a, &c, h.now).unwrap();
    h.p.call_ended(&a, &c, secs(10), h.now).unwrap();
    let until = h.now + secs(10);
    assert_eq!(h.state(&a), AgentState::WrapUp { until });
    h.advance_and_fire(secs(10));
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(
        causes(&mut h),
        [
            (Cause::Restored, AgentState::Ringing { call: c.clone() }),
            (Cause::Answered, AgentState::OnCall { call: c.clone() }),
            (Cause::CallEnded, AgentState::WrapUp { until }),
            (Cause::WrapUpEnded, AgentState::Available),
        ]
    );
}

#[test]
fn a_restored_ringing_call_released_goes_where_the_agent_rests() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.pause(&a, PauseReason::Lunch, h.now).unwrap();
    let c = call("c1");
    h.p.call_in_progress(&a, c.clone(), None, false, h.now)
        .unwrap();
    h.p.released(&a, &c, h.now).unwrap();
    assert_eq!(
        h.state(&a),
        AgentState::Paused {
            reason: PauseReason::Lunch
        }
    );

    let b = offline_agent(&mut h, "bob");
    h.p.call_in_progress(&b, c.clone(), None, false, h.now)
        .unwrap();
    h.p.call_ended(&b, &c, Duration::ZERO, h.now).unwrap();
    assert_eq!(h.state(&b), AgentState::Offline);
}

#[test]
fn repeated_reports_only_move_the_call_forward() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    let c = call("c1");

    h.p.call_in_progress(&a, c.clone(), None, false, h.now)
        .unwrap();
    h.p.call_in_progress(&a, c.clone(), None, false, h.now)
        .unwrap();
    h.p.call_in_progress(&a, c.clone(), None, true, h.now)
        .unwrap();
    h.p.call_in_progress(&a, c.clone(), None, true, h.now)
        .unwrap();
    h.p.call_in_progress(&a, c.clone(), None, false, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: c.clone() });
    assert_eq!(
        causes(&mut h),
        [
            (Cause::Restored, AgentState::Ringing { call: c.clone() }),
            (Cause::Restored, AgentState::OnCall { call: c.clone() }),
        ],
        "no event for a report that changes nothing"
    );
}

#[test]
fn a_reservation_for_the_same_call_becomes_ringing_and_no_longer_expires() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let c = call("c1");
    h.p.reserve(&a, c.clone(), None, secs(5), h.now).unwrap();

    h.p.call_in_progress(&a, c.clone(), None, false, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Ringing { call: c.clone() });
    assert_eq!(h.p.poll_timeout(), None);
    h.advance_and_fire(secs(60));
    assert_eq!(h.state(&a), AgentState::Ringing { call: c.clone() });

    let b = h.ready_agent("bob");
    h.p.reserve(&b, c.clone(), None, secs(5), h.now).unwrap();
    h.p.call_in_progress(&b, c.clone(), None, true, h.now)
        .unwrap();
    assert_eq!(h.state(&b), AgentState::OnCall { call: c });
}

#[test]
fn an_agent_bound_to_another_call_is_refused_naming_its_state() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.call_in_progress(&a, call("c1"), None, true, h.now)
        .unwrap();
    h.events();

    let e =
        h.p.call_in_progress(&a, call("c2"), None, false, h.now)
            .unwrap_err();
    assert_eq!(
        e,
        PresenceError::StaleCall {
            agent: a.clone(),
            call: call("c2"),
            state: AgentState::OnCall { call: call("c1") },
        }
    );
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
    assert!(h.events().is_empty(), "a refusal changes nothing");

    let unknown =
        h.p.call_in_progress(&AgentId::new("zoe"), call("c1"), None, true, h.now)
            .unwrap_err();
    assert_eq!(unknown, PresenceError::UnknownAgent(AgentId::new("zoe")));
    let empty =
        h.p.call_in_progress(&a, call(""), None, true, h.now)
            .unwrap_err();
    assert!(matches!(empty, PresenceError::Empty { field: "call id" }));
}

#[test]
fn wrap_up_gives_way_to_a_call_in_progress() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    assert!(matches!(h.state(&a), AgentState::WrapUp { .. }));

    h.p.call_in_progress(&a, call("c2"), None, true, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c2") });
    assert_eq!(h.p.poll_timeout(), None, "the wrap-up timer is gone");
    h.advance_and_fire(secs(31));
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c2") });
}

#[test]
fn a_logout_during_a_restored_call_takes_effect_when_it_ends() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let c = call("c1");
    h.p.call_in_progress(&a, c.clone(), None, true, h.now)
        .unwrap();
    h.p.logout(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: c.clone() });
    h.p.call_ended(&a, &c, secs(30), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
}
