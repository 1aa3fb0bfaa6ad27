//! The pure scheduler core: state + input + `now` -> outputs and the next deadline. No clock
//! reads, no I/O, no entropy: time comes in as a [`Timestamp`] on every input.
//!
//! The rules, in one place:
//! - **One active callback per (number, target).** A request for a number and target that
//!   already has a pending or dispatching callback merges into it: the earliest original
//!   enqueue time, the union of the windows ([`Window::union`]), the higher priority and
//!   attempt budget, both reasons; the next attempt is due at the earlier of the two.
//! - **Due order per target.** Among a target's due callbacks: higher priority first; then
//!   virtual-hold callbacks by their original enqueue time (they keep their place in line),
//!   then scheduled ones by due time; ties by id.
//! - **Dispatch gates.** A due callback is dispatched only while its target is open
//!   ([`Hours`]) and has capacity ([`CallbackCore::handle_capacity`]): at most one dispatch
//!   per free agent reported, and never outside the caller's window.
//! - **Retries.** No answer, busy, failed or in doubt: the next attempt is due after
//!   [`CoreConfig::retry_delay`] (exponential, capped), inside the window; when the attempts
//!   are used up the callback gives up, when the window has no room left it expires.
//! - **At most once per attempt.** A dispatch moves the record to `dispatching` (attempt n,
//!   the leader's token) and the owner writes that to the store before dialling. A leader
//!   that restores a record in `dispatching` does not dial that attempt: it waits
//!   [`CoreConfig::in_doubt_after`] from the dispatch for a result, then counts the attempt
//!   as failed ([`Outcome::InDoubt`]) and retries. So an attempt is dialled at most once,
//!   and a callback is never forgotten: it only waits longer after a leader change.

mod config;
mod error;
mod handlers;
mod hours;
mod ids;
mod output;
mod record;
mod restore;
mod schedule;
mod time;
mod window;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

pub use config::CoreConfig;
pub use error::CallbackError;
pub use hours::{AlwaysOpen, Hours, Openness};
pub use ids::{CallbackId, DepartmentId, EmployeeId, LeaderToken, PhoneNumber, Priority, Target};
pub use output::{Dispatch, Event, Output};
pub use record::{
    Change, HistoryEntry, MAX_NAME, MAX_REASON, MAX_REASONS, Outcome, Record, Request, Reschedule,
    Source, State, StateKind,
};
pub use restore::Restored;
pub use time::Timestamp;
pub use window::{MAX_SPANS, Span, Window};

/// What a request became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A new callback with the request's id.
    Created(CallbackId),
    /// Merged into this existing callback.
    Merged(CallbackId),
}

impl Accepted {
    /// The callback that will be dialled.
    pub fn id(&self) -> &CallbackId {
        match self {
            Accepted::Created(id) | Accepted::Merged(id) => id,
        }
    }
}

/// Where an active callback is in the core's indexes.
#[derive(Debug, Clone)]
enum Slot {
    /// Not indexed (only while a transition runs).
    Unindexed,
    /// Pending, due at `due` (later than now), inside its window until `until`.
    Waiting { due: Timestamp, until: Timestamp },
    /// Pending and due: in its target's line, inside its window until `until`.
    Ready { key: ReadyKey, until: Timestamp },
    /// Dispatched; counts as failed at `deadline` unless a result comes first.
    Dispatching { deadline: Timestamp },
}

/// A due callback's place in its target's line (see the module comment for the order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ReadyKey {
    urgency: Reverse<Priority>,
    /// 0: virtual hold, ordered by original enqueue time; 1: scheduled, by due time.
    class: u8,
    at: Timestamp,
    id: CallbackId,
}

/// An active callback.
#[derive(Debug)]
struct Entry {
    record: Record,
    slot: Slot,
}

/// A target's due callbacks and what it can take now.
#[derive(Debug, Default)]
struct Line {
    ready: BTreeSet<ReadyKey>,
    /// Dispatches allowed until the next capacity report.
    capacity: u32,
    /// When the closed target opens again (armed only while something waits for it).
    reopen_at: Option<Timestamp>,
}

/// The callback scheduler of one leader.
///
/// Calling contract (sans-IO, like quinn-proto's `Connection`):
/// 1. restore what the store holds with [`CallbackCore::handle_restore`] (a new leader);
/// 2. feed inputs with the `handle_*` methods, each with the current time; every input
///    first catches up with `now` as [`CallbackCore::handle_timeout`] would;
/// 3. drain [`CallbackCore::poll_output`] until `None` and act on every [`Output`] in order
///    as [`output`](Output) describes (write first, act only on a successful write);
/// 4. arm a timer for [`CallbackCore::poll_timeout`] and call
///    [`CallbackCore::handle_timeout`] when it fires (early or late calls are harmless);
/// 5. read the queries (`get`, `records`, `due_order`, `active`) at any time.
///
/// Errors are returned for bad requests and misuse; a refused input changes nothing beyond
/// catching up with `now`. Once a newer leader is seen ([`CallbackError::Fenced`]) every
/// input is refused and nothing more is output: drop the core.
pub struct CallbackCore {
    config: CoreConfig,
    token: LeaderToken,
    hours: Box<dyn Hours>,
    entries: HashMap<CallbackId, Entry>,
    /// The active callback of each (number, target).
    by_key: HashMap<(PhoneNumber, Target), CallbackId>,
    lines: HashMap<Target, Line>,
    /// Pending callbacks not yet due, by due time.
    waiting: BTreeSet<(Timestamp, CallbackId)>,
    /// Pending callbacks by the end of their window's current span.
    ends: BTreeSet<(Timestamp, CallbackId)>,
    /// Dispatched callbacks by the instant they count as failed without a result.
    doubts: BTreeSet<(Timestamp, CallbackId)>,
    /// Closed targets with due callbacks and capacity, by when they open.
    reopen: BTreeSet<(Timestamp, Target)>,
    /// Targets that may be able to dispatch (a callback became due, capacity, opening).
    dirty: BTreeSet<Target>,
    outputs: VecDeque<Output>,
    fenced: Option<LeaderToken>,
}

impl fmt::Debug for CallbackCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackCore")
            .field("token", &self.token)
            .field("active", &self.entries.len())
            .field("waiting", &self.waiting.len())
            .field("dispatching", &self.doubts.len())
            .field("fenced", &self.fenced)
            .finish_non_exhaustive()
    }
}

impl CallbackCore {
    /// An empty scheduler for the leader holding `token`, asking `hours` whether a target is
    /// open.
    pub fn new(config: CoreConfig, token: LeaderToken, hours: impl Hours + 'static) -> Self {
        Self {
            config,
            token,
            hours: Box::new(hours),
            entries: HashMap::new(),
            by_key: HashMap::new(),
            lines: HashMap::new(),
            waiting: BTreeSet::new(),
            ends: BTreeSet::new(),
            doubts: BTreeSet::new(),
            reopen: BTreeSet::new(),
            dirty: BTreeSet::new(),
            outputs: VecDeque::new(),
            fenced: None,
        }
    }

    /// The next record to write and act on, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next deadline at which [`CallbackCore::handle_timeout`] has work to do: a
    /// callback becoming due, a window span ending, an attempt falling in doubt, a closed
    /// target opening.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.fenced.is_some() {
            return None;
        }
        [
            self.waiting.first().map(|(t, _)| *t),
            self.ends.first().map(|(t, _)| *t),
            self.doubts.first().map(|(t, _)| *t),
            self.reopen.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The leader token this core dispatches under.
    pub fn token(&self) -> LeaderToken {
        self.token
    }

    /// The settings.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// An active (pending or dispatching) callback. Finished ones are only in the store.
    pub fn get(&self, id: &CallbackId) -> Option<&Record> {
        self.entries.get(id).map(|e| &e.record)
    }

    /// Every active callback, in no order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.entries.values().map(|e| &e.record)
    }

    /// How many callbacks are active.
    pub fn active(&self) -> usize {
        self.entries.len()
    }

    /// The target's due callbacks in the order they will be dispatched.
    pub fn due_order(&self, target: &Target) -> Vec<CallbackId> {
        self.lines
            .get(target)
            .map(|l| l.ready.iter().map(|k| k.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Dispatches the target may still get before its next capacity report.
    pub fn capacity(&self, target: &Target) -> u32 {
        self.lines.get(target).map_or(0, |l| l.capacity)
    }

    fn check_fence(&self) -> Result<(), CallbackError> {
        match self.fenced {
            Some(by) => Err(CallbackError::Fenced { by }),
            None => Ok(()),
        }
    }

    /// Stops for good: a newer leader took over.
    fn fence(&mut self, by: LeaderToken) -> CallbackError {
        self.fenced = Some(by);
        self.outputs.clear();
        CallbackError::Fenced { by }
    }
}
