//! `cc.queue.internal.v1.QueueControl`: what sip-edge's call actors tell the queues, and
//! the ring plans they get back. Handlers only convert (see `convert`); every decision is
//! the core's, and refusals map to gRPC codes through the queue's one mapping.
//!
//! In a cluster ([`crate::Ownership`]) an enqueue for a department configured but owned by
//! another queue node is `UNAVAILABLE` ("department sales is served by another queue node":
//! enqueue at the owner); an unknown department stays `NOT_FOUND`. Calls are known only on
//! the node they were enqueued at, so the per-call requests for any other call are
//! `NOT_FOUND`, and `WatchOffers` carries only this node's offers.

mod convert;
mod offers;

use std::time::{SystemTime, UNIX_EPOCH};

use cc_common::actor::now;
use cc_proto::queue::internal::v1 as pb;
use cc_proto::queue::internal::v1::queue_control_server::{QueueControl, QueueControlServer};
use tonic::{Request, Response, Status};

pub use offers::OfferStream;

use crate::convert::status;
use crate::service::QueueHandle;

/// The QueueControl service over one queue handle.
#[derive(Debug, Clone)]
pub struct QueueControlApi {
    queue: QueueHandle,
}

impl QueueControlApi {
    /// The service over `queue` (without the tonic wrapper, e.g. for tests).
    pub fn new(queue: QueueHandle) -> Self {
        Self { queue }
    }

    /// The tonic server for `queue`.
    pub fn server(queue: QueueHandle) -> QueueControlServer<QueueControlApi> {
        QueueControlServer::new(Self::new(queue))
    }
}

#[tonic::async_trait]
impl QueueControl for QueueControlApi {
    async fn enqueue(
        &self,
        request: Request<pb::EnqueueRequest>,
    ) -> Result<Response<pb::EnqueueResponse>, Status> {
        let request = convert::enqueue(request.into_inner(), now(), unix_ms_now())?;
        let joined = self.queue.join(request).await.map_err(status)?;
        Ok(Response::new(convert::enqueued(&joined)))
    }

    async fn abandon(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        let call = convert::call_id(request.into_inner().call_id)?;
        self.queue.abandon(call).await.map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }

    async fn answered(
        &self,
        request: Request<pb::AgentCallRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        let request = request.into_inner();
        let call = convert::call_id(request.call_id)?;
        let agent = convert::agent_id(request.agent_id)?;
        self.queue.answered(call, agent).await.map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }

    async fn presenting(
        &self,
        request: Request<pb::AgentCallRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        let request = request.into_inner();
        let call = convert::call_id(request.call_id)?;
        let agent = convert::agent_id(request.agent_id)?;
        self.queue.presenting(call, agent).await.map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }

    async fn rejected(
        &self,
        request: Request<pb::RejectedRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        let request = request.into_inner();
        let call = convert::call_id(request.call_id)?;
        let agent = convert::agent_id(request.agent_id)?;
        let reason = convert::reject_reason(request.reason)?;
        self.queue
            .rejected(call, agent, reason)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }

    async fn call_ended(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        let call = convert::call_id(request.into_inner().call_id)?;
        self.queue.call_ended(call).await.map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }

    async fn get_position(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::Position>, Status> {
        let call = convert::call_id(request.into_inner().call_id)?;
        let waiting = self.queue.position(&call).await.map_err(status)?;
        Ok(Response::new(convert::position(&waiting)))
    }

    type WatchOffersStream = OfferStream;

    async fn watch_offers(
        &self,
        _request: Request<pb::WatchOffersRequest>,
    ) -> Result<Response<OfferStream>, Status> {
        Ok(Response::new(OfferStream::new(self.queue.subscribe())))
    }
}

/// The Unix time in ms: original enqueue times come from other nodes' wall clocks.
fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
