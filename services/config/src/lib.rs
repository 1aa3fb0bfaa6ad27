//! The organisation's configuration at run time: employees, departments, numbers, trunks,
//! schedules, scenarios, caller lists and screening policies, editable one resource at a
//! time with etags for optimistic concurrency.
//!
//! [`ConfigState`] is the pure core (a revisioned snapshot and the operations producing the
//! next one, each checked as a whole with `Config::check`); [`ConfigStore`] shares it in a
//! node and publishes every accepted snapshot on a `watch` that routing, the queues and
//! presence follow; `cc.config.v1.Configuration` serves it over gRPC ([`api`]).

pub mod api;
mod convert;
mod error;
mod resource;
mod state;
pub mod store;

pub use error::StoreError;
pub use resource::{Etag, Kind, Resource, Versioned};
pub use state::ConfigState;
pub use store::ConfigStore;
