//! Logins and pauses made through the owner's API are mirrored into the coordinator, in
//! order and without the API waiting for it; the node that takes over reads them back
//! (`restore_sessions`) without writing them again. Calls never write.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::testing::Faulty;
use cc_cluster::{Coordinator, Error, MemoryCoordinator, Revision, WatchStream};
use cc_common::config::DEMO_TOML;
use cc_common::{Config, Shutdown, ShutdownTrigger};
use cc_presence::core::{AgentId, AgentState, CallId, Device, DeviceId, DeviceKind, PauseReason};
use cc_presence::{Command, PresenceHandle, PresenceService, SESSIONS_PREFIX, ServiceError};
use serde_json::{Value, json};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A presence node of the demo organisation (anna, piotr, maria) mirroring its sessions into
/// `coordinator`; it runs until the trigger is dropped.
async fn node(coordinator: Option<Arc<dyn Coordinator>>) -> (PresenceHandle, ShutdownTrigger) {
    let (trigger, shutdown) = Shutdown::new();
    let config = cc_common::config::fixed(Config::from_toml(DEMO_TOML).unwrap());
    let service = PresenceService::start(config, coordinator, shutdown)
        .await
        .unwrap();
    (service.handle(), trigger)
}

fn key(agent: &str) -> String {
    format!("{SESSIONS_PREFIX}{agent}")
}

async fn stored(c: &MemoryCoordinator, agent: &str) -> Option<Value> {
    let kv = c.get(&key(agent)).await.unwrap()?;
    Some(serde_json::from_slice(&kv.value).unwrap())
}

/// Waits (on the coordinator's watch, not a sleep) until `agent`'s stored session is
/// `expected`.
async fn until_stored(c: &MemoryCoordinator, agent: &str, expected: Value) {
    let revision = c.list(&key(agent)).await.unwrap().revision;
    if stored(c, agent).await.as_ref() == Some(&expected) {
        return;
    }
    let mut watch: WatchStream = c.watch(&key(agent), revision + 1).await.unwrap();
    let seen = tokio::time::timeout(secs(30), async {
        loop {
            let batch = watch.next().await.unwrap().unwrap();
            for event in batch {
                if let cc_cluster::Event::Put(kv) = event {
                    let value: Value = serde_json::from_slice(&kv.value).unwrap();
                    if value == expected {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "{agent}'s session never became {expected}; it is {:?}",
        stored(c, agent).await
    );
}

/// The coordinator's revision after the writer had every chance to write.
async fn settled_revision(c: &MemoryCoordinator) -> Revision {
    tokio::time::sleep(secs(5)).await;
    c.list(SESSIONS_PREFIX).await.unwrap().revision
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

#[tokio::test(start_paused = true)]
async fn sessions_written_by_the_owner_are_restored_by_the_node_that_takes_over() {
    let store = MemoryCoordinator::default();
    let (a, _a) = node(Some(Arc::new(store.clone()))).await;
    let (anna, piotr, maria) = (
        AgentId::new("anna"),
        AgentId::new("piotr"),
        AgentId::new("maria"),
    );
    a.login(&anna).await.unwrap();
    until_stored(&store, "anna", json!({"logged_in": true, "pause": null})).await;
    a.pause(&anna, PauseReason::Lunch).await.unwrap();
    until_stored(
        &store,
        "anna",
        json!({"logged_in": true, "pause": "PAUSE_REASON_LUNCH"}),
    )
    .await;
    a.login(&piotr).await.unwrap();
    a.pause(&piotr, PauseReason::Other("coaching".into()))
        .await
        .unwrap();
    until_stored(
        &store,
        "piotr",
        json!({"logged_in": true, "pause": "PAUSE_REASON_OTHER", "pause_text": "coaching"}),
    )
    .await;
    a.login(&maria).await.unwrap();
    a.logout(&maria).await.unwrap();
    until_stored(&store, "maria", json!({"logged_in": false, "pause": null})).await;

    // A takes no more part; B takes over with nothing but the coordinator.
    let (b, _b) = node(Some(Arc::new(store.clone()))).await;
    let before = settled_revision(&store).await;
    assert_eq!(b.restore_sessions().await.unwrap(), 3);
    b.device_registered(&anna, phone("sip:anna@10.0.0.5"))
        .await
        .unwrap();
    let anna_b = b.agent(&anna).await.unwrap();
    assert!(anna_b.logged_in());
    assert_eq!(
        anna_b.state(),
        &AgentState::Paused {
            reason: PauseReason::Lunch
        }
    );
    let piotr_b = b.agent(&piotr).await.unwrap();
    assert!(piotr_b.logged_in());
    assert_eq!(
        piotr_b.pause_reason(),
        Some(&PauseReason::Other("coaching".into()))
    );
    assert!(!b.agent(&maria).await.unwrap().logged_in());

    // Restoring again changes nothing, and restoring never writes back.
    let agents = b.agents().await.unwrap();
    assert_eq!(b.restore_sessions().await.unwrap(), 3);
    let again = b.agents().await.unwrap();
    let summary = |agents: &[cc_presence::core::Agent]| {
        agents
            .iter()
            .map(|a| (a.state().clone(), a.since(), a.logged_in()))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&agents), summary(&again));
    assert_eq!(settled_revision(&store).await, before, "restore wrote");

    // B is the owner now: its own changes are mirrored.
    b.resume(&anna).await.unwrap();
    until_stored(&store, "anna", json!({"logged_in": true, "pause": null})).await;
    b.logout(&anna).await.unwrap();
    until_stored(&store, "anna", json!({"logged_in": false, "pause": null})).await;
}

#[tokio::test(start_paused = true)]
async fn calls_and_phones_never_write_sessions() {
    let store = MemoryCoordinator::default();
    let (p, _p) = node(Some(Arc::new(store.clone()))).await;
    let anna = AgentId::new("anna");
    p.login(&anna).await.unwrap();
    until_stored(&store, "anna", json!({"logged_in": true, "pause": null})).await;
    let before = settled_revision(&store).await;

    p.device_registered(&anna, phone("sip:anna@10.0.0.5"))
        .await
        .unwrap();
    let call = CallId::new("c1");
    p.reserve(&anna, call.clone(), None, secs(10))
        .await
        .unwrap();
    p.apply(&anna, Command::ConfirmRinging(call.clone()))
        .await
        .unwrap();
    p.apply(&anna, Command::Answered(call.clone()))
        .await
        .unwrap();
    p.apply(
        &anna,
        Command::CallEnded {
            call,
            wrap_up: secs(3),
        },
    )
    .await
    .unwrap();
    p.call_in_progress(&anna, CallId::new("c2"), None, true)
        .await
        .unwrap();
    assert_eq!(settled_revision(&store).await, before, "a call wrote");
}

#[tokio::test(start_paused = true)]
async fn unknown_agents_and_unreadable_sessions_are_skipped() {
    let store = MemoryCoordinator::default();
    let session = |v: Value| serde_json::to_vec(&v).unwrap();
    for (agent, value) in [
        ("zoe", session(json!({"logged_in": true, "pause": null}))),
        ("anna", b"{not json".to_vec()),
        (
            "maria",
            session(json!({"logged_in": true, "pause": "PAUSE_REASON_SIESTA"})),
        ),
        (
            "piotr",
            session(json!({"logged_in": true, "pause": "PAUSE_REASON_BREAK"})),
        ),
    ] {
        store.put(&key(agent), value, None).await.unwrap();
    }
    let (p, _p) = node(Some(Arc::new(store.clone()))).await;
    assert_eq!(p.restore_sessions().await.unwrap(), 1);
    let piotr = p.agent(&AgentId::new("piotr")).await.unwrap();
    assert_eq!(piotr.pause_reason(), Some(&PauseReason::Break));
    for other in ["anna", "maria"] {
        assert!(!p.agent(&AgentId::new(other)).await.unwrap().logged_in());
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_coordinator_there_is_nothing_to_restore() {
    let (p, _p) = node(None).await;
    p.login(&AgentId::new("anna")).await.unwrap();
    assert_eq!(p.restore_sessions().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_api_never_waits_for_the_coordinator_and_the_latest_session_lands_once_it_is_back() {
    let store = MemoryCoordinator::default();
    // Down: every request fails as etcd out of reach does.
    let flaky = Arc::new(Faulty::over(store.clone()));
    flaky.set_down(true);
    let (p, _p) = node(Some(flaky.clone())).await;
    let anna = AgentId::new("anna");
    let api = async {
        p.login(&anna).await.unwrap();
        p.pause(&anna, PauseReason::Lunch).await.unwrap();
        p.resume(&anna).await.unwrap();
        p.pause(&anna, PauseReason::Break).await.unwrap();
    };
    tokio::time::timeout(Duration::from_millis(100), api)
        .await
        .expect("the API answers while the coordinator is down");
    assert!(matches!(
        p.restore_sessions().await,
        Err(ServiceError::Sessions(Error::Unavailable(_)))
    ));
    assert_eq!(stored(&store, "anna").await, None);

    let from = store.list(SESSIONS_PREFIX).await.unwrap().revision + 1;
    flaky.set_down(false);
    let latest = json!({"logged_in": true, "pause": "PAUSE_REASON_BREAK"});
    until_stored(&store, "anna", latest).await;
    tokio::time::sleep(secs(5)).await;
    let kv = store.get(&key("anna")).await.unwrap().unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision),
        (from, from),
        "coalesced to the latest session, written once"
    );
    assert_eq!(p.restore_sessions().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_change_made_here_is_not_undone_by_an_older_stored_session() {
    let store = MemoryCoordinator::default();
    let logged_out = serde_json::to_vec(&json!({"logged_in": false, "pause": null})).unwrap();
    store.put(&key("anna"), logged_out, None).await.unwrap();
    // Down: every request fails as etcd out of reach does.
    let flaky = Arc::new(Faulty::over(store.clone()));
    flaky.set_down(true);
    let (p, _p) = node(Some(flaky.clone())).await;
    let anna = AgentId::new("anna");
    // Anna logs in here while her login cannot be written yet.
    p.login(&anna).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    flaky.set_down(false);

    assert_eq!(p.restore_sessions().await.unwrap(), 1);
    assert!(p.agent(&anna).await.unwrap().logged_in());
    assert_eq!(
        stored(&store, "anna").await,
        Some(json!({"logged_in": true, "pause": null}))
    );
}
