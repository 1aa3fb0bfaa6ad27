//! `cc.agents.v1.Agents`: presence seen from gRPC. Handlers only convert (see
//! [`crate::convert`]); every decision is the core's.

use std::pin::Pin;

use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_server::{Agents, AgentsServer};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::service::PresenceHandle;

/// The Agents service over one presence handle.
#[derive(Debug, Clone)]
pub struct AgentsApi {
    presence: PresenceHandle,
}

impl AgentsApi {
    /// The service over `presence` (without the tonic wrapper, e.g. for tests).
    pub fn new(presence: PresenceHandle) -> Self {
        Self { presence }
    }

    /// The tonic server for `presence`.
    pub fn server(presence: PresenceHandle) -> AgentsServer<AgentsApi> {
        AgentsServer::new(AgentsApi { presence })
    }

    fn reply(&self, agent: &crate::core::Agent) -> Response<pb::Agent> {
        Response::new(convert::agent(agent, &self.presence.wall_clock()))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::AgentEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Agents for AgentsApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let id = convert::agent_id(request.into_inner().agent_id)?;
        let agent = self.presence.login(&id).await.map_err(convert::status)?;
        Ok(self.reply(&agent))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let id = convert::agent_id(request.into_inner().agent_id)?;
        let agent = self.presence.logout(&id).await.map_err(convert::status)?;
        Ok(self.reply(&agent))
    }

    async fn pause(
        &self,
        request: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let request = request.into_inner();
        let id = convert::agent_id(request.agent_id)?;
        let reason = convert::pause_reason(request.reason, request.text)?;
        let agent = self
            .presence
            .pause(&id, reason)
            .await
            .map_err(convert::status)?;
        Ok(self.reply(&agent))
    }

    async fn resume(
        &self,
        request: Request<pb::ResumeRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let id = convert::agent_id(request.into_inner().agent_id)?;
        let agent = self.presence.resume(&id).await.map_err(convert::status)?;
        Ok(self.reply(&agent))
    }

    async fn list_agents(
        &self,
        _request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let wall = self.presence.wall_clock();
        let agents = self.presence.agents().await.map_err(convert::status)?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents.iter().map(|a| convert::agent(a, &wall)).collect(),
        }))
    }

    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let id = convert::agent_id(request.into_inner().agent_id)?;
        let agent = self.presence.agent(&id).await.map_err(convert::status)?;
        Ok(self.reply(&agent))
    }

    type WatchAgentEventsStream = EventStream;

    async fn watch_agent_events(
        &self,
        request: Request<pb::WatchAgentEventsRequest>,
    ) -> Result<Response<Self::WatchAgentEventsStream>, Status> {
        let from = request.into_inner().from_sequence;
        let wall = self.presence.wall_clock();
        let events = self.presence.watch(from).await.map_err(convert::status)?;
        let stream = ReceiverStream::new(events).map(move |e| match e {
            Ok(e) => Ok(convert::event(&e, &wall)),
            Err(e) => Err(convert::status(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// An agent's state as the public API names it (for other APIs that report agents).
pub fn proto_state(state: &crate::core::AgentState) -> pb::AgentState {
    convert::state(state)
}
