//! What a [`super::SchedulerHandle`] asks the scheduler task, each with where to answer.

use tokio::sync::oneshot;

use super::Scheduled;
use crate::core::{CallbackId, Record, Request, Reschedule};
use crate::error::ServiceError;

/// Answers a request.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, ServiceError>>;

/// One request for the leader.
#[derive(Debug)]
pub(crate) enum Command {
    Schedule {
        request: Request,
        reply: Reply<Scheduled>,
    },
    Cancel {
        id: CallbackId,
        reply: Reply<Record>,
    },
    Reschedule {
        id: CallbackId,
        reschedule: Reschedule,
        reply: Reply<Record>,
    },
}

impl Command {
    /// Answers `error` without doing anything (a node that does not lead).
    pub(crate) fn refuse(self, error: ServiceError) {
        // The asker may have given up waiting: nothing to tell then.
        let _ = match self {
            Command::Schedule { reply, .. } => reply.send(Err(error)).map_err(drop),
            Command::Cancel { reply, .. } | Command::Reschedule { reply, .. } => {
                reply.send(Err(error)).map_err(drop)
            }
        };
    }
}
