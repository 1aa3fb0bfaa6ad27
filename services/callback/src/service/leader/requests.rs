//! The term's requests: schedule, cancel and reschedule, each answered once its record is
//! stored, and applied again (a bounded number of times) when the write met another
//! leader's record.

use super::{Leader, StepDown};
use crate::core::{
    Accepted, CallbackError, CallbackId, Change, Record, Request, Reschedule, State, Timestamp,
};
use crate::error::ServiceError;
use crate::service::Scheduled;
use crate::service::command::Reply;
use crate::store::StoreError;

/// How often a request is applied again after its write met another leader's record.
const TRIES: usize = 3;

impl Leader {
    /// A request, accepted once its record is stored. A write that met another leader's
    /// record is followed by the same request again, applied to the stored record.
    pub(super) async fn schedule(
        &mut self,
        request: Request,
        reply: Reply<Scheduled>,
    ) -> Result<(), StepDown> {
        let mut retried = false;
        for _ in 0..TRIES {
            let now = self.clock.now();
            let accepted = match self.core.handle_request(now, request.clone()) {
                Ok(accepted) => accepted,
                // Retried after a write whose answer was lost but which had landed.
                Err(CallbackError::DuplicateId(id)) if retried => {
                    let answer = self.core.get(&id).cloned().map(|record| Scheduled {
                        accepted: Accepted::Created(id.clone()),
                        record,
                    });
                    let _ = reply.send(answer.ok_or(ServiceError::Contended(id)));
                    return Ok(());
                }
                Err(e @ CallbackError::Fenced { .. }) => return Err(e.into()),
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    return self.flush(now).await.map(drop);
                }
            };
            let mut flushed = self.flush(now).await?;
            let id = accepted.id().clone();
            if let Some(record) = flushed.written.remove(&id) {
                let _ = reply.send(Ok(Scheduled { accepted, record }));
                return Ok(());
            }
            match flushed.conflicts.remove(&id).flatten() {
                // The id is a finished callback's: the client reused it.
                Some(stored)
                    if stored.state.is_final() && matches!(accepted, Accepted::Created(_)) =>
                {
                    let _ = reply.send(Err(CallbackError::DuplicateId(id).into()));
                    return Ok(());
                }
                // Merged, and that merge had landed (an answer lost on the way).
                Some(stored) if merged_into(&stored, &request.id) => {
                    let _ = reply.send(Ok(Scheduled {
                        accepted,
                        record: stored,
                    }));
                    return Ok(());
                }
                _ => {}
            }
            retried = true;
        }
        let _ = reply.send(Err(ServiceError::Contended(request.id)));
        Ok(())
    }

    /// Cancels an active callback; a dial in progress is stopped once the cancellation is
    /// stored.
    pub(super) async fn cancel(
        &mut self,
        id: CallbackId,
        reply: Reply<Record>,
    ) -> Result<(), StepDown> {
        for _ in 0..TRIES {
            let now = self.clock.now();
            match self.core.handle_cancel(now, &id) {
                Ok(_) => {}
                Err(CallbackError::UnknownCallback(_)) => {
                    if let Some(refusal) = self.not_active(now, &id).await? {
                        let _ = reply.send(Err(refusal));
                        return Ok(());
                    }
                    continue;
                }
                Err(e @ CallbackError::Fenced { .. }) => return Err(e.into()),
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    return self.flush(now).await.map(drop);
                }
            }
            let mut flushed = self.flush(now).await?;
            if let Some(record) = flushed.written.remove(&id) {
                if matches!(record.state, State::Cancelled { .. })
                    && let Some(dial) = self.by_callback.remove(&id)
                {
                    self.stop(&dial);
                }
                let _ = reply.send(Ok(record));
                return Ok(());
            }
        }
        let _ = reply.send(Err(ServiceError::Contended(id)));
        Ok(())
    }

    /// Gives a pending callback a new window.
    pub(super) async fn reschedule(
        &mut self,
        id: CallbackId,
        reschedule: Reschedule,
        reply: Reply<Record>,
    ) -> Result<(), StepDown> {
        for _ in 0..TRIES {
            let now = self.clock.now();
            match self.core.handle_reschedule(now, &id, reschedule.clone()) {
                Ok(()) => {}
                Err(CallbackError::UnknownCallback(_)) => {
                    if let Some(refusal) = self.not_active(now, &id).await? {
                        let _ = reply.send(Err(refusal));
                        return Ok(());
                    }
                    continue;
                }
                Err(e @ CallbackError::Fenced { .. }) => return Err(e.into()),
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    return self.flush(now).await.map(drop);
                }
            }
            let mut flushed = self.flush(now).await?;
            if let Some(record) = flushed.written.remove(&id) {
                let _ = reply.send(Ok(record));
                return Ok(());
            }
        }
        let _ = reply.send(Err(ServiceError::Contended(id)));
        Ok(())
    }

    /// The core has no active callback `id`: the store says why. Finished or unknown is the
    /// answer; an active record the core missed (written by an earlier leader after this
    /// one restored) is taken into the core, and `None` says to apply the request again.
    async fn not_active(
        &mut self,
        now: Timestamp,
        id: &CallbackId,
    ) -> Result<Option<ServiceError>, StepDown> {
        let stored = match self.store.read(id).await {
            Ok(stored) => stored,
            Err(StoreError::Fenced { by }) => return Err(StepDown::Fenced(by)),
            Err(e) => return Ok(Some(e.into())),
        };
        match stored {
            None => Ok(Some(ServiceError::NotFound(id.clone()))),
            Some(record) if record.state.is_final() => Ok(Some(ServiceError::Finished {
                id: id.clone(),
                state: record.state.kind(),
            })),
            Some(record) => match self.core.handle_stored(now, id, Some(record)) {
                Ok(()) => {
                    self.flush(now).await?;
                    Ok(None)
                }
                Err(e @ CallbackError::Fenced { .. }) => Err(e.into()),
                Err(e) => Ok(Some(e.into())),
            },
        }
    }
}

/// Whether `record`'s history shows the request `request` merged into it.
fn merged_into(record: &Record, request: &CallbackId) -> bool {
    record
        .history
        .iter()
        .any(|h| matches!(&h.change, Change::Merged { request: r, .. } if r == request))
}
