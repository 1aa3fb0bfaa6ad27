//! Channels that follow the cluster: a client built once on `Owners::route` reaches whoever
//! owns the key now, and one on `Members::route` reaches the nodes registered now. Two real
//! gRPC servers (grpc.health.v1, each saying a different status for one service name) tell
//! which node answered.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, Members, MemoryCoordinator, NodeInfo, Owners};
use tonic::transport::Channel;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A gRPC server on a free loopback port whose health says `status` for the service "who".
async fn server(status: ServingStatus) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("who", status).await;
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
        drop(reporter);
    });
    (addr, task)
}

fn node(service: &str, name: &str, address: SocketAddr) -> Vec<u8> {
    serde_json::to_vec(&NodeInfo {
        service: service.into(),
        node: name.into(),
        address: address.to_string(),
        load: 0,
    })
    .unwrap()
}

async fn put(coordinator: &Arc<dyn Coordinator>, key: &str, value: Vec<u8>) {
    coordinator.put(key, value, None).await.unwrap();
}

/// Who answers "who" through `channel` (bounded per request).
async fn who(channel: &Channel) -> Option<i32> {
    let mut client = HealthClient::new(channel.clone());
    let request = HealthCheckRequest {
        service: "who".into(),
    };
    match tokio::time::timeout(Duration::from_millis(500), client.check(request)).await {
        Ok(Ok(r)) => Some(r.into_inner().status),
        _ => None,
    }
}

/// Asks until the answer is `wanted` (bounded).
async fn until_who(channel: &Channel, wanted: Option<i32>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = who(channel).await;
        if now == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {now:?}, not {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SERVING: Option<i32> = Some(1);
const NOT_SERVING: Option<i32> = Some(2);

#[tokio::test]
async fn a_channel_to_an_owner_follows_the_ownership_as_it_moves() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let (a, _a) = server(ServingStatus::Serving).await;
    let (b, _b) = server(ServingStatus::NotServing).await;
    let owners = Owners::follow(coordinator.clone(), "/cc/own/test/");
    let channel = owners.route("sales");
    // Nobody owns it: requests wait (here until the caller's deadline).
    assert_eq!(who(&channel).await, None);
    put(&coordinator, "/cc/own/test/sales", node("queue", "a", a)).await;
    until_who(&channel, SERVING).await;
    assert_eq!(owners.get("sales").unwrap().node.node, "a");
    put(&coordinator, "/cc/own/test/sales", node("queue", "b", b)).await;
    until_who(&channel, NOT_SERVING).await;
    // Once moved, every request goes to the new owner.
    for _ in 0..20 {
        assert_eq!(who(&channel).await, NOT_SERVING);
    }
    coordinator.delete("/cc/own/test/sales").await.unwrap();
    until_who(&channel, None).await;
    assert!(owners.get("sales").is_none());
}

#[tokio::test]
async fn a_channel_to_a_service_reaches_the_nodes_registered_now() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    let (a, _a) = server(ServingStatus::Serving).await;
    let (b, _b) = server(ServingStatus::NotServing).await;
    let members = Members::follow(coordinator.clone(), "routing");
    let channel = members.route();
    put(&coordinator, "/cc/nodes/routing/a", node("routing", "a", a)).await;
    until_who(&channel, SERVING).await;
    put(&coordinator, "/cc/nodes/routing/b", node("routing", "b", b)).await;
    // Balanced over both.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.insert(who(&channel).await);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, [SERVING, NOT_SERVING].into_iter().collect());
    // A node that leaves gets no more requests.
    coordinator.delete("/cc/nodes/routing/a").await.unwrap();
    until_who(&channel, NOT_SERVING).await;
    for _ in 0..20 {
        assert_eq!(who(&channel).await, NOT_SERVING);
    }
}
