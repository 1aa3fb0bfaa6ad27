//! The queue actor on a paused tokio clock, following a real presence service: an agent who
//! becomes available is offered a waiting call, a sequential plan moves on after the ring
//! time, and a NoAnswer pause reaches presence.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_common::Shutdown;
use cc_common::shutdown::ShutdownTrigger;
use cc_presence::core::{
    AgentConfig, AgentId as PresenceAgent, AgentState, Device, DeviceId, DeviceKind, PauseReason,
};
use cc_presence::{PresenceHandle, PresenceService};
use cc_queue::core::{
    AgentId, CallId, CoreConfig, DepartmentConfig, DepartmentId, Priority, QueueError, RingTarget,
    Strategy,
};
use cc_queue::{QueueEvent, QueueHandle, QueueService, ServiceError, Settings};
use tokio::sync::broadcast;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

struct Node {
    presence: PresenceHandle,
    queue: QueueHandle,
    events: broadcast::Receiver<QueueEvent>,
    _trigger: ShutdownTrigger,
}

async fn start(max_no_answers: u32) -> Node {
    start_ringing(max_no_answers, 15).await
}

async fn start_ringing(max_no_answers: u32, ring_seconds: u32) -> Node {
    let (trigger, shutdown) = Shutdown::new();
    let agents = vec![
        AgentConfig::new("anna", "Anna"),
        AgentConfig::new("piotr", "Piotr"),
    ];
    let presence = PresenceService::start_with(agents, Default::default(), shutdown.clone())
        .await
        .unwrap()
        .handle();
    let sales = DepartmentConfig::new("sales", Strategy::Sequential)
        .ring_seconds(ring_seconds)
        .member("anna")
        .member("piotr");
    let settings = Settings {
        core: CoreConfig {
            max_no_answers,
            ..CoreConfig::default()
        },
        ..Settings::default()
    };
    let queue = QueueService::start_with(vec![sales], presence.clone(), settings, shutdown)
        .await
        .unwrap()
        .handle();
    let events = queue.subscribe();
    Node {
        presence,
        queue,
        events,
        _trigger: trigger,
    }
}

async fn ready(p: &PresenceHandle, id: &str) {
    let agent = PresenceAgent::new(id);
    p.login(&agent).await.unwrap();
    let device = Device {
        id: DeviceId::new(format!("sip:{id}@127.0.0.1")),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: format!("sip:{id}@127.0.0.1"),
        },
    };
    p.device_registered(&agent, device).await.unwrap();
}

/// The next event other than a queue-length change.
async fn next(events: &mut broadcast::Receiver<QueueEvent>) -> QueueEvent {
    loop {
        let event = tokio::time::timeout(secs(1), events.recv())
            .await
            .expect("an event within a second")
            .unwrap();
        if !matches!(event, QueueEvent::QueueChanged { .. }) {
            return event;
        }
    }
}

/// Lets the actors and the follower task drain their mailboxes.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

async fn enqueue(queue: &QueueHandle, call: &str) {
    queue
        .enqueue(CallId::new(call), DepartmentId::new("sales"), Priority(0))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_agent_becoming_available_in_presence_gets_an_offer_for_a_waiting_call() {
    let mut node = start(3).await;
    enqueue(&node.queue, "c1").await;
    ready(&node.presence, "anna").await;
    let QueueEvent::Offer { call, plan } = next(&mut node.events).await else {
        panic!("expected an offer");
    };
    assert_eq!(call, CallId::new("c1"));
    assert_eq!(
        plan.targets,
        vec![RingTarget {
            agent: AgentId::new("anna"),
            start: secs(0),
            stop: secs(15),
        }]
    );
    settle().await;
    // The service reserved her in presence, and that did not withdraw her from the plan.
    let anna = node
        .presence
        .agent(&PresenceAgent::new("anna"))
        .await
        .unwrap();
    assert!(matches!(anna.state(), AgentState::Reserved { .. }));
    node.queue
        .answered(CallId::new("c1"), AgentId::new("anna"))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_sequential_plan_moves_to_the_next_agent_after_ring_seconds() {
    let mut node = start(3).await;
    ready(&node.presence, "anna").await;
    ready(&node.presence, "piotr").await;
    settle().await;
    enqueue(&node.queue, "c1").await;
    let QueueEvent::Offer { plan, .. } = next(&mut node.events).await else {
        panic!("expected an offer");
    };
    let order: Vec<_> = plan
        .targets
        .iter()
        .map(|t| (t.agent.as_str().to_owned(), t.start, t.stop))
        .collect();
    assert_eq!(
        order,
        vec![
            ("anna".to_owned(), secs(0), secs(15)),
            ("piotr".to_owned(), secs(15), secs(30)),
        ]
    );
    tokio::time::advance(secs(16)).await;
    settle().await;
    let late = node
        .queue
        .answered(CallId::new("c1"), AgentId::new("anna"))
        .await;
    assert!(matches!(
        late,
        Err(ServiceError::Queue(QueueError::NotOffered { .. }))
    ));
    node.queue
        .answered(CallId::new("c1"), AgentId::new("piotr"))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_agent_who_misses_offers_is_paused_in_presence_with_no_answer() {
    let mut node = start(1).await;
    ready(&node.presence, "anna").await;
    settle().await;
    enqueue(&node.queue, "c1").await;
    assert!(matches!(
        next(&mut node.events).await,
        QueueEvent::Offer { .. }
    ));
    tokio::time::advance(secs(16)).await;
    assert_eq!(
        next(&mut node.events).await,
        QueueEvent::CancelOffer {
            call: CallId::new("c1"),
            agent: AgentId::new("anna")
        },
        "the ring-out is announced, so presence frees anna at once"
    );
    assert_eq!(
        next(&mut node.events).await,
        QueueEvent::OfferFailed {
            call: CallId::new("c1")
        }
    );
    settle().await;
    let anna = node
        .presence
        .agent(&PresenceAgent::new("anna"))
        .await
        .unwrap();
    assert_eq!(
        anna.state(),
        &AgentState::Paused {
            reason: PauseReason::NoAnswer
        }
    );
    // The call still waits, first in line.
    let waiting = node
        .queue
        .waiting(&DepartmentId::new("sales"))
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].position, 1);
}

/// Presence's reservations are capped (120 s by default): a sequential plan longer than that
/// must take each member when their ring starts, not all of them at the start.
#[tokio::test(start_paused = true)]
async fn each_member_of_a_long_sequential_plan_is_reserved_when_their_ring_starts() {
    let mut node = start_ringing(3, 100).await;
    ready(&node.presence, "anna").await;
    ready(&node.presence, "piotr").await;
    settle().await;
    enqueue(&node.queue, "c1").await;
    assert!(matches!(
        next(&mut node.events).await,
        QueueEvent::Offer { .. }
    ));
    settle().await;
    let state = |id: &'static str| {
        let presence = node.presence.clone();
        async move {
            presence
                .agent(&PresenceAgent::new(id))
                .await
                .unwrap()
                .state()
                .clone()
        }
    };
    assert!(matches!(state("anna").await, AgentState::Reserved { .. }));
    assert_eq!(
        state("piotr").await,
        AgentState::Available,
        "his turn is at 100 s"
    );
    tokio::time::advance(secs(101)).await;
    settle().await;
    assert!(
        matches!(state("piotr").await, AgentState::Reserved { .. }),
        "piotr is taken when his ring starts"
    );
    tokio::time::advance(secs(60)).await;
    settle().await;
    assert!(
        matches!(state("piotr").await, AgentState::Reserved { .. }),
        "and still reserved at 161 s, past the 120 s a whole-plan reservation was capped at"
    );
    node.queue
        .answered(CallId::new("c1"), AgentId::new("piotr"))
        .await
        .unwrap();
}
