//! `cc.queues.v1.Queues`: the queues seen from gRPC. Handlers only convert (see
//! [`crate::convert`]); every decision is the core's.
//!
//! In a cluster ([`crate::Ownership`]) a node's core holds the departments it owns only;
//! the API still answers for the whole cluster: `ListQueues` asks every other department
//! owner for its own (`local_only`), `ListWaitingCalls` for a department owned elsewhere is
//! asked of its owner. A department between owners is left out of `ListQueues` and is
//! `UNAVAILABLE` for `ListWaitingCalls`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Coordinator, Owners, Peers, keys};
use cc_proto::queues::v1 as pb;
use cc_proto::queues::v1::queues_client::QueuesClient;
use cc_proto::queues::v1::queues_server::{Queues, QueuesServer};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::service::QueueHandle;

/// How long another queue node has to answer for its departments.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// The Queues service over one queue handle, and the other queue nodes of the cluster.
#[derive(Debug, Clone)]
pub struct QueuesApi {
    queue: QueueHandle,
    cluster: Option<Cluster>,
}

/// Where the departments this node does not own are.
#[derive(Debug, Clone)]
struct Cluster {
    owners: Owners,
    peers: Peers,
    /// This node's name in the cluster.
    node: String,
}

impl QueuesApi {
    /// The service over `queue` alone (without the tonic wrapper, e.g. for tests).
    pub fn new(queue: QueueHandle) -> Self {
        Self {
            queue,
            cluster: None,
        }
    }

    /// The tonic server for `queue`, alone.
    pub fn server(queue: QueueHandle) -> QueuesServer<QueuesApi> {
        QueuesServer::new(Self::new(queue))
    }

    /// The tonic server for `queue` in a cluster: `node` is this node's name, the owners
    /// of the other departments are found through `coordinator`.
    pub fn clustered(
        queue: QueueHandle,
        coordinator: Arc<dyn Coordinator>,
        node: String,
    ) -> QueuesServer<QueuesApi> {
        QueuesServer::new(QueuesApi {
            queue,
            cluster: Some(Cluster {
                owners: Owners::follow(coordinator, keys::QUEUE_OWNERS),
                peers: Peers::default(),
                node,
            }),
        })
    }

    /// A client for the node that owns `department`, unless that is this node (or nobody).
    fn owner_of(&self, department: &str) -> Option<QueuesClient<tonic::transport::Channel>> {
        let cluster = self.cluster.as_ref()?;
        let owner = cluster.owners.get(department)?;
        if owner.node.node == cluster.node {
            return None;
        }
        let channel = cluster.peers.channel(&owner.node.address).ok()?;
        Some(QueuesClient::new(channel))
    }

    /// The queues the other owners report, by department.
    async fn remote_queues(&self) -> HashMap<String, pb::Queue> {
        let Some(cluster) = &self.cluster else {
            return HashMap::new();
        };
        let addresses: BTreeSet<String> = cluster
            .owners
            .subscribe()
            .borrow()
            .values()
            .filter(|o| o.node.node != cluster.node)
            .map(|o| o.node.address.clone())
            .collect();
        let mut asked = tokio::task::JoinSet::new();
        for address in addresses {
            let Ok(channel) = cluster.peers.channel(&address) else {
                continue;
            };
            asked.spawn(async move {
                let mut client = QueuesClient::new(channel);
                let request = pb::ListQueuesRequest { local_only: true };
                match tokio::time::timeout(ASK_TIMEOUT, client.list_queues(request)).await {
                    Ok(Ok(r)) => r.into_inner().queues,
                    Ok(Err(e)) => {
                        tracing::debug!(%address, error = %e, "a queue node did not list its queues");
                        Vec::new()
                    }
                    Err(_) => {
                        tracing::debug!(%address, "a queue node did not list its queues in time");
                        Vec::new()
                    }
                }
            });
        }
        let mut queues = HashMap::new();
        while let Some(listed) = asked.join_next().await {
            for queue in listed.unwrap_or_default() {
                queues.insert(queue.department_id.clone(), queue);
            }
        }
        queues
    }
}

#[tonic::async_trait]
impl Queues for QueuesApi {
    async fn list_queues(
        &self,
        request: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        let stats = self.queue.stats().await.map_err(convert::status)?;
        let local: Vec<pb::Queue> = stats.iter().map(convert::queue).collect();
        if request.into_inner().local_only || self.cluster.is_none() {
            return Ok(Response::new(pb::ListQueuesResponse { queues: local }));
        }
        let mut all = self.remote_queues().await;
        for queue in local {
            all.insert(queue.department_id.clone(), queue);
        }
        let order = self.queue.configured().await.map_err(convert::status)?;
        let queues = order
            .iter()
            .filter_map(|d| all.remove(d.as_str()))
            .collect();
        Ok(Response::new(pb::ListQueuesResponse { queues }))
    }

    async fn list_waiting_calls(
        &self,
        request: Request<pb::ListWaitingCallsRequest>,
    ) -> Result<Response<pb::ListWaitingCallsResponse>, Status> {
        let request = request.into_inner();
        let local_only = request.local_only;
        let department = convert::department_id(request.department_id)?;
        match self.queue.waiting(&department).await {
            Ok(calls) => Ok(Response::new(pb::ListWaitingCallsResponse {
                calls: calls.iter().map(convert::waiting_call).collect(),
            })),
            Err(crate::error::ServiceError::NotOwned(_)) if !local_only => {
                let Some(mut owner) = self.owner_of(department.as_str()) else {
                    return Err(Status::unavailable(format!(
                        "department_id: department {department} has no queue owner right now; try again"
                    )));
                };
                let forwarded = pb::ListWaitingCallsRequest {
                    department_id: department.as_str().to_owned(),
                    local_only: true,
                };
                match tokio::time::timeout(ASK_TIMEOUT, owner.list_waiting_calls(forwarded)).await {
                    Ok(answer) => answer,
                    Err(_) => Err(Status::unavailable(format!(
                        "department_id: the owner of department {department} did not answer in time"
                    ))),
                }
            }
            Err(e) => Err(convert::status(e)),
        }
    }
}
