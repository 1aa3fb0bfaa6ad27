//! `cc.presence.internal.v1.PresenceControl`: what sip-edge's call actors report about the
//! agents a queue reserved for their calls. Handlers only convert (see `convert`); the core
//! decides, and refuses a call the agent is not engaged in (FAILED_PRECONDITION).

mod convert;

use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_server::{
    PresenceControl, PresenceControlServer,
};
use tonic::{Request, Response, Status};

use crate::actor::Command;
use crate::convert::status;
use crate::core::CallId;
use crate::service::PresenceHandle;

/// The PresenceControl service over one presence handle.
#[derive(Debug, Clone)]
pub struct PresenceControlApi {
    presence: PresenceHandle,
}

impl PresenceControlApi {
    /// The service over `presence` (without the tonic wrapper, e.g. for tests).
    pub fn new(presence: PresenceHandle) -> Self {
        Self { presence }
    }

    /// The tonic server for `presence`.
    pub fn server(presence: PresenceHandle) -> PresenceControlServer<PresenceControlApi> {
        PresenceControlServer::new(Self::new(presence))
    }

    /// Applies a call-phase report to the agent it names.
    async fn report(
        &self,
        request: pb::AgentCall,
        command: fn(CallId) -> Command,
    ) -> Result<Response<pb::Done>, Status> {
        let (agent, call) = convert::agent_call(request)?;
        self.presence
            .apply(&agent, command(call))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }
}

#[tonic::async_trait]
impl PresenceControl for PresenceControlApi {
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
        let (agent, command) = convert::call_ended(request.into_inner())?;
        self.presence.apply(&agent, command).await.map_err(status)?;
        Ok(Response::new(pb::Done {}))
    }

    async fn released(
        &self,
        request: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        self.report(request.into_inner(), Command::Released).await
    }
}
