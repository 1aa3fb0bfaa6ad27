//! One node on the in-memory coordinator, on a paused clock: a callback scheduled for later
//! is dialled when its window opens, exactly once, and its outcome is stored and raised as
//! events in order (created, dispatched, reached).

#![allow(clippy::unwrap_used)]

mod node;

use std::sync::Arc;
use std::time::Duration;

use cc_callback::core::{
    CallbackId, Change, Outcome, PhoneNumber, Priority, Request, Source, State, Target, Window,
};
use cc_cluster::{Coordinator, MemoryCoordinator};
use node::{Node, NodeSpec, TestDialer, at, changes, sales, stored, until};

fn request(id: &str, from: u64, to: u64) -> Request {
    Request {
        id: CallbackId::new(id),
        number: PhoneNumber::parse("+48 22 123 45 67").unwrap(),
        name: "Jan Nowak".into(),
        reason: "invoice".into(),
        target: Target::department("sales"),
        source: Source::Api,
        window: Window::new(at(from), at(to), "Europe/Warsaw").unwrap(),
        enqueued_at: None,
        priority: Priority(0),
        max_attempts: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_callback_is_dialled_once_when_due_and_its_reached_outcome_is_an_event() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let dialer = TestDialer::new(|_| Some(Outcome::Reached));
    let (_capacity, free) = sales(1);
    let address = "127.0.0.1:1".parse().unwrap();
    let node = Node::start(
        coordinator.clone(),
        NodeSpec::new("a", address, dialer.clone(), free),
    )
    .await;
    node.leading().await;
    let mut events = changes(coordinator.clone()).await;

    let scheduled = node
        .handle
        .schedule(request("cb-1", 60, 3600))
        .await
        .unwrap();
    assert_eq!(scheduled.record.state, State::Pending);
    let id = scheduled.accepted.id().clone();
    // Nothing before the window opens.
    assert!(dialer.dialled().is_empty());

    let seen = until(&mut events, &id, |c| matches!(c, Change::Reached { .. })).await;
    let changes: Vec<&Change> = seen.iter().map(|(_, c)| c).collect();
    assert!(matches!(
        changes[0],
        Change::Created {
            source: Source::Api
        }
    ));
    assert!(matches!(changes[1], Change::Dispatched { attempt: 1, .. }));
    assert_eq!(changes[2], &Change::Reached { attempt: 1 });
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Dialled when the window opened, not before.
    assert_eq!(seen[1].0, at(60));

    // Long after: still the one attempt, and the callback stored as reached.
    tokio::time::advance(Duration::from_secs(7200)).await;
    tokio::task::yield_now().await;
    let dialled = dialer.dialled();
    assert_eq!(dialled.len(), 1, "{dialled:?}");
    assert_eq!((dialled[0].id.as_str(), dialled[0].attempt), ("cb-1", 1));
    let record = stored(&node.handle, &id).await;
    assert!(matches!(record.state, State::Reached { .. }));
    assert_eq!(record.attempts, 1);
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_second_request_for_the_same_number_and_department_merges_and_is_dialled_once() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let dialer = TestDialer::new(|_| Some(Outcome::Reached));
    let (_capacity, free) = sales(1);
    let address = "127.0.0.1:1".parse().unwrap();
    let node = Node::start(
        coordinator.clone(),
        NodeSpec::new("a", address, dialer.clone(), free),
    )
    .await;
    node.leading().await;
    let mut events = changes(coordinator.clone()).await;

    let first = node
        .handle
        .schedule(request("cb-1", 600, 3600))
        .await
        .unwrap();
    let mut again = request("cb-2", 300, 1200);
    again.reason = "contract".into();
    let second = node.handle.schedule(again).await.unwrap();
    assert_eq!(second.accepted.id(), first.accepted.id());
    assert_eq!(second.record.reasons, vec!["invoice", "contract"]);

    let id = first.accepted.id().clone();
    let seen = until(&mut events, &id, |c| matches!(c, Change::Reached { .. })).await;
    // Due at the earlier of the two windows' starts.
    let dispatched = seen
        .iter()
        .find(|(_, c)| matches!(c, Change::Dispatched { .. }))
        .unwrap();
    assert_eq!(dispatched.0, at(300));
    assert_eq!(dialer.dialled().len(), 1);
    node.stop().await;
}
