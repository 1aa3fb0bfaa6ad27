//! `cc.routing.internal.v1.Routing`: the routing table seen from gRPC. The handler only
//! converts (see [`crate::convert`]) and supplies the time from its [`Clock`] (the system
//! clock unless a test fixes it); every decision is the core's.
//!
//! The table follows the configuration: it is rebuilt from the latest snapshot on the first
//! decision after a change (building is cheap, and no task is needed), so a number, an
//! extension or a department added through the configuration API routes at once.

use std::sync::{Arc, PoisonError, RwLock};

use cc_common::Config;
use cc_common::config::ConfigWatch;
use cc_proto::routing::internal::v1 as pb;
use cc_proto::routing::internal::v1::routing_server::{Routing, RoutingServer};
use tonic::{Request, Response, Status};

use crate::clock::Clock;
use crate::convert;
use crate::core::RoutingTable;

/// The Routing service over one organisation's routing table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RoutingApi {
    config: ConfigWatch,
    /// The table and the snapshot it was built from.
    built: Arc<RwLock<Built>>,
    clock: Clock,
}

#[derive(Debug)]
struct Built {
    from: Arc<Config>,
    table: Arc<RoutingTable>,
}

impl RoutingApi {
    /// The service over the table of the latest `config` snapshot (without the tonic
    /// wrapper, e.g. for tests).
    pub fn new(config: ConfigWatch) -> Self {
        Self::with_clock(config, Clock::system())
    }

    /// The service deciding at the times `clock` gives (tests fix it).
    pub fn with_clock(config: ConfigWatch, clock: Clock) -> Self {
        let from = config.borrow().clone();
        let table = Arc::new(RoutingTable::new(&from));
        Self {
            config,
            built: Arc::new(RwLock::new(Built { from, table })),
            clock,
        }
    }

    /// The tonic server following `config`.
    pub fn server(config: ConfigWatch) -> RoutingServer<RoutingApi> {
        RoutingServer::new(Self::new(config))
    }

    /// The tonic server following `config`, deciding at the times `clock` gives.
    pub fn server_with_clock(config: ConfigWatch, clock: Clock) -> RoutingServer<RoutingApi> {
        RoutingServer::new(Self::with_clock(config, clock))
    }

    /// The table of the latest snapshot, rebuilt first if the snapshot changed.
    fn table(&self) -> Arc<RoutingTable> {
        let latest = self.config.borrow().clone();
        {
            let built = self.built.read().unwrap_or_else(PoisonError::into_inner);
            if Arc::ptr_eq(&built.from, &latest) {
                return built.table.clone();
            }
        }
        let table = Arc::new(RoutingTable::new(&latest));
        let mut built = self.built.write().unwrap_or_else(PoisonError::into_inner);
        // Two decisions may race to rebuild; one that stores an older snapshot's table is
        // corrected by the next decision, which sees the pointer differ again.
        *built = Built {
            from: latest,
            table: table.clone(),
        };
        tracing::info!("routing table rebuilt from a new configuration");
        table
    }
}

#[tonic::async_trait]
impl Routing for RoutingApi {
    async fn decide(
        &self,
        request: Request<pb::DecideRequest>,
    ) -> Result<Response<pb::DecideResponse>, Status> {
        let request = request.into_inner();
        let facts = convert::facts(&request)?;
        let table = self.table();
        let call = convert::call(&request);
        let decision = if request.start_scenario.is_empty() {
            table.decide(&call, &facts, self.clock.now())
        } else {
            table.start_scenario(&request.start_scenario, &call, self.clock.now())
        };
        Ok(Response::new(convert::decision(decision)))
    }
}
