//! Ringing, answer, end and wrap-up: the timers and where each path lands.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_presence::core::{AgentState, Cause, PauseReason, PresenceError, PresenceEvent};
use common::{Harness, call, secs};

#[test]
fn full_call_goes_through_wrap_up_back_to_available() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    let c = call("c1");
    let r = h.p.reserve(&a, c.clone(), None, secs(5), h.now).unwrap();
    h.advance(secs(1));
    h.p.confirm_ringing(&a, &c, h.now).unwrap();
    h.advance(secs(3));
    h.p.answered(&a, &c, h.now).unwrap();
    h.advance(secs(60));
    h.p.call_ended(&a, &c, secs(30), h.now).unwrap();
    let wrap_end = h.now + secs(30);
    assert_eq!(h.state(&a), AgentState::WrapUp { until: wrap_end });
    assert_eq!(h.p.poll_timeout(), Some(wrap_end));

    h.advance_and_fire(secs(29));
    assert_eq!(h.state(&a), AgentState::WrapUp { until: wrap_end });
    h.advance_and_fire(secs(1));
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(h.p.poll_timeout(), None);

    let causes: Vec<_> = h
        .events()
        .into_iter()
        .map(|e| match e {
            PresenceEvent::AgentStateChanged { cause, to, .. } => (cause, to),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        causes,
        vec![
            (
                Cause::Reserved,
                AgentState::Reserved {
                    call: c.clone(),
                    until: r.until
                }
            ),
            (Cause::Ringing, AgentState::Ringing { call: c.clone() }),
            (Cause::Answered, AgentState::OnCall { call: c.clone() }),
            (Cause::CallEnded, AgentState::WrapUp { until: wrap_end }),
            (Cause::WrapUpEnded, AgentState::Available),
        ]
    );
}

#[test]
fn zero_wrap_up_goes_straight_to_available() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), Duration::ZERO, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(h.p.poll_timeout(), None);
}

#[test]
fn wrap_up_is_capped_at_the_configured_maximum() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), Duration::MAX, h.now)
        .unwrap();
    let max = h.p.config().max_wrap_up;
    assert_eq!(h.state(&a), AgentState::WrapUp { until: h.now + max });
}

#[test]
fn answer_may_overtake_the_ringing_confirmation() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    assert_eq!(h.p.poll_timeout(), None, "answered calls do not expire");
    let err = h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap_err();
    assert!(matches!(err, PresenceError::InvalidTransition { .. }));
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
}

#[test]
fn duplicate_messages_for_the_current_phase_are_no_ops() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    h.events();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    assert!(h.events().is_empty());
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.events();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    assert!(h.events().is_empty());
}

#[test]
fn call_ended_before_answer_acts_as_released_without_wrap_up() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn resume_in_wrap_up_means_ready() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    h.advance(secs(5));
    h.p.resume(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(h.p.poll_timeout(), None, "the wrap-up timer is gone");
}

#[test]
fn pause_in_wrap_up_pauses_at_once() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    h.p.pause(&a, PauseReason::Break, h.now).unwrap();
    assert_eq!(
        h.state(&a),
        AgentState::Paused {
            reason: PauseReason::Break
        }
    );
    h.advance_and_fire(secs(60));
    assert_eq!(
        h.state(&a),
        AgentState::Paused {
            reason: PauseReason::Break
        }
    );
}

#[test]
fn pause_during_a_call_applies_when_it_ends() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.pause(&a, PauseReason::Other("coaching".into()), h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
    assert_eq!(
        h.p.agent(&a).unwrap().pause_reason(),
        Some(&PauseReason::Other("coaching".into()))
    );
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    assert_eq!(
        h.state(&a),
        AgentState::Paused {
            reason: PauseReason::Other("coaching".into())
        }
    );
}

#[test]
fn no_answer_pause_before_release_keeps_the_agent_from_the_next_call() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.confirm_ringing(&a, &call("c1"), h.now).unwrap();
    h.p.pause(&a, PauseReason::NoAnswer, h.now).unwrap();
    h.events();
    h.p.released(&a, &call("c1"), h.now).unwrap();
    assert_eq!(
        h.changes(),
        vec![(
            AgentState::Ringing { call: call("c1") },
            AgentState::Paused {
                reason: PauseReason::NoAnswer
            }
        )]
    );
}

#[test]
fn resume_during_a_call_cancels_the_deferred_pause() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.pause(&a, PauseReason::Lunch, h.now).unwrap();
    h.p.resume(&a, h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), Duration::ZERO, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn an_engaged_agent_cannot_be_removed_but_one_in_wrap_up_can() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    let err = h.p.remove_agent(&a, h.now).unwrap_err();
    assert_eq!(
        err,
        PresenceError::AgentEngaged {
            agent: a.clone(),
            state: AgentState::OnCall { call: call("c1") }
        }
    );
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    h.p.remove_agent(&a, h.now).unwrap();
    assert_eq!(
        h.p.poll_timeout(),
        None,
        "no timer left for a removed agent"
    );
    h.advance_and_fire(secs(60));
    assert!(matches!(h.p.state(&a), Err(PresenceError::UnknownAgent(_))));
}
