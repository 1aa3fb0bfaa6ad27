//! Queue nodes in a cluster (one in-memory coordinator, a lease per node, one presence):
//! each department is served by exactly one node, the others refuse its calls as
//! UNAVAILABLE; when the owner dies, shuts down or loses its key, the department moves and
//! its calls, enqueued again at the new owner with their original time, keep their order;
//! the node that lost it offers nothing more for it. Departments configured later are
//! claimed, removed ones released.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cc_cluster::testing::Faulty;
use cc_cluster::{Coordinator, MemoryCoordinator, NodeInfo, NodeLease, keys};
use cc_common::Shutdown;
use cc_common::shutdown::ShutdownTrigger;
use cc_presence::core::AgentConfig;
use cc_proto::queue::internal::v1 as pb;
use cc_proto::queue::internal::v1::queue_control_server::QueueControl;
use cc_queue::control::QueueControlApi;
use cc_queue::core::{CallId, DepartmentConfig, DepartmentId, Strategy};
use cc_queue::{Ownership, QueueEvent, QueueHandle, QueueService, ServiceError, Settings};
use common::{PresenceNode, ready, until};
use tokio::sync::broadcast;
use tonic::{Code, Request};

/// Long enough that no test waits for a lease to expire: every hand-over seen here is a
/// revoke, a release or a deleted key.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// One queue node of the cluster.
struct QueueNode {
    name: &'static str,
    queue: QueueHandle,
    api: QueueControlApi,
    service: Option<QueueService>,
    lease: Option<NodeLease>,
    trigger: ShutdownTrigger,
}

async fn start_node(
    name: &'static str,
    coordinator: &Arc<dyn Coordinator>,
    presence: &PresenceNode,
) -> QueueNode {
    start_node_with(name, coordinator, presence, departments(), LEASE_TTL).await
}

async fn start_node_with(
    name: &'static str,
    coordinator: &Arc<dyn Coordinator>,
    presence: &PresenceNode,
    departments: Vec<DepartmentConfig>,
    lease_ttl: Duration,
) -> QueueNode {
    let lease = NodeLease::start(coordinator.clone(), lease_ttl)
        .await
        .unwrap();
    let ownership = Ownership {
        coordinator: coordinator.clone(),
        lease: lease.subscribe(),
        node: NodeInfo {
            service: "queue".into(),
            node: name.into(),
            address: format!("{name}:50051"),
            load: 0,
        },
        takeover_hold: Duration::ZERO,
    };
    let (trigger, shutdown) = Shutdown::new();
    let service = QueueService::start_with_ownership(
        departments,
        presence.routes(),
        Settings::default(),
        Some(ownership),
        shutdown,
    )
    .await
    .unwrap();
    let queue = service.handle();
    QueueNode {
        name,
        api: QueueControlApi::new(queue.clone()),
        queue,
        service: Some(service),
        lease: Some(lease),
        trigger,
    }
}

fn departments() -> Vec<DepartmentConfig> {
    vec![
        DepartmentConfig::new("sales", Strategy::Sequential).member("anna"),
        DepartmentConfig::new("support", Strategy::Sequential).member("piotr"),
    ]
}

async fn presence() -> PresenceNode {
    PresenceNode::start(vec![
        AgentConfig::new("anna", "Anna"),
        AgentConfig::new("piotr", "Piotr"),
    ])
    .await
}

fn coordinator() -> Arc<dyn Coordinator> {
    Arc::new(MemoryCoordinator::default())
}

/// The departments a node serves.
async fn served(queue: &QueueHandle) -> Vec<String> {
    queue
        .stats()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.department.to_string())
        .collect()
}

/// The node named in a department's ownership key.
async fn owner(coordinator: &Arc<dyn Coordinator>, department: &str) -> Option<String> {
    let kv = coordinator
        .get(&keys::queue_owner(department))
        .await
        .unwrap()?;
    Some(serde_json::from_slice::<NodeInfo>(&kv.value).unwrap().node)
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

async fn position(api: &QueueControlApi, call: &str) -> Result<pb::Position, tonic::Status> {
    api.get_position(Request::new(pb::CallRequest {
        call_id: call.into(),
    }))
    .await
    .map(tonic::Response::into_inner)
}

/// The next queue event, within 5 s.
async fn next(events: &mut broadcast::Receiver<QueueEvent>) -> QueueEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within 5 s")
        .unwrap()
}

/// Whether an event is about one of `calls` or the department `department`.
fn about(event: &QueueEvent, calls: &[&str], department: &str) -> bool {
    match event {
        QueueEvent::Offer { call, plan } | QueueEvent::PlanChanged { call, plan } => {
            calls.contains(&call.as_str()) || plan.department.as_str() == department
        }
        QueueEvent::CancelOffer { call, .. } | QueueEvent::OfferFailed { call } => {
            calls.contains(&call.as_str())
        }
        QueueEvent::QueueChanged { department: d, .. } => d.as_str() == department,
    }
}

#[tokio::test]
async fn each_department_has_one_owner_and_a_survivor_takes_over_a_dead_one() {
    let coordinator = coordinator();
    let presence = presence().await;
    let a = start_node("queue-a", &coordinator, &presence).await;
    let b = start_node("queue-b", &coordinator, &presence).await;
    until("every department owned", || async {
        served(&a.queue).await.len() + served(&b.queue).await.len() == 2
    })
    .await;

    // Exactly one owner per department, named in its key.
    let (at_a, at_b) = (served(&a.queue).await, served(&b.queue).await);
    for department in ["sales", "support"] {
        let here = at_a.iter().any(|d| d == department);
        assert_ne!(
            here,
            at_b.iter().any(|d| d == department),
            "{department} on exactly one node: a {at_a:?}, b {at_b:?}"
        );
        let expected = if here { a.name } else { b.name };
        assert_eq!(
            owner(&coordinator, department).await.as_deref(),
            Some(expected)
        );
    }
    let (mut dead, survivor) = if at_a.iter().any(|d| d == "sales") {
        (a, b)
    } else {
        (b, a)
    };

    // The other node refuses sales' calls, so that the edge goes to the owner; a department
    // nobody configured stays unknown.
    let refused = survivor
        .api
        .enqueue(enqueue("c1", "sales", 0))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert_eq!(
        refused.message(),
        "department_id: department sales is served by another queue node"
    );
    let unknown = survivor
        .api
        .enqueue(enqueue("c1", "billing", 0))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        survivor.queue.waiting(&DepartmentId::new("sales")).await,
        Err(ServiceError::NotOwned(DepartmentId::new("sales")))
    );
    let original = unix_ms_now() - 20_000;
    dead.api
        .enqueue(enqueue("c1", "sales", original))
        .await
        .unwrap();

    // The owner dies (its lease revoked, its keys gone with it): the survivor takes sales.
    dead.lease.take().unwrap().revoke().await.unwrap();
    until("the survivor serves sales", || async {
        served(&survivor.queue).await.contains(&"sales".to_owned())
    })
    .await;
    assert_eq!(
        owner(&coordinator, "sales").await.as_deref(),
        Some(survivor.name)
    );
    until("the dead owner dropped sales", || async {
        served(&dead.queue).await.is_empty()
    })
    .await;
    assert_eq!(
        position(&dead.api, "c1").await.unwrap_err().code(),
        Code::NotFound
    );
    let late = dead
        .api
        .enqueue(enqueue("c9", "sales", 0))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::Unavailable);

    // The edge enqueues c1 again with its original time: ahead of a call that came later,
    // even one that reached the new owner first.
    let c2 = survivor
        .api
        .enqueue(enqueue("c2", "sales", 0))
        .await
        .unwrap();
    assert_eq!(c2.into_inner().position, 1);
    let c1 = survivor
        .api
        .enqueue(enqueue("c1", "sales", original))
        .await
        .unwrap();
    assert_eq!(c1.into_inner().position, 1);
    assert_eq!(position(&survivor.api, "c2").await.unwrap().position, 2);
    let c1 = position(&survivor.api, "c1").await.unwrap();
    assert!(
        (20_000..30_000).contains(&c1.wait_ms),
        "waiting since its original enqueue: {c1:?}"
    );
    survivor.trigger.trigger();
    dead.trigger.trigger();
}

#[tokio::test]
async fn a_node_shutting_down_hands_its_departments_over_at_once() {
    let coordinator: Arc<dyn Coordinator> =
        Arc::new(Faulty::default().slow_deletes(Duration::from_millis(200)));
    let presence = presence().await;
    let mut a = start_node("queue-a", &coordinator, &presence).await;
    until("a owns every department", || async {
        served(&a.queue).await.len() == 2
    })
    .await;
    let b = start_node("queue-b", &coordinator, &presence).await;
    assert!(served(&b.queue).await.is_empty());

    // a stops, its lease still alive: only releasing the keys lets b in before the TTL.
    a.trigger.trigger();
    tokio::time::timeout(Duration::from_secs(5), a.service.take().unwrap().stopped())
        .await
        .expect("a stops within 5 s");
    for department in ["sales", "support"] {
        assert_ne!(
            owner(&coordinator, department).await.as_deref(),
            Some(a.name),
            "{department} released before a reported stopped"
        );
    }
    until("b serves every department", || async {
        served(&b.queue).await.len() == 2
    })
    .await;
    b.api.enqueue(enqueue("c1", "sales", 0)).await.unwrap();
    b.trigger.trigger();
}

#[tokio::test]
async fn an_owner_that_loses_a_department_offers_nothing_more_for_it() {
    let coordinator = coordinator();
    let presence = presence().await;
    let a = start_node("queue-a", &coordinator, &presence).await;
    until("a owns every department", || async {
        served(&a.queue).await.len() == 2
    })
    .await;
    let mut events = a.queue.subscribe();
    ready(&presence.handle, "anna").await;
    until("anna available in sales", || async {
        a.queue
            .stats()
            .await
            .unwrap()
            .iter()
            .any(|s| s.department.as_str() == "sales" && s.available_agents == 1)
    })
    .await;

    // c1 rings anna, c2 waits behind it.
    a.api.enqueue(enqueue("c1", "sales", 0)).await.unwrap();
    a.api.enqueue(enqueue("c2", "sales", 0)).await.unwrap();
    let mut offered = false;
    loop {
        match next(&mut events).await {
            QueueEvent::Offer { call, .. } if call == CallId::new("c1") => offered = true,
            QueueEvent::QueueChanged { waiting: 2, .. } => break,
            _ => {}
        }
    }
    assert!(offered, "c1 was offered before c2 joined");
    let key = keys::queue_owner("sales");
    let token = coordinator
        .get(&key)
        .await
        .unwrap()
        .unwrap()
        .create_revision;

    // The key goes (an operator, another node's fencing): a drops sales with its calls.
    assert!(coordinator.delete(&key).await.unwrap());
    until("a dropped c1 and c2", || async {
        position(&a.api, "c1").await.is_err() && position(&a.api, "c2").await.is_err()
    })
    .await;
    assert_eq!(
        position(&a.api, "c1").await.unwrap_err().code(),
        Code::NotFound
    );

    // Nothing more about them, up to an offer in support that shows a still works.
    a.api.enqueue(enqueue("c3", "support", 0)).await.unwrap();
    ready(&presence.handle, "piotr").await;
    loop {
        let event = next(&mut events).await;
        assert!(
            !about(&event, &["c1", "c2"], "sales"),
            "nothing about sales after its loss: {event:?}"
        );
        if matches!(&event, QueueEvent::Offer { call, .. } if *call == CallId::new("c3")) {
            break;
        }
    }

    // The only claimant, a owns sales again (a new incarnation of the key), queue empty.
    until("a serves sales again", || async {
        served(&a.queue).await.contains(&"sales".to_owned())
    })
    .await;
    let again = coordinator.get(&key).await.unwrap().unwrap();
    assert!(again.create_revision > token);
    assert_eq!(
        a.queue.waiting(&DepartmentId::new("sales")).await,
        Ok(Vec::new())
    );
    a.trigger.trigger();
}

/// etcd's new leader may extend the leases of the old: a node that gave its lease up for
/// lost (no keep-alive went through for two thirds of its TTL) then confirms it again.
/// Its departments, dropped with their calls at the loss, come back under new tokens, so
/// the sip-edge nodes that follow the owners enqueue their calls there again.
#[tokio::test]
async fn an_owner_whose_lost_lease_is_confirmed_again_serves_under_new_tokens() {
    let faulty = Arc::new(Faulty::default().stretched_leases());
    let coordinator: Arc<dyn Coordinator> = faulty.clone();
    let presence = presence().await;
    let a = start_node_with(
        "queue-a",
        &coordinator,
        &presence,
        departments(),
        Duration::from_secs(1),
    )
    .await;
    until("a owns every department", || async {
        served(&a.queue).await.len() == 2
    })
    .await;
    a.api.enqueue(enqueue("c1", "sales", 0)).await.unwrap();
    let key = keys::queue_owner("sales");
    let before = coordinator.get(&key).await.unwrap().unwrap();

    faulty.cut_keep_alives(true);
    until("a dropped sales with c1", || async {
        position(&a.api, "c1").await.is_err()
    })
    .await;
    faulty.cut_keep_alives(false);
    until("a serves sales again under a new token", || async {
        let now = coordinator.get(&key).await.unwrap();
        served(&a.queue).await.contains(&"sales".to_owned())
            && now.is_some_and(|kv| kv.create_revision > before.create_revision)
    })
    .await;
    // The same lease, confirmed again, not a new one.
    let after = coordinator.get(&key).await.unwrap().unwrap();
    assert_eq!(after.lease, before.lease);
    assert_eq!(owner(&coordinator, "sales").await.as_deref(), Some(a.name));
    assert_eq!(
        position(&a.api, "c1").await.unwrap_err().code(),
        Code::NotFound,
        "c1 waits for its sip-edge node to enqueue it again"
    );
    a.trigger.trigger();
}

#[tokio::test]
async fn departments_configured_later_are_claimed_and_removed_ones_released() {
    let coordinator = coordinator();
    let presence = presence().await;
    let [sales, support] = departments().try_into().unwrap();
    let a = start_node_with(
        "queue-a",
        &coordinator,
        &presence,
        vec![sales.clone()],
        LEASE_TTL,
    )
    .await;
    until("a owns sales", || async {
        served(&a.queue).await == ["sales"]
    })
    .await;
    assert_eq!(owner(&coordinator, "support").await, None);

    a.queue
        .configure(vec![sales.clone(), support.clone()])
        .await
        .unwrap();
    until("a owns support too", || async {
        served(&a.queue).await.len() == 2
    })
    .await;
    assert_eq!(
        owner(&coordinator, "support").await.as_deref(),
        Some(a.name)
    );

    // Support goes from the configuration: not served, its key released.
    a.queue.configure(vec![sales.clone()]).await.unwrap();
    assert_eq!(served(&a.queue).await, ["sales"]);
    until("support released", || async {
        owner(&coordinator, "support").await.is_none()
    })
    .await;
    let gone = a
        .api
        .enqueue(enqueue("c1", "support", 0))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "no longer configured anywhere");

    // And back again: claimed afresh.
    a.queue.configure(vec![sales, support]).await.unwrap();
    until("a owns support again", || async {
        served(&a.queue).await.len() == 2
    })
    .await;
    a.api.enqueue(enqueue("c1", "support", 0)).await.unwrap();
    a.trigger.trigger();
}
