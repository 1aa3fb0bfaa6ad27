//! The queue actor following a real presence service through its gRPC API, with the clock
//! moved forward in jumps: an agent who becomes available is offered a waiting call, a
//! sequential plan moves on after the ring time, and a NoAnswer pause reaches presence.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use cc_common::Shutdown;
use cc_common::shutdown::ShutdownTrigger;
use cc_presence::PresenceHandle;
use cc_presence::core::{AgentConfig, AgentState, PauseReason};
use cc_queue::core::{
    AgentId, CallId, CoreConfig, DepartmentConfig, DepartmentId, Priority, QueueError, RingTarget,
    Strategy,
};
use cc_queue::{QueueEvent, QueueHandle, QueueService, ServiceError, Settings};
use common::{PresenceNode, jump, ready, state, until};
use tokio::sync::broadcast;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

struct Node {
    presence: PresenceHandle,
    queue: QueueHandle,
    events: broadcast::Receiver<QueueEvent>,
    _presence: PresenceNode,
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
    let node = PresenceNode::start(agents).await;
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
    let queue = QueueService::start_with(vec![sales], node.routes(), settings, shutdown)
        .await
        .unwrap()
        .handle();
    let events = queue.subscribe();
    Node {
        presence: node.handle.clone(),
        queue,
        events,
        _presence: node,
        _trigger: trigger,
    }
}

/// The next event other than a queue-length change.
async fn next(events: &mut broadcast::Receiver<QueueEvent>) -> QueueEvent {
    loop {
        let event = tokio::time::timeout(secs(5), events.recv())
            .await
            .expect("an event within 5 s")
            .unwrap();
        if !matches!(event, QueueEvent::QueueChanged { .. }) {
            return event;
        }
    }
}

/// Waits until the queue has followed presence to `n` available members of sales.
async fn available(queue: &QueueHandle, n: usize) {
    until(&format!("{n} available in the queue"), || async {
        queue.stats().await.unwrap()[0].available_agents == n
    })
    .await;
}

/// Waits until presence holds the agent in a state that `expected` accepts.
async fn presence_shows(
    presence: &PresenceHandle,
    id: &str,
    what: &str,
    expected: impl Fn(&AgentState) -> bool,
) {
    until(&format!("{id} {what} in presence"), || async {
        expected(&state(presence, id).await)
    })
    .await;
}

fn reserved(state: &AgentState) -> bool {
    matches!(state, AgentState::Reserved { .. })
}

async fn enqueue(queue: &QueueHandle, call: &str) {
    queue
        .enqueue(CallId::new(call), DepartmentId::new("sales"), Priority(0))
        .await
        .unwrap();
}

#[tokio::test]
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
    // The service reserved her in presence (before offering), and that did not withdraw
    // her from the plan.
    assert!(reserved(&state(&node.presence, "anna").await));
    node.queue
        .answered(CallId::new("c1"), AgentId::new("anna"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sequential_plan_moves_to_the_next_agent_after_ring_seconds() {
    let mut node = start(3).await;
    ready(&node.presence, "anna").await;
    ready(&node.presence, "piotr").await;
    available(&node.queue, 2).await;
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
    jump(secs(16)).await;
    presence_shows(&node.presence, "piotr", "reserved", reserved).await;
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

#[tokio::test]
async fn an_agent_who_misses_offers_is_paused_in_presence_with_no_answer() {
    let mut node = start(1).await;
    ready(&node.presence, "anna").await;
    available(&node.queue, 1).await;
    enqueue(&node.queue, "c1").await;
    assert!(matches!(
        next(&mut node.events).await,
        QueueEvent::Offer { .. }
    ));
    jump(secs(16)).await;
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
    let no_answer = AgentState::Paused {
        reason: PauseReason::NoAnswer,
    };
    presence_shows(&node.presence, "anna", "paused (no answer)", |s| {
        *s == no_answer
    })
    .await;
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
#[tokio::test]
async fn each_member_of_a_long_sequential_plan_is_reserved_when_their_ring_starts() {
    let mut node = start_ringing(3, 100).await;
    ready(&node.presence, "anna").await;
    ready(&node.presence, "piotr").await;
    available(&node.queue, 2).await;
    enqueue(&node.queue, "c1").await;
    assert!(matches!(
        next(&mut node.events).await,
        QueueEvent::Offer { .. }
    ));
    assert!(reserved(&state(&node.presence, "anna").await));
    assert_eq!(
        state(&node.presence, "piotr").await,
        AgentState::Available,
        "his turn is at 100 s"
    );
    jump(secs(101)).await;
    presence_shows(&node.presence, "piotr", "reserved", reserved).await;
    jump(secs(60)).await;
    assert!(
        reserved(&state(&node.presence, "piotr").await),
        "and still reserved at 161 s, past the 120 s a whole-plan reservation was capped at"
    );
    node.queue
        .answered(CallId::new("c1"), AgentId::new("piotr"))
        .await
        .unwrap();
}
