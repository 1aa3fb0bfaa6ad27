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
    let mut client = agents(node.api_addr()).await;
    for id in ids {
        client
            .login(pb::LoginRequest {
                agent_id: (*id).into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{id} cannot log in: {e}"));
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
            if state == pb::AgentState::Available as i32 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} is not available after 5 s: {:?}",
                pb::AgentState::try_from(state)
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
