//! One term of leadership: a [`CallbackCore`] restored from the store under the term's
//! token, driven by requests, dial outcomes, capacity, hours and its own deadlines, with
//! every output written through the [`CallbackStore`] before it is acted on (the order
//! `crate::core::Output` prescribes): a dispatch is dialled only once its `dispatching`
//! record is stored.
//!
//! The term ends, dropping the core and every running dial, when the election is lost
//! (raced against everything the term does), when a write shows a newer leader, or when the
//! store does not answer (the core may then disagree with it; the next term restores).

mod dials;
mod requests;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cc_cluster::Coordinator;
use cc_common::Shutdown;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use super::command::Command;
use super::{Links, Settings};
use crate::clock::Clock;
use crate::core::{
    CallbackCore, CallbackError, CallbackId, LeaderToken, Outcome, Output, Record, Target,
    Timestamp,
};
use crate::dialer::Dialer;
use crate::feeds::{Capacity, Followed, SharedHours};
use crate::store::{CallbackStore, StoreError, Written};

/// Why a term ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// The lease or the election key is gone.
    Lost,
    /// The node shuts down.
    Shutdown,
    /// Every handle is gone: nobody can ask anything any more.
    Orphaned,
    /// The term gave up on its own.
    SteppedDown {
        why: StepDown,
        /// Whether the term had restored the store (a failing restore backs off longer).
        restored: bool,
    },
}

/// Why a term gives up.
#[derive(Debug)]
pub(super) enum StepDown {
    /// A newer leader has written.
    Fenced(LeaderToken),
    /// The store did not answer (or refused a record): the core may disagree with it.
    Store(String),
}

impl From<CallbackError> for StepDown {
    fn from(e: CallbackError) -> Self {
        match e {
            CallbackError::Fenced { by } => StepDown::Fenced(by),
            e => StepDown::Store(e.to_string()),
        }
    }
}

/// One dial in progress.
#[derive(Debug, Clone)]
struct Attempt {
    id: CallbackId,
    attempt: u32,
    token: LeaderToken,
    target: Target,
}

/// What one flush of the core's outputs did.
#[derive(Debug, Default)]
struct Flushed {
    /// The last record stored of each callback.
    written: HashMap<CallbackId, Record>,
    /// Callbacks whose write found another leader's record, with that record (the core
    /// took it instead of its own).
    conflicts: HashMap<CallbackId, Option<Record>>,
}

/// What woke the term up.
enum Wake {
    Dial(Result<(Id, Option<Outcome>), JoinError>),
    Command(Command),
    Capacity,
    Hours,
    Timer,
}

/// The leader's state for one term.
pub(super) struct Leader {
    core: CallbackCore,
    store: CallbackStore,
    clock: Clock,
    dialer: Arc<dyn Dialer>,
    capacity: watch::Receiver<Capacity>,
    /// The free agents last reported, per target.
    reported: Capacity,
    hours: watch::Receiver<SharedHours>,
    dials: JoinSet<Option<Outcome>>,
    /// What each running dial task dials.
    running: HashMap<Id, Attempt>,
    /// The running dial of each callback (stopped when it is cancelled).
    by_callback: HashMap<CallbackId, AbortHandle>,
    /// Running dials per target.
    inflight: HashMap<Target, u32>,
}

impl Leader {
    /// A new term: every stored callback read back into a fresh core under `token`, the
    /// free agents reported, and whatever is due dispatched.
    pub(super) async fn restore(
        coordinator: Arc<dyn Coordinator>,
        token: LeaderToken,
        links: &Links,
        settings: &Settings,
    ) -> Result<Self, StepDown> {
        let clock = settings.clock;
        let mut store = CallbackStore::new(coordinator, token);
        let loaded = store.load_all().await.map_err(|e| match e {
            StoreError::Fenced { by } => StepDown::Fenced(by),
            e => StepDown::Store(e.to_string()),
        })?;
        let hours = Followed(links.hours.clone());
        let mut core = CallbackCore::new(settings.core.clone(), token, hours);
        let now = clock.now();
        let restored = core.handle_restore(now, loaded.records)?;
        for invalid in &restored.invalid {
            tracing::warn!(error = %invalid, "skipping an inconsistent stored callback");
        }
        tracing::info!(
            %token,
            active = restored.active,
            in_doubt = restored.in_doubt,
            finished = restored.finished,
            duplicates = restored.duplicates,
            unreadable = loaded.skipped,
            "callback scheduler leading"
        );
        let mut leader = Self {
            core,
            store,
            clock,
            dialer: links.dialer.clone(),
            capacity: links.capacity.clone(),
            reported: Capacity::new(),
            hours: links.hours.clone(),
            dials: JoinSet::new(),
            running: HashMap::new(),
            by_callback: HashMap::new(),
            inflight: HashMap::new(),
        };
        leader.hours.mark_unchanged();
        leader.resume_in_doubt();
        leader.capacity_changed(now)?;
        leader.flush(now).await?;
        Ok(leader)
    }

    /// Leads until the term ends; `lost` resolves when the election is lost.
    pub(super) async fn run(
        mut self,
        mut lost: Pin<&mut impl Future<Output = ()>>,
        commands: &mut mpsc::Receiver<Command>,
        shutdown: &mut Shutdown,
    ) -> Ended {
        loop {
            let deadline = self.core.poll_timeout().map(|at| self.clock.instant(at));
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                biased;
                () = &mut lost => return Ended::Lost,
                () = shutdown.wait() => return Ended::Shutdown,
                Some(joined) = self.dials.join_next_with_id() => Wake::Dial(joined),
                command = commands.recv() => match command {
                    Some(command) => Wake::Command(command),
                    None => return Ended::Orphaned,
                },
                Ok(()) = self.capacity.changed() => Wake::Capacity,
                Ok(()) = self.hours.changed() => Wake::Hours,
                () = timer => Wake::Timer,
            };
            // The loss of the election beats whatever the term was doing: no write and no
            // dial after it is known.
            let handled = tokio::select! {
                biased;
                () = &mut lost => return Ended::Lost,
                handled = self.handle(wake) => handled,
            };
            if let Err(why) = handled {
                return Ended::SteppedDown {
                    why,
                    restored: true,
                };
            }
        }
    }

    async fn handle(&mut self, wake: Wake) -> Result<(), StepDown> {
        let now = self.clock.now();
        match wake {
            Wake::Dial(joined) => self.dial_ended(now, joined)?,
            Wake::Command(Command::Schedule { request, reply }) => {
                return self.schedule(request, reply).await;
            }
            Wake::Command(Command::Cancel { id, reply }) => return self.cancel(id, reply).await,
            Wake::Command(Command::Reschedule {
                id,
                reschedule,
                reply,
            }) => return self.reschedule(id, reschedule, reply).await,
            Wake::Capacity => self.capacity_changed(now)?,
            Wake::Hours => self.core.handle_hours_changed(now)?,
            Wake::Timer => self.core.handle_timeout(now),
        }
        self.flush(now).await.map(drop)
    }

    /// Writes every output of the core in order and acts on each one written: a dispatch
    /// is dialled. A write that finds another leader's record gives that record to the core
    /// and drops what the core had derived from its own view of the callback (those
    /// outputs are stale); a newer leader's record, or a store that does not answer, ends
    /// the term.
    async fn flush(&mut self, now: Timestamp) -> Result<Flushed, StepDown> {
        let mut flushed = Flushed::default();
        let mut queued: VecDeque<Output> = VecDeque::new();
        while let Some(output) = queued.pop_front().or_else(|| self.core.poll_output()) {
            let id = output.record().id.clone();
            let stored = match self.store.write(output.record()).await {
                Ok(Written::Done) => {
                    self.act(output, &mut flushed);
                    continue;
                }
                Ok(Written::Conflict(stored)) => stored.map(|r| *r),
                Err(StoreError::Fenced { by }) => return Err(StepDown::Fenced(by)),
                // The write may have landed: what is stored decides (never dial on it).
                Err(StoreError::Unavailable(_)) => match self.store.read(&id).await {
                    Ok(stored) => stored,
                    Err(StoreError::Fenced { by }) => return Err(StepDown::Fenced(by)),
                    Err(e) => return Err(StepDown::Store(e.to_string())),
                },
                Err(e) => return Err(StepDown::Store(e.to_string())),
            };
            tracing::info!(%id, "callback written by another leader; taking the stored record");
            queued.extend(std::iter::from_fn(|| self.core.poll_output()));
            queued.retain(|o| o.record().id != id);
            flushed.written.remove(&id);
            flushed.conflicts.insert(id.clone(), stored.clone());
            match self.core.handle_stored(now, &id, stored) {
                Ok(()) => {}
                Err(CallbackError::Fenced { by }) => return Err(StepDown::Fenced(by)),
                Err(e) => tracing::warn!(%id, error = %e, "stored callback unusable; forgotten"),
            }
        }
        Ok(flushed)
    }

    /// Acts on a stored output: the change is now an event (the store's watchers see it),
    /// and a dispatch is dialled.
    fn act(&mut self, output: Output, flushed: &mut Flushed) {
        if let Some(event) = output.event() {
            tracing::debug!(id = %event.id, target = %event.target, change = ?event.change, "callback changed");
        }
        match output {
            Output::Changed(record) => {
                flushed.written.insert(record.id.clone(), *record);
            }
            Output::Dispatch(dispatch) => {
                flushed
                    .written
                    .insert(dispatch.id.clone(), (*dispatch.record).clone());
                self.dial(dispatch);
            }
        }
    }
}
