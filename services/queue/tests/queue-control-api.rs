//! `cc.queue.internal.v1.QueueControl` in process, as a call actor uses it: enqueue (a
//! re-queued call keeps its place), watch the ring plans, answer, end; refusals carry the
//! contract's codes; the watch ends when the queue stops.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_common::Shutdown;
use cc_presence::core::AgentConfig;
use cc_proto::queue::internal::v1 as pb;
use cc_proto::queue::internal::v1::offer_event::Event;
use cc_proto::queue::internal::v1::queue_control_server::QueueControl;
use cc_queue::control::{OfferStream, QueueControlApi};
use cc_queue::core::{DepartmentConfig, Strategy};
use cc_queue::{QueueService, Settings};
use common::{PresenceNode, ready};
use tokio_stream::StreamExt;
use tonic::{Code, Request, Status};

async fn next(offers: &mut OfferStream) -> Option<Result<pb::OfferEvent, Status>> {
    tokio::time::timeout(Duration::from_secs(5), offers.next())
        .await
        .expect("an event or the end within 5 s")
}

fn unix_ms_now() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn enqueue(call: &str, department: &str, enqueued_at_unix_ms: u64) -> Request<pb::EnqueueRequest> {
    Request::new(pb::EnqueueRequest {
        call_id: call.into(),
        department_id: department.into(),
        priority: 0,
        enqueued_at_unix_ms,
        edge_node: String::new(),
        caller: String::new(),
    })
}

fn call(id: &str) -> Request<pb::CallRequest> {
    Request::new(pb::CallRequest { call_id: id.into() })
}

fn agent_call(call: &str, agent: &str) -> Request<pb::AgentCallRequest> {
    Request::new(pb::AgentCallRequest {
        call_id: call.into(),
        agent_id: agent.into(),
    })
}

#[tokio::test]
async fn a_call_actor_enqueues_watches_its_plan_and_answers() {
    let (trigger, shutdown) = Shutdown::new();
    let agents = vec![AgentConfig::new("anna", "Anna")];
    let node = PresenceNode::start(agents).await;
    let presence = node.handle.clone();
    let departments = vec![
        DepartmentConfig::new("sales", Strategy::Sequential)
            .ring_seconds(15)
            .member("anna"),
    ];
    let queue = QueueService::start_with(departments, node.routes(), Settings::default(), shutdown)
        .await
        .unwrap()
        .handle();
    let api = QueueControlApi::new(queue);
    let mut offers = api
        .watch_offers(Request::new(pb::WatchOffersRequest {}))
        .await
        .unwrap()
        .into_inner();

    // Nobody is ready: calls wait. A re-queued call keeps its earlier place in line.
    let first = api.enqueue(enqueue("c1", "sales", 0)).await.unwrap();
    assert_eq!(first.into_inner().position, 1);
    let requeued = api
        .enqueue(enqueue("c0", "sales", unix_ms_now() - 30_000))
        .await
        .unwrap();
    assert_eq!(requeued.into_inner().position, 1);
    let c1 = api.get_position(call("c1")).await.unwrap().into_inner();
    assert_eq!((c1.position, c1.expected_wait_ms), (2, None));
    let c0 = api.get_position(call("c0")).await.unwrap().into_inner();
    assert!(
        (30_000..31_000).contains(&c0.wait_ms),
        "waiting since its original enqueue: {c0:?}"
    );

    // Refusals carry the contract's codes and name the field.
    let again = api.enqueue(enqueue("c1", "sales", 0)).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let nowhere = api.enqueue(enqueue("c9", "billing", 0)).await.unwrap_err();
    assert_eq!(nowhere.code(), Code::NotFound);
    assert!(nowhere.message().starts_with("department_id:"));
    let empty = api.enqueue(enqueue("", "sales", 0)).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("call_id:"));
    let unset = api
        .rejected(Request::new(pb::RejectedRequest {
            call_id: "c0".into(),
            agent_id: "anna".into(),
            reason: pb::rejected_request::Reason::Unspecified.into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(unset.code(), Code::InvalidArgument);
    assert!(unset.message().starts_with("reason:"));

    // Anna becomes ready: the call first in line is offered to her, from now on.
    ready(&presence, "anna").await;
    let offer = next(&mut offers).await.unwrap().unwrap();
    assert_eq!(offer.call_id, "c0");
    let Some(Event::Offer(plan)) = offer.event else {
        panic!("expected an offer: {offer:?}");
    };
    assert_eq!(plan.department_id, "sales");
    let [anna] = plan.targets.as_slice() else {
        panic!("one target: {plan:?}");
    };
    assert_eq!((anna.agent_id.as_str(), anna.start_ms), ("anna", 0));
    // Offsets count from when the plan is sent, after anna was reserved in presence.
    assert!(
        (14_000..=15_000).contains(&anna.stop_ms),
        "rings 15 s from the plan's start: {plan:?}"
    );
    let not_her = api.answered(agent_call("c1", "anna")).await.unwrap_err();
    assert_eq!(not_her.code(), Code::FailedPrecondition);
    api.answered(agent_call("c0", "anna")).await.unwrap();
    let gone = api.get_position(call("c0")).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(
        api.get_position(call("c1"))
            .await
            .unwrap()
            .into_inner()
            .position,
        1
    );
    api.abandon(call("c1")).await.unwrap();
    let abandoned = api.abandon(call("c1")).await.unwrap_err();
    assert_eq!(abandoned.code(), Code::NotFound);
    api.call_ended(call("c0")).await.unwrap();
    let ended = api.call_ended(call("c0")).await.unwrap_err();
    assert_eq!(ended.code(), Code::NotFound);

    // The queue stops: the watch ends rather than holding the server's shutdown.
    trigger.trigger();
    assert_eq!(next(&mut offers).await.map(|e| e.unwrap()), None);
}
