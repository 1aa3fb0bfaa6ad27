//! `cc.agents.v1.Agents` in process: requests in, statuses and agents out, and a watch that
//! resumes or is refused by sequence.
#![allow(clippy::unwrap_used)]

use cc_common::Shutdown;
use cc_common::shutdown::ShutdownTrigger;
use cc_presence::api::AgentsApi;
use cc_presence::core::{AgentConfig, AgentId, Device, DeviceId, DeviceKind};
use cc_presence::{PresenceService, Settings};
use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_server::Agents;
use tokio_stream::StreamExt;
use tonic::{Code, Request};

/// The API over a fresh presence with anna, and the trigger that keeps it running.
async fn api() -> (AgentsApi, PresenceService, ShutdownTrigger) {
    let (trigger, shutdown) = Shutdown::new();
    let agents = vec![AgentConfig::new("anna", "Anna Kowalska")];
    let settings = Settings {
        history: 4,
        ..Settings::default()
    };
    let service = PresenceService::start_with(agents, settings, shutdown)
        .await
        .unwrap();
    (AgentsApi::new(service.handle()), service, trigger)
}

async fn give_anna_a_phone(service: &PresenceService) {
    let phone = Device {
        id: DeviceId::new("sip:201@127.0.0.1:5070"),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: "sip:201@127.0.0.1:5070".into(),
        },
        edge: None,
    };
    service
        .handle()
        .device_registered(&AgentId::new("anna"), phone)
        .await
        .unwrap();
}

fn anna() -> String {
    "anna".into()
}

#[tokio::test(start_paused = true)]
async fn login_device_pause_resume_through_the_api() {
    let (api, service, _trigger) = api().await;
    let a = api
        .login(Request::new(pb::LoginRequest { agent_id: anna() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((a.state(), a.logged_in), (pb::AgentState::Offline, true));
    give_anna_a_phone(&service).await;
    let paused = api
        .pause(Request::new(pb::PauseRequest {
            agent_id: anna(),
            reason: pb::PauseReason::Other.into(),
            text: "coaching".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paused.state(), pb::AgentState::Paused);
    assert_eq!(paused.pause_text, "coaching");
    let resumed = api
        .resume(Request::new(pb::ResumeRequest { agent_id: anna() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.state(), pb::AgentState::Available);
    let list = api
        .list_agents(Request::new(pb::ListAgentsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.agents.len(), 1);
    assert_eq!(list.agents[0].device_count, 1);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_agent_is_not_found() {
    let (api, _service, _trigger) = api().await;
    let e = api
        .get_agent(Request::new(pb::GetAgentRequest {
            agent_id: "zed".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "agent_id: \"zed\" is not an agent");
}

#[tokio::test(start_paused = true)]
async fn watch_replays_from_a_sequence_and_refuses_one_too_old() {
    let (api, service, _trigger) = api().await;
    give_anna_a_phone(&service).await;
    // seq 1 AgentAdded; login -> Available (2); then pause (3), resume (4), pause (5),
    // resume (6): the history of 4 keeps 3..=6.
    api.login(Request::new(pb::LoginRequest { agent_id: anna() }))
        .await
        .unwrap();
    for _ in 0..2 {
        api.pause(Request::new(pb::PauseRequest {
            agent_id: anna(),
            reason: pb::PauseReason::Break.into(),
            text: String::new(),
        }))
        .await
        .unwrap();
        api.resume(Request::new(pb::ResumeRequest { agent_id: anna() }))
            .await
            .unwrap();
    }
    let mut stream = api
        .watch_agent_events(Request::new(pb::WatchAgentEventsRequest {
            from_sequence: 5,
        }))
        .await
        .unwrap()
        .into_inner();
    let five = stream.next().await.unwrap().unwrap();
    assert_eq!((five.sequence, five.to()), (5, pb::AgentState::Paused));
    assert_eq!(five.pause_reason(), pb::PauseReason::Break);
    let six = stream.next().await.unwrap().unwrap();
    assert_eq!((six.sequence, six.to()), (6, pb::AgentState::Available));

    let refused = api
        .watch_agent_events(Request::new(pb::WatchAgentEventsRequest {
            from_sequence: 2,
        }))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::OutOfRange);
    assert!(
        refused.message().contains("from_sequence 2 is older"),
        "{}",
        refused.message()
    );
}
