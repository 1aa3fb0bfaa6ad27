//! The node's gRPC server: the services' APIs plus health (grpc.health.v1) and reflection
//! (v1 and v1alpha, since grpcurl 1.8 only speaks v1alpha).

use std::net::SocketAddr;

use anyhow::Context;
use cc_common::Shutdown;
use cc_media::MediaControlService;
use cc_presence::PresenceHandle;
use cc_presence::api::AgentsApi;
use cc_proto::agents::v1::agents_server::AgentsServer;
use cc_proto::media::internal::v1::media_control_server::MediaControlServer;
use cc_proto::queues::v1::queues_server::QueuesServer;
use cc_queue::QueueHandle;
use cc_queue::api::QueuesApi;
use cc_sip_edge::SipEdge;
use cc_sip_edge::api::RegistrationsApi;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// The services whose APIs this node serves.
pub struct Apis<'a> {
    pub edge: Option<&'a SipEdge>,
    pub media: Option<cc_media::MediaEngine>,
    pub presence: Option<PresenceHandle>,
    pub queue: Option<QueueHandle>,
}

/// Binds the API address and serves until shutdown. Returns the bound address.
pub async fn start(
    addr: SocketAddr,
    apis: Apis<'_>,
    mut shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {addr}"))?;
    let local = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let registrations = apis.edge.map(RegistrationsApi::server);
    if registrations.is_some() {
        health
            .set_serving::<cc_proto::sip::v1::registrations_server::RegistrationsServer<RegistrationsApi>>()
            .await;
    }
    let node = hostname();
    let media = apis.media.map(|m| MediaControlService::server(m, node));
    if media.is_some() {
        health
            .set_serving::<MediaControlServer<MediaControlService>>()
            .await;
    }
    let agents = apis.presence.map(AgentsApi::server);
    if agents.is_some() {
        health.set_serving::<AgentsServer<AgentsApi>>().await;
    }
    let queues = apis.queue.map(QueuesApi::server);
    if queues.is_some() {
        health.set_serving::<QueuesServer<QueuesApi>>().await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(cc_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_optional_service(registrations)
        .add_optional_service(media)
        .add_optional_service(agents)
        .add_optional_service(queues);
    let task = tokio::spawn(async move {
        let incoming = TcpListenerStream::new(listener);
        if let Err(e) = server
            .serve_with_incoming_shutdown(incoming, async move { shutdown.wait().await })
            .await
        {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    tracing::info!(%local, "gRPC API listening");
    Ok((local, task))
}

/// This node's name in load reports: `$HOSTNAME` (the pod name on Kubernetes), else "ccd".
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ccd".into())
}
