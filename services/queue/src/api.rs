//! `cc.queues.v1.Queues`: the queues seen from gRPC. Handlers only convert (see
//! [`crate::convert`]); every decision is the core's.
//!
//! In a cluster ([`crate::Ownership`]) a node answers for the departments it owns only:
//! `ListQueues` lists those, and `ListWaitingCalls` for a department another node owns is
//! `UNAVAILABLE` ("served by another queue node"). A complete view asks every queue node.

use cc_proto::queues::v1 as pb;
use cc_proto::queues::v1::queues_server::{Queues, QueuesServer};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::service::QueueHandle;

/// The Queues service over one queue handle (in a cluster: the departments this node owns).
#[derive(Debug, Clone)]
pub struct QueuesApi {
    queue: QueueHandle,
}

impl QueuesApi {
    /// The service over `queue` (without the tonic wrapper, e.g. for tests).
    pub fn new(queue: QueueHandle) -> Self {
        Self { queue }
    }

    /// The tonic server for `queue`.
    pub fn server(queue: QueueHandle) -> QueuesServer<QueuesApi> {
        QueuesServer::new(QueuesApi { queue })
    }
}

#[tonic::async_trait]
impl Queues for QueuesApi {
    async fn list_queues(
        &self,
        _request: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        let stats = self.queue.stats().await.map_err(convert::status)?;
        Ok(Response::new(pb::ListQueuesResponse {
            queues: stats.iter().map(convert::queue).collect(),
        }))
    }

    async fn list_waiting_calls(
        &self,
        request: Request<pb::ListWaitingCallsRequest>,
    ) -> Result<Response<pb::ListWaitingCallsResponse>, Status> {
        let department = convert::department_id(request.into_inner().department_id)?;
        let calls = self
            .queue
            .waiting(&department)
            .await
            .map_err(convert::status)?;
        Ok(Response::new(pb::ListWaitingCallsResponse {
            calls: calls.iter().map(convert::waiting_call).collect(),
        }))
    }
}
