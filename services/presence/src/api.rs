//! `cc.agents.v1.Agents`: presence seen from gRPC. Handlers only convert (see
//! [`crate::convert`]); every decision is the core's.
//!
//! In a cluster ([`AgentsApi::clustered`]) any presence node answers for every agent: a
//! request about an agent of a shard this node does not own is forwarded to the shard's
//! owner (once: a forwarded request is never forwarded again), and `ListAgents` gathers
//! the agents of every owner. `WatchAgentEvents` streams this node's own shards.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::keys::{PRESENCE_OWNERS, PRESENCE_SHARDS};
use cc_cluster::{Coordinator, Owners, Peers, ShardRoutes};
use cc_proto::agents::v1 as pb;
use cc_proto::agents::v1::agents_client::AgentsClient;
use cc_proto::agents::v1::agents_server::{Agents, AgentsServer};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::core::Agent;
use crate::error::ServiceError;
use crate::service::PresenceHandle;

/// Marks a request one presence node forwarded to another.
const FORWARDED: &str = "x-cc-forwarded";

/// How long a forwarded request may take (it waits for a shard without an owner).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The Agents service over one presence handle.
#[derive(Debug, Clone)]
pub struct AgentsApi {
    presence: PresenceHandle,
    cluster: Option<Forward>,
}

/// The other presence nodes, for requests about agents served there.
#[derive(Debug, Clone)]
struct Forward {
    /// This node's name in the cluster.
    node: String,
    owners: Owners,
    routes: ShardRoutes,
    peers: Peers,
}

impl AgentsApi {
    /// The service over `presence` (without the tonic wrapper, e.g. for tests).
    pub fn new(presence: PresenceHandle) -> Self {
        Self {
            presence,
            cluster: None,
        }
    }

    /// The tonic server for `presence`.
    pub fn server(presence: PresenceHandle) -> AgentsServer<AgentsApi> {
        AgentsServer::new(Self::new(presence))
    }

    /// The tonic server for `presence` as the presence node `node` of the cluster behind
    /// `coordinator`: it answers for every agent of the cluster.
    pub fn clustered(
        presence: PresenceHandle,
        coordinator: Arc<dyn Coordinator>,
        node: String,
    ) -> AgentsServer<AgentsApi> {
        let owners = Owners::follow(coordinator, PRESENCE_OWNERS);
        let routes = ShardRoutes::follow(&owners, PRESENCE_SHARDS);
        let cluster = Forward {
            node,
            owners,
            routes,
            peers: Peers::default(),
        };
        AgentsServer::new(Self {
            presence,
            cluster: Some(cluster),
        })
    }

    fn reply(&self, agent: &Agent) -> Response<pb::Agent> {
        Response::new(convert::agent(agent, &self.presence.wall_clock()))
    }

    /// Answers with this node's `result`, or, when the agent is another node's, with what
    /// `remote` gets from the owner of its shard (unless the request was forwarded here).
    async fn answer<F>(
        &self,
        forwarded: bool,
        result: Result<Agent, ServiceError>,
        remote: impl FnOnce(AgentsClient<Channel>) -> F,
    ) -> Result<Response<pb::Agent>, Status>
    where
        F: Future<Output = Result<Response<pb::Agent>, Status>>,
    {
        match (result, &self.cluster) {
            (Ok(agent), _) => Ok(self.reply(&agent)),
            (Err(ServiceError::NotOwned { shard, .. }), Some(cluster)) if !forwarded => {
                let client = AgentsClient::new(cluster.routes.get(shard));
                match tokio::time::timeout(FORWARD_TIMEOUT, remote(client)).await {
                    Ok(answer) => answer,
                    Err(_) => Err(Status::unavailable(format!(
                        "presence shard {shard} has no owner that answers (a takeover may be in progress); retry"
                    ))),
                }
            }
            (Err(e), _) => Err(convert::status(e)),
        }
    }

    /// Every agent of the cluster: this node's and each other owner's, ordered by id.
    async fn everyone(&self, cluster: &Forward) -> Result<Vec<pb::Agent>, Status> {
        let wall = self.presence.wall_clock();
        let owners = cluster.owners.subscribe().borrow().clone();
        let unowned: Vec<u32> = (0..PRESENCE_SHARDS)
            .filter(|s| !owners.contains_key(&s.to_string()))
            .collect();
        if !unowned.is_empty() {
            return Err(Status::unavailable(format!(
                "presence shards {unowned:?} have no owner right now (a takeover is in progress); retry"
            )));
        }
        let others: BTreeMap<String, String> = owners
            .values()
            .filter(|o| o.node.node != cluster.node)
            .map(|o| (o.node.node.clone(), o.node.address.clone()))
            .collect();
        let mut agents: Vec<pb::Agent> = self
            .presence
            .agents()
            .await
            .map_err(convert::status)?
            .iter()
            .map(|a| convert::agent(a, &wall))
            .collect();
        for (node, address) in others {
            let channel = cluster
                .peers
                .channel(&address)
                .map_err(|e| Status::unavailable(format!("presence node {node}: {e}")))?;
            let request = forwarded(pb::ListAgentsRequest { local_only: true });
            let listed = tokio::time::timeout(
                FORWARD_TIMEOUT,
                AgentsClient::new(channel).list_agents(request),
            )
            .await
            .map_err(|_| Status::unavailable(format!("presence node {node} did not answer")))?
            .map_err(|e| Status::unavailable(format!("presence node {node}: {}", e.message())))?;
            agents.extend(listed.into_inner().agents);
        }
        agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        agents.dedup_by(|a, b| a.agent_id == b.agent_id);
        Ok(agents)
    }
}

/// `message` as a request one presence node forwards to another.
fn forwarded<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    request
}

/// Whether `request` was forwarded by another presence node.
fn was_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::AgentEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Agents for AgentsApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::agent_id(request.agent_id.clone())?;
        let result = self.presence.login(&id).await;
        self.answer(hop, result, |mut c| async move {
            c.login(forwarded(request)).await
        })
        .await
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::agent_id(request.agent_id.clone())?;
        let result = self.presence.logout(&id).await;
        self.answer(hop, result, |mut c| async move {
            c.logout(forwarded(request)).await
        })
        .await
    }

    async fn pause(
        &self,
        request: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::agent_id(request.agent_id.clone())?;
        let reason = convert::pause_reason(request.reason, request.text.clone())?;
        let result = self.presence.pause(&id, reason).await;
        self.answer(hop, result, |mut c| async move {
            c.pause(forwarded(request)).await
        })
        .await
    }

    async fn resume(
        &self,
        request: Request<pb::ResumeRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::agent_id(request.agent_id.clone())?;
        let result = self.presence.resume(&id).await;
        self.answer(hop, result, |mut c| async move {
            c.resume(forwarded(request)).await
        })
        .await
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        if let (false, Some(cluster)) = (request.get_ref().local_only, &self.cluster) {
            let agents = self.everyone(cluster).await?;
            return Ok(Response::new(pb::ListAgentsResponse { agents }));
        }
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
        let hop = was_forwarded(&request);
        let request = request.into_inner();
        let id = convert::agent_id(request.agent_id.clone())?;
        let result = self.presence.agent(&id).await;
        self.answer(hop, result, |mut c| async move {
            c.get_agent(forwarded(request)).await
        })
        .await
    }

    type WatchAgentEventsStream = EventStream;

    async fn watch_agent_events(
        &self,
        request: Request<pb::WatchAgentEventsRequest>,
    ) -> Result<Response<Self::WatchAgentEventsStream>, Status> {
        let from = request.into_inner().from_sequence;
        let wall = self.presence.wall_clock();
        let events = self.presence.watch(from).await.map_err(convert::status)?;
        // Only the agents this node serves when each event is sent: another node's
        // agents here are forgotten ones.
        let scope = self.presence.scope();
        let stream = ReceiverStream::new(events).filter_map(move |e| match e {
            Ok(e) if scope.borrow().covers(e.agent()) => Some(Ok(convert::event(&e, &wall))),
            Ok(_) => None,
            Err(e) => Some(Err(convert::status(e))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// An agent's state as the public API names it (for other APIs that report agents).
pub fn proto_state(state: &crate::core::AgentState) -> pb::AgentState {
    convert::state(state)
}
