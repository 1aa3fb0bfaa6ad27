//! Presence: the single owner of each agent's state (DESIGN.md section 3).
//!
//! Agents, their devices, login and pause, and the reservations through which queues take
//! an agent for a call. The [`core`] module is pure (state + input + `now` -> events and the
//! next deadline); around it, one actor owns the core ([`service`]), `cc.agents.v1.Agents`
//! serves it over gRPC ([`api`]), `cc.presence.internal.v1.PresenceControl` takes the
//! queue's reservations, the call actors' reports about reserved agents and sip-edge's
//! registered phones ([`control`]; [`adapters`] map a phone's extension to its agent).
//! Other services reach presence only through these two APIs.

mod actor;
pub mod adapters;
pub mod api;
pub mod control;
mod convert;
pub mod core;
mod error;
mod history;
pub mod service;
mod wall;

pub use actor::Command;
pub use error::ServiceError;
pub use service::{EventStream, PresenceHandle, PresenceService, Settings, run};
pub use wall::WallClock;
