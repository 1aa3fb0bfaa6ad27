//! Presence: the single owner of each agent's state (DESIGN.md section 3).
//!
//! Agents, their devices, login and pause, and the reservations through which queues take
//! an agent for a call. The [`core`] module is pure (state + input + `now` -> events and the
//! next deadline); the service around it (actor, gRPC) is thin glue added later.

pub mod core;
