//! Why the queue service refused a request: the core's own refusals plus what can go wrong
//! around it (the actor gone or slow, a configuration the core does not accept).

use crate::core::{DepartmentId, QueueError};

/// Errors of the queue service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The core refused the input (unknown department or call, an answer from an agent that
    /// was not offered the call); nothing changed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The department is configured, but this node does not own its queue: another queue
    /// node serves it (or will, once one has taken it over). Ask the owner.
    #[error("department {0} is served by another queue node")]
    NotOwned(DepartmentId),
    /// The queue actor has stopped (shutdown) or could not be started.
    #[error("the queue service is not running")]
    Stopped,
    /// The queue actor did not answer in time; the input may or may not have been applied.
    #[error("the queue service did not answer within {0} ms")]
    Timeout(u64),
    /// The actor could not be spawned or the departments were refused by the core.
    #[error("cannot start the queue service: {0}")]
    Start(String),
}
