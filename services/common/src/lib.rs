//! Shared vocabulary of the ccd services: typed ids, the declarative configuration,
//! tracing set-up and graceful shutdown.

pub mod config;
pub mod ids;
pub mod shutdown;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use shutdown::Shutdown;
