//! One node on the in-memory coordinator, on a paused clock: an attempt nobody answers is
//! retried after the configured back-off (first wait, then doubled), inside the caller's
//! window, until the customer is reached or the attempts are used up; each outcome is
//! stored and raised as an event.

#![allow(clippy::unwrap_used)]

mod node;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cc_callback::core::{
    CallbackId, Change, CoreConfig, Outcome, PhoneNumber, Priority, Request, Source, State, Target,
    Window,
};
use cc_cluster::{Coordinator, MemoryCoordinator};
use node::{Node, NodeSpec, TestDialer, at, changes, sales, stored, until};

fn config() -> CoreConfig {
    CoreConfig {
        max_attempts: 3,
        first_retry: Duration::from_secs(120),
        retry_factor: 2.0,
        max_retry: Duration::from_secs(3600),
        ..CoreConfig::default()
    }
}

fn request(id: &str) -> Request {
    Request {
        id: CallbackId::new(id),
        number: PhoneNumber::parse("+48221234567").unwrap(),
        name: String::new(),
        reason: String::new(),
        target: Target::department("sales"),
        source: Source::Missed,
        window: Window::new(at(0), at(7200), "UTC").unwrap(),
        enqueued_at: None,
        priority: Priority(0),
        max_attempts: None,
    }
}

async fn node(coordinator: Arc<dyn Coordinator>, dialer: Arc<TestDialer>) -> Node {
    // One agent free: each retry needs the capacity the previous attempt gave back.
    // The feed ends here; the scheduler keeps its last value.
    let (_, free) = sales(1);
    let mut spec = NodeSpec::new("a", "127.0.0.1:1".parse().unwrap(), dialer, free);
    spec.core = config();
    let node = Node::start(coordinator, spec).await;
    node.leading().await;
    node
}

#[tokio::test(start_paused = true)]
async fn unanswered_attempts_are_retried_after_a_doubling_back_off_then_given_up() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let dialer = TestDialer::new(|_| Some(Outcome::NoAnswer));
    let node = node(coordinator.clone(), dialer.clone()).await;
    let mut events = changes(coordinator.clone()).await;

    let id = node
        .handle
        .schedule(request("cb-1"))
        .await
        .unwrap()
        .accepted
        .id()
        .clone();
    let seen = until(&mut events, &id, |c| matches!(c, Change::GaveUp { .. })).await;

    let dialled = dialer.dialled();
    let attempts: Vec<u32> = dialled.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert_eq!(dialled[1].at - dialled[0].at, Duration::from_secs(120));
    assert_eq!(dialled[2].at - dialled[1].at, Duration::from_secs(240));

    let retried: Vec<&Change> = seen
        .iter()
        .map(|(_, c)| c)
        .filter(|c| matches!(c, Change::Retried { .. }))
        .collect();
    assert_eq!(
        retried,
        vec![
            &Change::Retried {
                attempt: 1,
                outcome: Outcome::NoAnswer,
                next_at: at(120),
            },
            &Change::Retried {
                attempt: 2,
                outcome: Outcome::NoAnswer,
                next_at: at(360),
            },
        ]
    );
    assert_eq!(
        seen.last().map(|(t, c)| (*t, c.clone())),
        Some((
            at(360),
            Change::GaveUp {
                attempt: 3,
                outcome: Outcome::NoAnswer,
            }
        ))
    );
    let record = stored(&node.handle, &id).await;
    assert!(matches!(record.state, State::GaveUp { .. }));
    assert_eq!(record.attempts, 3);

    // Given up is final: no further attempt, however long the window stays open.
    tokio::time::advance(Duration::from_secs(7200)).await;
    tokio::task::yield_now().await;
    assert_eq!(dialer.dialled().len(), 3);
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_reaches_the_customer_ends_the_callback() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let dialer = TestDialer::new(move |_| {
        Some(match counted.fetch_add(1, Ordering::SeqCst) {
            0 => Outcome::Busy,
            _ => Outcome::Reached,
        })
    });
    let node = node(coordinator.clone(), dialer.clone()).await;
    let mut events = changes(coordinator.clone()).await;

    let id = node
        .handle
        .schedule(request("cb-1"))
        .await
        .unwrap()
        .accepted
        .id()
        .clone();
    let seen = until(&mut events, &id, |c| matches!(c, Change::Reached { .. })).await;
    assert_eq!(
        seen.last(),
        Some(&(at(120), Change::Reached { attempt: 2 }))
    );
    assert_eq!(dialer.dialled().len(), 2);
    assert!(matches!(
        stored(&node.handle, &id).await.state,
        State::Reached { .. }
    ));
    node.stop().await;
}
