//! Agents through `cc.agents.v1.Agents` on a real `ccd all`: an agent logs in, her phone
//! registers with SIPp, and presence makes her available (and says so on the event stream);
//! a pause shows, and an unknown agent is named in a NOT_FOUND.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_client::AgentsClient;
use cc_tests::ccd::Ccd;
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;
use tonic::Code;
use tonic::transport::Channel;

/// Connects to the Agents API of a node, retrying for a few seconds while it starts.
async fn agents_client(api: SocketAddr) -> AgentsClient<Channel> {
    let url = format!("http://{api}");
    for _ in 0..50 {
        if let Ok(c) = AgentsClient::connect(url.clone()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the Agents API at {url}");
}

/// Registers anna's phone (extension 201) with SIPp over UDP.
async fn register_annas_phone(node: &Ccd) {
    let anna = node.config().employee("201").clone();
    let sipp = Sipp::new("register_digest.xml", node.addr(), Transport::Udp)
        .key("domain", &node.config().domain)
        .service(&anna.extension)
        .auth(&anna.extension, &anna.password);
    let run = tokio::task::spawn_blocking(move || sipp.run())
        .await
        .unwrap();
    assert!(run.all_calls_succeeded(), "{}", run.describe());
}

async fn next_event(events: &mut tonic::Streaming<pb::AgentEvent>) -> pb::AgentEvent {
    tokio::time::timeout(Duration::from_secs(5), events.message())
        .await
        .expect("an agent event within 5 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

fn agent_id(id: &str) -> String {
    id.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_in_agent_with_a_registered_phone_is_available_then_paused() {
    let node = Ccd::start_default();
    let mut client = agents_client(node.api_addr()).await;
    let mut events = client
        .watch_agent_events(pb::WatchAgentEventsRequest { from_sequence: 0 })
        .await
        .unwrap()
        .into_inner();

    let anna = client
        .login(pb::LoginRequest {
            agent_id: agent_id("anna"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(anna.logged_in, "{anna:?}");
    assert_eq!(
        anna.state(),
        pb::AgentState::Offline,
        "no phone yet: {anna:?}"
    );

    register_annas_phone(&node).await;
    let available = next_event(&mut events).await;
    assert_eq!(available.agent_id, "anna", "{available:?}");
    assert_eq!(
        (available.from(), available.to(), available.cause()),
        (
            pb::AgentState::Offline,
            pb::AgentState::Available,
            pb::Cause::DeviceRegistered
        ),
        "{available:?}"
    );

    let list = client
        .list_agents(pb::ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let states: Vec<(&str, pb::AgentState, u32)> = list
        .agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.state(), a.device_count))
        .collect();
    assert_eq!(
        states,
        [
            ("anna", pb::AgentState::Available, 1),
            ("piotr", pb::AgentState::Offline, 0)
        ],
        "{list:?}"
    );
    assert_eq!(list.agents[0].name, "Anna Kowalska");

    let paused = client
        .pause(pb::PauseRequest {
            agent_id: agent_id("anna"),
            reason: pb::PauseReason::Lunch.into(),
            text: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paused.state(), pb::AgentState::Paused, "{paused:?}");
    assert_eq!(paused.pause_reason(), pb::PauseReason::Lunch);
    let pause_event = next_event(&mut events).await;
    assert_eq!(pause_event.sequence, available.sequence + 1);
    assert_eq!(pause_event.to(), pb::AgentState::Paused, "{pause_event:?}");

    let unknown = client
        .login(pb::LoginRequest {
            agent_id: agent_id("nobody"),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert_eq!(unknown.message(), "agent_id: \"nobody\" is not an agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_resumes_from_a_sequence_and_an_unknown_one_is_refused() {
    let node = Ccd::start_default();
    let mut client = agents_client(node.api_addr()).await;
    // The node added its two agents as events 1 and 2.
    let mut replay = client
        .watch_agent_events(pb::WatchAgentEventsRequest { from_sequence: 1 })
        .await
        .unwrap()
        .into_inner();
    for (sequence, agent) in [(1, "anna"), (2, "piotr")] {
        let e = next_event(&mut replay).await;
        assert_eq!(
            (e.sequence, e.agent_id.as_str(), e.kind()),
            (sequence, agent, pb::agent_event::Kind::Added)
        );
    }
    let refused = client
        .watch_agent_events(pb::WatchAgentEventsRequest {
            from_sequence: 1000,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    assert!(
        refused.message().contains("from_sequence 1000"),
        "{refused:?}"
    );
}
