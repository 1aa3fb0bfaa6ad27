//! Why the scheduler service refused or could not finish a request: the core's own
//! refusals plus what can go wrong around it (not the leader, leadership lost mid-request,
//! the coordinator out of reach, the task gone or slow).

use crate::core::{CallbackError, CallbackId, StateKind};
use crate::store::StoreError;

/// Errors of the scheduler service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The core refused the input; nothing changed.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// This node does not lead the scheduler: ask the leader.
    #[error("this node does not lead the callback scheduler")]
    NotLeader,
    /// No callback has this id, active or finished.
    #[error("unknown callback {0}")]
    NotFound(CallbackId),
    /// The callback is finished: nothing can change it any more.
    #[error("callback {id} is already {state}")]
    Finished {
        /// The callback.
        id: CallbackId,
        /// How it ended.
        state: StateKind,
    },
    /// The leader stepped down while handling the request (lease or election lost, a
    /// newer leader seen, the coordinator out of reach): it may or may not have been
    /// applied. Read the callback back, or retry at the new leader.
    #[error(
        "the callback scheduler lost its leadership during the request; it may or may not have been applied"
    )]
    Interrupted,
    /// The request could not be stored after as many attempts as the scheduler makes:
    /// another leader kept writing the same callback.
    #[error("callback {0} kept changing under another leader; retry")]
    Contended(CallbackId),
    /// The coordinator (where callbacks are kept) did not answer.
    #[error("callback store unavailable: {0}")]
    Store(String),
    /// The scheduler has stopped (shutdown).
    #[error("the callback scheduler is not running")]
    Stopped,
    /// The scheduler did not answer in time; the request may or may not have been applied.
    #[error("the callback scheduler did not answer within {0} ms")]
    Timeout(u64),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            // A read that met a newer leader's write: the reader is not the leader.
            StoreError::Fenced { .. } => ServiceError::NotLeader,
            e => ServiceError::Store(e.to_string()),
        }
    }
}
