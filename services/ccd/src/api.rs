//! The node's gRPC server: the services' APIs plus health (grpc.health.v1) and reflection
//! (v1 and v1alpha, since grpcurl 1.8 only speaks v1alpha).

use std::sync::Arc;

use cc_callback::messages::api::MessagesApi;
use cc_common::Shutdown;
use cc_common::config::ConfigWatch;
use cc_config::ConfigStore;
use cc_config::api::ConfigApi;
use cc_media::MediaControlService;
use cc_presence::PresenceService;
use cc_presence::api::AgentsApi;
use cc_presence::control::PresenceControlApi;
use cc_proto::agents::v1::agents_server::AgentsServer;
use cc_proto::config::v1::configuration_server::ConfigurationServer;
use cc_proto::media::internal::v1::media_control_server::MediaControlServer;
use cc_proto::messages::v1::messages_server::MessagesServer;
use cc_proto::presence::internal::v1::presence_control_server::PresenceControlServer;
use cc_proto::queue::internal::v1::queue_control_server::QueueControlServer;
use cc_proto::queues::v1::queues_server::QueuesServer;
use cc_proto::routing::internal::v1::routing_server::RoutingServer;
use cc_queue::QueueHandle;
use cc_queue::api::QueuesApi;
use cc_queue::control::QueueControlApi;
use cc_routing::api::RoutingApi;
use cc_sip_edge::SipEdge;
use cc_sip_edge::api::RegistrationsApi;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// The services whose APIs this node serves.
pub struct Apis<'a> {
    pub edge: Option<&'a SipEdge>,
    pub media: Option<cc_media::MediaEngine>,
    /// Also serves `PresenceControl` for the queue and sip-edge (reservations, call reports,
    /// phones).
    pub presence: Option<&'a PresenceService>,
    /// Also serves `QueueControl` for the call actors.
    pub queue: Option<QueueHandle>,
    /// The configuration to route calls by (followed as it changes), where routing runs.
    pub routing: Option<ConfigWatch>,
    /// The configuration store the Configuration API edits, where it is served.
    pub config: Option<Arc<ConfigStore>>,
    /// The node's event stream.
    /// The cluster's coordinator and this node's name in it (APIs that answer for the
    /// whole cluster find the other nodes through it).
    pub cluster: Option<(Arc<dyn cc_cluster::Coordinator>, String)>,
    /// The cluster's event stream, and this node's own (what other nodes gather).
    pub events: (crate::events::EventHub, crate::events::EventHub),
    /// The Messages API: the message store, where this node's recordings are, where
    /// messages' callbacks are scheduled.
    pub messages: Option<MessagesApi>,
    /// The node's callback scheduler: serves the Callbacks API.
    pub callbacks: Option<cc_callback::SchedulerHandle>,
    /// The node's reports (a reporting node).
    pub reporting: Option<cc_reporting::node::api::ReportingApi>,
}

/// Serves the APIs on an already bound listener (bound early, so that sip-edge can be
/// pointed at it before it starts) until shutdown. Returns the health reporter (a draining
/// node reports NOT_SERVING through it) and the server's task.
pub async fn start(
    listener: TcpListener,
    apis: Apis<'_>,
    mut shutdown: Shutdown,
) -> anyhow::Result<(
    tonic_health::server::HealthReporter,
    tokio::task::JoinHandle<()>,
)> {
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
    let agents = apis.presence.map(|p| match &apis.cluster {
        Some((coordinator, node)) => {
            AgentsApi::clustered(p.handle(), coordinator.clone(), node.clone())
        }
        None => AgentsApi::server(p.handle()),
    });
    if agents.is_some() {
        health.set_serving::<AgentsServer<AgentsApi>>().await;
    }
    let presence_control = apis
        .presence
        .map(|p| PresenceControlApi::server(p.handle(), p.extensions()));
    if presence_control.is_some() {
        health
            .set_serving::<PresenceControlServer<PresenceControlApi>>()
            .await;
    }
    let calls = apis
        .edge
        .and_then(|e| e.handle().calls())
        .map(cc_sip_edge::calls::CallsApi::server);
    if calls.is_some() {
        health
            .set_serving::<cc_proto::calls::v1::calls_server::CallsServer<cc_sip_edge::calls::CallsApi>>()
            .await;
    }
    let dialer = apis
        .edge
        .and_then(|e| e.handle().calls())
        .map(cc_sip_edge::calls::DialerApi::server);
    if dialer.is_some() {
        health
            .set_serving::<cc_proto::sip::internal::v1::dialer_server::DialerServer<cc_sip_edge::calls::DialerApi>>()
            .await;
    }
    let callbacks = apis.callbacks.map(cc_callback::api::CallbacksApi::server);
    if callbacks.is_some() {
        health
            .set_serving::<cc_proto::callbacks::v1::callbacks_server::CallbacksServer<
                cc_callback::api::CallbacksApi,
            >>()
            .await;
    }
    let events = crate::events::EventsApi::server(apis.events.0, apis.events.1);
    health
        .set_serving::<cc_proto::events::v1::events_server::EventsServer<crate::events::EventsApi>>(
        )
        .await;
    let queues = apis.queue.clone().map(|queue| match &apis.cluster {
        Some((coordinator, node)) => QueuesApi::clustered(queue, coordinator.clone(), node.clone()),
        None => QueuesApi::server(queue),
    });
    if queues.is_some() {
        health.set_serving::<QueuesServer<QueuesApi>>().await;
    }
    let queue_control = apis.queue.map(QueueControlApi::server);
    if queue_control.is_some() {
        health
            .set_serving::<QueueControlServer<QueueControlApi>>()
            .await;
    }
    let routing = match apis.routing {
        // Test-only: `CCD_FAKE_NOW` fixes the instant routing decides at (schedules, greetings).
        Some(config) => {
            let fake_now = std::env::var(cc_routing::clock::FAKE_NOW_ENV).ok();
            let clock = cc_routing::clock::Clock::from_fake_now(fake_now.as_deref())?;
            Some(RoutingApi::server_with_clock(config, clock))
        }
        None => None,
    };
    if routing.is_some() {
        health.set_serving::<RoutingServer<RoutingApi>>().await;
    }
    let config = apis.config.map(ConfigApi::server);
    if config.is_some() {
        health.set_serving::<ConfigurationServer<ConfigApi>>().await;
    }
    let messages = apis.messages.map(MessagesServer::new);
    if messages.is_some() {
        health.set_serving::<MessagesServer<MessagesApi>>().await;
    }
    let reporting = apis
        .reporting
        .map(cc_reporting::node::api::ReportingApi::server);
    if reporting.is_some() {
        health
            .set_serving::<cc_proto::reporting::v1::reporting_server::ReportingServer<
                cc_reporting::node::api::ReportingApi,
            >>()
            .await;
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
        .add_optional_service(presence_control)
        .add_optional_service(queues)
        .add_optional_service(queue_control)
        .add_optional_service(routing)
        .add_optional_service(config)
        .add_optional_service(messages)
        .add_optional_service(calls)
        .add_optional_service(dialer)
        .add_optional_service(callbacks)
        .add_optional_service(reporting)
        .add_service(events);
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
    Ok((health, task))
}

/// This node's name in load reports: `$HOSTNAME` (the pod name on Kubernetes), else "ccd".
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ccd".into())
}
