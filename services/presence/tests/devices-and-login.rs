//! Login and devices are separate facts; an agent needs both to be Available, and losing
//! either during a call takes effect after the call.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_presence::core::{
    AgentConfig, AgentId, AgentState, DeviceId, PauseReason, PresenceConfig, PresenceError,
};
use common::{Harness, call, secs, sip};

fn added(h: &mut Harness, name: &str) -> AgentId {
    h.p.add_agent(AgentConfig::new(name, name), h.now).unwrap();
    AgentId::from(name)
}

#[test]
fn login_without_a_device_stays_offline_until_the_first_device() {
    let mut h = Harness::new();
    let a = added(&mut h, "alice");
    h.p.login(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
    h.p.device_registered(&a, sip("d1"), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn a_device_without_login_stays_offline_until_login() {
    let mut h = Harness::new();
    let a = added(&mut h, "alice");
    h.p.device_registered(&a, sip("d1"), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
    h.p.login(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn losing_the_last_device_goes_offline_by_itself() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.device_registered(&a, sip("d2"), h.now).unwrap();
    h.p.device_gone(&a, &"alice-phone".into(), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available, "one device is left");
    h.p.device_gone(&a, &"d2".into(), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
    assert!(
        h.p.agent(&a).unwrap().logged_in(),
        "still logged in: a device brings them back"
    );
    h.p.device_registered(&a, sip("d3"), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn device_loss_during_a_call_takes_effect_when_it_ends_without_wrap_up() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.device_gone(&a, &"alice-phone".into(), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
    assert_eq!(h.p.poll_timeout(), None);
}

#[test]
fn device_loss_in_wrap_up_goes_offline_at_once() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    h.p.device_gone(&a, &"alice-phone".into(), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
    assert_eq!(h.p.poll_timeout(), None);
}

#[test]
fn re_registration_updates_in_place_and_devices_are_bounded() {
    let mut h = Harness::with_config(PresenceConfig {
        max_devices_per_agent: 2,
        ..Default::default()
    });
    let a = h.ready_agent("alice");
    h.p.device_registered(&a, sip("alice-phone"), h.now)
        .unwrap();
    h.p.device_registered(&a, sip("d2"), h.now).unwrap();
    assert_eq!(h.p.agent(&a).unwrap().devices().count(), 2);
    let err = h.p.device_registered(&a, sip("d3"), h.now).unwrap_err();
    assert_eq!(
        err,
        PresenceError::TooManyDevices {
            agent: a.clone(),
            max: 2
        }
    );
    // Re-registering a known device is still fine at the limit.
    h.p.device_registered(&a, sip("d2"), h.now).unwrap();
}

#[test]
fn an_unknown_device_going_away_is_ignored() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.events();
    h.p.device_gone(&a, &DeviceId::from("never-seen"), h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
    assert!(h.events().is_empty());
}

#[test]
fn logout_during_a_call_is_deferred_to_its_end() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.logout(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
    assert!(!h.p.agent(&a).unwrap().logged_in());
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
}

#[test]
fn logout_during_a_reservation_applies_when_it_expires() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.logout(&a, h.now).unwrap();
    h.advance_and_fire(secs(5));
    assert_eq!(h.state(&a), AgentState::Offline);
}

#[test]
fn login_again_during_the_call_cancels_the_deferred_logout() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.logout(&a, h.now).unwrap();
    h.p.login(&a, h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), Duration::ZERO, h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn logout_in_wrap_up_is_immediate() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.reserve(&a, call("c1"), None, secs(5), h.now).unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    h.p.logout(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
}

#[test]
fn pause_and_resume() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    h.p.pause(&a, PauseReason::Break, h.now).unwrap();
    assert_eq!(
        h.state(&a),
        AgentState::Paused {
            reason: PauseReason::Break
        }
    );
    h.events();
    h.p.pause(&a, PauseReason::Private, h.now).unwrap();
    assert_eq!(
        h.changes(),
        vec![(
            AgentState::Paused {
                reason: PauseReason::Break
            },
            AgentState::Paused {
                reason: PauseReason::Private
            }
        )]
    );
    h.p.pause(&a, PauseReason::Private, h.now).unwrap();
    assert!(h.events().is_empty(), "same reason again is no change");
    h.p.resume(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
    h.events();
    h.p.resume(&a, h.now).unwrap();
    assert!(h.events().is_empty(), "resume is idempotent");
}

#[test]
fn pause_needs_login_and_logout_clears_it() {
    let mut h = Harness::new();
    let a = added(&mut h, "alice");
    assert_eq!(
        h.p.pause(&a, PauseReason::Lunch, h.now),
        Err(PresenceError::NotLoggedIn(a.clone()))
    );
    h.p.login(&a, h.now).unwrap();
    h.p.pause(&a, PauseReason::Lunch, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline, "no device yet");
    h.p.device_registered(&a, sip("d1"), h.now).unwrap();
    assert_eq!(
        h.state(&a),
        AgentState::Paused {
            reason: PauseReason::Lunch
        }
    );
    h.p.logout(&a, h.now).unwrap();
    h.p.login(&a, h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Available);
}

#[test]
fn agents_are_bounded_and_checked() {
    let mut h = Harness::with_config(PresenceConfig {
        max_agents: 2,
        max_text_len: 8,
        ..Default::default()
    });
    added(&mut h, "a");
    added(&mut h, "b");
    let now = h.now;
    assert_eq!(
        h.p.add_agent(AgentConfig::new("a", "A"), now),
        Err(PresenceError::AgentExists("a".into()))
    );
    assert_eq!(
        h.p.add_agent(AgentConfig::new("c", "C"), now),
        Err(PresenceError::TooManyAgents { max: 2 })
    );
    h.p.remove_agent(&"b".into(), now).unwrap();
    assert_eq!(
        h.p.add_agent(AgentConfig::new("", ""), now),
        Err(PresenceError::Empty { field: "agent id" })
    );
    assert_eq!(
        h.p.add_agent(AgentConfig::new("123456789", ""), now),
        Err(PresenceError::TooLong {
            field: "agent id",
            len: 9,
            max: 8
        })
    );
    let a = AgentId::from("a");
    h.p.login(&a, now).unwrap();
    assert!(matches!(
        h.p.device_registered(&a, sip("far-too-long"), now),
        Err(PresenceError::TooLong { .. })
    ));
    assert!(matches!(
        h.p.pause(&a, PauseReason::Other(String::new()), now),
        Err(PresenceError::Empty {
            field: "pause reason"
        })
    ));
    assert_eq!(h.p.len(), 1);
}

#[test]
fn every_input_on_an_unknown_agent_is_a_typed_error() {
    let mut h = Harness::new();
    let x = AgentId::from("x");
    let now = h.now;
    let unknown = PresenceError::UnknownAgent(x.clone());
    assert_eq!(h.p.login(&x, now), Err(unknown.clone()));
    assert_eq!(h.p.logout(&x, now), Err(unknown.clone()));
    assert_eq!(
        h.p.device_registered(&x, sip("d"), now),
        Err(unknown.clone())
    );
    assert_eq!(h.p.device_gone(&x, &"d".into(), now), Err(unknown.clone()));
    assert_eq!(h.p.pause(&x, PauseReason::Break, now), Err(unknown.clone()));
    assert_eq!(h.p.resume(&x, now), Err(unknown.clone()));
    assert_eq!(
        h.p.confirm_ringing(&x, &call("c"), now),
        Err(unknown.clone())
    );
    assert_eq!(h.p.answered(&x, &call("c"), now), Err(unknown.clone()));
    assert_eq!(h.p.released(&x, &call("c"), now), Err(unknown.clone()));
    assert_eq!(
        h.p.call_ended(&x, &call("c"), secs(1), now),
        Err(unknown.clone())
    );
    assert_eq!(h.p.remove_agent(&x, now), Err(unknown.clone()));
    assert_eq!(h.p.update_agent(AgentConfig::new("x", "X")), Err(unknown));
    assert!(h.p.is_empty());
}

#[test]
fn update_keeps_state_and_queries_list_agents() {
    let mut h = Harness::new();
    let a = h.ready_agent("alice");
    let b = h.ready_agent("bob");
    added(&mut h, "carol");
    h.p.reserve(&b, call("c1"), None, secs(5), h.now).unwrap();
    h.p.update_agent(AgentConfig::new("bob", "Robert")).unwrap();
    assert_eq!(h.p.agent(&b).unwrap().config().display_name, "Robert");
    assert!(matches!(h.state(&b), AgentState::Reserved { .. }));

    let all: Vec<_> =
        h.p.agents()
            .map(|x| (x.id().as_str().to_owned(), x.state().clone()))
            .collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], ("carol".to_owned(), AgentState::Offline));
    let available: Vec<_> = h.p.available_agents().map(|x| x.id().clone()).collect();
    assert_eq!(available, vec![a]);
}
