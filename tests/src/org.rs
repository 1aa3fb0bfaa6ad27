//! The test organisation seen from a test: its Agents API, its employees' phones, and
//! SIPp runs with everything needed to read a failure.

use std::net::SocketAddr;
use std::time::Duration;

use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_client::AgentsClient;
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
