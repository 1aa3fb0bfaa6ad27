//! proto <-> domain conversion: enums both ways, times in Unix ms, statuses naming fields.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tonic::Code;

use super::*;
use crate::core::{AgentConfig, CallId, Device, DeviceId, DeviceKind, Presence, PresenceConfig};

fn presence_with_anna(now: Instant) -> (Presence, AgentId) {
    let mut p = Presence::new(PresenceConfig::default());
    p.add_agent(AgentConfig::new("anna", "Anna Kowalska"), now)
        .unwrap();
    let anna = AgentId::new("anna");
    p.login(&anna, now).unwrap();
    let device = Device {
        id: DeviceId::new("sip:201@127.0.0.1:5070"),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: "sip:201@127.0.0.1:5070".into(),
        },
        edge: None,
    };
    p.device_registered(&anna, device, now).unwrap();
    (p, anna)
}

#[test]
fn pause_reasons_map_and_text_goes_only_with_other() {
    let r = |reason: pb::PauseReason, text: &str| pause_reason(reason.into(), text.into());
    assert_eq!(r(pb::PauseReason::Lunch, "").unwrap(), PauseReason::Lunch);
    assert_eq!(
        r(pb::PauseReason::NoAnswer, "").unwrap(),
        PauseReason::NoAnswer
    );
    assert_eq!(
        r(pb::PauseReason::Other, "coaching").unwrap(),
        PauseReason::Other("coaching".into())
    );
    let missing = r(pb::PauseReason::Other, "").unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        missing.message().starts_with("text:"),
        "{}",
        missing.message()
    );
    let extra = r(pb::PauseReason::Break, "why").unwrap_err();
    assert!(extra.message().starts_with("text:"), "{}", extra.message());
    let unset = r(pb::PauseReason::Unspecified, "").unwrap_err();
    assert!(
        unset.message().starts_with("reason:"),
        "{}",
        unset.message()
    );
    let unknown = pause_reason(99, String::new()).unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().starts_with("reason: 99"),
        "{}",
        unknown.message()
    );
}

#[test]
fn an_empty_agent_id_is_refused_naming_the_field() {
    let e = agent_id(String::new()).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "agent_id: must not be empty");
    assert_eq!(agent_id("anna".into()).unwrap(), AgentId::new("anna"));
}

#[test]
fn an_agent_shows_state_call_devices_and_unix_times() {
    let start = Instant::now();
    let wall = WallClock::at(start, 1_700_000_000_000);
    let (mut p, anna) = presence_with_anna(start);
    let later = start + Duration::from_secs(3);
    p.reserve(
        &anna,
        CallId::new("c1"),
        None,
        Duration::from_secs(10),
        later,
    )
    .unwrap();
    let a = agent(p.agent(&anna).unwrap(), &wall);
    assert_eq!(a.agent_id, "anna");
    assert_eq!(a.name, "Anna Kowalska");
    assert_eq!(a.state(), pb::AgentState::Reserved);
    assert_eq!(a.call_id, "c1");
    assert!(a.logged_in);
    assert_eq!(a.device_count, 1);
    assert_eq!(a.since_unix_ms, 1_700_000_003_000);
    assert_eq!(a.until_unix_ms, 1_700_000_013_000);
    assert_eq!(a.pause_reason(), pb::PauseReason::Unspecified);
}

#[test]
fn a_paused_agent_shows_the_reason_and_text() {
    let start = Instant::now();
    let wall = WallClock::at(start, 0);
    let (mut p, anna) = presence_with_anna(start);
    p.pause(&anna, PauseReason::Other("coaching".into()), start)
        .unwrap();
    let a = agent(p.agent(&anna).unwrap(), &wall);
    assert_eq!(a.state(), pb::AgentState::Paused);
    assert_eq!(a.pause_reason(), pb::PauseReason::Other);
    assert_eq!(a.pause_text, "coaching");
    assert_eq!(a.call_id, "");
    assert_eq!(a.until_unix_ms, 0);
}

#[test]
fn events_carry_sequence_kind_states_and_cause() {
    let start = Instant::now();
    let wall = WallClock::at(start, 5_000);
    let (mut p, anna) = presence_with_anna(start);
    let added = p.poll_event().unwrap();
    let e = event(&added, &wall);
    assert_eq!((e.sequence, e.kind()), (1, pb::agent_event::Kind::Added));
    assert_eq!(e.to(), pb::AgentState::Offline);
    let available = event(&p.poll_event().unwrap(), &wall);
    assert_eq!(available.sequence, 2);
    assert_eq!(available.kind(), pb::agent_event::Kind::StateChanged);
    assert_eq!(
        (available.from(), available.to(), available.cause()),
        (
            pb::AgentState::Offline,
            pb::AgentState::Available,
            pb::Cause::DeviceRegistered
        )
    );
    assert_eq!(available.unix_ms, 5_000);
    p.reserve(
        &anna,
        CallId::new("c9"),
        None,
        Duration::from_secs(5),
        start,
    )
    .unwrap();
    p.released(&anna, &CallId::new("c9"), start).unwrap();
    let reserved = event(&p.poll_event().unwrap(), &wall);
    assert_eq!(
        (reserved.to(), reserved.call_id.as_str()),
        (pb::AgentState::Reserved, "c9")
    );
    let released = event(&p.poll_event().unwrap(), &wall);
    // The call of the state left is named too, so a watcher can tell which call ended.
    assert_eq!(
        (released.cause(), released.call_id.as_str()),
        (pb::Cause::Released, "c9")
    );
}

#[test]
fn refusals_become_statuses_naming_the_field() {
    let unknown = status(ServiceError::Presence(PresenceError::UnknownAgent(
        AgentId::new("zed"),
    )));
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(unknown.message(), "agent_id: \"zed\" is not an agent");
    let not_in = status(ServiceError::Presence(PresenceError::NotLoggedIn(
        AgentId::new("anna"),
    )));
    assert_eq!(not_in.code(), Code::FailedPrecondition);
    assert!(not_in.message().starts_with("agent_id:"));
    let long = status(ServiceError::Presence(PresenceError::TooLong {
        field: "pause reason",
        len: 300,
        max: 256,
    }));
    assert_eq!(long.code(), Code::InvalidArgument);
    assert!(long.message().starts_with("text:"), "{}", long.message());
    let old = status(ServiceError::SequenceTooOld {
        requested: 1,
        oldest: 50,
    });
    assert_eq!(old.code(), Code::OutOfRange);
    assert!(
        old.message().contains("from_sequence 1"),
        "{}",
        old.message()
    );
    assert_eq!(status(ServiceError::Stopped).code(), Code::Unavailable);
}

/// A queue withdraws an agent from its plan on FAILED_PRECONDITION or NOT_FOUND only, and
/// keeps the plan on anything else: a ttl it got wrong must not read as "agent not free".
#[test]
fn a_refused_reservation_says_whether_the_agent_is_free() {
    let taken = status(ServiceError::Presence(PresenceError::NotAvailable {
        agent: AgentId::new("anna"),
        state: AgentState::Ringing {
            call: CallId::new("c1"),
        },
    }));
    assert_eq!(taken.code(), Code::FailedPrecondition);
    let ttl = status(ServiceError::Presence(PresenceError::InvalidTtl {
        ttl: Duration::ZERO,
        max: Duration::from_secs(120),
    }));
    assert_eq!(ttl.code(), Code::InvalidArgument);
    assert!(ttl.message().starts_with("ttl_ms:"), "{}", ttl.message());
    let long_call = status(ServiceError::Presence(PresenceError::TooLong {
        field: "call id",
        len: 300,
        max: 256,
    }));
    assert!(
        long_call.message().starts_with("call_id:"),
        "{}",
        long_call.message()
    );
}

/// `cc.agents.v1` has no cause for a call restored after a takeover: it shows as the phase
/// the call is in, with its call id.
#[test]
fn a_restored_call_shows_as_ringing_or_answered() {
    let start = Instant::now();
    let wall = WallClock::at(start, 5_000);
    let (mut p, anna) = presence_with_anna(start);
    while p.poll_event().is_some() {}
    p.call_in_progress(&anna, CallId::new("c7"), None, false, start)
        .unwrap();
    p.call_in_progress(&anna, CallId::new("c7"), None, true, start)
        .unwrap();
    let ringing = event(&p.poll_event().unwrap(), &wall);
    assert_eq!(
        (ringing.to(), ringing.cause(), ringing.call_id.as_str()),
        (pb::AgentState::Ringing, pb::Cause::Ringing, "c7")
    );
    let talking = event(&p.poll_event().unwrap(), &wall);
    assert_eq!(
        (talking.to(), talking.cause(), talking.call_id.as_str()),
        (pb::AgentState::OnCall, pb::Cause::Answered, "c7")
    );
    let unavailable = status(ServiceError::Sessions(cc_cluster::Error::Unavailable(
        "etcd down".into(),
    )));
    assert_eq!(unavailable.code(), Code::Unavailable);
}

/// An attended transfer moves the agent's call: the agent stays on call, under the new id;
/// the old call's end is then stale, the new one's puts the agent in wrap-up.
#[test]
fn a_moved_call_keeps_the_agent_on_call_under_its_new_id() {
    let start = Instant::now();
    let (mut p, anna) = presence_with_anna(start);
    p.call_in_progress(&anna, CallId::new("consult"), None, true, start)
        .unwrap();
    p.call_moved(
        &anna,
        &CallId::new("consult"),
        CallId::new("caller"),
        None,
        start,
    )
    .unwrap();
    assert_eq!(
        p.agent(&anna).unwrap().state().call(),
        Some(&CallId::new("caller"))
    );
    // Again (a retried report): nothing changes; from a call the agent is not on: refused.
    p.call_moved(
        &anna,
        &CallId::new("consult"),
        CallId::new("caller"),
        None,
        start,
    )
    .unwrap();
    assert!(matches!(
        p.call_moved(
            &anna,
            &CallId::new("other"),
            CallId::new("third"),
            None,
            start
        ),
        Err(PresenceError::StaleCall { .. })
    ));
    assert!(
        p.call_ended(&anna, &CallId::new("consult"), Duration::ZERO, start)
            .is_err()
    );
    p.call_ended(&anna, &CallId::new("caller"), Duration::from_secs(5), start)
        .unwrap();
    assert!(p.agent(&anna).unwrap().state().call().is_none());
}
