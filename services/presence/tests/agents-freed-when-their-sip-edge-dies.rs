//! In a cluster, presence follows the sip-edge nodes registered in the coordinator. When one
//! stays unregistered for the grace period (it died: nobody will ever end its calls), the
//! agents bound to its calls are freed; agents on calls of other edges stay, and an edge
//! that registers again within the grace (its lease was replaced) keeps its agents. The
//! phones registered with the dead edge go with it: an agent with no phone left is Offline,
//! one with a phone on a live edge is Available again.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, MemoryCoordinator, NodeInfo};
use cc_common::config::DEMO_TOML;
use cc_common::{Config, Shutdown, ShutdownTrigger};
use cc_presence::adapters::Extensions;
use cc_presence::control::PresenceControlApi;
use cc_presence::core::{
    AgentConfig, AgentId, AgentState, CallId, Cause, Device, DeviceId, DeviceKind, EdgeNode,
    PresenceEvent,
};
use cc_presence::{EventStream, PresenceHandle, PresenceService, Settings};
use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_server::PresenceControl;
use tonic::Request;

const GRACE: Duration = Duration::from_secs(2);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn edge_info(node: &str) -> NodeInfo {
    NodeInfo {
        service: "sip-edge".into(),
        node: node.into(),
        address: format!("{node}.sip-edge:7000"),
        load: 0,
    }
}

/// Registers a fake sip-edge node (no lease: it goes only when the test deletes it).
async fn register(c: &MemoryCoordinator, node: &str) {
    let info = edge_info(node);
    c.put(&info.key(), serde_json::to_vec(&info).unwrap(), None)
        .await
        .unwrap();
}

async fn unregister(c: &MemoryCoordinator, node: &str) {
    assert!(c.delete(&edge_info(node).key()).await.unwrap());
}

/// Presence with anna and piotr, following the sip-edge nodes of `coordinator`.
async fn presence(coordinator: &MemoryCoordinator) -> (PresenceHandle, ShutdownTrigger) {
    let (trigger, shutdown) = Shutdown::new();
    let agents = vec![
        AgentConfig::new("anna", "Anna Kowalska"),
        AgentConfig::new("piotr", "Piotr Nowak"),
    ];
    let settings = Settings {
        edge_grace: GRACE,
        ..Settings::default()
    };
    let coordinator: Arc<dyn Coordinator> = Arc::new(coordinator.clone());
    let service = PresenceService::start_in_cluster(agents, settings, coordinator, shutdown)
        .await
        .unwrap();
    (service.handle(), trigger)
}

/// Logs the agent in with a phone: Available.
async fn ready(p: &PresenceHandle, id: &str) -> AgentId {
    let agent = AgentId::new(id);
    p.login(&agent).await.unwrap();
    let contact = format!("sip:{id}@127.0.0.1:5070");
    let phone = Device {
        id: DeviceId::new(contact.as_str()),
        kind: DeviceKind::Sip {
            extension: id.into(),
            contact,
        },
        edge: None,
    };
    p.device_registered(&agent, phone).await.unwrap();
    agent
}

/// The queue reserves the agent for a call of `edge`, and the call actor reports it answered.
async fn talking(api: &PresenceControlApi, agent: &str, call: &str, edge: &str) {
    api.reserve(Request::new(pb::ReserveRequest {
        agent_id: agent.into(),
        call_id: call.into(),
        ttl_ms: 20_000,
        edge_node: edge.into(),
    }))
    .await
    .unwrap();
    api.answered(Request::new(pb::AgentCall {
        agent_id: agent.into(),
        call_id: call.into(),
    }))
    .await
    .unwrap();
}

async fn state(p: &PresenceHandle, agent: &AgentId) -> AgentState {
    p.agent(agent).await.unwrap().state().clone()
}

/// The next state change of the stream, within `within` (on the paused clock).
async fn next_change(events: &mut EventStream, within: Duration) -> (AgentId, AgentState, Cause) {
    loop {
        let event = tokio::time::timeout(within, events.recv())
            .await
            .expect("a change in time")
            .expect("the stream is open")
            .expect("not an error");
        if let PresenceEvent::AgentStateChanged {
            agent, to, cause, ..
        } = event
        {
            return (agent, to, cause);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_agents_of_a_dead_edge_are_freed_after_the_grace_and_the_others_stay() {
    let coordinator = MemoryCoordinator::default();
    register(&coordinator, "e1").await;
    register(&coordinator, "e2").await;
    let (p, _trigger) = presence(&coordinator).await;
    let api = PresenceControlApi::new(p.clone(), Extensions::default());
    let anna = ready(&p, "anna").await;
    let piotr = ready(&p, "piotr").await;
    talking(&api, "anna", "c1", "e1").await;
    talking(&api, "piotr", "c2", "e2").await;
    let on_c1 = AgentState::OnCall {
        call: CallId::new("c1"),
    };
    let on_c2 = AgentState::OnCall {
        call: CallId::new("c2"),
    };
    assert_eq!(state(&p, &anna).await, on_c1);
    // On the paused clock, time moves only once every task is idle: presence's follower
    // has read the membership (e1 and e2) by then.
    tokio::time::sleep(secs(1)).await;
    let mut events = p.watch(0).await.unwrap();

    // e1 is SIGKILLed: its lease expires and its registration vanishes.
    unregister(&coordinator, "e1").await;
    tokio::time::sleep(GRACE / 2).await;
    assert_eq!(state(&p, &anna).await, on_c1, "still within the grace");

    let (agent, to, cause) = next_change(&mut events, GRACE).await;
    assert_eq!(
        (agent, to, cause),
        (anna.clone(), AgentState::Available, Cause::EdgeGone)
    );
    assert_eq!(state(&p, &anna).await, AgentState::Available);
    assert_eq!(p.agent(&anna).await.unwrap().edge(), None);
    assert_eq!(state(&p, &piotr).await, on_c2);

    // Anna can take the next call at once; piotr's edge lives on, and so does his call.
    tokio::time::sleep(GRACE * 5).await;
    assert_eq!(state(&p, &piotr).await, on_c2);
    talking(&api, "anna", "c3", "e2").await;
    assert_eq!(
        state(&p, &anna).await,
        AgentState::OnCall {
            call: CallId::new("c3")
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_edge_that_registers_again_within_the_grace_keeps_its_agents() {
    let coordinator = MemoryCoordinator::default();
    register(&coordinator, "e1").await;
    let (p, _trigger) = presence(&coordinator).await;
    let api = PresenceControlApi::new(p.clone(), Extensions::default());
    let anna = ready(&p, "anna").await;
    talking(&api, "anna", "c1", "e1").await;
    tokio::time::sleep(secs(1)).await;

    // Its lease was replaced: the registration vanishes and comes back under the new one.
    unregister(&coordinator, "e1").await;
    tokio::time::sleep(GRACE / 2).await;
    register(&coordinator, "e1").await;
    tokio::time::sleep(GRACE * 5).await;
    assert_eq!(
        state(&p, &anna).await,
        AgentState::OnCall {
            call: CallId::new("c1")
        }
    );

    // When e1 does die, a call with no known edge is not freed with it.
    let piotr = ready(&p, "piotr").await;
    talking(&api, "piotr", "c2", "").await;
    unregister(&coordinator, "e1").await;
    tokio::time::sleep(GRACE * 2).await;
    assert_eq!(state(&p, &anna).await, AgentState::Available);
    assert_eq!(
        state(&p, &piotr).await,
        AgentState::OnCall {
            call: CallId::new("c2")
        }
    );
}

/// sip-edge's registrar reports a phone for `extension` registered with `edge`.
async fn phone_on(api: &PresenceControlApi, extension: &str, contact: &str, edge: &str) {
    let registered = api
        .device_registered(Request::new(pb::DeviceRequest {
            extension: extension.into(),
            contact: contact.into(),
            edge_node: edge.into(),
        }))
        .await
        .unwrap();
    assert!(registered.into_inner().agent, "{extension} is an agent's");
}

#[tokio::test(start_paused = true)]
async fn the_phones_of_a_dead_edge_go_with_it_and_its_freed_agents_rest_accordingly() {
    let coordinator = MemoryCoordinator::default();
    register(&coordinator, "e1").await;
    register(&coordinator, "e2").await;
    let (p, _trigger) = presence(&coordinator).await;
    // The demo employees: anna is extension 201, piotr 202.
    let demo = Config::from_toml(DEMO_TOML).unwrap();
    let api = PresenceControlApi::new(p.clone(), Extensions::from_config(&demo));
    let anna = AgentId::new("anna");
    let piotr = AgentId::new("piotr");
    p.login(&anna).await.unwrap();
    p.login(&piotr).await.unwrap();
    // Anna's only phone is on e1; piotr has a desk phone on e1 and a softphone on e2.
    phone_on(&api, "201", "sip:201@10.0.0.5:5060", "e1").await;
    phone_on(&api, "202", "sip:202@10.0.0.6:5060", "e1").await;
    phone_on(&api, "202", "sip:202@10.0.0.7:5060", "e2").await;
    assert_eq!(state(&p, &anna).await, AgentState::Available);
    // Both talk on calls e1 carries.
    talking(&api, "anna", "c1", "e1").await;
    talking(&api, "piotr", "c2", "e1").await;
    tokio::time::sleep(secs(1)).await;
    let mut events = p.watch(0).await.unwrap();

    unregister(&coordinator, "e1").await;
    let mut freed = vec![
        next_change(&mut events, GRACE * 2).await,
        next_change(&mut events, GRACE * 2).await,
    ];
    freed.sort_by(|a, b| a.0.cmp(&b.0));
    // Anna never shows Available with a phone nobody can ring.
    assert_eq!(
        freed,
        [
            (anna.clone(), AgentState::Offline, Cause::EdgeGone),
            (piotr.clone(), AgentState::Available, Cause::EdgeGone),
        ]
    );
    assert_eq!(state(&p, &anna).await, AgentState::Offline);
    assert_eq!(p.agent(&anna).await.unwrap().devices().count(), 0);
    let piotr_now = p.agent(&piotr).await.unwrap();
    assert_eq!(piotr_now.state(), &AgentState::Available);
    let phones: Vec<_> = piotr_now
        .devices()
        .map(|d| (d.id.clone(), d.edge.clone()))
        .collect();
    assert_eq!(
        phones,
        [(
            DeviceId::new("sip:202@10.0.0.7:5060"),
            Some(EdgeNode::new("e2"))
        )]
    );

    // Anna's phone registers again through the live edge: she is Available again (still
    // logged in), and can take the next call.
    phone_on(&api, "201", "sip:201@10.0.0.5:5060", "e2").await;
    assert_eq!(state(&p, &anna).await, AgentState::Available);
    talking(&api, "anna", "c3", "e2").await;
    assert_eq!(
        state(&p, &anna).await,
        AgentState::OnCall {
            call: CallId::new("c3")
        }
    );
}
