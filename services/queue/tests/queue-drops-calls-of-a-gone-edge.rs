//! A sip-edge node that dies takes its calls out of the queues: once its registration
//! (`/cc/nodes/sip-edge/<node>`) has been gone for the grace period, every call enqueued
//! with its name leaves the queue as if abandoned (the agents reserved for them are released
//! in presence), while the calls of other edges stay.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, MemoryCoordinator, NodeInfo, NodeLease};
use cc_common::Shutdown;
use cc_presence::core::AgentConfig;
use cc_proto::queue::internal::v1 as pb;
use cc_proto::queue::internal::v1::queue_control_server::QueueControl;
use cc_queue::control::QueueControlApi;
use cc_queue::core::{AgentId, CallId, DepartmentConfig, DepartmentId, Strategy};
use cc_queue::{Ownership, QueueEvent, QueueHandle, QueueService, Settings};
use common::{PresenceNode, ready, state, until};
use tokio::sync::broadcast;
use tonic::{Code, Request};

/// Long enough that the queue node's own lease never expires during a test.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// Short, so that the test waits for it in real time.
const EDGE_GRACE: Duration = Duration::from_millis(300);

/// A sip-edge node's registration, as sip-edge writes it (no lease needed here).
async fn register_edge(coordinator: &Arc<dyn Coordinator>, name: &str) -> String {
    let info = NodeInfo {
        service: "sip-edge".into(),
        node: name.into(),
        address: format!("{name}:5060"),
        load: 0,
    };
    let key = info.key();
    coordinator
        .put(&key, serde_json::to_vec(&info).unwrap(), None)
        .await
        .unwrap();
    key
}

fn enqueue(call: &str, edge: &str) -> Request<pb::EnqueueRequest> {
    Request::new(pb::EnqueueRequest {
        call_id: call.into(),
        department_id: "sales".into(),
        priority: 0,
        enqueued_at_unix_ms: 0,
        edge_node: edge.into(),
        caller: String::new(),
    })
}

async fn waiting(queue: &QueueHandle) -> Vec<String> {
    queue
        .waiting(&DepartmentId::new("sales"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call.to_string())
        .collect()
}

/// The call presence has anna reserved (or ringing, or talking) for.
async fn annas_call(presence: &PresenceNode) -> Option<String> {
    state(&presence.handle, "anna")
        .await
        .call()
        .map(ToString::to_string)
}

/// The events received so far.
fn drain(events: &mut broadcast::Receiver<QueueEvent>) -> Vec<QueueEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

#[tokio::test]
async fn the_calls_of_a_sip_edge_node_gone_from_the_cluster_leave_the_queue() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    // Registered before the queue starts: its first listing sees both edges.
    let edge_a = register_edge(&coordinator, "edge-a").await;
    register_edge(&coordinator, "edge-b").await;
    let presence = PresenceNode::start(vec![AgentConfig::new("anna", "Anna")]).await;
    let lease = NodeLease::start(coordinator.clone(), LEASE_TTL)
        .await
        .unwrap();
    let ownership = Ownership {
        coordinator: coordinator.clone(),
        lease: lease.subscribe(),
        node: NodeInfo {
            service: "queue".into(),
            node: "queue-a".into(),
            address: "queue-a:50051".into(),
            load: 0,
        },
        takeover_hold: Duration::ZERO,
    };
    let settings = Settings {
        edge_grace: EDGE_GRACE,
        ..Settings::default()
    };
    let (trigger, shutdown) = Shutdown::new();
    let sales = DepartmentConfig::new("sales", Strategy::Sequential).member("anna");
    let service = QueueService::start_with_ownership(
        vec![sales],
        presence.routes(),
        settings,
        Some(ownership),
        shutdown,
    )
    .await
    .unwrap();
    let queue = service.handle();
    let api = QueueControlApi::new(queue.clone());
    until("the queue owns sales", || async {
        queue.waiting(&DepartmentId::new("sales")).await.is_ok()
    })
    .await;
    ready(&presence.handle, "anna").await;
    until("anna available in sales", || async {
        queue.stats().await.unwrap()[0].available_agents == 1
    })
    .await;
    let mut events = queue.subscribe();

    // c1 rings anna (reserved in presence), c2 waits behind it; both on edge-a. c3 on
    // edge-b waits last.
    for (call, edge) in [("c1", "edge-a"), ("c2", "edge-a"), ("c3", "edge-b")] {
        api.enqueue(enqueue(call, edge)).await.unwrap();
    }
    until("anna reserved for c1", || async {
        annas_call(&presence).await.as_deref() == Some("c1")
    })
    .await;
    assert_eq!(waiting(&queue).await, ["c1", "c2", "c3"]);
    drain(&mut events);

    // edge-a dies: its registration goes with its lease.
    assert!(coordinator.delete(&edge_a).await.unwrap());
    until("edge-a's calls left the queue", || async {
        waiting(&queue).await == ["c3"]
    })
    .await;
    for call in ["c1", "c2"] {
        let gone = api
            .get_position(Request::new(pb::CallRequest {
                call_id: call.into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound, "{call}: {gone:?}");
    }

    // c1's offer was cancelled and anna released in presence: she can be reserved for c3.
    until("anna reserved for c3", || async {
        annas_call(&presence).await.as_deref() == Some("c3")
    })
    .await;
    // Everything since edge-a went.
    let seen = drain(&mut events);
    let (c1, c2, anna) = (CallId::new("c1"), CallId::new("c2"), AgentId::new("anna"));
    assert!(
        seen.contains(&QueueEvent::CancelOffer {
            call: c1.clone(),
            agent: anna,
        }),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            QueueEvent::Offer { call, .. } | QueueEvent::PlanChanged { call, .. }
                if *call == c1 || *call == c2
        )),
        "nothing more offered on edge-a's calls: {seen:?}"
    );
    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(5), service.stopped())
        .await
        .expect("the queue stops within 5 s");
}
