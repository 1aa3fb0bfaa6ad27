//! Presence may run in another process that dies and comes back. While the queue cannot
//! follow it, nobody is offered a call (the states it last saw are no longer fresh); once
//! presence is back (restarted: its agents start offline), the queue follows it again and
//! offers the waiting call to whoever is available there, reserved there.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_cluster::ShardRoutes;
use cc_cluster::keys::PRESENCE_SHARDS;
use cc_common::Shutdown;
use cc_presence::core::{AgentConfig, AgentState};
use cc_queue::core::{AgentId, CallId, DepartmentConfig, DepartmentId, Priority, Strategy};
use cc_queue::{QueueEvent, QueueHandle, QueueService, Settings};
use common::{PresenceNode, ready, state, until};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tonic::transport::{Channel, Endpoint, Uri};

/// One lazy channel that dials wherever presence listens now, as a service name would.
fn channel_to(presence: Arc<Mutex<SocketAddr>>) -> Channel {
    Endpoint::from_static("http://presence.test")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let addr = *presence.lock().unwrap();
            async move { TcpStream::connect(addr).await.map(TokioIo::new) }
        }))
}

fn agents() -> Vec<AgentConfig> {
    vec![AgentConfig::new("anna", "Anna")]
}

async fn available(queue: &QueueHandle, n: usize) {
    until(&format!("{n} available in the queue"), || async {
        queue.stats().await.unwrap()[0].available_agents == n
    })
    .await;
}

/// The next event other than a queue-length change.
async fn next(events: &mut broadcast::Receiver<QueueEvent>) -> QueueEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .unwrap();
        if !matches!(event, QueueEvent::QueueChanged { .. }) {
            return event;
        }
    }
}

#[tokio::test]
async fn the_queue_offers_no_one_while_presence_is_gone_and_follows_it_when_back() {
    let first = PresenceNode::start(agents()).await;
    let at = Arc::new(Mutex::new(first.addr));
    let (_trigger, shutdown) = Shutdown::new();
    let sales = DepartmentConfig::new("sales", Strategy::RingAll).member("anna");
    let queue = QueueService::start_with(
        vec![sales],
        ShardRoutes::single(channel_to(at.clone()), PRESENCE_SHARDS),
        Settings::default(),
        shutdown,
    )
    .await
    .unwrap()
    .handle();
    ready(&first.handle, "anna").await;
    available(&queue, 1).await;

    // Presence dies. What the queue knew of anna is stale: a call now waits for presence.
    first.stop().await;
    available(&queue, 0).await;
    let mut events = queue.subscribe();
    queue
        .enqueue(CallId::new("c1"), DepartmentId::new("sales"), Priority(0))
        .await
        .unwrap();
    // An offer would have been published before the enqueue was answered.
    while let Ok(event) = events.try_recv() {
        assert!(
            matches!(event, QueueEvent::QueueChanged { .. }),
            "nothing offered while presence is gone: {event:?}"
        );
    }

    // Presence comes back elsewhere, knowing nothing of before; anna gets ready there.
    let second = PresenceNode::start(agents()).await;
    *at.lock().unwrap() = second.addr;
    ready(&second.handle, "anna").await;
    let QueueEvent::Offer { call, plan } = next(&mut events).await else {
        panic!("expected an offer");
    };
    assert_eq!(call, CallId::new("c1"));
    assert_eq!(plan.targets[0].agent, AgentId::new("anna"));
    assert!(
        matches!(state(&second.handle, "anna").await, AgentState::Reserved { call, .. } if call.as_str() == "c1"),
        "reserved in the presence that is back"
    );
}
