//! The term's dials: each stored dispatch dialled in its own task, its outcome fed back,
//! and each target's capacity kept as the free agents reported minus the dials running.

use std::collections::BTreeSet;
use std::future::Future;

use tokio::task::{AbortHandle, Id, JoinError};

use super::{Attempt, Leader, StepDown};
use crate::core::{CallbackError, Dispatch, Outcome, State, Target, Timestamp};

impl Attempt {
    fn of(dispatch: &Dispatch) -> Self {
        Attempt {
            id: dispatch.id.clone(),
            attempt: dispatch.attempt,
            token: dispatch.token,
            target: dispatch.record.target.clone(),
        }
    }
}

impl Leader {
    /// Starts dialling a stored dispatch in its own task.
    pub(super) fn dial(&mut self, dispatch: Dispatch) {
        tracing::info!(id = %dispatch.id, attempt = dispatch.attempt, target = %dispatch.record.target, "dialling a callback");
        let dialer = self.dialer.clone();
        let attempt = Attempt::of(&dispatch);
        self.follow(attempt, async move { Some(dialer.dial(dispatch).await) });
    }

    /// Finds out how the attempts a previous leader dispatched ended (restored in doubt):
    /// each is followed like a dial of this term, its outcome fed back when the dialler can
    /// tell it; otherwise it stays in doubt until its deadline.
    pub(super) fn resume_in_doubt(&mut self) {
        let doubts: Vec<Dispatch> = self
            .core
            .records()
            .filter_map(|r| match r.state {
                State::Dispatching { attempt, token, .. } => Some(Dispatch {
                    id: r.id.clone(),
                    attempt,
                    token,
                    record: Box::new(r.clone()),
                }),
                _ => None,
            })
            .collect();
        for dispatch in doubts {
            tracing::info!(id = %dispatch.id, attempt = dispatch.attempt, "asking how a previous leader's callback attempt ended");
            let dialer = self.dialer.clone();
            let attempt = Attempt::of(&dispatch);
            self.follow(attempt, async move { dialer.resume(dispatch).await });
        }
    }

    /// Runs `outcome` as the dial of `attempt` in its own task.
    fn follow(
        &mut self,
        attempt: Attempt,
        outcome: impl Future<Output = Option<Outcome>> + Send + 'static,
    ) {
        let task = self.dials.spawn(outcome);
        // A previous attempt still dialling was already counted in doubt: stop it.
        if let Some(previous) = self.by_callback.insert(attempt.id.clone(), task.clone()) {
            self.stop(&previous);
        }
        *self.inflight.entry(attempt.target.clone()).or_default() += 1;
        self.running.insert(task.id(), attempt);
    }

    /// Stops a running dial: its task, and the attempt wherever the dialler placed it.
    pub(super) fn stop(&mut self, dial: &AbortHandle) {
        dial.abort();
        if let Some(attempt) = self.running.get(&dial.id()) {
            let dialer = self.dialer.clone();
            let (id, n) = (attempt.id.clone(), attempt.attempt);
            tokio::spawn(async move { dialer.withdraw(id, n).await });
        }
    }

    /// A dial task ended: its outcome goes to the core (unless it was stopped), and its
    /// agent counts as free again for the target's capacity.
    pub(super) fn dial_ended(
        &mut self,
        now: Timestamp,
        joined: Result<(Id, Option<Outcome>), JoinError>,
    ) -> Result<(), StepDown> {
        let (task, outcome) = match joined {
            // `None`: nobody could tell how a previous leader's attempt ended.
            Ok((task, outcome)) => (task, outcome),
            Err(e) if e.is_panic() => {
                (e.id(), Some(Outcome::Failed("the dialler panicked".into())))
            }
            // Stopped: the callback was cancelled, or a later attempt replaced it.
            Err(e) => (e.id(), None),
        };
        let Some(attempt) = self.running.remove(&task) else {
            return Ok(());
        };
        if self
            .by_callback
            .get(&attempt.id)
            .is_some_and(|h| h.id() == task)
        {
            self.by_callback.remove(&attempt.id);
        }
        if let Some(n) = self.inflight.get_mut(&attempt.target) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.inflight.remove(&attempt.target);
            }
        }
        if let Some(outcome) = outcome {
            tracing::info!(id = %attempt.id, attempt = attempt.attempt, ?outcome, "callback attempt ended");
            match self
                .core
                .handle_result(now, &attempt.id, attempt.attempt, attempt.token, outcome)
            {
                Ok(()) => {}
                Err(e @ CallbackError::Fenced { .. }) => return Err(e.into()),
                // Cancelled meanwhile, or already counted in doubt: nothing to record.
                Err(e) => {
                    tracing::debug!(id = %attempt.id, error = %e, "attempt outcome not taken")
                }
            }
        }
        self.apply_capacity(now, &attempt.target)?;
        Ok(())
    }

    /// The free agents reported changed: each target whose count changed gets it.
    pub(super) fn capacity_changed(&mut self, now: Timestamp) -> Result<(), StepDown> {
        let feed = self.capacity.borrow_and_update().clone();
        let changed: BTreeSet<Target> = feed
            .iter()
            .filter(|(t, n)| self.reported.get(*t) != Some(*n))
            .map(|(t, _)| t.clone())
            .chain(
                self.reported
                    .keys()
                    .filter(|t| !feed.contains_key(*t))
                    .cloned(),
            )
            .collect();
        self.reported = feed;
        for target in changed {
            self.apply_capacity(now, &target)?;
        }
        Ok(())
    }

    /// Tells the core what `target` can take now: its free agents minus the dials running
    /// for it (see [`crate::feeds::Capacity`]).
    fn apply_capacity(&mut self, now: Timestamp, target: &Target) -> Result<(), StepDown> {
        let free = self.reported.get(target).copied().unwrap_or(0);
        let busy = self.inflight.get(target).copied().unwrap_or(0);
        Ok(self
            .core
            .handle_capacity(now, target, free.saturating_sub(busy))?)
    }
}
