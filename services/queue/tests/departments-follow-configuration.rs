//! The queue service follows the configuration: a department added at run time takes calls
//! at once, a changed one rings by its new strategy, and one removed while a caller waits
//! closes to new calls and goes when that caller has left.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use cc_common::config::{DEMO_TOML, Department, Strategy as ConfigStrategy};
use cc_common::{Config, Shutdown};
use cc_presence::PresenceService;
use cc_queue::core::{CallId, DepartmentId, Priority, QueueError};
use cc_queue::{QueueEvent, QueueHandle, QueueService, ServiceError};
use common::{PresenceNode, until};
use tokio::sync::watch;

async fn departments(queue: &QueueHandle) -> Vec<String> {
    queue
        .stats()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.department.to_string())
        .collect()
}

#[tokio::test]
async fn departments_added_changed_and_removed_take_effect_without_a_restart() {
    let demo = Config::from_toml(DEMO_TOML).unwrap();
    let (publish, config) = watch::channel(Arc::new(demo.clone()));
    let (trigger, shutdown) = Shutdown::new();
    let presence = PresenceService::start(config.clone(), None, shutdown.clone())
        .await
        .unwrap();
    let presence = PresenceNode::serve(presence, trigger, shutdown.clone()).await;
    let queue = QueueService::start(config, presence.routes(), None, shutdown)
        .await
        .unwrap()
        .handle();
    assert_eq!(departments(&queue).await, ["sales", "support"]);
    queue
        .enqueue(CallId::new("c1"), DepartmentId::new("sales"), Priority(0))
        .await
        .unwrap();

    // Sales goes (with its number), HR comes, support changes its strategy.
    let mut next = demo.clone();
    next.numbers
        .retain(|n| n.route != Some(cc_common::config::Route::Department("sales".into())));
    next.departments.retain(|d| d.id != "sales");
    next.departments[0].strategy = ConfigStrategy::RingAll;
    next.departments.push(Department {
        id: "hr".into(),
        name: "HR".into(),
        extension: "800".into(),
        strategy: ConfigStrategy::Sequential,
        members: vec!["anna".into()],
        ring_seconds: 10,
        wrap_up_seconds: 0,
        last_agent_minutes: 0,
        last_agent_ring_seconds: 10,
        announce_seconds: 40,
        waiting_choices: false,
        schedule: None,
        callback_mode: Default::default(),
        callback_abandoned: false,
        record_calls: false,
    });
    next.check().unwrap();
    publish.send_replace(Arc::new(next));
    until("the queue follows the new departments", || async {
        departments(&queue).await.contains(&"hr".to_owned())
    })
    .await;

    assert_eq!(
        departments(&queue).await,
        ["sales", "support", "hr"],
        "sales stays while c1 waits"
    );
    assert_eq!(
        queue
            .enqueue(CallId::new("c2"), DepartmentId::new("sales"), Priority(0))
            .await,
        Err(ServiceError::Queue(QueueError::DepartmentClosing(
            DepartmentId::new("sales")
        )))
    );
    queue
        .enqueue(CallId::new("c3"), DepartmentId::new("hr"), Priority(0))
        .await
        .unwrap();
    let hr = queue.waiting(&DepartmentId::new("hr")).await.unwrap();
    assert_eq!(hr.len(), 1);

    let mut events = queue.subscribe();
    queue.abandon(CallId::new("c1")).await.unwrap();
    assert!(matches!(
        events.recv().await.unwrap(),
        QueueEvent::QueueChanged { waiting: 0, .. }
    ));
    assert_eq!(departments(&queue).await, ["support", "hr"]);
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats[1].agents, 1, "hr has anna");
}
