//! `cc.presence.internal.v1.PresenceControl` in process, as a call actor reports a queued
//! call: ringing, answer, end with wrap-up, or release; a call the agent is not engaged in
//! is refused and changes nothing.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_common::Shutdown;
use cc_presence::control::PresenceControlApi;
use cc_presence::core::{AgentConfig, AgentId, AgentState, CallId, Device, DeviceId, DeviceKind};
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
    };
    presence.device_registered(&anna, phone).await.unwrap();
    let api = PresenceControlApi::new(presence.clone());
    let c1 = CallId::new("c1");

    presence.reserve(&anna, c1.clone(), secs(20)).await.unwrap();
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
        .reserve(&anna, CallId::new("c2"), secs(20))
        .await
        .unwrap();
    api.confirm_ringing(report("anna", "c2")).await.unwrap();
    api.released(report("anna", "c2")).await.unwrap();
    assert_eq!(state(&presence).await, AgentState::Available);
}
