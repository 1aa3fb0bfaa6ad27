//! Presence for the queue tests, reached as the queue always reaches it: a real presence
//! service whose gRPC APIs (`Agents` and `PresenceControl`, as `ccd` serves them) listen on
//! 127.0.0.1:0, and a channel to them. Also helpers to wait for what the tests expect, and
//! to move the clock forward without pausing it for good: the gRPC traffic goes through
//! real sockets, which a paused clock would not wait for (it jumps to the next timer
//! whenever the runtime waits for I/O).
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use cc_cluster::ShardRoutes;
use cc_cluster::keys::PRESENCE_SHARDS;
use cc_common::Shutdown;
use cc_common::shutdown::ShutdownTrigger;
use cc_presence::api::AgentsApi;
use cc_presence::control::PresenceControlApi;
use cc_presence::core::{AgentConfig, AgentId, AgentState, Device, DeviceId, DeviceKind};
use cc_presence::{PresenceHandle, PresenceService};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};

/// A presence node: the service and its gRPC server, until [`PresenceNode::stop`].
pub struct PresenceNode {
    pub handle: PresenceHandle,
    pub addr: SocketAddr,
    trigger: ShutdownTrigger,
    server: JoinHandle<()>,
}

impl PresenceNode {
    /// Presence with these agents (all offline), served on 127.0.0.1:0.
    pub async fn start(agents: Vec<AgentConfig>) -> PresenceNode {
        let (trigger, shutdown) = Shutdown::new();
        let service = PresenceService::start_with(agents, Default::default(), shutdown.clone())
            .await
            .unwrap();
        Self::serve(service, trigger, shutdown).await
    }

    /// Serves a started presence service until `shutdown`.
    pub async fn serve(
        service: PresenceService,
        trigger: ShutdownTrigger,
        mut shutdown: Shutdown,
    ) -> PresenceNode {
        let handle = service.handle();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(AgentsApi::server(handle.clone()))
            .add_service(PresenceControlApi::server(
                handle.clone(),
                service.extensions(),
            ));
        let server = tokio::spawn(async move {
            server
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async move {
                    shutdown.wait().await;
                })
                .await
                .unwrap();
        });
        PresenceNode {
            handle,
            addr,
            trigger,
            server,
        }
    }

    /// A lazy channel to this node, as `ccd` gives the queue.
    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy()
    }

    /// Every presence shard at this node (it owns them all), as the queue takes presence.
    pub fn routes(&self) -> ShardRoutes {
        ShardRoutes::single(self.channel(), PRESENCE_SHARDS)
    }

    /// Presence dies: the service stops, its server with it (streams end, the port closes).
    pub async fn stop(self) {
        self.trigger.trigger();
        self.server.await.unwrap();
    }
}

/// Logs the agent in and registers a phone: available, unless busy or paused.
pub async fn ready(presence: &PresenceHandle, id: &str) {
    let agent = AgentId::new(id);
    presence.login(&agent).await.unwrap();
    let device = Device {
        id: DeviceId::new(format!("sip:{id}@127.0.0.1")),
        kind: DeviceKind::Sip {
            extension: "201".into(),
            contact: format!("sip:{id}@127.0.0.1"),
        },
        edge: None,
    };
    presence.device_registered(&agent, device).await.unwrap();
}

/// The agent's state in presence.
pub async fn state(presence: &PresenceHandle, id: &str) -> AgentState {
    presence
        .agent(&AgentId::new(id))
        .await
        .unwrap()
        .state()
        .clone()
}

/// Waits until `check` holds, asking again each time the runtime has run everything else
/// (no fixed sleep: the answer comes through sockets, after however many turns it takes).
/// Panics naming `what` after 10 s.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !check().await {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(waited.is_ok(), "still waiting after 10 s for: {what}");
}

/// Moves the clock forward by `by` at once, firing every timer due by then, and lets it run
/// on in real time. For tests on a current-thread runtime that has not paused the clock.
pub async fn jump(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}
