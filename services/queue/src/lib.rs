//! ACD (automatic call distribution) for the contact center: one queue per department,
//! waiting calls ordered by priority and enqueue time, agents chosen by the department's
//! strategy and offered as a [`core::RingPlan`].
//!
//! The pure [`core`] is state + input + `now` -> outputs and the next deadline. Around it,
//! one actor owns the core ([`service`]), follows presence (agents becoming available or
//! not), reserves the agents of each plan there (both through presence's gRPC API, also in
//! one process) and publishes [`QueueEvent`]s for the call actors that execute the plans;
//! `cc.queues.v1.Queues` serves it over gRPC ([`api`]), and
//! `cc.queue.internal.v1.QueueControl` connects it to sip-edge's call actors ([`control`]).
//!
//! In a cluster ([`Ownership`]) each department's queue is served by the one queue node that
//! owns it; the other nodes refuse its calls with [`ServiceError::NotOwned`] so that callers
//! go to the owner. There it also follows the sip-edge nodes of the cluster: the calls of a
//! node that is gone (it died) leave the queues.

mod actor;
pub mod api;
pub mod control;
mod convert;
pub mod core;
mod edges;
mod error;
mod follow;
mod owners;
mod presence_link;
pub mod service;

pub use actor::Input;
pub use error::ServiceError;
pub use owners::Ownership;
pub use service::{QueueEvent, QueueHandle, QueueService, QueueStats, Settings, WaitingCall};
