//! The presence actor on a paused tokio clock: its timers fire by themselves, events stream
//! in sequence order, a watcher resumes from a sequence, and history has a bounded memory.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_common::Shutdown;
use cc_common::config::DEMO_TOML;
use cc_presence::core::{
    AgentConfig, AgentId, AgentState, CallId, Cause, Device, DeviceId, DeviceKind, PauseReason,
    PresenceEvent,
};
use cc_presence::{EventStream, PresenceHandle, PresenceService, ServiceError, Settings};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn phone(contact: &str) -> Device {
    Device {
        id: DeviceId::new(contact),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: contact.into(),
        },
        edge: None,
    }
}

async fn start(history: usize) -> (PresenceService, cc_common::shutdown::ShutdownTrigger) {
    let (trigger, shutdown) = Shutdown::new();
    let agents = vec![
        AgentConfig::new("anna", "Anna Kowalska"),
        AgentConfig::new("piotr", "Piotr Nowak"),
    ];
    let settings = Settings {
        history,
        ..Settings::default()
    };
    let service = PresenceService::start_with(agents, settings, shutdown)
        .await
        .unwrap();
    (service, trigger)
}

async fn ready(p: &PresenceHandle, id: &str) -> AgentId {
    let id = AgentId::new(id);
    p.login(&id).await.unwrap();
    let agent = p
        .device_registered(&id, phone(&format!("sip:{id}@127.0.0.1")))
        .await
        .unwrap();
    assert_eq!(agent.state(), &AgentState::Available);
    id
}

async fn next(events: &mut EventStream) -> PresenceEvent {
    tokio::time::timeout(secs(1), events.recv())
        .await
        .expect("an event within a second")
        .expect("the stream is open")
        .expect("not an error")
}

fn change(e: &PresenceEvent) -> (u64, String, AgentState, Cause) {
    match e {
        PresenceEvent::AgentStateChanged {
            seq,
            agent,
            to,
            cause,
            ..
        } => (*seq, agent.to_string(), to.clone(), *cause),
        other => panic!("not a state change: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_reservation_expires_by_itself() {
    let (service, _trigger) = start(64).await;
    let p = service.handle();
    let anna = ready(&p, "anna").await;
    let mut events = p.watch(0).await.unwrap();
    let reserved = p
        .reserve(&anna, CallId::new("c1"), None, secs(10))
        .await
        .unwrap();
    assert!(matches!(reserved.state(), AgentState::Reserved { .. }));
    assert_eq!(change(&next(&mut events).await).3, Cause::Reserved);

    tokio::time::sleep(secs(9)).await;
    assert!(matches!(
        p.agent(&anna).await.unwrap().state(),
        AgentState::Reserved { .. }
    ));
    tokio::time::sleep(secs(2)).await;
    let (_, who, to, cause) = change(&next(&mut events).await);
    assert_eq!(
        (who.as_str(), to, cause),
        ("anna", AgentState::Available, Cause::ReservationExpired)
    );
    assert_eq!(
        p.agent(&anna).await.unwrap().state(),
        &AgentState::Available
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_earlier_deadline_is_not_slept_past() {
    let (service, _trigger) = start(64).await;
    let p = service.handle();
    let anna = ready(&p, "anna").await;
    let piotr = ready(&p, "piotr").await;
    // The timer is armed for anna's 60 s first; piotr's 5 s must re-arm it earlier.
    p.reserve(&anna, CallId::new("c1"), None, secs(60))
        .await
        .unwrap();
    p.reserve(&piotr, CallId::new("c2"), None, secs(5))
        .await
        .unwrap();
    let mut events = p.watch(0).await.unwrap();
    tokio::time::sleep(secs(6)).await;
    let (_, who, to, _) = change(&next(&mut events).await);
    assert_eq!((who.as_str(), to), ("piotr", AgentState::Available));
    assert!(matches!(
        p.agent(&anna).await.unwrap().state(),
        AgentState::Reserved { .. }
    ));
    tokio::time::sleep(secs(55)).await;
    let (_, who, to, _) = change(&next(&mut events).await);
    assert_eq!((who.as_str(), to), ("anna", AgentState::Available));
}

#[tokio::test(start_paused = true)]
async fn events_stream_in_sequence_order() {
    let (service, _trigger) = start(64).await;
    let p = service.handle();
    let mut events = p.watch(0).await.unwrap();
    let anna = ready(&p, "anna").await;
    p.pause(&anna, PauseReason::Lunch).await.unwrap();
    p.resume(&anna).await.unwrap();
    p.logout(&anna).await.unwrap();

    let mut got = Vec::new();
    for _ in 0..4 {
        let e = next(&mut events).await;
        let (seq, _, to, cause) = change(&e);
        got.push((seq, to, cause));
    }
    // Two AgentAdded events (1, 2) came before the watch; login alone changes nothing
    // (no device yet), so the device is the first change.
    assert_eq!(
        got,
        vec![
            (3, AgentState::Available, Cause::DeviceRegistered),
            (
                4,
                AgentState::Paused {
                    reason: PauseReason::Lunch
                },
                Cause::Pause
            ),
            (5, AgentState::Available, Cause::Resume),
            (6, AgentState::Offline, Cause::Logout),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_watcher_resumes_from_a_sequence() {
    let (service, _trigger) = start(64).await;
    let p = service.handle();
    let anna = ready(&p, "anna").await; // seq 3
    p.pause(&anna, PauseReason::Break).await.unwrap(); // seq 4
    p.resume(&anna).await.unwrap(); // seq 5

    // From the start: both AgentAdded events are replayed first.
    let mut all = p.watch(1).await.unwrap();
    let first = next(&mut all).await;
    assert!(
        matches!(first, PresenceEvent::AgentAdded { seq: 1, .. }),
        "{first:?}"
    );

    let mut events = p.watch(4).await.unwrap();
    assert_eq!(change(&next(&mut events).await).0, 4);
    assert_eq!(change(&next(&mut events).await).0, 5);
    // Then live, without a gap or a repeat.
    p.logout(&anna).await.unwrap();
    assert_eq!(
        change(&next(&mut events).await),
        (6, "anna".to_string(), AgentState::Offline, Cause::Logout)
    );
    // Resuming at the next sequence replays nothing and waits for it.
    let mut caught_up = p.watch(7).await.unwrap();
    p.login(&anna).await.unwrap();
    assert_eq!(change(&next(&mut caught_up).await).0, 7);
}

#[tokio::test(start_paused = true)]
async fn a_sequence_outside_the_history_is_refused() {
    let (service, _trigger) = start(3).await;
    let p = service.handle();
    let anna = ready(&p, "anna").await; // seq 3
    p.pause(&anna, PauseReason::Break).await.unwrap(); // 4
    p.resume(&anna).await.unwrap(); // 5: history holds 3..=5
    assert_eq!(
        p.watch(2).await.err(),
        Some(ServiceError::SequenceTooOld {
            requested: 2,
            oldest: 3
        })
    );
    assert_eq!(
        p.watch(9).await.err(),
        Some(ServiceError::SequenceAhead {
            requested: 9,
            next: 6
        })
    );
    assert!(p.watch(3).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn unknown_agents_and_bad_inputs_change_nothing() {
    let (service, _trigger) = start(64).await;
    let p = service.handle();
    let nobody = AgentId::new("nobody");
    assert!(matches!(
        p.login(&nobody).await,
        Err(ServiceError::Presence(
            cc_presence::core::PresenceError::UnknownAgent(_)
        ))
    ));
    let anna = AgentId::new("anna");
    assert!(matches!(
        p.pause(&anna, PauseReason::Break).await,
        Err(ServiceError::Presence(
            cc_presence::core::PresenceError::NotLoggedIn(_)
        ))
    ));
    assert_eq!(p.agent(&anna).await.unwrap().state(), &AgentState::Offline);
}

#[tokio::test(start_paused = true)]
async fn employees_become_agents_and_shutdown_ends_watchers() {
    let config = cc_common::Config::from_toml(DEMO_TOML).unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let service = PresenceService::start(cc_common::config::fixed(config.clone()), None, shutdown)
        .await
        .unwrap();
    let p = service.handle();
    let agents = p.agents().await.unwrap();
    let ids: Vec<&str> = agents.iter().map(|a| a.id().as_str()).collect();
    let mut expected: Vec<&str> = config.employees.iter().map(|e| e.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(agents.iter().all(|a| a.state() == &AgentState::Offline));

    let mut events = p.watch(0).await.unwrap();
    trigger.trigger();
    service.stopped().await;
    assert!(
        events.recv().await.is_none(),
        "the stream ends with presence"
    );
    assert_eq!(p.agents().await.err(), Some(ServiceError::Stopped));
}

#[tokio::test(start_paused = true)]
async fn employees_added_and_removed_at_run_time_follow_into_presence() {
    use cc_common::Config;
    use cc_presence::adapters::{Extensions, SipDevices};

    let demo = Config::from_toml(DEMO_TOML).unwrap();
    let (publish, watch) = tokio::sync::watch::channel(std::sync::Arc::new(demo.clone()));
    let (_trigger, shutdown) = Shutdown::new();
    let service = PresenceService::start(watch.clone(), None, shutdown)
        .await
        .unwrap();
    let p = service.handle();
    let devices = SipDevices::new(p.clone(), Extensions::following(watch));
    assert!(
        !devices
            .registered("204", "sip:204@127.0.0.1", None)
            .await
            .unwrap()
    );

    // Ewa joins; Maria leaves while on a call.
    let maria = AgentId::new("maria");
    p.login(&maria).await.unwrap();
    p.device_registered(&maria, phone("sip:203@127.0.0.1"))
        .await
        .unwrap();
    let call = CallId::new("c1");
    p.reserve(&maria, call.clone(), None, secs(10))
        .await
        .unwrap();
    p.apply(&maria, cc_presence::Command::Answered(call.clone()))
        .await
        .unwrap();
    let mut next = demo.clone();
    next.employees.retain(|e| e.id.as_str() != "maria");
    next.departments[1].members.retain(|m| m != "maria");
    let mut ewa = next.employees[0].clone();
    ewa.id = "ewa".into();
    ewa.name = "Ewa".into();
    ewa.extension = "204".into();
    next.employees.push(ewa);
    next.check().unwrap();
    publish.send_replace(std::sync::Arc::new(next));
    tokio::time::sleep(secs(1)).await;

    let ids: Vec<String> = p
        .agents()
        .await
        .unwrap()
        .iter()
        .map(|a| a.id().to_string())
        .collect();
    assert_eq!(ids, ["anna", "ewa", "maria", "piotr"]);
    assert!(p.agent(&maria).await.unwrap().retiring());
    // Ewa's phone is hers at once.
    assert!(
        devices
            .registered("204", "sip:204@127.0.0.1", None)
            .await
            .unwrap()
    );
    assert_eq!(
        p.agent(&AgentId::new("ewa"))
            .await
            .unwrap()
            .devices()
            .count(),
        1
    );

    // Maria's call ends: she leaves presence, and the call's owner hears it went well.
    let last = p
        .apply(
            &maria,
            cc_presence::Command::CallEnded {
                call,
                wrap_up: secs(5),
            },
        )
        .await
        .unwrap();
    assert_eq!(last.state(), &AgentState::Offline);
    assert!(matches!(
        p.agent(&maria).await,
        Err(ServiceError::Presence(
            cc_presence::core::PresenceError::UnknownAgent(_)
        ))
    ));
}
