//! `cc.sip.v1.Registrations`: the registrar seen from gRPC. Handlers only convert.

use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use cc_proto::sip::v1 as pb;
use cc_proto::sip::v1::registrations_server::{Registrations, RegistrationsServer};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::registrar::{Binding, GoneReason, RegistrarEvent};
use crate::{EdgeHandle, SipEdge};

#[derive(Debug, Clone)]
pub struct RegistrationsApi {
    edge: EdgeHandle,
    /// Where this node takes SIP (for other edges ringing its devices).
    sip_address: std::net::SocketAddr,
}

impl RegistrationsApi {
    pub fn server(edge: &SipEdge) -> RegistrationsServer<RegistrationsApi> {
        let handle = edge.handle();
        let sip_address = handle
            .calls()
            .map_or(edge.local_addr, |calls| calls.local.addr);
        RegistrationsServer::new(RegistrationsApi {
            edge: handle,
            sip_address,
        })
    }
}

fn registration(extension: &str, b: &Binding, now: std::time::Instant) -> pb::Registration {
    pb::Registration {
        extension: extension.to_owned(),
        contact: b.key.clone(),
        source: b.source.to_string(),
        transport: b.transport.as_str().to_owned(),
        expires_in_secs: b.remaining(now),
        user_agent: b.user_agent.clone().unwrap_or_default(),
    }
}

fn event(e: RegistrarEvent) -> pb::DeviceEvent {
    use pb::device_event::Kind;
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    match e {
        RegistrarEvent::DeviceRegistered {
            aor,
            contact,
            source,
        } => pb::DeviceEvent {
            extension: aor,
            contact,
            kind: Kind::Registered.into(),
            source: source.to_string(),
            unix_ms,
        },
        RegistrarEvent::DeviceGone {
            aor,
            contact,
            reason,
        } => pb::DeviceEvent {
            extension: aor,
            contact,
            kind: match reason {
                GoneReason::Expired => Kind::Expired,
                GoneReason::Unregistered => Kind::Unregistered,
                GoneReason::Replaced => Kind::Replaced,
            }
            .into(),
            source: String::new(),
            unix_ms,
        },
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::DeviceEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Registrations for RegistrationsApi {
    async fn list_registrations(
        &self,
        request: Request<pb::ListRegistrationsRequest>,
    ) -> Result<Response<pb::ListRegistrationsResponse>, Status> {
        let filter = request.into_inner().extension;
        let now = std::time::Instant::now();
        let all = self
            .edge
            .registrations()
            .await
            .map_err(|_| Status::unavailable("the SIP core is shutting down"))?;
        let registrations = all
            .iter()
            .filter(|(ext, _)| filter.is_empty() || *ext == filter)
            .flat_map(|(ext, bindings)| bindings.iter().map(|b| registration(ext, b, now)))
            .collect();
        Ok(Response::new(pb::ListRegistrationsResponse {
            registrations,
            sip_address: self.sip_address.to_string(),
        }))
    }

    type WatchDeviceEventsStream = EventStream;

    async fn watch_device_events(
        &self,
        _request: Request<pb::WatchDeviceEventsRequest>,
    ) -> Result<Response<Self::WatchDeviceEventsStream>, Status> {
        let events = self.edge.subscribe();
        tracing::debug!("device event watcher subscribed");
        let stream = BroadcastStream::new(events).map(|r| match r {
            Ok(e) => Ok(event(e)),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Err(Status::data_loss(format!(
                    "watcher fell {n} events behind; list and watch again"
                )))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

impl EdgeHandle {
    fn subscribe(&self) -> broadcast::Receiver<RegistrarEvent> {
        self.events.subscribe()
    }
}
