//! The test organisation seen from a test: its Agents API, its employees' phones, and
//! SIPp runs with everything needed to read a failure.

use std::net::SocketAddr;
use std::time::Duration;

use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_client::AgentsClient;
use cc_proto::events::v1 as events_pb;
use cc_proto::events::v1::events_client::EventsClient;
use tonic::Streaming;
use tonic::transport::Channel;

use crate::ccd::Ccd;
use crate::phones::{Behaviour, Phone};
use crate::tools::{Sipp, SippRun};

/// The Agents API at `api`, once it answers (at most 5 s).
pub async fn agents(api: SocketAddr) -> AgentsClient<Channel> {
    let url = format!("http://{api}");
    for _ in 0..50 {
        if let Ok(c) = AgentsClient::connect(url.clone()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the Agents API at {url}");
}

/// Logs the agents in and waits (at most 5 s each) until they are offered calls.
pub async fn log_in_available(node: &Ccd, ids: &[&str]) {
    log_in_until(node, ids, "available", |s| s == pb::AgentState::Available).await;
}

/// Logs the agents in and waits (at most 5 s each) until they are at work: available, or
/// already taken by a call that was waiting for them.
pub async fn log_in_at_work(node: &Ccd, ids: &[&str]) {
    log_in_until(node, ids, "at work", |s| {
        !matches!(
            s,
            pb::AgentState::Offline | pb::AgentState::Unspecified | pb::AgentState::Paused
        )
    })
    .await;
}

async fn log_in_until(node: &Ccd, ids: &[&str], what: &str, done: impl Fn(pb::AgentState) -> bool) {
    let mut client = agents(node.api_addr()).await;
    for id in ids {
        // Refused (UNAVAILABLE) only while the agent's presence shard has no owner yet (a
        // cluster starting) or changes hands: log in again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let request = pb::LoginRequest {
                agent_id: (*id).into(),
            };
            match client.login(request).await {
                Ok(_) => break,
                Err(e) if e.code() == tonic::Code::Unavailable => assert!(
                    tokio::time::Instant::now() < deadline,
                    "{id} cannot log in after 10 s: {e}"
                ),
                Err(e) => panic!("{id} cannot log in: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for id in ids {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let state = client
                .get_agent(pb::GetAgentRequest {
                    agent_id: (*id).into(),
                })
                .await
                .unwrap_or_else(|e| panic!("cannot get {id}: {e}"))
                .into_inner()
                .state;
            let state = pb::AgentState::try_from(state).unwrap_or(pb::AgentState::Unspecified);
            if done(state) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} is not {what} after 5 s: {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The registered phone of an employee of the node's organisation, behaving as given.
pub fn phone(node: &Ccd, extension: &str, behaviour: Behaviour) -> Phone {
    let e = node.config().employee(extension).clone();
    Phone::register(
        node.addr(),
        &node.config().domain,
        &e.extension,
        &e.password,
        behaviour,
    )
}

/// Runs SIPp to its end off the async runtime.
pub async fn run(sipp: Sipp) -> SippRun {
    tokio::task::spawn_blocking(move || sipp.run())
        .await
        .expect("the SIPp runner does not panic")
}

/// A failed run explained: SIPp's view, the node's log and each phone's messages.
pub fn describe(run: &SippRun, node: &Ccd, phones: &[&Phone]) -> String {
    let mut s = format!("{}\n--- ccd log ---\n{}", run.describe(), node.log_text());
    for p in phones {
        s.push('\n');
        s.push_str(&p.describe());
    }
    s
}

/// Every event of the node from the first on (`cc.events.v1.Events/WatchEvents`).
pub async fn watch_events(node: &Ccd) -> Streaming<events_pb::Event> {
    let mut client = EventsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .expect("the events API answers");
    client
        .watch_events(events_pb::WatchEventsRequest {
            from_sequence: 0,
            ..Default::default()
        })
        .await
        .expect("the events API streams")
        .into_inner()
}

/// The story of the first call the stream tells of (the caller's), each event in a word
/// with its detail, up to its end; the other calls' events are left out.
pub async fn first_call_story(stream: &mut Streaming<events_pb::Event>) -> Vec<String> {
    use events_pb::event::Event as E;
    let mut story = Vec::new();
    let mut first: Option<String> = None;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .unwrap_or_else(|_| panic!("the call did not end within 20 s: {story:?}"))
            .expect("the events stream works")
            .expect("the events stream goes on");
        let (call, line) = match event.event {
            Some(E::CallStarted(s)) => (s.call_id, "started".to_owned()),
            Some(E::CallQueued(q)) => (q.call_id, format!("queued {}", q.department_id)),
            Some(E::CallAnswered(a)) => (a.call_id, format!("answered {}", a.agent_id)),
            Some(E::CallHeld(h)) => {
                let by = format!("held by {:?}", h.by());
                (h.call_id, by)
            }
            Some(E::CallResumed(r)) => (r.call_id, "resumed".to_owned()),
            Some(E::CallTransferred(t)) => (t.call_id, format!("transferred {}", t.target)),
            Some(E::CallEnded(e)) => (e.call_id, "ended".to_owned()),
            _ => continue,
        };
        let first = first.get_or_insert_with(|| call.clone());
        if call != *first {
            continue;
        }
        let ended = line == "ended";
        story.push(line);
        if ended {
            return story;
        }
    }
}

/// The first call the node lists as talking (someone answered it), at most 20 s.
pub async fn talking_call(node: &Ccd) -> cc_proto::calls::v1::Call {
    use cc_proto::calls::v1 as calls_pb;
    use cc_proto::calls::v1::calls_client::CallsClient;
    let mut calls = CallsClient::connect(format!("http://{}", node.api_addr()))
        .await
        .expect("the Calls API answers");
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let talking = calls
                .list_calls(calls_pb::ListCallsRequest {})
                .await
                .expect("ListCalls")
                .into_inner()
                .calls
                .into_iter()
                .find(|c| c.state() == calls_pb::CallState::Talking);
            if let Some(call) = talking {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no call answered within 20 s\n{}", node.log_text()))
}
