//! `cc.presence.internal.v1.PresenceControl` in process, as a call actor reports a queued
//! call: ringing, answer, end with wrap-up, or release; a call the agent is not engaged in
//! is refused and changes nothing. The queue reserves through it (a refusal says whether
//! the agent is taken or unknown), and sip-edge reports phones by extension.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use std::sync::Arc;

use cc_common::config::DEMO_TOML;
use cc_common::{Config, Shutdown};
use cc_presence::adapters::Extensions;
use cc_presence::control::PresenceControlApi;
use cc_presence::core::{
    AgentConfig, AgentId, AgentState, CallId, Device, DeviceId, DeviceKind, EdgeNode,
};
use cc_presence::{PresenceHandle, PresenceService};
use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_server::PresenceControl;
use tonic::{Code, Request};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn report(agent: &str, call: &str) -> Request<pb::AgentCall> {
    Request::new(pb::AgentCall {
        agent_id: agent.into(),
        call_id: call.into(),
    })
}

async fn state(presence: &PresenceHandle) -> AgentState {
    presence
        .agent(&AgentId::new("anna"))
        .await
        .unwrap()
        .state()
        .clone()
}

#[tokio::test(start_paused = true)]
async fn a_reserved_agent_rings_answers_and_wraps_up_or_is_released() {
    let (_trigger, shutdown) = Shutdown::new();
    let agents = vec![AgentConfig::new("anna", "Anna")];
    let presence = PresenceService::start_with(agents, Default::default(), shutdown)
        .await
        .unwrap()
        .handle();
    let anna = AgentId::new("anna");
    presence.login(&anna).await.unwrap();
    let phone = Device {
        id: DeviceId::new("sip:201@127.0.0.1:5070"),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: "sip:201@127.0.0.1:5070".into(),
        },
        edge: None,
    };
    presence.device_registered(&anna, phone).await.unwrap();
    let api = PresenceControlApi::new(presence.clone(), Extensions::default());
    let c1 = CallId::new("c1");

    presence
        .reserve(&anna, c1.clone(), None, secs(20))
        .await
        .unwrap();
    api.confirm_ringing(report("anna", "c1")).await.unwrap();
    api.confirm_ringing(report("anna", "c1"))
        .await
        .expect("repeating the current phase is accepted");
    assert_eq!(
        state(&presence).await,
        AgentState::Ringing { call: c1.clone() }
    );

    let stale = api.answered(report("anna", "c2")).await.unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition);
    assert!(
        stale.message().starts_with("call_id:"),
        "{}",
        stale.message()
    );
    assert_eq!(
        state(&presence).await,
        AgentState::Ringing { call: c1.clone() }
    );
    let unknown = api.answered(report("zoe", "c1")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    for (agent, call, field) in [("", "c1", "agent_id:"), ("anna", "", "call_id:")] {
        let empty = api.answered(report(agent, call)).await.unwrap_err();
        assert_eq!(empty.code(), Code::InvalidArgument);
        assert!(empty.message().starts_with(field), "{}", empty.message());
    }

    api.answered(report("anna", "c1")).await.unwrap();
    assert_eq!(
        state(&presence).await,
        AgentState::OnCall { call: c1.clone() }
    );
    let too_late = api.released(report("anna", "c1")).await.unwrap_err();
    assert_eq!(too_late.code(), Code::FailedPrecondition);

    api.call_ended(Request::new(pb::CallEndedRequest {
        agent_id: "anna".into(),
        call_id: "c1".into(),
        wrap_up_seconds: 10,
    }))
    .await
    .unwrap();
    assert!(matches!(state(&presence).await, AgentState::WrapUp { .. }));
    tokio::time::sleep(secs(9)).await;
    assert!(matches!(state(&presence).await, AgentState::WrapUp { .. }));
    tokio::time::sleep(secs(2)).await;
    assert_eq!(state(&presence).await, AgentState::Available);

    // Rung but not connected (answered elsewhere): back to available at once.
    presence
        .reserve(&anna, CallId::new("c2"), None, secs(20))
        .await
        .unwrap();
    api.confirm_ringing(report("anna", "c2")).await.unwrap();
    api.released(report("anna", "c2")).await.unwrap();
    assert_eq!(state(&presence).await, AgentState::Available);
}

fn reserve(agent: &str, call: &str, ttl_ms: u64) -> Request<pb::ReserveRequest> {
    Request::new(pb::ReserveRequest {
        agent_id: agent.into(),
        call_id: call.into(),
        ttl_ms,
        edge_node: "edge-1".into(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_reservation_succeeds_once_and_a_refusal_says_why() {
    let (_trigger, shutdown) = Shutdown::new();
    let agents = vec![AgentConfig::new("anna", "Anna")];
    let presence = PresenceService::start_with(agents, Default::default(), shutdown)
        .await
        .unwrap()
        .handle();
    let api = PresenceControlApi::new(presence.clone(), Extensions::default());
    let offline = api
        .reserve(reserve("anna", "c1", 20_000))
        .await
        .unwrap_err();
    assert_eq!(offline.code(), Code::FailedPrecondition, "{offline:?}");

    let anna = AgentId::new("anna");
    presence.login(&anna).await.unwrap();
    let phone = Device {
        id: DeviceId::new("sip:201@127.0.0.1:5070"),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: "sip:201@127.0.0.1:5070".into(),
        },
        edge: None,
    };
    presence.device_registered(&anna, phone).await.unwrap();
    for bad in [0, 121_000] {
        let ttl = api.reserve(reserve("anna", "c1", bad)).await.unwrap_err();
        assert_eq!(ttl.code(), Code::InvalidArgument, "{ttl:?}");
        assert!(ttl.message().starts_with("ttl_ms:"), "{}", ttl.message());
    }
    let mut long_edge = reserve("anna", "c1", 20_000);
    long_edge.get_mut().edge_node = "e".repeat(300);
    let long_edge = api.reserve(long_edge).await.unwrap_err();
    assert_eq!(long_edge.code(), Code::InvalidArgument, "{long_edge:?}");
    assert!(
        long_edge.message().starts_with("edge_node:"),
        "{}",
        long_edge.message()
    );
    api.reserve(reserve("anna", "c1", 20_000)).await.unwrap();
    assert!(matches!(
        state(&presence).await,
        AgentState::Reserved { call, .. } if call == CallId::new("c1")
    ));
    let reserved = presence.agent(&anna).await.unwrap();
    assert_eq!(reserved.edge(), Some(&EdgeNode::new("edge-1")));
    let taken = api
        .reserve(reserve("anna", "c2", 20_000))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::FailedPrecondition, "{taken:?}");
    let unknown = api.reserve(reserve("zoe", "c2", 20_000)).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    // Unconfirmed, the reservation frees the agent by itself.
    tokio::time::sleep(secs(21)).await;
    assert_eq!(state(&presence).await, AgentState::Available);
}

#[tokio::test(start_paused = true)]
async fn phones_are_reported_by_extension_and_presence_finds_the_agent() {
    let demo = Config::from_toml(DEMO_TOML).unwrap();
    let anna_extension = demo
        .employees
        .iter()
        .find(|e| e.id.as_str() == "anna")
        .unwrap()
        .extension
        .to_string();
    let (_publish, config) = tokio::sync::watch::channel(Arc::new(demo));
    let (_trigger, shutdown) = Shutdown::new();
    let service = PresenceService::start(config, None, shutdown)
        .await
        .unwrap();
    let presence = service.handle();
    let api = PresenceControlApi::new(presence.clone(), service.extensions());
    let device_on = |extension: &str, contact: &str, edge: &str| {
        Request::new(pb::DeviceRequest {
            extension: extension.into(),
            contact: contact.into(),
            edge_node: edge.into(),
        })
    };
    let device = |extension: &str, contact: &str| device_on(extension, contact, "edge-1");
    let anna = AgentId::new("anna");
    presence.login(&anna).await.unwrap();

    let desk = format!("sip:{anna_extension}@10.0.0.5:5060");
    let registered = api
        .device_registered(device(&anna_extension, &desk))
        .await
        .unwrap();
    assert!(registered.into_inner().agent);
    assert_eq!(state(&presence).await, AgentState::Available);
    api.device_registered(device(&anna_extension, &desk))
        .await
        .expect("a refresh is accepted");
    let soft = format!("sip:{anna_extension}@10.0.0.6:5060");
    api.device_registered(device(&anna_extension, &soft))
        .await
        .unwrap();
    let agent = presence.agent(&anna).await.unwrap();
    assert_eq!(agent.devices().count(), 2, "one device per contact");
    assert!(
        agent
            .devices()
            .all(|d| d.edge == Some(EdgeNode::new("edge-1")))
    );

    // The desk phone failed over to another sip-edge node: its refresh there moves it.
    api.device_registered(device_on(&anna_extension, &desk, "edge-2"))
        .await
        .unwrap();
    let agent = presence.agent(&anna).await.unwrap();
    let edges: Vec<_> = agent
        .devices()
        .map(|d| (d.id.clone(), d.edge.clone()))
        .collect();
    assert_eq!(
        edges,
        [
            (DeviceId::new(desk.as_str()), Some(EdgeNode::new("edge-2"))),
            (DeviceId::new(soft.as_str()), Some(EdgeNode::new("edge-1"))),
        ]
    );
    let long_edge = api
        .device_registered(device_on(&anna_extension, &desk, &"e".repeat(300)))
        .await
        .unwrap_err();
    assert_eq!(long_edge.code(), Code::InvalidArgument, "{long_edge:?}");
    assert!(
        long_edge.message().starts_with("edge_node:"),
        "{}",
        long_edge.message()
    );

    let nobody = api
        .device_registered(device("999", "sip:999@10.0.0.7"))
        .await
        .unwrap();
    assert!(!nobody.into_inner().agent, "not an agent's extension");
    let empty = api.device_gone(device("", &desk)).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("extension:"));

    // A phone going away is named by its contact; the edge in the report does not matter.
    api.device_gone(device_on(&anna_extension, &desk, ""))
        .await
        .unwrap();
    assert_eq!(state(&presence).await, AgentState::Available, "one left");
    let gone = api
        .device_gone(device(&anna_extension, &soft))
        .await
        .unwrap();
    assert!(gone.into_inner().agent);
    assert_eq!(state(&presence).await, AgentState::Offline);
    api.device_gone(device(&anna_extension, &soft))
        .await
        .expect("gone again is accepted: expiry and unregister race");
}

fn in_progress(agent: &str, call: &str, answered: bool) -> Request<pb::CallInProgressRequest> {
    Request::new(pb::CallInProgressRequest {
        agent_id: agent.into(),
        call_id: call.into(),
        answered,
        edge_node: "edge-1".into(),
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn a_call_in_progress_reported_after_a_takeover_binds_the_agent_until_it_ends() {
    let (_trigger, shutdown) = Shutdown::new();
    let agents = vec![AgentConfig::new("anna", "Anna")];
    let presence = PresenceService::start_with(agents, Default::default(), shutdown)
        .await
        .unwrap()
        .handle();
    let api = PresenceControlApi::new(presence.clone(), Extensions::default());
    let c1 = CallId::new("c1");

    // This node has just taken over: it knows neither Anna's login nor her phone.
    api.call_in_progress(in_progress("anna", "c1", false))
        .await
        .unwrap();
    assert_eq!(
        state(&presence).await,
        AgentState::Ringing { call: c1.clone() }
    );
    let ringing = presence.agent(&AgentId::new("anna")).await.unwrap();
    assert_eq!(ringing.edge(), Some(&EdgeNode::new("edge-1")));
    api.call_in_progress(in_progress("anna", "c1", false))
        .await
        .expect("repeating it is accepted");
    let taken = api
        .reserve(reserve("anna", "c2", 20_000))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::FailedPrecondition, "{taken:?}");
    let other = api
        .call_in_progress(in_progress("anna", "c2", true))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::FailedPrecondition, "{other:?}");
    assert!(
        other.message().starts_with("call_id:"),
        "{}",
        other.message()
    );
    let unknown = api
        .call_in_progress(in_progress("zoe", "c1", true))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    for (agent, call, field) in [("", "c1", "agent_id:"), ("anna", "", "call_id:")] {
        let empty = api
            .call_in_progress(in_progress(agent, call, true))
            .await
            .unwrap_err();
        assert_eq!(empty.code(), Code::InvalidArgument);
        assert!(empty.message().starts_with(field), "{}", empty.message());
    }

    // The call's own reports apply as usual.
    api.answered(report("anna", "c1")).await.unwrap();
    assert_eq!(
        state(&presence).await,
        AgentState::OnCall { call: c1.clone() }
    );
    api.call_ended(Request::new(pb::CallEndedRequest {
        agent_id: "anna".into(),
        call_id: "c1".into(),
        wrap_up_seconds: 10,
    }))
    .await
    .unwrap();
    assert_eq!(state(&presence).await, AgentState::Offline, "not logged in");
}
