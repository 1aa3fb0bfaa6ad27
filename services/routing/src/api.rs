//! `cc.routing.internal.v1.Routing`: the routing table seen from gRPC. The handler only
//! converts (see [`crate::convert`]) and supplies the time; every decision is the core's.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cc_common::Config;
use cc_proto::routing::internal::v1 as pb;
use cc_proto::routing::internal::v1::routing_server::{Routing, RoutingServer};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::core::RoutingTable;

/// The Routing service over one organisation's routing table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RoutingApi {
    table: Arc<RoutingTable>,
}

impl RoutingApi {
    /// The service over the table built from `config` (without the tonic wrapper, e.g. for
    /// tests).
    pub fn new(config: &Config) -> Self {
        Self {
            table: Arc::new(RoutingTable::new(config)),
        }
    }

    /// The tonic server for `config`'s routing table.
    pub fn server(config: &Config) -> RoutingServer<RoutingApi> {
        RoutingServer::new(Self::new(config))
    }
}

#[tonic::async_trait]
impl Routing for RoutingApi {
    async fn decide(
        &self,
        request: Request<pb::DecideRequest>,
    ) -> Result<Response<pb::DecideResponse>, Status> {
        let request = request.into_inner();
        let facts = convert::facts(request.facts.as_ref())?;
        let step = self
            .table
            .decide(&convert::call(&request), &facts, now_unix());
        Ok(Response::new(convert::step(step)))
    }
}

/// The Unix time in seconds; greetings follow the wall clock, not a monotonic one.
fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
