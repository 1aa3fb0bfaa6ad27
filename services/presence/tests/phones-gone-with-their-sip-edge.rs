//! A phone's registration lives in the sip-edge node it registered with; when that node is
//! gone for good (`edge_gone`), its phones are gone too, each as if it had gone away by
//! itself: an agent left with no phone is Offline (after the call, if in another edge's
//! call), one with a phone on a live edge stays Available. Phones with no known edge, and
//! phones that moved to another node, stay.
#![allow(clippy::unwrap_used)]

mod common;

use cc_presence::core::{
    AgentConfig, AgentId, AgentState, Cause, Device, DeviceId, DeviceKind, EdgeCleared, EdgeNode,
    PauseReason, PresenceError, PresenceEvent,
};
use common::{Harness, call, secs, sip, sip_on};

fn node(name: &str) -> EdgeNode {
    EdgeNode::new(name)
}

/// Adds an agent, logs them in and registers `phones`.
fn agent_with(h: &mut Harness, name: &str, phones: &[Device]) -> AgentId {
    let id = AgentId::new(name);
    h.p.add_agent(AgentConfig::new(name, name), h.now).unwrap();
    h.p.login(&id, h.now).unwrap();
    for phone in phones {
        h.p.device_registered(&id, phone.clone(), h.now).unwrap();
    }
    id
}

fn device_ids(h: &Harness, id: &AgentId) -> Vec<DeviceId> {
    h.p.agent(id)
        .unwrap()
        .devices()
        .map(|d| d.id.clone())
        .collect()
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

#[test]
fn an_agent_whose_only_phone_was_on_the_dead_edge_goes_offline() {
    let mut h = Harness::new();
    let a = agent_with(&mut h, "alice", &[sip_on("desk", "e1")]);
    assert_eq!(h.state(&a), AgentState::Available);
    h.events();

    h.advance(secs(30));
    let cleared = h.p.edge_gone(&node("e1"), h.now);
    assert_eq!(
        cleared,
        EdgeCleared {
            freed: vec![],
            devices: vec![(a.clone(), DeviceId::new("desk"))],
        }
    );
    assert_eq!(
        changes(&mut h),
        [(a.clone(), Cause::DeviceGone, AgentState::Offline)]
    );
    assert_eq!(device_ids(&h, &a), []);
    // Still logged in: the phone registering again (anywhere) makes her Available.
    assert!(h.p.agent(&a).unwrap().logged_in());
    assert!(h.p.reserve(&a, call("c1"), None, secs(5), h.now).is_err());
    h.p.device_registered(&a, sip_on("desk", "e2"), h.now)
        .unwrap();
    assert_eq!(h.state(&a), AgentState::Available);

    // Gone twice: nothing left on it.
    assert_eq!(h.p.edge_gone(&node("e1"), h.now), EdgeCleared::default());
}

#[test]
fn an_agent_with_a_phone_on_a_live_edge_stays_available_with_it() {
    let mut h = Harness::new();
    let a = agent_with(
        &mut h,
        "alice",
        &[sip_on("desk", "e1"), sip_on("soft", "e2")],
    );
    h.events();

    let cleared = h.p.edge_gone(&node("e1"), h.now);
    assert_eq!(cleared.devices, [(a.clone(), DeviceId::new("desk"))]);
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(device_ids(&h, &a), [DeviceId::new("soft")]);
    assert!(h.events().is_empty(), "no state change");
    let device = h.p.agent(&a).unwrap().devices().next().cloned().unwrap();
    assert_eq!(device.edge, Some(node("e2")));
}

#[test]
fn a_phone_that_moved_to_another_edge_or_to_an_unknown_one_survives_the_old_one() {
    let mut h = Harness::new();
    let a = agent_with(
        &mut h,
        "alice",
        &[sip_on("desk", "e1"), sip_on("soft", "e1")],
    );
    // Re-registered through e2 (the phone failed over): the same device, now on e2.
    h.p.device_registered(&a, sip_on("desk", "e2"), h.now)
        .unwrap();
    // Refreshed through a node that does not say its name: the edge is no longer known.
    h.p.device_registered(&a, sip("soft"), h.now).unwrap();
    assert_eq!(
        device_ids(&h, &a).len(),
        2,
        "re-registrations, not new devices"
    );
    h.events();

    assert_eq!(h.p.edge_gone(&node("e1"), h.now), EdgeCleared::default());
    assert_eq!(h.state(&a), AgentState::Available);
    assert_eq!(
        device_ids(&h, &a),
        [DeviceId::new("desk"), DeviceId::new("soft")]
    );

    assert_eq!(h.p.edge_gone(&node("e2"), h.now).devices.len(), 1);
    assert_eq!(device_ids(&h, &a), [DeviceId::new("soft")]);
    assert_eq!(h.state(&a), AgentState::Available);
    assert!(h.events().is_empty());
}

#[test]
fn an_agent_whose_call_and_only_phone_were_on_the_dead_edge_goes_straight_offline() {
    let mut h = Harness::new();
    let a = agent_with(&mut h, "alice", &[sip_on("desk", "e1")]);
    let b = agent_with(&mut h, "bob", &[sip_on("desk-b", "e2")]);
    for (id, c) in [(&a, "c1"), (&b, "c2")] {
        h.p.reserve(id, call(c), Some(node("e1")), secs(5), h.now)
            .unwrap();
        h.p.answered(id, &call(c), h.now).unwrap();
    }
    h.events();

    let cleared = h.p.edge_gone(&node("e1"), h.now);
    assert_eq!(
        cleared,
        EdgeCleared {
            freed: vec![a.clone(), b.clone()],
            devices: vec![(a.clone(), DeviceId::new("desk"))],
        }
    );
    // One change each: alice never shows Available with a phone nobody can ring.
    assert_eq!(
        changes(&mut h),
        [
            (a.clone(), Cause::EdgeGone, AgentState::Offline),
            (b.clone(), Cause::EdgeGone, AgentState::Available),
        ]
    );
}

#[test]
fn losing_the_phone_during_another_edges_call_takes_effect_when_the_call_ends() {
    let mut h = Harness::new();
    let a = agent_with(&mut h, "alice", &[sip_on("desk", "e1")]);
    h.p.reserve(&a, call("c1"), Some(node("e2")), secs(5), h.now)
        .unwrap();
    h.p.answered(&a, &call("c1"), h.now).unwrap();
    h.events();

    let cleared = h.p.edge_gone(&node("e1"), h.now);
    assert_eq!(cleared.freed, []);
    assert_eq!(cleared.devices.len(), 1);
    assert_eq!(h.state(&a), AgentState::OnCall { call: call("c1") });
    assert!(h.events().is_empty());

    // No wrap-up for an agent with no phone.
    h.p.call_ended(&a, &call("c1"), secs(30), h.now).unwrap();
    assert_eq!(h.state(&a), AgentState::Offline);
}

#[test]
fn wrap_up_and_pause_end_offline_when_the_last_phone_goes() {
    let mut h = Harness::new();
    let wrapping = agent_with(&mut h, "alice", &[sip_on("desk-a", "e1")]);
    let paused = agent_with(&mut h, "bob", &[sip_on("desk-b", "e1")]);
    let untouched = agent_with(&mut h, "carol", &[sip("desk-c")]);
    let browser = agent_with(
        &mut h,
        "dave",
        &[Device {
            id: DeviceId::new("tab"),
            kind: DeviceKind::Browser,
            edge: None,
        }],
    );
    h.p.reserve(&wrapping, call("c1"), None, secs(5), h.now)
        .unwrap();
    h.p.answered(&wrapping, &call("c1"), h.now).unwrap();
    h.p.call_ended(&wrapping, &call("c1"), secs(60), h.now)
        .unwrap();
    assert!(matches!(h.state(&wrapping), AgentState::WrapUp { .. }));
    h.p.pause(&paused, PauseReason::Lunch, h.now).unwrap();
    h.events();

    let cleared = h.p.edge_gone(&node("e1"), h.now);
    assert_eq!(
        cleared.devices,
        [
            (wrapping.clone(), DeviceId::new("desk-a")),
            (paused.clone(), DeviceId::new("desk-b")),
        ]
    );
    assert_eq!(
        changes(&mut h),
        [
            (wrapping.clone(), Cause::DeviceGone, AgentState::Offline),
            (paused.clone(), Cause::DeviceGone, AgentState::Offline),
        ]
    );
    assert_eq!(h.p.poll_timeout(), None, "the wrap-up timer went too");
    assert_eq!(h.state(&untouched), AgentState::Available);
    assert_eq!(h.state(&browser), AgentState::Available);
}

#[test]
fn an_empty_or_oversized_device_edge_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let a = agent_with(&mut h, "alice", &[]);
    h.events();
    for bad in [String::new(), "e".repeat(300)] {
        let phone = Device {
            edge: Some(EdgeNode::new(bad)),
            ..sip("desk")
        };
        let e = h.p.device_registered(&a, phone, h.now).unwrap_err();
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
    }
    assert_eq!(device_ids(&h, &a), []);
    assert_eq!(h.state(&a), AgentState::Offline);
    assert!(h.events().is_empty());
}
