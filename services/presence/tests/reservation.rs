//! Reserve is the only way to take an agent: it succeeds once, and an unconfirmed
//! reservation falls back by itself.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_presence::core::{
    AgentId, AgentState, CallInput, Cause, PauseReason, PresenceError, PresenceEvent,
};
use common::{Harness, call, secs};

#[test]
fn reservation_succeeds_once_and_the_second_names_the_state() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let r = h.p.reserve(&a, call("c1"), None, secs(10), h.now).unwrap();
    assert_eq!(r.agent, a);
    assert_eq!(r.call, call("c1"));
    assert_eq!(r.until, h.now + secs(10));

    let expected = AgentState::Reserved {
        call: call("c1"),
        until: r.until,
    };
    for other in ["c2", "c1"] {
        let err =
            h.p.reserve(&a, call(other), None, secs(10), h.now)
                .unwrap_err();
        assert_eq!(
            err,
            PresenceError::NotAvailable {
                agent: a.clone(),
                state: expected.clone()
            }
        );
    }
    assert_eq!(h.state(&a), expected);
}

#[test]
fn only_available_agents_can_be_reserved() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.pause(&a, PauseReason::Lunch, h.now).unwrap();
    let err =
        h.p.reserve(&a, call("c1"), None, secs(10), h.now)
            .unwrap_err();
    assert!(matches!(
        err,
        PresenceError::NotAvailable {
            state: AgentState::Paused { .. },
            ..
        }
    ));

    h.p.logout(&a, h.now).unwrap();
    let err =
        h.p.reserve(&a, call("c1"), None, secs(10), h.now)
            .unwrap_err();
    assert!(matches!(
        err,
        PresenceError::NotAvailable {
            state: AgentState::Offline,
            ..
        }
    ));
}

#[test]
fn reservation_expires_by_itself_at_its_deadline() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    let r = h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    assert_eq!(h.p.poll_timeout(), Some(r.until));

    h.p.handle_timeout(r.until - Duration::from_nanos(1));
    assert!(matches!(h.state(&a), AgentState::Reserved { .. }));

    h.p.handle_timeout(r.until);
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(h.p.poll_timeout(), None);
    let last = h.events().pop().unwrap();
    assert!(matches!(
        last,
        PresenceEvent::AgentStateChanged {
            cause: Cause::ReservationExpired,
            to: AgentState::Available,
            ..
        }
    ));
}

#[test]
fn an_input_after_the_deadline_sees_the_reservation_expired_even_without_a_timer() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.advance(secs(5));
    // The owner's timer has not fired yet; the next reserve must still win.
    let r = h.p.reserve(&a, call("c2"), None, secs(5), h.now).unwrap();
    assert_eq!(r.call, call("c2"));
    // And the late confirmation of the expired call is stale.
    let err = h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap_err();
    assert!(matches!(err, PresenceError::StaleCall { .. }));
}

#[test]
fn confirmed_ringing_no_longer_expires() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    assert_eq!(h.p.poll_timeout(), None);
    h.advance_and_fire(secs(60));
    assert_eq!(h.state(&a), AgentState::Ringing { call: call("c1") });
}

#[test]
fn expiry_returns_to_offline_when_the_device_left_meanwhile() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.device_gone(&a, &"alice-phone".into(), h.now).unwrap();
    assert!(matches!(h.state(&a), AgentState::Reserved { .. }));
    h.advance_and_fire(secs(5));
    assert_eq!(h.state(&a), AgentState::Offline);
}

#[test]
fn ttl_must_be_positive_and_bounded() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let max = h.p.config().max_reservation_ttl;
    for ttl in [Duration::ZERO, max + Duration::from_nanos(1), Duration::MAX] {
        let err = h.p.reserve(&a, call("c1"), None, ttl, h.now).unwrap_err();
        assert_eq!(err, PresenceError::InvalidTtl { ttl, max });
    }
    h.p.reserve(&a, call("c1"), None, max, h.now).unwrap();
}

#[test]
fn unknown_agent_is_a_typed_error() {
    let mut h = Harness::new();
    let ghost = AgentId::from("ghost");
    let err =
        h.p.reserve(&ghost, call("c1"), None, secs(5), h.now)
            .unwrap_err();
    assert_eq!(err, PresenceError::UnknownAgent(ghost.clone()));
    assert_eq!(
        h.p.state(&ghost).unwrap_err(),
        PresenceError::UnknownAgent(ghost)
    );
}

#[test]
fn stale_call_ids_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let r = h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.events();
    let before = h.state(&a);
    let wrong = call("old");
    let errs = [
        h.p.confirm_ringing(&a, &wrong, h.now).unwrap_err(),
        h.p.answered(&a, &wrong, h.now).unwrap_err(),
        h.p.released(&a, &wrong, h.now).unwrap_err(),
        h.p.call_ended(&a, &wrong, secs(10), h.now).unwrap_err(),
    ];
    for err in errs {
        assert_eq!(
            err,
            PresenceError::StaleCall {
                agent: a.clone(),
                call: wrong.clone(),
                state: before.clone()
            }
        );
    }
    assert_eq!(h.state(&a), before);
    assert_eq!(h.p.poll_timeout(), Some(r.until));
    assert!(h.events().is_empty());
}

#[test]
fn call_inputs_on_an_idle_agent_are_stale() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let err = h.p.answered(&a, &call("c1"), h.now).unwrap_err();
    assert_eq!(
        err,
        PresenceError::StaleCall {
            agent: a,
            call: call("c1"),
            state: AgentState::Available
        }
    );
}

#[test]
fn released_after_answer_is_refused_use_call_ended() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    let err = h.p.released(&a, &call("c1"), h.now).unwrap_err();
    assert_eq!(
        err,
        PresenceError::InvalidTransition {
            agent: a.clone(),
            call: call("c1"),
            input: CallInput::Released,
            state: AgentState::OnCall { call: call("c1") },
        }
    );
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
}

#[test]
fn released_returns_the_agent_to_available() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    h.p.released(&a, &call("c1"), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
    // A duplicate release is now stale.
    assert!(matches!(
        h.p.released(&a, &call("c1"), h.now),
        Err(PresenceError::StaleCall { .. })
    ));
}

#[test]
fn the_same_call_may_reserve_several_agents() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let b = h.ready_agent("bob");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.reserve(&b, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.released(&b, &call("c1"), h.now).unwrap();
    assert_eq!(h.state(&b), AgentState::Available);
    assert_eq!(
        h.p.available_agents()
            .map(|x| x.id().clone())
            .collect::<Vec<_>>(),
        vec![b]
    );
}
