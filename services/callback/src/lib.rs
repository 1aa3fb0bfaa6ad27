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
//!
//! The scheduler actor, the gRPC API, dialling and `ccd` wiring come later (issue 7).

pub mod core;
pub mod journal;
pub mod store;

pub use store::{CallbackStore, Loaded, StoreError, Written};
