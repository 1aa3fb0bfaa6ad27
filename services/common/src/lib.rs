//! Shared vocabulary of the ccd services: typed ids, the declarative configuration,
//! tracing set-up, graceful shutdown, and helpers for actors that own a core.

pub mod actor;
pub mod config;
pub mod ids;
pub mod shutdown;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use shutdown::{Shutdown, ShutdownTrigger};
