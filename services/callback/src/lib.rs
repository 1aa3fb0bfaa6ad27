//! The callback scheduler (MISSION; DESIGN.md sections 3 and 4): promised
//! callbacks are durable, dialled at most once per attempt, and a virtual-hold callback keeps
//! the caller's place in line.
//!
//! - [`core`] is the pure scheduler: requests, capacity, working hours, results and `now` in;
//!   records to persist, dispatches and events out, and the next deadline. No I/O, no clock.
//! - [`store`] keeps the records in the cluster [`cc_cluster::Coordinator`] under
//!   `/cc/callbacks/<id>`, written with compare-and-swap and stamped with the leader's token,
//!   and reads them all back for a new leader.
//! - [`journal`] keeps those keys in a file too when the coordinator is in memory (`ccd
//!   all`), so a restart loses none.
//! - [`service`] runs the scheduler on a node: one leader in the cluster (elected at
//!   [`service::ELECTION_KEY`]) drives a core restored from the store, writes every change
//!   before acting on it, and hands each due attempt to a [`Dialer`]; what it follows
//!   (free agents, working hours) comes in through [`feeds`]; [`hours`] gives the
//!   configured hours (departments' schedules, employees' do-not-disturb).
//! - [`api`] serves `cc.callbacks.v1.Callbacks` on every node, forwarding changes to the
//!   leader; [`events`] turns the store's changes into the callbacks' event stream.
//! - [`messages`] keeps the messages taken for people who could not answer, under
//!   `/cc/messages/<id>`, and serves `cc.messages.v1.Messages`.
//!
//! The real dialler (sip-edge originating the call) and the scheduler's `ccd` wiring come
//! later; `ccd` serves the messages and journals callbacks and messages already.

pub mod api;
pub mod clock;
mod convert;
pub mod core;
pub mod dialer;
mod error;
pub mod events;
pub mod feeds;
pub mod hours;
pub mod journal;
pub mod links;
pub mod messages;
pub mod service;
pub mod store;

pub use clock::Clock;
pub use dialer::Dialer;
pub use error::ServiceError;
pub use service::{Cluster, Links, Role, Scheduled, Scheduler, SchedulerHandle, Settings};
pub use store::{CallbackStore, Loaded, StoreError, Stored, Written};
