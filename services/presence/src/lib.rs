//! Presence: the single owner of each agent's state (DESIGN.md section 3).
//!
//! Agents, their devices, login and pause, and the reservations through which queues take
//! an agent for a call. The [`core`] module is pure (state + input + `now` -> events and the
//! next deadline); around it, one actor owns the core ([`service`]), `cc.agents.v1.Agents`
//! serves it over gRPC ([`api`]), `cc.presence.internal.v1.PresenceControl` takes the
//! queue's reservations, the call actors' reports about reserved agents and sip-edge's
//! registered phones ([`control`]; [`adapters`] map a phone's extension to its agent).
//! Other services reach presence only through these two APIs.
//!
//! In a cluster the agents are cut into shards, each owned by one presence node at a time
//! and spread evenly over the nodes ([`shards`], [`PresenceService::start_sharded`]). So
//! that another node can take a shard over, its owner mirrors the agents' sessions (login
//! and pause, not call states) into the coordinator under [`SESSIONS_PREFIX`] and the new
//! owner reads them back ([`PresenceHandle::restore_sessions_of`]); sip-edge re-reports
//! the shard's phones and calls in progress.
//!
//! Each call binding may name the sip-edge node that carries the call. With a coordinator,
//! presence follows the cluster's sip-edge nodes; one that stays unregistered for a grace
//! period ([`Settings::edge_grace`], [`edges`]) died, and nobody will ever end its calls, so
//! their agents are freed ([`core::Presence::edge_gone`]) rather than left busy forever.

mod actor;
pub mod adapters;
pub mod api;
pub mod control;
mod convert;
pub mod core;
pub mod edges;
mod error;
mod history;
pub mod service;
mod sessions;
pub mod shards;
mod wall;

pub use actor::Command;
pub use error::ServiceError;
pub use service::{Cluster, EventStream, PresenceHandle, PresenceService, Settings, run};
pub use sessions::SESSIONS_PREFIX;
pub use shards::Scope;
pub use wall::WallClock;
