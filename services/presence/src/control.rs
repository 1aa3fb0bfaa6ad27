//! `cc.presence.internal.v1.PresenceControl`: what the other services tell presence. The
//! queue reserves agents for calls; sip-edge's call actors report about the agents reserved
//! for their calls (and, to a presence node that took over, about calls already in
//! progress), and its registrar about employees' phones (mapped to agents by extension
//! here, see [`crate::adapters`]; each names the sip-edge node holding its registration).
//! Handlers only convert (see `convert`); the core decides, and refuses a call the agent is
//! not engaged in (FAILED_PRECONDITION). In a cluster, the queue follows each presence shard
//! at its owner (`WatchShard`), and every request about an agent goes to the owner of the
//! agent's shard; another node refuses it with UNAVAILABLE.

mod convert;

use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_server::{
    PresenceControl, PresenceControlServer,
};
use std::pin::Pin;

use cc_proto::agents::v1 as agents;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::actor::Command;
use crate::adapters::{Extensions, SipDevices};
use crate::convert::status;
use crate::core::{AgentId, CallId, PresenceEvent};
use crate::service::PresenceHandle;

/// The PresenceControl service over one presence handle.
#[derive(Debug, Clone)]
pub struct PresenceControlApi {
    presence: PresenceHandle,
    devices: SipDevices,
}

impl PresenceControlApi {
    /// The service over `presence`, taking phones' extensions to agents by `extensions`
    /// (without the tonic wrapper, e.g. for tests).
    pub fn new(presence: PresenceHandle, extensions: Extensions) -> Self {
        let devices = SipDevices::new(presence.clone(), extensions);
        Self { presence, devices }
    }

    /// The tonic server for `presence`.
    pub fn server(
        presence: PresenceHandle,
        extensions: Extensions,
    ) -> PresenceControlServer<PresenceControlApi> {
        PresenceControlServer::new(Self::new(presence, extensions))
    }

    /// Applies a call-phase report to the agent it names.
    async fn report(
        &self,
        request: pb::AgentCall,
        command: fn(CallId) -> Command,
    ) -> Result<Response<pb::Done>, Status> {
        let (agent, call) = convert::agent_call(request)?;
        self.apply((agent, command(call))).await
    }

    /// Applies a converted request's command to its agent.
    async fn apply(
        &self,
        (agent, command): (AgentId, Command),
    ) -> Result<Response<pb::Done>, Status> {
        self.presence.apply(&agent, command).await.map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }
}

type ShardStream = Pin<Box<dyn Stream<Item = Result<agents::AgentEvent, Status>> + Send>>;

#[tonic::async_trait]
impl PresenceControl for PresenceControlApi {
    type WatchShardStream = ShardStream;

    async fn watch_shard(
        &self,
        request: Request<pb::WatchShardRequest>,
    ) -> Result<Response<Self::WatchShardStream>, Status> {
        let shard = request.into_inner().shard;
        let wall = self.presence.wall_clock();
        let (now, events) = self.presence.watch_shard(shard).await.map_err(status)?;
        // The snapshot as ADDED events in each agent's current state, numbered as the
        // last event before the live ones.
        let snapshot: Vec<Result<agents::AgentEvent, Status>> = now
            .iter()
            .map(|agent| {
                let added = PresenceEvent::AgentAdded {
                    seq: 0,
                    agent: agent.id().clone(),
                    state: agent.state().clone(),
                    at: agent.since(),
                };
                Ok(crate::convert::event(&added, &wall))
            })
            .collect();
        let live = ReceiverStream::new(events).map(move |e| match e {
            Ok(e) => Ok(crate::convert::event(&e, &wall)),
            Err(e) => Err(status(e)),
        });
        Ok(Response::new(Box::pin(
            tokio_stream::iter(snapshot).chain(live),
        )))
    }

    async fn reserve(
        &self,
        request: Request<pb::ReserveRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        self.apply(convert::reserve(request.into_inner())?).await
    }

    async fn confirm_ringing(
        &self,
        request: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        self.report(request.into_inner(), Command::ConfirmRinging)
            .await
    }

    async fn answered(
        &self,
        request: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        self.report(request.into_inner(), Command::Answered).await
    }

    async fn call_ended(
        &self,
        request: Request<pb::CallEndedRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        self.apply(convert::call_ended(request.into_inner())?).await
    }

    async fn released(
        &self,
        request: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        self.report(request.into_inner(), Command::Released).await
    }

    async fn call_in_progress(
        &self,
        request: Request<pb::CallInProgressRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        self.apply(convert::call_in_progress(request.into_inner())?)
            .await
    }

    async fn device_registered(
        &self,
        request: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        let phone = convert::device(request.into_inner())?;
        let agent = self
            .devices
            .registered(&phone.extension, &phone.contact, phone.edge)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeviceResponse { agent }))
    }

    async fn device_gone(
        &self,
        request: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        // The contact alone names the device; the edge it was on does not matter here.
        let phone = convert::device(request.into_inner())?;
        let agent = self
            .devices
            .gone(&phone.extension, &phone.contact)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeviceResponse { agent }))
    }
}
